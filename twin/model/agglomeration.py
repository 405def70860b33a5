r"""Agglomeration (MAR) economies: modules of a chain get cheaper as a region gathers them.

For each group g = (region, chain) with buildable sites, agglomeration.csv gives breakpoints
:math:`b_0 = 0 < b_1 < \dots` and non-increasing capex factors :math:`f_k`: a module that
takes position j in the region's chain (existing modules first) costs :math:`f_k` times its
capex when :math:`b_k \le j < b_{k+1}`. Total capex is then a concave piecewise-linear
function of the module count, which an LP cannot represent (it would fill the cheap segments
first), so segment k may fill only after segment k-1 is full, enforced with binaries
(incremental formulation):

.. math::

    \sum_k fill_{gkp} = \sum_{s \in g} \sum_{q \le p} build_{sq}, \quad
    w_k\, full_{gkp} \le fill_{gkp} \le w_k, \quad fill_{g,k+1,p} \le w_{k+1}\, full_{gkp}

The saving in period p is :math:`\sum_k (1 - f_k)\, c_g\, (fill_{gkp} - fill_{g,k,p-1})`, with
:math:`c_g` the capex of the cheapest module of the group, so the saving is never overstated
when a group mixes technologies. Constraints `agglomeration_fill[g, p]`,
`agglomeration_full_lower[g, k, p]`, `agglomeration_order[g, k, p]`.
"""

from __future__ import annotations

import pyomo.environ as pyo

from twin.model.data import ModelData


def add_agglomeration(m: pyo.ConcreteModel, data: ModelData) -> None:
    segments = {}  # (group, k) -> (width, factor), only segments new modules can reach
    for g, group in enumerate(data.agglomeration):
        usable = [(w, f) for w, f in zip(group.widths, group.factors, strict=True) if w > 0]
        for k, (width, factor) in enumerate(usable):
            segments[g, k] = (width, factor)
    index = [(g, k, p) for g, k in segments for p in data.periods]
    ordered = [(g, k, p) for g, k, p in index if (g, k + 1) in segments]
    m.agglomeration_fill = pyo.Var(
        index, domain=pyo.NonNegativeReals, bounds=lambda _, g, k, p: (0, segments[g, k][0])
    )
    m.agglomeration_full = pyo.Var(ordered, domain=pyo.Binary)

    def cumulative_builds(g, p):
        sites = data.agglomeration[g].sites
        return pyo.quicksum(
            m.build[s, q] for s in sites for q in data.build_periods.get(s, ()) if q <= p
        )

    groups = sorted({(g, p) for g, _, p in index})
    m.agglomeration_fill_sum = pyo.Constraint(
        groups,
        rule=lambda _, g, p: (
            pyo.quicksum(m.agglomeration_fill[g, k, p] for h, k in segments if h == g)
            == cumulative_builds(g, p)
        ),
    )
    m.agglomeration_full_lower = pyo.Constraint(
        ordered,
        rule=lambda _, g, k, p: (
            m.agglomeration_fill[g, k, p] >= segments[g, k][0] * m.agglomeration_full[g, k, p]
        ),
    )
    m.agglomeration_order = pyo.Constraint(
        ordered,
        rule=lambda _, g, k, p: (
            m.agglomeration_fill[g, k + 1, p]
            <= segments[g, k + 1][0] * m.agglomeration_full[g, k, p]
        ),
    )

    def overnight_saving(g, p):
        group = data.agglomeration[g]
        previous = [q for q in data.periods if q < p]
        terms = []
        for h, k in segments:
            if h != g:
                continue
            rate = (1.0 - segments[g, k][1]) * group.reference_capex
            added = m.agglomeration_fill[g, k, p]
            if previous:
                added = added - m.agglomeration_fill[g, k, previous[-1]]
            terms.append(rate * added)
        return pyo.quicksum(terms)

    keyed = {
        (data.agglomeration[g].region, data.agglomeration[g].chain, p): (g, p) for g, p in groups
    }
    m.agglomeration_overnight_savings = pyo.Expression(
        sorted(keyed), rule=lambda _, r, c, p: overnight_saving(*keyed[r, c, p])
    )
    m.agglomeration_savings = pyo.Expression(
        expr=pyo.quicksum(
            data.agglomeration[g].reference_weight[p] * overnight_saving(g, p) for g, p in groups
        )
    )
