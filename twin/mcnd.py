"""Multicommodity capacitated fixed-charge network design (Canad `.dow` files) as datasets.

The second benchmark family of the model core, after facility location (`twin.orlib`): the
design decisions are arcs that carry nothing until opened, which twin models as link
expansions from zero capacity. The conversion is exact: the twin optimum of the written
dataset is the instance's (data/mcnd_canad_r/README.md states the model).

Encoding (one period of one year, no discounting, so every cost is charged once):

* node i -> region ``n{i}``; commodity k (origin O, destination D, demand d) -> commodity
  ``k{k}``, bought free at O up to d and demanded at D with unmet demand not allowed;
* arc a = (i, j, c, u, f) -> a 1-km link ``a{a}`` i -> j carrying every commodity, costing c
  per unit, of capacity 0 and one expansion step of u at capex f (lifetime one year).

Every demand must be served, so an instance where no design carries all of it is
`infeasible`.
"""

from __future__ import annotations

import csv
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from twin.data import Dataset, load_dataset
from twin.data.schemas import (
    COMMODITIES,
    DEMAND,
    LINK_COMMODITIES,
    LINKS,
    PERIODS,
    REGIONS,
    SUPPLY,
)
from twin.instance_io import Tokens, plain_scenario, solve_summary, write_tables
from twin.scenario import SolverOptions

MCND_DIR = Path(__file__).resolve().parents[1] / "data" / "mcnd_canad_r"
OPTIMA_CSV = MCND_DIR / "optima.csv"
PERIOD = 2025
COUNTRY = "MCN"  # every node in one pseudo-country: no border is crossed
HEADER = "MULTIGEN.DAT:"


class McndError(ValueError):
    """A file cannot be read as an MCND instance."""


@dataclass(frozen=True)
class Arc:
    tail: int
    head: int
    cost: float  # per unit of flow
    capacity: float  # all commodities together, once opened
    fixed_cost: float


@dataclass(frozen=True)
class Commodity:
    origin: int
    destination: int
    demand: float


@dataclass(frozen=True)
class McndInstance:
    name: str
    nodes: int
    arcs: tuple[Arc, ...]
    commodities: tuple[Commodity, ...]


def read_mcnd(path: str | Path) -> McndInstance:
    """Read a Canad `.dow` file (format in data/mcnd_canad_r/README.md)."""
    path = Path(path)
    stream = Tokens(path, McndError)
    stream.word(HEADER)
    nodes = stream.count("number of nodes N")
    count_arcs = stream.count("number of arcs M")
    count_commodities = stream.count("number of commodities K")

    def node(what: str) -> int:
        value = stream.count(what)
        if value > nodes:
            raise McndError(f"{path}: token {stream.position} ({what}) is {value}, past N={nodes}")
        return value

    arcs = []
    for a in range(1, count_arcs + 1):
        tail, head = node(f"tail of arc {a}"), node(f"head of arc {a}")
        cost = stream.number(f"unit cost of arc {a}")
        capacity = stream.number(f"capacity of arc {a}")
        fixed = stream.number(f"fixed cost of arc {a}")
        stream.number(f"unused field of arc {a}")
        stream.count(f"id of arc {a}")
        arcs.append(Arc(tail, head, cost, capacity, fixed))
    commodities = [
        Commodity(
            node(f"origin of commodity {k}"),
            node(f"destination of commodity {k}"),
            stream.number(f"demand of commodity {k}"),
        )
        for k in range(1, count_commodities + 1)
    ]
    stream.end()
    return McndInstance(path.name.removesuffix(".dow"), nodes, tuple(arcs), tuple(commodities))


def write_dataset(instance: McndInstance, directory: str | Path) -> Path:
    """Write `instance` as a twin dataset directory (see the module docstring)."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    for stale in ("border_crossings", "corridors", "agglomeration", "sites", "technologies"):
        (root / f"{stale}.csv").unlink(missing_ok=True)
    commodities = [f"k{k + 1}" for k in range(len(instance.commodities))]
    arcs = [f"a{a + 1}" for a in range(len(instance.arcs))]
    tables = {
        PERIODS.name: [{"period": PERIOD, "years": 1}],
        REGIONS.name: [
            {"region_id": f"n{i}", "name": f"Node {i}", "country": COUNTRY, "lat": 0, "lon": 0}
            for i in range(1, instance.nodes + 1)
        ],
        COMMODITIES.name: [
            {"commodity_id": cid, "name": f"Commodity {cid[1:]}", "chain": "logistics"}
            | {"unit": "t", "value_per_unit": 0, "critical": "false"}
            for cid in commodities
        ],
        SUPPLY.name: [
            {"region_id": f"n{c.origin}", "commodity_id": cid, "period": PERIOD}
            | {"max_quantity": c.demand, "cost_per_unit": 0, "emission_factor": 0}
            for cid, c in zip(commodities, instance.commodities, strict=True)
        ],
        DEMAND.name: [
            {"region_id": f"n{c.destination}", "commodity_id": cid, "period": PERIOD}
            | {"quantity": c.demand, "unmet_penalty": 0}
            for cid, c in zip(commodities, instance.commodities, strict=True)
            if c.demand > 0
        ],
        LINKS.name: [
            {"link_id": aid, "src": f"n{arc.tail}", "dst": f"n{arc.head}", "mode": "road"}
            | {"distance_km": 1, "cost_per_unit_km": arc.cost, "emissions_t_per_unit_km": 0}
            | {"capacity": 0, "expansion_step": arc.capacity}
            | {"expansion_capex": arc.fixed_cost, "max_expansions": 1, "lifetime_years": 1}
            for aid, arc in zip(arcs, instance.arcs, strict=True)
        ],
        LINK_COMMODITIES.name: [
            {"link_id": aid, "commodity_id": cid} for aid in arcs for cid in commodities
        ],
    }
    meta = {
        "name": instance.name,
        "description": (
            f"Canad MCND instance {instance.name} ({instance.nodes} nodes, "
            f"{len(instance.arcs)} arcs, {len(instance.commodities)} commodities), encoded by "
            "twin.mcnd: arcs are links of capacity 0 opened by one expansion step at their "
            "fixed cost; costs are unitless, USD is nominal."
        ),
        "currency": "USD",
        "price_year": PERIOD,
        "licence": "Canad instances (Crainic, Frangioni, Gendron); copies under MIT licence",
    }
    write_tables(root, tables, meta)
    return root


def to_dataset(instance: McndInstance, directory: str | Path) -> Dataset:
    """Write `instance` as a dataset and load it back, validated."""
    return load_dataset(write_dataset(instance, directory))


MCND_SCENARIO = plain_scenario("mcnd", allow_unmet=False)  # every demand served


def known_optimum(name: str) -> dict | None:
    """The row of optima.csv for `name` (status, objective, dual_bound), or None."""
    with OPTIMA_CSV.open(encoding="utf-8", newline="") as file:
        return next((row for row in csv.DictReader(file) if row["instance"] == name), None)


def solve_instance(path: str | Path, time_limit: float = 300.0) -> dict:
    """Convert an instance and solve it with the twin model core; a JSON-ready summary."""
    instance = read_mcnd(path)
    with tempfile.TemporaryDirectory() as directory:
        dataset = to_dataset(instance, Path(directory) / instance.name)
    options = SolverOptions(time_limit=time_limit, mip_gap=1e-7)
    return solve_summary(instance.name, dataset, replace(MCND_SCENARIO, solver=options))
