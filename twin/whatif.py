"""The twin side: a plan's operations under a disruption, and N-1 over border crossings.

A plan is its investments (the investments table of a run). Its operations are re-optimised
with every build, opening and expansion fixed at the plan's values, so only flows, activity,
purchases and unmet demand respond. A disruption closes links, corridors or crossings
(their flows fixed at zero), cuts capacities by a share (`Scenario.availability`), or shocks
demand or supply prices (the dataset's quantities and costs scaled).

N-1 builds the model once: each crossing is closed by setting its links' flow bounds to zero
in HiGHS, the LP is re-solved warm from the previous basis, and the bounds are restored.
The loss of each case is measured against the undisrupted operations of the same plan.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import pandas as pd

from twin.data import Dataset
from twin.model import BuiltModel, build_model
from twin.model.data import ModelData
from twin.plan import PlanRun, finish, optimise
from twin.results.schema import conform
from twin.scenario import Scenario
from twin.solve import solve


class WhatIfError(ValueError):
    """A disruption or plan that does not fit the dataset; says which key and why."""


@dataclass
class Disruption:
    """What goes wrong. Ids are those of the dataset; shares and factors are plain numbers."""

    name: str = "none"
    close_links: tuple[str, ...] = ()
    close_corridors: tuple[str, ...] = ()
    close_crossings: tuple[str, ...] = ()
    capacity_cut: dict[str, float] = field(default_factory=dict)  # site/link/crossing -> share
    demand_factor: float = 1.0  # multiplier on demand quantities
    demand_commodities: tuple[str, ...] = ()  # commodities the demand shock hits; () = all
    price_factor: dict[str, float] = field(default_factory=dict)  # commodity -> supply cost x

    def __post_init__(self) -> None:  # lists from a config become tuples
        for kind in ("close_links", "close_corridors", "close_crossings", "demand_commodities"):
            setattr(self, kind, tuple(getattr(self, kind)))

    def is_empty(self) -> bool:
        closes = self.close_links or self.close_corridors or self.close_crossings
        shocks = self.demand_factor != 1.0 or self.price_factor or self.capacity_cut
        return not (closes or shocks)


def check_closures(ds: Dataset, disruption: Disruption) -> None:
    """Every link, corridor and crossing the disruption closes exists in the dataset."""
    known = {
        "links": set(ds.links["link_id"]),
        "corridors": set(ds.corridors["corridor_id"]),
        "crossings": set(ds.border_crossings["crossing_id"]),
    }
    for kind, ids in known.items():
        unknown = sorted(set(getattr(disruption, f"close_{kind}")) - ids)
        if unknown:
            raise WhatIfError(f"disruption.close_{kind}: not in the dataset: {unknown}")


def element_links(
    data: ModelData, kind: str, ids: Iterable[str], key: str | None = None
) -> dict[str, list[str]]:
    """Links of each link, corridor or border crossing named (`kind`: link/corridor/crossing);
    `key` names the config key in the error when one has no link in the model."""
    attribute = {"link": "link_id", "corridor": "corridor", "crossing": "crossing"}[kind]
    links: dict[str, list[str]] = {element: [] for element in ids}
    for link in data.links.values():
        owner = getattr(link, attribute)
        if owner in links:
            links[owner].append(link.link_id)
    unknown = sorted(element for element, found in links.items() if not found)
    if unknown:
        raise WhatIfError(f"{key or f'disruption.close_{kind}s'}: no such {kind}: {unknown}")
    return links


def shocked_inputs(ds: Dataset, scenario: Scenario, disruption: Disruption):
    """The dataset and scenario with the disruption's capacity cuts and shocks applied."""
    assets = set(ds.sites["site_id"]) | set(ds.links["link_id"])
    assets |= set(ds.border_crossings["crossing_id"])
    for asset, share in disruption.capacity_cut.items():
        if asset not in assets:
            raise WhatIfError(f"disruption.capacity_cut.{asset}: no such site, link or crossing")
        if not 0 <= share <= 1:
            raise WhatIfError(f"disruption.capacity_cut.{asset} must be in [0, 1], got {share}")
    commodities = set(ds.commodities["commodity_id"])
    for key, named in (
        ("demand_commodities", disruption.demand_commodities),
        ("price_factor", disruption.price_factor),
    ):
        unknown = sorted(set(named) - commodities)
        if unknown:
            raise WhatIfError(f"disruption.{key}: unknown commodities {unknown}")
    check_closures(ds, disruption)
    if disruption.demand_factor <= 0:
        raise WhatIfError(
            "disruption.demand_factor must be > 0 (demand of zero removes the sites that "
            "serve it from the model; use a small factor instead)"
        )
    if any(factor < 0 for factor in disruption.price_factor.values()):
        raise WhatIfError("disruption.price_factor values must be >= 0")
    demand = ds.demand.copy()
    hit = demand["commodity_id"].isin(disruption.demand_commodities or commodities)
    demand.loc[hit, "quantity"] *= disruption.demand_factor
    supply = ds.supply.copy()
    supply["cost_per_unit"] *= supply["commodity_id"].map(disruption.price_factor).fillna(1.0)
    available = {asset: 1.0 - share for asset, share in disruption.capacity_cut.items()}
    scenario = replace(scenario, availability={**scenario.availability, **available})
    return replace(ds, tables={**ds.tables, "demand": demand, "supply": supply}), scenario


def crossing_shares(ds: Dataset, disruption: Disruption) -> dict[str, float]:
    """Share of each border crossing's capacity (expansions included) the disrupted model lets
    its flows use: the availability `shocked_inputs` gives the model, 0 where the crossing is
    closed (its links are). What a report must scale a crossing's capacity by."""
    _, scenario = shocked_inputs(ds, Scenario(), disruption)
    shares = {x: scenario.availability.get(x, 1.0) for x in ds.border_crossings["crossing_id"]}
    return shares | dict.fromkeys(disruption.close_crossings, 0.0)


def fix_investments(built: BuiltModel, investments: pd.DataFrame) -> None:
    """Fix every investment decision at the plan's value (zero where the plan built nothing).

    A site with a fixed charge is opened in the first period the plan invests there (a row
    with capex and no module is an opening alone).
    """
    m = built.model
    rows = list(investments.itertuples())
    units = {
        (row.asset_type, row.asset_id, int(row.period)): float(row.units_built)
        for row in rows
        if row.units_built > 0
    }
    decisions = {"site": m.build, "link": m.expand_link, "crossing": m.expand_crossing}
    if hasattr(m, "site_symmetry"):  # it picks among swapped plans; a given plan need not
        m.site_symmetry.deactivate()
    missing = sorted(
        f"{kind} {asset} in {period}"
        for kind, asset, period in units
        if (asset, period) not in decisions[kind]
    )
    if missing:
        raise WhatIfError(f"the plan's investments do not fit this model: {missing}")
    for kind, var in decisions.items():
        for (asset, period), data in var.items():
            data.fix(round(units.get((kind, asset, period), 0.0)))
    opened_in: dict[str, int] = {}
    for row in sorted(rows, key=lambda row: int(row.period)):
        if row.asset_type == "site" and (row.units_built > 0 or row.capex > 0):
            opened_in.setdefault(row.asset_id, int(row.period))
    for (site, period), opened in m.open.items():
        opened.fix(int(opened_in.get(site) == period))


def close_links(built: BuiltModel, links: Iterable[str]) -> None:
    """Fix the flows of every commodity on these links at zero, in every period."""
    closed = set(links)
    for (link, _, _), flow in built.model.flow.items():
        if link in closed:
            flow.fix(0.0)


@dataclass
class Loss:
    """What closing one element costs the hypercluster, against the undisrupted plan."""

    element: str
    element_type: str
    status: str
    extra_cost: float | None  # discounted currency, whole horizon
    unmet_demand: float | None  # currency over the horizon (value x years), with the element shut
    extra_unmet_demand: float | None  # the same less the undisrupted plan's
    extra_emissions_t: float | None  # tCO2e over the horizon
    value_added_lost: float | None  # currency over the horizon
    resolve_s: float = 0.0  # changing the model and re-solving it (no extraction)


def horizon_total(run: PlanRun, kpi: str) -> float:
    """A per-year KPI of the whole hypercluster summed over the years of every period."""
    kpis = run.kpis
    rows = kpis[(kpis["scope_type"] == "total") & (kpis["kpi"] == kpi) & kpis["period"].notna()]
    years = rows["period"].astype(int).map(run.built.data.years)
    return float((rows["value"] * years).sum())


def loss(baseline: PlanRun, case: PlanRun, element: str, kind: str, seconds: float) -> Loss:
    if case.results is None:
        return Loss(element, kind, case.solved.status, None, None, None, None, None, seconds)
    unmet = horizon_total(case, "unmet_demand")
    return Loss(
        element=element,
        element_type=kind,
        status=case.solved.status,
        extra_cost=case.results.cost - baseline.results.cost,
        unmet_demand=unmet,
        extra_unmet_demand=unmet - horizon_total(baseline, "unmet_demand"),
        extra_emissions_t=case.results.emissions_t - baseline.results.emissions_t,
        value_added_lost=horizon_total(baseline, "value_added")
        - horizon_total(case, "value_added"),
        resolve_s=seconds,
    )


def resilience_table(losses: list[Loss], run_id: str) -> pd.DataFrame:
    """results/resilience.parquet: one row per closed element, rank 1 = most depended on
    (largest extra cost, which prices unmet demand at its penalty)."""
    frame = pd.DataFrame([vars(item) for item in losses])
    if not frame.empty:
        order = frame["extra_cost"].rank(method="min", ascending=False)
        frame["rank"] = order.astype("Int64")
        frame = frame.sort_values(["rank", "element"], na_position="last")
    return conform("resilience", frame, run_id)


def operations(
    ds: Dataset,
    scenario: Scenario,
    investments: pd.DataFrame,
    run_id: str,
    disruption: Disruption | None = None,
) -> PlanRun:
    """The plan's operations re-optimised, under `disruption` if one is given."""
    closed: list[str] = []
    if disruption is not None:
        ds, scenario = shocked_inputs(ds, scenario, disruption)

    def adjust(built: BuiltModel) -> None:
        fix_investments(built, investments)
        if disruption is None:
            return
        for kind in ("link", "corridor", "crossing"):
            named = getattr(disruption, f"close_{kind}s")
            for links in element_links(built.data, kind, named).values():
                closed.extend(links)
        close_links(built, closed)

    return optimise(ds, scenario, run_id, adjust=adjust)


def n_minus_one(
    ds: Dataset,
    scenario: Scenario,
    investments: pd.DataFrame,
    run_id: str,
    kind: str = "crossing",
    elements: Iterable[str] | None = None,
) -> tuple[PlanRun, list[Loss]]:
    """Close each element in turn (by default every crossing with flows) in one model.

    Returns the undisrupted operations and one Loss per element.
    """
    built = build_model(ds, scenario)
    fix_investments(built, investments)
    if elements is None:  # every crossing that carries flows in this model
        elements = sorted(built.data.crossing_links)
        if not elements:
            raise WhatIfError(
                "n1: no open border crossing carries flows; give analysis.n1_corridor"
            )
    links_of = element_links(built.data, kind, elements, key="analysis.n1_corridor")
    solved, highs = solve(built.model, scenario.solver)  # a plan the data refuses: infeasible
    if solved.ok:  # agglomeration segments follow the fixed builds: fix them, keep the LP
        highs.fix_integers()
        solved = highs.solve(scenario.solver)
    baseline = finish(PlanRun(scenario, built, solved, highs), run_id)
    if baseline.results is None:
        return baseline, []
    losses = []
    for element, links in links_of.items():
        flows = [flow for (link, _, _), flow in built.model.flow.items() if link in links]
        start = time.perf_counter()
        for flow in flows:
            highs.set_bounds(flow, 0.0, 0.0)
        solved = highs.solve(scenario.solver)
        seconds = time.perf_counter() - start
        case = finish(PlanRun(scenario, built, solved, highs), run_id)
        losses.append(loss(baseline, case, element, kind, seconds))
        for flow in flows:
            highs.set_bounds(flow, flow.lb, flow.ub)
    return baseline, losses
