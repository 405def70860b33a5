r"""Carbon: emissions by source, an optional cap per period (total and per country).

Emissions in period p (tCO2e per year) are the sum of three sources:

.. math::

    E_p = \underbrace{\sum_{rk} e^{buy}_{rkp} buy_{rkp}}_{supply}
        + \underbrace{\sum_s e^{proc}_s activity_{sp}}_{process}
        + \underbrace{\sum_{lk} e^{tr}_l flow_{lkp}}_{transport}

Transport emissions count in the origin region's country. With the carbon family on:

.. math::

    E_p \le \bar E_p, \qquad E_{cp} \le \bar E_c

where :math:`\bar E_p` is the tighter of `carbon_cap` and the per-period cap (set from
`carbon_cap_pct` x as-is emissions of the period when the plan is compared with as-is).

Constraints `carbon_cap[p]`, `country_carbon_cap[c, p]`. The carbon price enters the
objective (objective.py) as price x :math:`E_p` x discounted years.
"""

from __future__ import annotations

from typing import NamedTuple

import pyomo.environ as pyo

from twin.model.aggregate import add_period_and_country_sums
from twin.model.data import ModelData


class EmissionTerm(NamedTuple):  # a named tuple: tens of thousands are made per build
    """tCO2e per year = coefficient x variable, attributed to a region, source and chain."""

    region: str
    source: str  # supply / process / transport
    chain: str
    period: int
    coefficient: float
    var: pyo.Var


def emission_terms(m: pyo.ConcreteModel, data: ModelData) -> list[EmissionTerm]:
    """Every emitting decision, transport per flow so that each is attributed to its chain
    (the results' emissions table)."""
    terms = _local_terms(m, data)
    for (link_id, k, p), flow in m.flow.items():
        link = data.links[link_id]
        if link.emissions:
            chain = data.commodity_chain[k]
            terms.append(EmissionTerm(link.src, "transport", chain, p, link.emissions, flow))
    return terms


def _local_terms(m: pyo.ConcreteModel, data: ModelData) -> list[EmissionTerm]:
    """Supply and process emissions."""
    terms = []
    for (r, k, p), buy in m.buy.items():  # items(): no index look-up per variable
        if factor := data.buys[r, k, p][2]:
            terms.append(EmissionTerm(r, "supply", data.commodity_chain[k], p, factor, buy))
    factors = {t: float(tech["emissions_t_per_activity"]) for t, tech in data.tech.items()}
    for (s, p), activity in m.activity.items():
        site = data.sites[s]
        if factor := factors[site.technology]:
            terms.append(EmissionTerm(site.region, "process", site.chain, p, factor, activity))
    return terms


def add_emissions(m: pyo.ConcreteModel, data: ModelData) -> None:
    """Expressions `emissions[p]` and `country_emissions[c, p]` (tCO2e per year). Transport
    counts per link load: every commodity on a link emits the same per unit, and the sums
    need only where and when, not which chain (`emission_terms` has that, per flow)."""
    terms = (
        (data.country[t.region], t.period, t.coefficient, t.var) for t in _local_terms(m, data)
    )
    transport = (
        (data.country[link.src], p, link.emissions, load)
        for (link_id, p), load in m.link_load.items()
        if (link := data.links[link_id]).emissions
    )
    add_period_and_country_sums(m, data, "emissions", "country_emissions", terms, transport)


def add_carbon(m: pyo.ConcreteModel, data: ModelData) -> None:
    scenario = data.scenario
    caps = {
        p: min(
            c for c in (scenario.carbon_cap, scenario.carbon_cap_by_period.get(p)) if c is not None
        )
        for p in data.periods
        if scenario.carbon_cap is not None or p in scenario.carbon_cap_by_period
    }
    m.carbon_cap = pyo.Constraint(sorted(caps), rule=lambda _, p: m.emissions[p] <= caps[p])
    by_country = scenario.carbon_cap_by_country
    m.country_carbon_cap = pyo.Constraint(
        [(c, p) for c in sorted(by_country) for p in data.periods],
        rule=lambda _, c, p: m.country_emissions[c, p] <= by_country[c],
    )
