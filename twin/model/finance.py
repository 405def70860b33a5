r"""Finance: a joint development fund caps overnight capex per period, with country shares.

Overnight capex in period p, :math:`I_p`, sums new modules (capex per module, less MAR
savings), site openings and link and crossing expansions; :math:`I_{cp}` counts the assets
in country c (links and crossings by their origin side). With budget :math:`B` and shares
:math:`\sigma_c`:

.. math::

    I_p \le B, \qquad I_{cp} \le \sigma_c B

Constraints `budget[p]`, `budget_share[c, p]`. The finance family also grants low-carbon
technologies the green interest rate in their capital recovery factor (see
`ModelData.capex_rate`); with the family off every asset pays the ordinary rate.
"""

from __future__ import annotations

from typing import NamedTuple

import pyomo.environ as pyo

from twin.model.aggregate import add_period_and_country_sums
from twin.model.data import ModelData


class CapexTerm(NamedTuple):  # a named tuple: tens of thousands are made per build
    """Overnight capex = coefficient x variable, for one asset built in one period."""

    asset_type: str  # site / link / crossing
    asset_id: str
    period: int
    country: str
    coefficient: float  # currency per unit of the variable
    annuity: float  # discounted annuities per unit of overnight capex
    var: pyo.Var


def capex_terms(m: pyo.ConcreteModel, data: ModelData) -> list[CapexTerm]:
    """Every investment decision with its overnight cost and its discounted annuity weight."""
    terms = []
    module_cost = {
        s: float(data.tech[site.technology]["capex_per_module"]) for s, site in data.sites.items()
    }
    for index, cost, var in (
        (data.builds, module_cost, m.build),
        (data.openings, {s: site.opening_cost for s, site in data.sites.items()}, m.open),
    ):
        for (s, p), decision in zip(index, var.values(), strict=True):  # var is over index
            country = data.country[data.sites[s].region]
            weight = data.build_weight[s, p]
            terms.append(CapexTerm("site", s, p, country, cost[s], weight, decision))
    for link_id, p in data.link_expansions:
        link = data.links[link_id]
        weight = data.expansion_weight["link", link_id, p]
        terms.append(
            CapexTerm(
                "link",
                link_id,
                p,
                data.country[link.src],
                link.expansion_capex,
                weight,
                m.expand_link[link_id, p],
            )
        )
    for x, p in data.crossing_expansions:
        crossing = data.crossing[x]
        weight = data.expansion_weight["crossing", x, p]
        terms.append(
            CapexTerm(
                "crossing",
                x,
                p,
                str(crossing["country_a"]),
                float(crossing["expansion_capex"]),
                weight,
                m.expand_crossing[x, p],
            )
        )
    return terms


def add_overnight_capex(m: pyo.ConcreteModel, data: ModelData) -> None:
    """Expressions `overnight_capex[p]` and `country_overnight_capex[c, p]` (currency)."""
    terms = [(t.country, t.period, t.coefficient, t.var) for t in capex_terms(m, data)]
    savings = getattr(m, "agglomeration_overnight_savings", {})
    extra = [(data.country[region], p, -1.0, expr) for (region, _, p), expr in savings.items()]
    add_period_and_country_sums(m, data, "overnight_capex", "country_overnight_capex", terms, extra)


def add_finance(m: pyo.ConcreteModel, data: ModelData) -> None:
    scenario = data.scenario
    if scenario.budget is None:
        return
    m.budget = pyo.Constraint(
        data.periods, rule=lambda _, p: m.overnight_capex[p] <= scenario.budget
    )
    shares = scenario.budget_shares
    m.budget_share = pyo.Constraint(
        [(c, p) for c in sorted(shares) for p in data.periods],
        rule=lambda _, c, p: m.country_overnight_capex[c, p] <= shares[c] * scenario.budget,
    )
