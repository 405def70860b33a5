"""Everything the constraint families need, prepared once: sparse index sets and parameters.

The families only look values up here; no family walks the dataset tables itself, so each
stays short and the sparsity rules live in one place (see `twin.network` for how the
reachable tuples are derived).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import pandas as pd

from twin.data import Dataset, columns, rows
from twin.model.discounting import annuity_weight, capital_recovery_factor, period_weight
from twin.network import IndexSets, derive_sets
from twin.scenario import Scenario

RCP = tuple[str, str, int]


@dataclass(frozen=True)
class Site:
    site_id: str
    region: str
    technology: str
    chain: str
    existing: int
    max_modules: int
    earliest: int | None
    retirement: int | None
    opening_cost: float


@dataclass(frozen=True)
class Link:
    link_id: str
    src: str
    dst: str
    mode: str
    capacity: float
    step: float
    expansion_capex: float
    max_expansions: int
    lifetime: int
    transport_cost: float  # per unit: distance x cost per unit-km
    emissions: float  # tCO2e per unit: distance x emissions per unit-km
    corridor: str | None
    crossing: str | None
    tariff: float  # per unit
    border_cost: float  # per unit: delay cost + transshipment at the crossing


@dataclass
class AgglomerationGroup:
    """Modules of one chain in one region, whose capex falls as they accumulate."""

    region: str
    chain: str
    sites: list[str]
    existing: int
    widths: list[float]  # new modules that fit in each segment (after existing ones)
    factors: list[float]  # capex factor of each segment
    reference_capex: float  # cheapest module of the group: savings are never overstated
    reference_weight: dict[int, float]  # capex weight of a reference module built per period


@dataclass
class ModelData:
    """Sparse sets and parameters of one model instance."""

    ds: Dataset
    scenario: Scenario
    sets: IndexSets
    periods: list[int]
    years: dict[int, int]
    weight: dict[int, float]  # discounted years of each period
    horizon_end: int
    sites: dict[str, Site]
    technologies: pd.DataFrame  # indexed by technology_id
    tech: dict[str, dict]  # technology_id -> its row: fast look-ups while building
    recipe: dict[str, list[tuple[str, float]]]  # technology -> (commodity, coefficient)
    site_periods: list[tuple[str, int]]
    existing_alive: dict[tuple[str, int], int]
    builds: list[tuple[str, int]]
    openings: list[tuple[str, int]]
    build_weight: dict[tuple[str, int], float]  # annualised capex x discounted years, per unit
    links: dict[str, Link]
    link_flows: list[tuple[str, str, int]]
    link_expansions: list[tuple[str, int]]
    crossing: dict[str, dict]  # crossing_id -> its row
    crossing_links: dict[str, list[str]]
    crossing_expansions: list[tuple[str, int]]
    expansion_weight: dict[tuple[str, str, int], float]  # ("link"/"crossing", id, period)
    buys: dict[RCP, tuple[float, float, float]]  # max quantity, cost, emission factor
    demand: dict[RCP, tuple[float, float]]  # quantity, unmet penalty
    country: dict[str, str]  # region -> country
    bloc_regions: set[str]
    critical: list[str]
    commodity_chain: dict[str, str]
    agglomeration: list[AgglomerationGroup] = field(default_factory=list)
    build_periods: dict[str, list[int]] = field(default_factory=dict)  # `builds` by site

    def alive(self, built: int, lifetime: int, period: int) -> bool:
        """An asset built in period `built` still operates in `period`."""
        return built <= period < built + lifetime

    def available(self, asset_id: str) -> float:
        """Share of an asset's capacity that may be used (a what-if cut; 1 by default)."""
        return self.scenario.availability.get(asset_id, 1.0)

    def module_size(self, site_id: str) -> float:
        """Most activity per module of a site: its technology's module size times the share
        of it available (capacity rows, flow bounds, linking and cover rows alike)."""
        technology = self.sites[site_id].technology
        return self.available(site_id) * float(self.tech[technology]["module_size"])

    def lifetime(self, site_id: str) -> int:
        return int(self.tech[self.sites[site_id].technology]["lifetime_years"])

    def periods_of(self, decisions: list[tuple[str, int]]) -> dict[str, list[int]]:
        """Build periods of each owner (site, link or crossing) of a list of decisions."""
        by_owner: dict[str, list[int]] = defaultdict(list)
        for owner, period in decisions:
            by_owner[owner].append(period)
        return by_owner

    def builds_alive(self, site_id: str, period: int) -> list[int]:
        """Periods whose new modules at the site still operate in `period`."""
        lifetime = self.lifetime(site_id)
        return [q for q in self.build_periods.get(site_id, ()) if self.alive(q, lifetime, period)]

    def capex_rate(self, technology: str) -> float:
        green = self.scenario.has("finance") and bool(self.tech[technology]["low_carbon"])
        return self.scenario.green_rate if green else self.scenario.discount_rate

    def annuity(self, rate: float, lifetime: int, built: int) -> float:
        """Discounted annuities per unit of overnight capex of an asset built in `built`."""
        weight = annuity_weight(
            built, lifetime, self.horizon_end, self.periods[0], self.scenario.discount_rate
        )
        return capital_recovery_factor(rate, lifetime) * weight


def prepare(ds: Dataset, scenario: Scenario) -> ModelData:
    """Derive the sparse sets and look-up tables of a model for `ds` under `scenario`."""
    open_links = set(ds.links["link_id"]) - set(scenario.closed_links)
    sets = derive_sets(ds, open_links=open_links)
    periods = list(sets.periods)
    years = dict(
        zip(ds.periods["period"].astype(int), ds.periods["years"].astype(int), strict=True)
    )
    base, rate = periods[0], scenario.discount_rate
    technologies = ds.technologies.set_index("technology_id")
    data = ModelData(
        ds=ds,
        scenario=scenario,
        sets=sets,
        periods=periods,
        years=years,
        weight={p: period_weight(p, years[p], base, rate) for p in periods},
        horizon_end=periods[-1] + years[periods[-1]],
        sites=_sites(ds, technologies),
        technologies=technologies,
        tech=technologies.to_dict("index"),
        recipe=_recipes(ds),
        site_periods=list(sets.site_periods),
        existing_alive={},
        builds=[],
        openings=[],
        build_weight={},
        links=_links(ds),
        link_flows=list(sets.link_flows),
        link_expansions=[],
        crossing=ds.border_crossings.set_index("crossing_id").to_dict("index"),
        crossing_links=defaultdict(list),
        crossing_expansions=[],
        expansion_weight={},
        buys={},
        demand={},
        country=dict(zip(ds.regions["region_id"], ds.regions["country"], strict=True)),
        bloc_regions=ds.blocs().get(scenario.bloc, set()),
        critical=_critical(ds, scenario),
        commodity_chain=dict(
            zip(ds.commodities["commodity_id"], ds.commodities["chain"], strict=True)
        ),
    )
    _site_sets(data)
    _link_sets(data, open_links)
    _supply_and_demand(data)
    if scenario.has("agglomeration"):
        data.agglomeration = _agglomeration_groups(data)
    return data


def _sites(ds: Dataset, technologies: pd.DataFrame) -> dict[str, Site]:
    def optional(value) -> int | None:
        return None if pd.isna(value) else int(value)

    chain = technologies["chain"].to_dict()

    return {
        row.site_id: Site(
            site_id=row.site_id,
            region=row.region_id,
            technology=row.technology_id,
            chain=chain[row.technology_id],
            existing=int(row.existing_modules),
            max_modules=int(row.max_modules),
            earliest=optional(row.earliest_period),
            retirement=optional(row.existing_retirement_year),
            opening_cost=float(row.opening_cost),
        )
        for row in rows(ds.sites)
    }


def _recipes(ds: Dataset) -> dict[str, list[tuple[str, float]]]:
    recipe: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for row in rows(ds.recipes):
        recipe[row.technology_id].append((row.commodity_id, float(row.coefficient)))
    return recipe


def _links(ds: Dataset) -> dict[str, Link]:
    corridors = {row.link_id: row for row in rows(ds.corridors.drop_duplicates("link_id"))}
    crossings = ds.border_crossings.set_index("crossing_id")["transshipment_cost_per_unit"]
    transship = crossings.to_dict()
    links = {}
    for row in rows(ds.links):
        corridor = corridors.get(row.link_id)
        crossing = None if corridor is None else corridor.border_crossing
        crossing = None if pd.isna(crossing) else str(crossing)
        links[row.link_id] = Link(
            link_id=row.link_id,
            src=row.src,
            dst=row.dst,
            mode=row.mode,
            capacity=float(row.capacity),
            step=float(row.expansion_step),
            expansion_capex=float(row.expansion_capex),
            max_expansions=int(row.max_expansions),
            lifetime=int(row.lifetime_years),
            transport_cost=float(row.distance_km * row.cost_per_unit_km),
            emissions=float(row.distance_km * row.emissions_t_per_unit_km),
            corridor=None if corridor is None else str(corridor.corridor_id),
            crossing=crossing,
            tariff=0.0 if corridor is None else float(corridor.tariff_per_unit),
            border_cost=0.0
            if corridor is None
            else float(corridor.border_delay_cost_per_unit + transship.get(crossing, 0.0)),
        )
    return links


def _site_sets(data: ModelData) -> None:
    """Existing modules alive, where new modules may be built, where a site first opens."""
    scenario = data.scenario
    for site_id, period in data.site_periods:
        site = data.sites[site_id]
        retired = site.retirement is not None and period >= site.retirement
        data.existing_alive[site_id, period] = 0 if retired else site.existing
        may_build = site.earliest is None or period >= site.earliest
        if scenario.allow_investment and may_build and site.max_modules > 0:
            data.builds.append((site_id, period))
    data.build_periods = data.periods_of(data.builds)
    rate = {t: data.capex_rate(t) for t in data.tech}
    lifetime = {t: int(tech["lifetime_years"]) for t, tech in data.tech.items()}
    for site_id, period in data.builds:
        site = data.sites[site_id]
        t = site.technology
        data.build_weight[site_id, period] = data.annuity(rate[t], lifetime[t], period)
        if site.existing == 0 and site.opening_cost > 0:
            data.openings.append((site_id, period))


def _link_sets(data: ModelData, open_links: set[str]) -> None:
    """Links and crossings that carry flows, and where they may be expanded."""
    used = defaultdict(set)
    for link_id, period in data.sets.flows_by_link_period[0]:
        used[link_id].add(period)
    for link_id in sorted(open_links):
        link = data.links[link_id]
        if link.crossing is not None and used[link_id]:
            data.crossing_links[link.crossing].append(link_id)
    invest = data.scenario.allow_investment
    rate = data.scenario.discount_rate
    for link_id, periods in sorted(used.items()):
        link = data.links[link_id]
        if invest and link.step > 0 and link.max_expansions > 0:
            for period in data.periods:
                if any(data.alive(period, link.lifetime, p) for p in periods):
                    data.link_expansions.append((link_id, period))
                    weight = data.annuity(rate, link.lifetime, period)
                    data.expansion_weight["link", link_id, period] = weight
    for crossing_id in sorted(data.crossing_links):
        crossing = data.crossing[crossing_id]
        if invest and crossing["expansion_step"] > 0 and crossing["max_expansions"] > 0:
            lifetime = int(crossing["lifetime_years"])
            for period in data.periods:
                data.crossing_expansions.append((crossing_id, period))
                weight = data.annuity(rate, lifetime, period)
                data.expansion_weight["crossing", crossing_id, period] = weight


def _supply_and_demand(data: ModelData) -> None:
    """Purchases where what is bought can be used; demand where it is positive."""
    useful = data.sets.useful
    supply = data.ds.supply[data.ds.supply["max_quantity"] > 0]
    data.buys = {
        key: value
        for key, value in zip(
            _keys(supply),
            columns(supply, "max_quantity", "cost_per_unit", "emission_factor"),
            strict=True,
        )
        if key in useful
    }
    demand = data.ds.demand.assign(
        quantity=data.ds.demand["quantity"] * data.scenario.demand_growth
    )
    demand = demand[demand["quantity"] > 0]
    data.demand = dict(
        zip(_keys(demand), columns(demand, "quantity", "unmet_penalty"), strict=True)
    )


def _keys(frame: pd.DataFrame) -> Iterator[tuple]:
    """(region, commodity, period) of each row, as Python objects."""
    return columns(frame, "region_id", "commodity_id", "period")


def _critical(ds: Dataset, scenario: Scenario) -> list[str]:
    if scenario.critical_commodities is not None:
        return list(scenario.critical_commodities)
    return sorted(ds.commodities.loc[ds.commodities["critical"], "commodity_id"])


def _agglomeration_groups(data: ModelData) -> list[AgglomerationGroup]:
    """One group per (region, chain) with buildable sites and breakpoints for its chain."""
    table = data.ds.agglomeration
    built_sites = sorted({s for s, _ in data.builds})
    by_group: dict[tuple[str, str], list[str]] = defaultdict(list)
    for site_id in built_sites:
        site = data.sites[site_id]
        by_group[site.region, site.chain].append(site_id)
    points_of = {chain: points.sort_values("modules") for chain, points in table.groupby("chain")}
    groups = []
    for (region, chain), sites in sorted(by_group.items()):
        points = points_of.get(chain)
        if points is None or points.empty:
            continue
        existing = sum(data.sites[s].existing for s in sites)
        room = sum(data.sites[s].max_modules - data.sites[s].existing for s in sites)
        starts = [int(m) for m in points["modules"]] + [existing + room]
        widths = [
            max(0, min(end, existing + room) - max(start, existing))
            for start, end in itertools.pairwise(starts)
        ]
        techs = {data.sites[s].technology for s in sites}
        # the cheapest technology; a tie goes to the first by name, not by set order
        tech = min(sorted(techs), key=lambda t: data.tech[t]["capex_per_module"])
        lifetime = int(data.tech[tech]["lifetime_years"])
        groups.append(
            AgglomerationGroup(
                region=region,
                chain=chain,
                sites=sites,
                existing=existing,
                widths=[float(w) for w in widths],
                factors=[float(f) for f in points["capex_factor"]],
                reference_capex=float(data.tech[tech]["capex_per_module"]),
                reference_weight={
                    p: data.annuity(data.capex_rate(tech), lifetime, p) for p in data.periods
                },
            )
        )
    return groups
