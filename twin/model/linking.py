r"""Linking rows: a flow that needs an investment is bounded by that investment.

The textbook strong formulation of facility location adds :math:`x_{ij} \le d_j y_i` to the
aggregate capacity row :math:`\sum_j x_{ij} \le u_i y_i`; without it the LP relaxation opens
a sliver of each facility and the branch-and-bound tree explodes. These rows generalise it to
any twin network, from the flow bounds :math:`\bar x_{lkp}` of `twin.model.bounds`.

**Sites.** For a flow of k on link l out of region r in period p, with :math:`C` the most of k
that r can have without new modules (purchases, existing modules, inflows) and :math:`S` the
sites of r that make k and may hold new modules then:

.. math::

    flow_{lkp} \le C + \sum_{s \in S} \min(\bar x_{lkp},\ a^+_{sk} \alpha_s U_s)
        \sum_{q \le p < q + L_s} build_{sq}

**Links and crossings.** For a flow on link l that may be expanded (existing capacity
:math:`K_l`, step :math:`\Delta_l`), and likewise for the crossing it passes:

.. math::

    flow_{lkp} \le \alpha_l K_l + \min(\bar x_{lkp},\ \alpha_l \Delta_l)
        \sum_{q \le p < q + L_l} expand\_link_{lq}

Each holds for every plan: with no new module (no expansion) the flow is within what exists;
with at least one whose coefficient is the flow's bound, the right-hand side reaches the
bound; otherwise it is the aggregate capacity the balance and capacity rows already impose.
A row is written only where it is stronger than those: where the flow's bound is below what
one new module makes (one expansion step adds), and more than what exists without them
(:math:`C < \bar x_{lkp}`, resp. :math:`\alpha K < \bar x_{lkp}`); elsewhere it would only
repeat them, and a larger LP slows every node. Constraints `site_linking[l, k, p]`,
`link_linking[l, k, p]`, `crossing_linking[l, k, p]`, stored as arrays.
"""

from __future__ import annotations

import math

import numpy as np
import pyomo.environ as pyo

from twin.model.array_constraint import ArrayConstraint
from twin.model.bounds import FlowBounds, by_node
from twin.model.data import ModelData
from twin.model.variables import installed_terms

TOLERANCE = 1e-9  # relative: a row whose bound is no tighter than this cuts nothing


def add_linking(m: pyo.ConcreteModel, data: ModelData, bounds: FlowBounds) -> None:
    """The three linking families (see the module docstring), where they can cut."""
    producers = _new_producers(m, data)
    expansions = _expansion_terms(m, data)
    rows = {
        "site_linking": ([], [], []),
        "link_linking": ([], [], []),
        "crossing_linking": ([], [], []),
    }
    for i in _candidates(data, bounds, producers, expansions).tolist():
        key = data.link_flows[i]  # in the order of m.flow, as the bounds are
        flow, most = m.flow[key], float(bounds.flow[i])
        link_id, k, p = key
        link = data.links[link_id]
        made = producers.get((link.src, k, p))
        if made and most < max(output for output, _ in made):
            base = float(bounds.source_without_building[i])
            terms = [(-min(most, output), build) for output, builds in made for build in builds]
            _add(rows["site_linking"], key, flow, terms, base, most)
        for kind, owner in (("link", link_id), ("crossing", link.crossing)):
            if (kind, owner, p) not in expansions:
                continue
            base, step, alive = expansions[kind, owner, p]
            if most >= step:  # the row would be the link's (crossing's) capacity row, weaker
                continue
            name = f"{kind}_linking"
            _add(rows[name], key, flow, [(-min(most, step), y) for y in alive], base, most)
    for name, (index, terms, upper) in rows.items():
        setattr(m, f"{name}_index", pyo.Set(initialize=index, dimen=3, ordered=True))
        family = ArrayConstraint.from_terms(getattr(m, f"{name}_index"), terms, -math.inf, upper)
        setattr(m, name, family)


def _candidates(
    data: ModelData, bounds: FlowBounds, producers: dict, expansions: dict
) -> np.ndarray:
    """Positions of the flows that may get a linking row, in flow order: a finite, positive
    bound below what one new module at the source makes or one step of the flow's link or
    crossing adds. Found by arrays, so that the rows' own test runs on these alone (on large
    networks a small share of the flows)."""
    most = bounds.flow
    one_more = np.zeros(len(most))  # the most one new module or one step adds, per flow
    names, flows = data.sets.names, data.sets.flows
    if producers:
        largest = {node: max(output for output, _ in made) for node, made in producers.items()}
        one_more = by_node(names, largest)[flows.period, flows.commodity, flows.src]
    for (link_id, p), at in zip(*data.sets.flows_by_link_period, strict=True):
        for owner in (("link", link_id, p), ("crossing", data.links[link_id].crossing, p)):
            if owner in expansions:
                one_more[at] = np.maximum(one_more[at], expansions[owner][1])
    return np.flatnonzero(np.isfinite(most) & (most > 0) & (most < one_more))


def _add(rows, key, flow, terms, base: float, most: float) -> None:
    """A row flow + terms <= base, if it cuts (base below the flow's bound)."""
    if terms and base < most * (1 - TOLERANCE):
        index, all_terms, upper = rows
        index.append(key)
        all_terms.append([(1.0, flow), *terms])
        upper.append(base)


def _new_producers(m: pyo.ConcreteModel, data: ModelData) -> dict:
    """(region, commodity, period) -> [(most output of one module, [build variables of the
    modules alive])] for the sites there that make the commodity and may have new modules."""
    producers: dict = {}
    for s, p in data.site_periods:
        _existing, builds = installed_terms(m, s, p)
        if not builds:
            continue
        site = data.sites[s]
        size = data.module_size(s)
        for k, coefficient in data.recipe[site.technology]:
            if coefficient > 0:
                producers.setdefault((site.region, k, p), []).append((coefficient * size, builds))
    return producers


def _expansion_terms(m: pyo.ConcreteModel, data: ModelData) -> dict:
    """("link" or "crossing", its id, period) -> (capacity without expansion, step,
    [expansion variables alive]) where expansions are possible."""
    terms = {}
    for kind, var, decisions, capacity_step_life in (
        (
            "link",
            m.expand_link,
            data.link_expansions,
            lambda o: (data.links[o].capacity, data.links[o].step, data.links[o].lifetime),
        ),
        (
            "crossing",
            m.expand_crossing,
            data.crossing_expansions,
            lambda o: (
                float(data.crossing[o]["capacity"]),
                float(data.crossing[o]["expansion_step"]),
                int(data.crossing[o]["lifetime_years"]),
            ),
        ),
    ):
        periods = data.periods_of(decisions)
        for owner, built in periods.items():
            capacity, step, lifetime = capacity_step_life(owner)
            share = data.available(owner)
            for p in data.periods:
                alive = [var[owner, q] for q in built if data.alive(q, lifetime, p)]
                if alive:
                    terms[kind, owner, p] = (share * capacity, share * step, alive)
    return terms
