r"""Commodity balance: what enters a region equals what leaves it, for every commodity.

For every (region r, commodity k, period p) touched by any term:

.. math::

    buy_{rkp} + \sum_{l \in in(r)} flow_{lkp} + \sum_{s \in S_r} a^+_{sk}\, activity_{sp}
    = \sum_{s \in S_r} a^-_{sk}\, activity_{sp} + \sum_{l \in out(r)} flow_{lkp}
      + (D_{rkp} - unmet_{rkp})

where :math:`a^\pm` are the recipe's output and input coefficients. There is no disposal
term: every unit bought or produced must be consumed, shipped on or served. Constraint
`balance[r, k, p]`; its dual is the commodity's price in r (restricted LP for a MILP).
"""

from __future__ import annotations

from collections import defaultdict

import pyomo.environ as pyo

from twin.model.data import ModelData
from twin.model.linear import linear


def balance_terms(m: pyo.ConcreteModel, data: ModelData) -> dict[tuple, list]:
    """Signed terms (+ source, - sink) of every balance row, as (coefficient, variable)."""
    terms: dict[tuple, list] = defaultdict(list)
    for key, buy in m.buy.items():  # items(): no index look-up per variable
        terms[key].append((1.0, buy))
    for (link_id, k, p), flow in m.flow.items():
        link = data.links[link_id]
        terms[link.dst, k, p].append((1.0, flow))
        terms[link.src, k, p].append((-1.0, flow))
    for s, p in data.site_periods:
        site = data.sites[s]
        for k, coefficient in data.recipe[site.technology]:
            terms[site.region, k, p].append((coefficient, m.activity[s, p]))
    for key, unmet in m.unmet.items():
        terms[key].append((1.0, unmet))
    return terms


def add_balance(m: pyo.ConcreteModel, data: ModelData) -> None:
    terms = balance_terms(m, data)
    keys = sorted(set(terms) | set(data.demand))
    m.balance_index = pyo.Set(initialize=keys, dimen=3, ordered=True)

    def rule(_, r, k, p):
        demand = data.demand.get((r, k, p), (0.0, 0.0))[0]
        return linear(terms[r, k, p]) == demand

    m.balance = pyo.Constraint(m.balance_index, rule=rule)
