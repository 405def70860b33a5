"""The multi-echelon graph of a dataset: structural checks and the model's sparse index sets.

Regions are joined by links (one edge per link and mode); sites hang off their region with an
edge per recipe input and output, so the chains are coupled wherever a commodity produced by
one chain is an input of another. From the graph twin derives which tuples can carry a
non-zero value, so the model declares variables only for those:

* a commodity is *available* at (region, period) if it can be bought there, produced there by
  a site whose inputs are all available, or brought there by a link that carries it;
* it is *useful* there if it is demanded there, consumed by a site that can run there, or can
  be carried to a region where it is useful (balances have no disposal, so nothing else can
  absorb a unit);
* a site is *active* in a period if it can hold modules then, all its inputs are available
  and all its outputs are useful.

The three are computed together as a fixpoint that only ever removes sites.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp

from twin.data import Dataset, rows

RCP = tuple[str, str, int]  # (region, commodity, period)


@dataclass(frozen=True)
class Names:
    """A dataset's regions, commodities, periods and links, each sorted: an entity's code is
    its position, so arrays of codes sort as the names do and numpy can do the set work."""

    regions: tuple[str, ...]
    commodities: tuple[str, ...]
    periods: tuple[int, ...]
    links: tuple[str, ...]

    @classmethod
    def of(cls, ds: Dataset) -> Names:
        return cls(
            regions=tuple(sorted(ds.regions["region_id"])),
            commodities=tuple(sorted(ds.commodities["commodity_id"])),
            periods=tuple(sorted(int(p) for p in ds.periods["period"])),
            links=tuple(sorted(ds.links["link_id"])),
        )

    KINDS = ("regions", "commodities", "periods", "links")

    @cached_property
    def _code(self) -> dict[str, dict]:
        return {
            kind: {name: i for i, name in enumerate(getattr(self, kind))} for kind in self.KINDS
        }

    @cached_property
    def _array(self) -> dict[str, np.ndarray]:  # names as arrays: decoded by fancy indexing
        return {kind: np.array(getattr(self, kind), dtype=object) for kind in self.KINDS}

    def encode(self, kind: str, names: Sequence) -> np.ndarray:
        """Codes of `names`, one of `kind` ("regions", "commodities", "periods", "links")."""
        return np.fromiter(map(self._code[kind].__getitem__, names), np.int64, len(names))

    def decode(self, *columns: tuple[str, np.ndarray]) -> list[tuple]:
        """Tuples of names from columns of codes, e.g. `decode(("links", l), ("periods", p))`."""
        named = (self._array[kind][codes].tolist() for kind, codes in columns)
        return list(zip(*named, strict=True))

    def node(self, region: np.ndarray, commodity: np.ndarray) -> np.ndarray:
        """Code of each (region, commodity) pair: commodity-major."""
        return commodity * len(self.regions) + region


@dataclass(frozen=True)
class Flows:
    """The flow variables' index (`IndexSets.link_flows`) as arrays of codes (`Names`), one
    entry per flow in the same order, for the families that group or place flows."""

    link: np.ndarray
    src: np.ndarray  # region the flow leaves
    dst: np.ndarray  # region it enters
    commodity: np.ndarray
    period: np.ndarray


@dataclass(frozen=True)
class IndexSets:
    """Sparse index sets: only tuples that can be non-zero in some feasible plan."""

    periods: tuple[int, ...]
    site_periods: tuple[tuple[str, int], ...]
    available: frozenset[RCP]
    useful: frozenset[RCP]
    link_flows: tuple[tuple[str, str, int], ...]  # (link, commodity, period)
    names: Names = field(compare=False, repr=False)
    flows: Flows = field(compare=False, repr=False)

    @cached_property
    def flows_by_link_period(self) -> tuple[list[tuple[str, int]], list[np.ndarray]]:
        """The (link, period) pairs that carry flows, sorted, and the positions in
        `link_flows` of each pair's flows, in flow order: what a link's load sums."""
        count = len(self.periods)
        key = self.flows.link * count + self.flows.period
        order = np.argsort(key, kind="stable")
        pairs, first = np.unique(key[order], return_index=True)
        link, period = np.divmod(pairs, count)
        keys = self.names.decode(("links", link), ("periods", period))
        return keys, np.split(order, first[1:]) if len(order) else []


@dataclass
class StructureReport:
    """What the structural checks found: errors block a run, warnings do not."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def build_graph(ds: Dataset) -> nx.MultiDiGraph:
    """Regions and sites as nodes; links, site inputs and site outputs as edges."""
    graph = nx.MultiDiGraph(name=ds.name)
    for region in rows(ds.regions):
        graph.add_node(
            ("region", region.region_id),
            kind="region",
            country=region.country,
            lat=region.lat,
            lon=region.lon,
        )
    technologies = ds.technologies.set_index("technology_id")
    for site in rows(ds.sites):
        tech = technologies.loc[site.technology_id]
        graph.add_node(
            ("site", site.site_id),
            kind="site",
            region=site.region_id,
            technology=site.technology_id,
            chain=tech["chain"],
            echelon=int(tech["echelon"]),
        )
    carried = ds.link_commodities.groupby("link_id")["commodity_id"].apply(list)
    for link in rows(ds.links):
        graph.add_edge(
            ("region", link.src),
            ("region", link.dst),
            key=link.link_id,
            kind="link",
            mode=link.mode,
            commodities=carried.get(link.link_id, []),
        )
    recipes = ds.recipes.merge(ds.sites[["site_id", "region_id", "technology_id"]])
    for row in rows(recipes):
        site, region = ("site", row.site_id), ("region", row.region_id)
        edge = (site, region) if row.coefficient > 0 else (region, site)
        graph.add_edge(
            *edge,
            key=row.commodity_id,
            kind="output" if row.coefficient > 0 else "input",
            coefficient=row.coefficient,
        )
    return graph


def operable_site_periods(ds: Dataset) -> set[tuple[str, int]]:
    """(site, period) where the site can hold modules: existing ones alive, or room to build."""
    pairs = set()
    periods = ds.periods["period"].tolist()
    for site in rows(ds.sites):
        for period in periods:
            alive = _existing_alive(site, period)
            may_build = pd.isna(site.earliest_period) or period >= site.earliest_period
            if alive > 0 or (may_build and site.max_modules > alive):
                pairs.add((site.site_id, int(period)))
    return pairs


def _existing_alive(site, period: int) -> int:
    retired = not pd.isna(site.existing_retirement_year) and period >= site.existing_retirement_year
    return 0 if retired else int(site.existing_modules)


class _Reach:
    """Reachability over links and recipes, period by period. Nodes are (region, commodity)
    pairs (`Names.node`), with an edge per link and commodity it carries; what is reached is
    a boolean array over nodes, what runs one over sites, so a search is a few sparse
    products, not a Python loop per edge or site (most of preparing the model at 1M
    nonzeros)."""

    def __init__(self, ds: Dataset, open_links: set[str] | None, names: Names):
        self.names = names
        links = ds.links if open_links is None else ds.links[ds.links["link_id"].isin(open_links)]
        arcs = links.merge(ds.link_commodities, on="link_id")
        link = names.encode("links", arcs["link_id"].tolist())
        commodity = names.encode("commodities", arcs["commodity_id"].tolist())
        order = np.lexsort((commodity, link))  # by link, then commodity: the flows' order
        self.arc_link, self.arc_commodity = link[order], commodity[order]
        self.arc_src = names.encode("regions", arcs["src"].tolist())[order]
        self.arc_dst = names.encode("regions", arcs["dst"].tolist())[order]
        self.size = len(names.regions) * len(names.commodities)
        self.src_node = names.node(self.arc_src, self.arc_commodity)  # where each arc starts
        self.dst_node = names.node(self.arc_dst, self.arc_commodity)
        ones = np.ones(len(self.src_node))
        into = sp.csr_matrix((ones, (self.dst_node, self.src_node)), (self.size, self.size))
        self.step = {True: into, False: into.T.tocsr()}  # (step @ x)[j]: x at a neighbour of j

        self.sites = ds.sites["site_id"].tolist()
        region = names.encode("regions", ds.sites["region_id"].tolist())
        inputs, outputs = recipe_sides(ds)
        technology = ds.sites["technology_id"].tolist()
        self.needs = self._site_nodes(region, [inputs[t] for t in technology])
        self.makes = self._site_nodes(region, [outputs[t] for t in technology])
        self.bought = self._by_period(ds.supply[ds.supply["max_quantity"] > 0])
        self.demanded = self._by_period(ds.demand[ds.demand["quantity"] > 0])

    def _site_nodes(self, region: np.ndarray, commodities: list[set[str]]) -> sp.csr_matrix:
        """Site x node incidence: the nodes of each site's region and `commodities[site]`."""
        count = np.fromiter(map(len, commodities), np.int64, len(commodities))
        every = [c for site in commodities for c in sorted(site)]
        nodes = self.names.node(np.repeat(region, count), self.names.encode("commodities", every))
        site = np.repeat(np.arange(len(commodities)), count)
        return sp.csr_matrix((np.ones(len(nodes)), (site, nodes)), (len(count), self.size))

    def _by_period(self, frame: pd.DataFrame) -> np.ndarray:
        """Period x node: the (region, commodity, period) rows of `frame`."""
        names = self.names
        marked = np.zeros((len(names.periods), self.size), dtype=bool)
        period = names.encode("periods", frame["period"].tolist())
        region = names.encode("regions", frame["region_id"].tolist())
        commodity = names.encode("commodities", frame["commodity_id"].tolist())
        marked[period, names.node(region, commodity)] = True
        return marked

    def closure(self, seeds: np.ndarray, forward: bool) -> np.ndarray:
        """Nodes reachable from `seeds` along links (or against them): one breadth-first
        search from all seeds at once, a sparse product per step."""
        reached, step = seeds.copy(), self.step[forward]
        frontier = reached.copy()
        while frontier.any():
            frontier = (step @ frontier > 0) & ~reached
            reached |= frontier
        return reached

    @staticmethod
    def has(nodes: np.ndarray, side: sp.csr_matrix) -> np.ndarray:
        """Sites with every node of their `side` (needs or makes) among `nodes`."""
        return side @ ~nodes == 0

    def available(self, position: int, sites: np.ndarray) -> np.ndarray:
        """What can be had in the period at `position` (in `Names.periods`): supply, then
        `sites` and links to a fixpoint."""
        have = self.closure(self.bought[position], forward=True)
        pending = sites.copy()
        while (ready := pending & self.has(have, self.needs)).any():
            pending &= ~ready
            made = self.makes.T @ ready > 0
            have |= self.closure(made & ~have, forward=True)  # `have` is closed already
        return have

    def useful(self, position: int, sites: np.ndarray) -> np.ndarray:
        """Where a unit can end in the period at `position`: demand and the inputs of
        `sites`, then up the links."""
        sinks = self.demanded[position] | (self.needs.T @ sites > 0)
        return self.closure(sinks, forward=False)


def recipe_sides(ds: Dataset) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Input and output commodities of each technology."""
    inputs: dict[str, set[str]] = defaultdict(set)
    outputs: dict[str, set[str]] = defaultdict(set)
    for row in rows(ds.recipes):
        (outputs if row.coefficient > 0 else inputs)[row.technology_id].add(row.commodity_id)
    return inputs, outputs


def derive_sets(ds: Dataset, open_links: set[str] | None = None) -> IndexSets:
    """Sparse index sets of the model; `open_links` restricts the links (None = all)."""
    names = Names.of(ds)
    reach = _Reach(ds, open_links, names)
    periods = names.periods
    operable = operable_site_periods(ds)
    active = np.zeros((len(reach.sites), len(periods)), dtype=bool)  # site x period position
    for i, site in enumerate(reach.sites):
        active[i] = [(site, p) in operable for p in periods]
    have = np.zeros((len(periods), reach.size), dtype=bool)
    want = np.zeros_like(have)
    while True:
        still_active = np.zeros_like(active)
        for i in range(len(periods)):
            have[i] = reach.available(i, active[:, i])
            runnable = active[:, i] & reach.has(have[i], reach.needs)
            want[i] = reach.useful(i, runnable)
            still_active[:, i] = runnable & reach.has(want[i], reach.makes)
        if (still_active == active).all():
            break
        active = still_active
    flows = _flows(reach, have, want)
    return IndexSets(
        periods=periods,
        site_periods=tuple(sorted(_pairs(reach.sites, periods, active))),
        available=_triples(names, have),
        useful=_triples(names, want),
        link_flows=tuple(
            names.decode(
                ("links", flows.link), ("commodities", flows.commodity), ("periods", flows.period)
            )
        ),
        names=names,
        flows=flows,
    )


def _flows(reach: _Reach, have: np.ndarray, want: np.ndarray) -> Flows:
    """A flow per arc (link, commodity) and period where its commodity is available at the
    source and useful at the destination: arcs by (link, commodity), then periods."""
    arc, period = np.nonzero((have[:, reach.src_node] & want[:, reach.dst_node]).T)
    return Flows(
        link=reach.arc_link[arc],
        src=reach.arc_src[arc],
        dst=reach.arc_dst[arc],
        commodity=reach.arc_commodity[arc],
        period=period,
    )


def _pairs(sites: list[str], periods: tuple[int, ...], active: np.ndarray) -> list[tuple]:
    """(site, period) of each active (site, period position)."""
    site, period = np.nonzero(active)
    return [(sites[s], periods[p]) for s, p in zip(site.tolist(), period.tolist(), strict=True)]


def _triples(names: Names, marked: np.ndarray) -> frozenset[RCP]:
    """(region, commodity, period) of each marked (period, node)."""
    period, node = np.nonzero(marked)
    commodity, region = np.divmod(node, len(names.regions))
    return frozenset(
        names.decode(("regions", region), ("commodities", commodity), ("periods", period))
    )


def check_structure(ds: Dataset, sets: IndexSets | None = None) -> StructureReport:
    """Unreachable demand (error), sites that can never run and isolated regions (warnings)."""
    sets = sets or derive_sets(ds)
    report = StructureReport()
    for row in rows(ds.demand[ds.demand["quantity"] > 0]):
        if (row.region_id, row.commodity_id, int(row.period)) not in sets.available:
            report.errors.append(
                f"demand for {row.commodity_id} in {row.region_id} ({row.period}) cannot be "
                "reached from any supply through links and recipes"
            )
    active_sites = {s for s, _ in sets.site_periods}
    inputs, outputs = recipe_sides(ds)
    for site in rows(ds.sites):
        if site.site_id in active_sites:
            continue
        region = site.region_id
        missing = sorted(
            c
            for c in inputs[site.technology_id]
            if not any((region, c, p) in sets.available for p in sets.periods)
        )
        unused = sorted(
            c
            for c in outputs[site.technology_id]
            if not any((region, c, p) in sets.useful for p in sets.periods)
        )
        why = (
            f"no usable input {', '.join(missing)}"
            if missing
            else f"no use for its output {', '.join(unused)}"
            if unused
            else "its inputs and the uses of its outputs never meet in a period it can run"
        )
        report.warnings.append(
            f"site {site.site_id} ({site.technology_id} in {region}) can never run: {why}"
        )
    linked = set(ds.links["src"]) | set(ds.links["dst"])
    for region in ds.regions["region_id"]:
        if region not in linked:
            report.warnings.append(f"region {region} is isolated: no link in or out")
    return report
