r"""Bounds no decision can exceed: the most each flow could ever carry.

Computed from the data alone, before any decision, with every site at its most modules and
every link and crossing at its most expansions (capacities times the what-if availability
:math:`\alpha`). For commodity k at (region r, period p):

.. math::

    avail_{rkp} = \bar b_{rkp} + \sum_{s \in S_r} a^+_{sk} \bar A_{sp}
        + \sum_{l \in in(r)} \bar K_{lp}, \qquad
    absorb_{rkp} = D_{rkp} + \sum_{s \in S_r} a^-_{sk} \bar A_{sp}
        + \sum_{l \in out(r)} \bar K_{lp}

with :math:`\bar b` the most that can be bought, :math:`\bar A_{sp} = \alpha_s U_s \bar
N_{sp}` the most activity of a site and :math:`\bar K_{lp}` the most a link carries. Over
the whole network, no flow of k exceeds what can be made or bought of it anywhere, nor what
can be consumed or served of it anywhere (:math:`\sum_r` of the first two terms of each). A
flow is bounded by the least of these:

.. math::

    \bar x_{lkp} = \min\left(\bar K_{lp},\ \bar K_{x(l),p},\ avail_{src(l),kp},\
    absorb_{dst(l),kp},\ \textstyle\sum_r (\bar b_{rkp} + \sum_s a^+ \bar A),\
    \sum_r (D_{rkp} + \sum_s a^- \bar A)\right)

The network-wide terms hold for every plan without a circulation (flow around a cycle),
which never lowers the cost: no optimum is lost. A capacity bounds only where its family is
in the model: link and crossing capacities with `transport`, site activity with `capacity`.
The linking rows (`twin.model.linking`) scale these bounds by investments.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from twin.model.data import ModelData
from twin.network import Names

RCP = tuple[str, str, int]


@dataclass
class FlowBounds:
    """The bounds of every flow and their ingredients, per flow in `data.link_flows` order."""

    flow: np.ndarray  # most each flow can carry (inf where nothing bounds it)
    link: dict[tuple[str, int], float]  # most a link carries in a period
    source_without_building: np.ndarray  # most of the flow's commodity at its source with
    # no new module: bought, made by existing modules, brought in


def site_most_modules(data: ModelData, site: str, period: int) -> int:
    """The most modules the site can have in `period`: its limit if it may build by then,
    else its existing modules alive."""
    if data.builds_alive(site, period):
        return data.sites[site].max_modules
    return data.existing_alive.get((site, period), 0)


def link_most(data: ModelData, link_id: str, period: int, expandable: set[str]) -> float:
    if not data.scenario.has("transport"):
        return np.inf
    link = data.links[link_id]
    steps = link.max_expansions if link_id in expandable else 0
    return data.available(link_id) * (link.capacity + link.step * steps)


def crossing_most(data: ModelData, crossing: str, period: int, expandable: set[str]) -> float:
    if not data.scenario.has("transport"):
        return np.inf
    row = data.crossing[crossing]
    steps = int(row["max_expansions"]) if crossing in expandable else 0
    capacity = float(row["capacity"]) + float(row["expansion_step"]) * steps
    return data.available(crossing) * capacity


def flow_bounds(data: ModelData) -> FlowBounds:
    """Every flow's bound (see the module docstring)."""
    link_expandable = {link for link, _ in data.link_expansions}
    crossing_expandable = {x for x, _ in data.crossing_expansions}
    avail: dict[RCP, float] = defaultdict(float)
    absorb: dict[RCP, float] = defaultdict(float)
    made_total: dict[tuple[str, int], float] = defaultdict(float)
    used_total: dict[tuple[str, int], float] = defaultdict(float)
    without_building: dict[RCP, float] = defaultdict(float)
    for (r, k, p), (quantity, _cost, _factor) in data.buys.items():
        without_building[r, k, p] += quantity
        avail[r, k, p] += quantity
        made_total[k, p] += quantity
    for (r, k, p), (quantity, _penalty) in data.demand.items():
        absorb[r, k, p] += quantity
        used_total[k, p] += quantity
    for s, p in data.site_periods:
        site = data.sites[s]
        size = data.module_size(s)
        most = size * site_most_modules(data, s, p)
        existing = size * data.existing_alive.get((s, p), 0)
        if not data.scenario.has("capacity"):  # activity bounded by nothing
            most = existing = np.inf
        for k, coefficient in data.recipe[site.technology]:
            if coefficient > 0:
                avail[site.region, k, p] += coefficient * most
                without_building[site.region, k, p] += coefficient * existing
                made_total[k, p] += coefficient * most
            else:
                absorb[site.region, k, p] -= coefficient * most
                used_total[k, p] -= coefficient * most
    names, flows = data.sets.names, data.sets.flows
    link_periods, positions = data.sets.flows_by_link_period
    link = {key: link_most(data, *key, link_expandable) for key in link_periods}
    crossing = {
        (x, p): crossing_most(data, x, p, crossing_expandable)
        for x in data.crossing_links
        for p in data.periods
    }
    carried = np.empty(len(flows.link))  # each flow's link, at its most
    through = np.full(len(flows.link), np.inf)  # each flow's crossing, if any, at its most
    for (link_id, p), at in zip(link_periods, positions, strict=True):
        carried[at] = link[link_id, p]
        if crossed := data.links[link_id].crossing:
            through[at] = crossing.get((crossed, p), np.inf)
    # nodes as (period, commodity, region) codes; flows add to them in flow order, as the
    # sums above do in the order of their data
    source = (flows.period, flows.commodity, flows.src)
    target = (flows.period, flows.commodity, flows.dst)
    avail_at, absorb_at = by_node(names, avail), by_node(names, absorb)
    without_at = by_node(names, without_building)
    np.add.at(avail_at, target, carried)
    np.add.at(without_at, target, carried)
    np.add.at(absorb_at, source, carried)
    commodity_period = ("commodities", "periods")
    made = _by_codes(names, made_total, commodity_period)
    used = _by_codes(names, used_total, commodity_period)
    commodity = (flows.period, flows.commodity)
    bounds = np.minimum.reduce(
        [carried, through, avail_at[source], absorb_at[target], made[commodity], used[commodity]]
    )
    return FlowBounds(bounds, link, without_at[source])


def by_node(names: Names, values: dict[RCP, float]) -> np.ndarray:
    """`values` by (region, commodity, period) as an array over (period, commodity, region)
    codes, 0 where there is none."""
    return _by_codes(names, values, ("regions", "commodities", "periods"))


def _by_codes(names: Names, values: dict[tuple, float], kinds: tuple[str, ...]) -> np.ndarray:
    """`values`, keyed by names of `kinds` (`Names.KINDS`), as an array whose axes are those
    kinds' codes in reverse order (period first), 0 where there is none."""
    array = np.zeros(tuple(len(getattr(names, kind)) for kind in reversed(kinds)))
    if values:
        columns = zip(*values, strict=True)
        at = tuple(names.encode(kind, column) for kind, column in zip(kinds, columns, strict=True))
        array[at[::-1]] = list(values.values())  # one entry per key
    return array
