r"""Transport and borders: link capacity and border-crossing throughput, with expansion.

For every link l and period p with flows, with existing capacity :math:`K_l`, step
:math:`\Delta_l`, lifetime :math:`L_l` and available share :math:`\alpha_l` (1 unless a
what-if cuts it):

.. math::

    \sum_k flow_{lkp} \le \alpha_l \left(K_l + \Delta_l \sum_{q \le p < q + L_l}
    expand\_link_{lq}\right),
    \qquad \sum_q expand\_link_{lq} \le X_l

and for every border crossing x, over all open links through it (both directions):

.. math::

    \sum_{l \in x} \sum_k flow_{lkp} \le \alpha_x \left(K_x + \Delta_x
    \sum_{q \le p < q + L_x} expand\_crossing_{xq}\right), \qquad
    \sum_q expand\_crossing_{xq} \le X_x

Constraints `link_capacity[l, p]`, `link_expansion_limit[l]`, `crossing_capacity[x, p]`,
`crossing_expansion_limit[x]`. Their sums over commodities are the expressions
`link_load[l, p]` (variables.py), declared once and shared with the per-link costs and
transport emissions. Tariffs, delay and transshipment costs are in the objective.
"""

from __future__ import annotations

import pyomo.environ as pyo

from twin.model.data import ModelData
from twin.model.linear import linear, weighted


def add_transport(m: pyo.ConcreteModel, data: ModelData) -> None:
    link_steps = data.periods_of(data.link_expansions)
    crossing_steps = data.periods_of(data.crossing_expansions)

    def expansions(var, steps, owner, lifetime, p, step):
        """(-step, expansion) pairs of the expansions alive in p: capacity on the left."""
        alive = (q for q in steps.get(owner, ()) if data.alive(q, lifetime, p))
        return [(-step, var[owner, q]) for q in alive]

    def link_rule(_, link_id, p):
        link = data.links[link_id]
        share = data.available(link_id)
        room = share * link.step
        added = expansions(m.expand_link, link_steps, link_id, link.lifetime, p, room)
        return weighted([(1, m.link_load[link_id, p])], linear(added)) <= share * link.capacity

    m.link_capacity = pyo.Constraint(m.link_load_index, rule=link_rule)
    expandable = sorted({link for link, _ in data.link_expansions})
    m.link_expansion_limit = pyo.Constraint(
        expandable,
        rule=lambda _, link: (
            pyo.quicksum(m.expand_link[link, p] for p in link_steps[link])
            <= data.links[link].max_expansions
        ),
    )

    links_of = {  # links with flows through each crossing in each period
        (x, p): [link for link in links if (link, p) in m.link_load_index]
        for x, links in data.crossing_links.items()
        for p in data.periods
    }
    crossing_periods = sorted(key for key, links in links_of.items() if links)

    def crossing_rule(_, x, p):
        crossing, share = data.crossing[x], data.available(x)
        room = share * float(crossing["expansion_step"])
        lifetime = int(crossing["lifetime_years"])
        added = expansions(m.expand_crossing, crossing_steps, x, lifetime, p, room)
        through = [(1, m.link_load[link, p]) for link in links_of[x, p]]
        return weighted(through, linear(added)) <= share * float(crossing["capacity"])

    m.crossing_capacity = pyo.Constraint(crossing_periods, rule=crossing_rule)
    crossings = sorted({x for x, _ in data.crossing_expansions})
    m.crossing_expansion_limit = pyo.Constraint(
        crossings,
        rule=lambda _, x: (
            pyo.quicksum(m.expand_crossing[x, p] for p in crossing_steps[x])
            <= int(data.crossing[x]["max_expansions"])
        ),
    )
