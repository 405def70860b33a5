"""OR-Library capacitated facility location (CFLP) instances as twin datasets.

Beasley's capacitated warehouse location instances (OR-Library `capinfo`, EJOR 1988) have
published optima, so converting one into a twin dataset and solving it with the model core
checks the core against a known answer. The conversion must therefore be *exact*: the
twin's optimum of the written dataset equals the CFLP optimum (multi-source, i.e. a
customer's demand may be split between warehouses, as `capopt` assumes).

Encoding (one period of one year, so the model charges every cost exactly once):

* warehouse i -> region ``w{i}`` with a site ``site{i}`` of its own technology ``wh{i}``:
  one module of size capacity_i costing capex fixed_cost_i (max_modules 1, lifetime 1 year,
  so with one period of one year the fixed charge is exactly the capex); recipe
  ``stock -1 -> goods +1``, with ``stock`` bought free at the warehouse;
* customer j -> region ``c{j}`` demanding d_j of ``goods``, at an unmet-demand penalty high
  enough that an optimal plan serves all demand whenever capacity allows (`unmet_penalty`);
* a road link ``l{i}_{j}`` w{i} -> c{j} of 1 km costing c_ij / d_j per unit, capacity d_j:
  shipping x_ij * d_j units costs c_ij * x_ij, the CFLP allocation cost.

`twin orlib` solves the dataset with every customer served (`ORLIB_SCENARIO`, as the CFLP
states it): with no unmet-demand slack, presolve rounds the cover row of
`twin.model.cover` (the open warehouses' capacity covers the total demand) into a bound on
how many must open, which is most of what closes capa-type instances. The penalty keeps
the dataset exact under the default scenario, and gives Benders the complete recourse it
needs (`ORLIB_RECOURSE`).

Ids are 1-based, like the OR-Library's own numbering. Border crossings and corridors are
not written: there are none, and those tables are optional in the dataset format.
"""

from __future__ import annotations

import csv
import math
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from twin.data import Dataset, load_dataset
from twin.data.schemas import (
    COMMODITIES,
    DEMAND,
    LINK_COMMODITIES,
    LINKS,
    PERIODS,
    RECIPES,
    REGIONS,
    SITES,
    SUPPLY,
    TECHNOLOGIES,
)
from twin.instance_io import Tokens, plain_number, plain_scenario, solve_summary, write_tables
from twin.scenario import SolverOptions

ORLIB_DIR = Path(__file__).resolve().parents[1] / "data" / "orlib_cflp"
OPTIMA_CSV = ORLIB_DIR / "optima.csv"

PERIOD = 2025
COUNTRY = "ORL"  # every region in one pseudo-country: no border is crossed
CAPACITY_WORD = "capacity"


class OrlibError(ValueError):
    """An OR-Library file cannot be read as a CFLP instance."""


@dataclass(frozen=True, eq=False)
class CflpInstance:
    """A capacitated facility location instance: m warehouses, n customers.

    `costs[i, j]` is the cost of allocating ALL of customer j's demand to warehouse i
    (OR-Library's convention), so a fraction x_ij of it costs `costs[i, j] * x_ij`.
    Arrays are read-only, so an instance can be shared safely.
    """

    name: str
    capacities: np.ndarray  # (m,)
    fixed_costs: np.ndarray  # (m,)
    demands: np.ndarray  # (n,)
    costs: np.ndarray  # (m, n)

    def __post_init__(self) -> None:
        m, n = len(self.capacities), len(self.demands)
        shapes = {
            "capacities": (self.capacities.shape, (m,)),
            "fixed_costs": (self.fixed_costs.shape, (m,)),
            "demands": (self.demands.shape, (n,)),
            "costs": (self.costs.shape, (m, n)),
        }
        for field, (shape, expected) in shapes.items():
            if shape != expected:
                raise OrlibError(f"{self.name}: {field} has shape {shape}, expected {expected}")
        for array in (self.capacities, self.fixed_costs, self.demands, self.costs):
            array.setflags(write=False)

    @property
    def m(self) -> int:
        """Number of warehouses."""
        return len(self.capacities)

    @property
    def n(self) -> int:
        """Number of customers."""
        return len(self.demands)

    @property
    def total_demand(self) -> float:
        return float(self.demands.sum())


def instance_name(path: str | Path, capacity: float | None = None) -> str:
    """Name of the instance read from `path`: the file stem, plus `_<capacity>` when a
    capacity is imposed (capa with 8000 -> `capa_8000`, the naming of optima.csv)."""
    stem = Path(path).stem
    return stem if capacity is None else f"{stem}_{plain_number(capacity)}"


def read_cflp(path: str | Path, capacity: float | None = None) -> CflpInstance:
    """Read an OR-Library CFLP file as a token stream.

    Line breaks carry no meaning (the originals wrap costs over lines, other copies do not),
    so the file is read as: `m n`, m pairs `capacity fixed_cost`, then per customer its
    demand followed by its m costs. capa/capb/capc have the word `capacity` in place of every
    capacity: they stand for several problems, so `capacity` must then be given; given for a
    numeric file it overrides every capacity.
    """
    path = Path(path)
    if capacity is not None and not (math.isfinite(capacity) and capacity > 0):
        raise OrlibError(f"{path}: capacity must be a positive number, got {capacity!r}")
    stream = Tokens(path, OrlibError)
    m = stream.count("number of warehouses m")
    n = stream.count("number of customers n")
    capacities = np.empty(m)
    fixed_costs = np.empty(m)
    for i in range(m):
        what = f"capacity of warehouse {i + 1}"
        if stream.peek(what).lower() == CAPACITY_WORD:
            stream.skip()
            if capacity is None:
                raise OrlibError(
                    f"{path}: token {stream.position} ({what}) is the word 'capacity': this "
                    "file stands for several problems, so pass capacity=... (--capacity on "
                    "the command line), e.g. 8000 for capa"
                )
            capacities[i] = capacity
        else:
            value = stream.number(what)
            capacities[i] = value if capacity is None else capacity
        fixed_costs[i] = stream.number(f"fixed cost of warehouse {i + 1}")
    demands = np.empty(n)
    costs = np.empty((m, n))
    for j in range(n):
        demands[j] = stream.number(f"demand of customer {j + 1}")
        for i in range(m):
            costs[i, j] = stream.number(f"cost of customer {j + 1} at warehouse {i + 1}")
    stream.end()
    return CflpInstance(instance_name(path, capacity), capacities, fixed_costs, demands, costs)


def published_optimum(name: str, path_to_optima_csv: str | Path = OPTIMA_CSV) -> float | None:
    """The published (OR-Library `capopt`) optimum of instance `name`, or None if unknown.

    capopt rounds to 3 decimals, not always the same way: compare with an absolute tolerance
    of about 1e-2.
    """
    with Path(path_to_optima_csv).open(encoding="utf-8", newline="") as file:
        for row in csv.DictReader(file):
            if row["instance"].strip() == name:
                return float(row["optimum"])
    return None


def unmet_penalty(instance: CflpInstance) -> float:
    """Penalty per unit of unmet demand high enough that, when the warehouses' total capacity
    covers total demand D, no optimal plan leaves demand unmet: the twin optimum then equals
    the CFLP optimum.

    A per-unit bound such as 10 x (transport + fixed cost per unit of capacity) is not safe:
    leaving a small shortfall can save opening a whole warehouse. Instead, take a plan that
    leaves u > 0 unmet with open set S and repair it. (a) While an open warehouse has spare
    capacity, serve unmet units from it: each costs at most r = max c_ij/d_j instead of the
    penalty. (b) What is left is D - cap(S) > 0, a multiple of g, the greatest common divisor
    of all demands and capacities (read as decimals), so it is at least g; open closed
    warehouses one by one until it is covered: at most shortfall/cap_min + 1 of them, each
    costing at most f_max. Both steps lower the cost whenever
    penalty > r + f_max / cap_min + f_max / g, so we take twice that (and at least 1).
    For the OR-Library data g = 1 (integer demands and capacities).
    """
    served = instance.demands > 0
    usable = instance.capacities > 0
    if not served.any() or not usable.any():
        return 1.0
    demands = instance.demands[served]
    ratio = float((instance.costs[:, served] / demands).max())
    f_max = float(instance.fixed_costs.max())
    cap_min = float(instance.capacities[usable].min())
    g = _rational_gcd([*demands, *instance.capacities[usable]])
    return max(2.0 * (ratio + f_max / cap_min + f_max / g), 1.0)


def _rational_gcd(values: Iterable[float]) -> float:
    """gcd of positive reals read as the decimals they print as (0.5 and 0.75 -> 0.25)."""
    result = Fraction(0)
    for value in values:
        if value > 0:
            fraction = Fraction(repr(float(value)))
            result = Fraction(
                math.gcd(
                    result.numerator * fraction.denominator, fraction.numerator * result.denominator
                ),
                result.denominator * fraction.denominator,
            )
    return float(result) if result > 0 else 1.0


def write_dataset(instance: CflpInstance, directory: str | Path) -> Path:
    """Write `instance` as a twin dataset directory (see the module docstring) and return it.

    Headers come from the dataset schemas, so the files follow the format as it evolves (a new
    required column fails validation loudly instead of shifting values). Numbers are written
    at full (repr) precision so the optimum is reproduced to 1e-6. Warehouses of capacity 0
    can serve nobody, so they get no site (opening one would only cost); customers of demand 0
    get no links and no demand row. Stale optional tables (border crossings, corridors,
    agglomeration) left in `directory` are removed, since they would change the problem.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    for stale in ("border_crossings", "corridors", "agglomeration"):
        (root / f"{stale}.csv").unlink(missing_ok=True)
    usable = [i for i in range(instance.m) if instance.capacities[i] > 0]
    served = [j for j in range(instance.n) if instance.demands[j] > 0]
    links = [(i, j) for j in served for i in usable]
    cap, fixed, demand = instance.capacities, instance.fixed_costs, instance.demands
    penalty = plain_number(unmet_penalty(instance))
    tables: dict[str, Iterable[dict[str, object]]] = {
        PERIODS.name: [{"period": PERIOD, "years": 1}],
        REGIONS.name: [
            {"region_id": rid, "name": name, "country": COUNTRY, "lat": 0, "lon": 0}
            for rid, name in [(f"w{i + 1}", f"Warehouse {i + 1}") for i in range(instance.m)]
            + [(f"c{j + 1}", f"Customer {j + 1}") for j in range(instance.n)]
        ],
        COMMODITIES.name: [
            {"commodity_id": cid, "name": name, "chain": "logistics", "unit": "t"}
            | {"value_per_unit": 0, "critical": "false"}
            for cid, name in [("stock", "Stock at a warehouse"), ("goods", "Delivered goods")]
        ],
        SUPPLY.name: [
            {"region_id": f"w{i + 1}", "commodity_id": "stock", "period": PERIOD}
            | {"max_quantity": plain_number(cap[i]), "cost_per_unit": 0, "emission_factor": 0}
            for i in usable
        ],
        TECHNOLOGIES.name: [
            {"technology_id": f"wh{i + 1}", "name": f"Warehouse {i + 1}", "chain": "logistics"}
            | {"echelon": 1, "activity_unit": "t", "module_size": plain_number(cap[i])}
            | {"capex_per_module": plain_number(fixed[i]), "fixed_opex_per_module": 0}
            | {"variable_opex": 0, "lifetime_years": 1, "jobs_per_module": 0}
            | {"emissions_t_per_activity": 0, "low_carbon": "false"}
            for i in usable
        ],
        RECIPES.name: [
            {"technology_id": f"wh{i + 1}", "commodity_id": cid, "coefficient": coefficient}
            for i in usable
            for cid, coefficient in (("goods", 1), ("stock", -1))
        ],
        SITES.name: [
            {"site_id": f"site{i + 1}", "region_id": f"w{i + 1}", "technology_id": f"wh{i + 1}"}
            | {"existing_modules": 0, "max_modules": 1, "opening_cost": 0}
            for i in usable
        ],
        LINKS.name: [
            {"link_id": f"l{i + 1}_{j + 1}", "src": f"w{i + 1}", "dst": f"c{j + 1}"}
            | {"mode": "road", "distance_km": 1}
            | {"cost_per_unit_km": plain_number(instance.costs[i, j] / demand[j])}
            | {"emissions_t_per_unit_km": 0, "capacity": plain_number(demand[j])}
            | {"expansion_step": 0, "expansion_capex": 0, "max_expansions": 0}
            | {"lifetime_years": 1}
            for i, j in links
        ],
        LINK_COMMODITIES.name: [
            {"link_id": f"l{i + 1}_{j + 1}", "commodity_id": "goods"} for i, j in links
        ],
        DEMAND.name: [
            {"region_id": f"c{j + 1}", "commodity_id": "goods", "period": PERIOD}
            | {"quantity": plain_number(demand[j]), "unmet_penalty": penalty}
            for j in served
        ],
    }
    meta = {
        "name": instance.name,
        "description": (
            f"OR-Library capacitated facility location instance {instance.name} "
            f"({instance.m} warehouses, {instance.n} customers), encoded by twin.orlib: one "
            "warehouse site per facility (one module = capacity, capex = fixed cost), one 1-km "
            "road link per warehouse-customer pair costing c_ij/d_j per unit. The costs are "
            "unitless; USD is nominal."
        ),
        "currency": "USD",
        "price_year": PERIOD,
        "licence": "OR-Library (J.E. Beasley), free for research use",
    }
    write_tables(root, tables, meta)
    return root


def to_dataset(instance: CflpInstance, directory: str | Path) -> Dataset:
    """Write `instance` as a dataset and load it back, validated."""
    return load_dataset(write_dataset(instance, directory))


ORLIB_SCENARIO = plain_scenario("orlib", allow_unmet=False)  # every customer served
ORLIB_RECOURSE = replace(ORLIB_SCENARIO, allow_unmet=True)  # unmet at a penalty ruling it out


def solve_instance(
    path: str | Path, capacity: float | None = None, time_limit: float = 300.0
) -> dict:
    """Convert an instance and solve it with the twin model core; a JSON-ready summary."""
    instance = read_cflp(path, capacity)
    with tempfile.TemporaryDirectory() as directory:
        dataset = to_dataset(instance, Path(directory) / instance.name)
    scenario = replace(ORLIB_SCENARIO, solver=SolverOptions(time_limit=time_limit, mip_gap=1e-9))
    summary = solve_summary(instance.name, dataset, scenario)
    return summary | {"published_optimum": published_optimum(instance.name)}
