r"""Objective: discounted total cost, total emissions, or their weighted sum.

Every cost is in discounted currency of the first period's year. Per-year costs of period p
are weighted by :math:`W_p = \sum_{t=p}^{p+Y_p-1} (1+r)^{-(t-t_0)}`; an asset's overnight
capex :math:`C` built in q becomes annuities :math:`C \cdot CRF(i, L)` paid in the years it
operates within the horizon, discounted (`ModelData.annuity`), with :math:`i` the green rate
for low-carbon technologies.

Components (expressions `cost_component[c]`, results.md's objective.parquet):

| component | what it sums |
|---|---|
| capex | annuities of modules, openings, link and crossing expansions, less MAR savings |
| fixed_opex | fixed opex per installed module x :math:`W_p` |
| variable_opex | variable opex x activity x :math:`W_p` |
| purchases | supply cost x purchases x :math:`W_p` |
| transport | distance x cost per unit-km x flow x :math:`W_p` |
| tariffs | corridor tariff x flow x :math:`W_p` |
| border | (delay + transshipment cost) x flow x :math:`W_p` |
| carbon_price | carbon price x :math:`E_p` x :math:`W_p` (carbon family on) |
| unmet_penalty | penalty x unmet demand x :math:`W_p` |

Objectives: `cost` = sum of components; `carbon` = :math:`\sum_p Y_p (E_p + \sum unmet
\cdot penalty / P_{ref})`, where unmet demand is valued in tonnes at the reference carbon
price so that a carbon-minimal plan still serves demand, plus cost weight x cost (a
tie-break among plans of equal emissions, 0 by default); `weighted` = cost + carbon weight
x :math:`\sum_p Y_p E_p`.

Bounds on the objectives: an emissions budget over the horizon, :math:`\sum_p Y_p E_p \le
\bar E` (constraint `emissions_budget`, the epsilon-constraint of the cost-carbon frontier,
`twin.pareto`), and a cost ceiling, total cost :math:`\le \bar C` (constraint `cost_cap`:
the other objectives optimised among plans that cost at most that).
"""

from __future__ import annotations

import pyomo.environ as pyo

from twin.model.data import ModelData
from twin.model.finance import capex_terms
from twin.model.linear import factored, weighted
from twin.model.variables import installed_terms

COMPONENTS = (
    "capex",
    "fixed_opex",
    "variable_opex",
    "purchases",
    "transport",
    "tariffs",
    "border",
    "carbon_price",
    "unmet_penalty",
)


def _component_terms(
    m: pyo.ConcreteModel, data: ModelData
) -> tuple[dict[str, list], dict[str, float]]:
    """(coefficient, variable) pairs of each cost component; constants in `constant`."""
    w = data.weight
    terms: dict[str, list] = {name: [] for name in COMPONENTS}
    terms["capex"] = [(t.coefficient * t.annuity, t.var) for t in capex_terms(m, data)]
    constant = dict.fromkeys(COMPONENTS, 0.0)
    opex = {  # (per installed module, per unit of activity) of each technology
        t: (float(tech["fixed_opex_per_module"]), float(tech["variable_opex"]))
        for t, tech in data.tech.items()
    }
    for (s, p), activity in zip(m.site_periods, m.activity.values(), strict=True):
        fixed, variable = opex[data.sites[s].technology]
        existing, built = installed_terms(m, s, p)
        constant["fixed_opex"] += fixed * w[p] * existing
        terms["fixed_opex"] += [(fixed * w[p], build) for build in built]
        terms["variable_opex"].append((variable * w[p], activity))
    for (r, k, p), buy in m.buy.items():
        terms["purchases"].append((data.buys[r, k, p][1] * w[p], buy))
    for (r, k, p), unmet in m.unmet.items():
        terms["unmet_penalty"].append((data.demand[r, k, p][1] * w[p], unmet))
    return terms, constant


def _expression_terms(m: pyo.ConcreteModel, data: ModelData) -> dict[str, list]:
    """(coefficient, named expression) pairs of the components priced on sums the model
    already declares: every commodity on a link pays the same per unit (one term per link
    load, not per flow), and the carbon price is paid on each period's emissions."""
    w = data.weight
    terms: dict[str, list] = {"transport": [], "tariffs": [], "border": [], "carbon_price": []}
    for (link_id, p), load in m.link_load.items():
        link = data.links[link_id]
        for component, cost in (
            ("transport", link.transport_cost),
            ("tariffs", link.tariff),
            ("border", link.border_cost),
        ):
            if cost:  # most links pay no tariff or border cost: no term at all
                terms[component].append((cost * w[p], load))
    price = data.scenario.carbon_price
    if data.scenario.has("carbon") and price:
        terms["carbon_price"] = [(price * w[p], m.emissions[p]) for p in data.periods]
    return terms


def add_objective(m: pyo.ConcreteModel, data: ModelData) -> None:
    terms, constant = _component_terms(m, data)
    named = _expression_terms(m, data)
    savings = getattr(m, "agglomeration_savings", None)  # MAR: capex falls with clustering

    components = {  # made here, not by a rule: a rule would keep the terms as long as the model
        c: weighted(named.get(c, ()), factored(terms[c], constant[c])) for c in COMPONENTS
    }
    if savings is not None:
        components["capex"] = components["capex"] - savings
    m.cost_component = pyo.Expression(COMPONENTS, initialize=components)
    m.total_cost = pyo.Expression(expr=pyo.quicksum(m.cost_component[c] for c in COMPONENTS))
    years = data.years
    m.total_emissions = pyo.Expression(
        expr=pyo.quicksum(years[p] * m.emissions[p] for p in data.periods)
    )
    scenario = data.scenario
    if scenario.emissions_budget is not None:
        m.emissions_budget = pyo.Constraint(expr=m.total_emissions <= scenario.emissions_budget)
    if scenario.cost_cap is not None:
        m.cost_cap = pyo.Constraint(expr=m.total_cost <= scenario.cost_cap)
    if scenario.objective == "cost":
        m.objective = pyo.Objective(expr=m.total_cost, sense=pyo.minimize)
    elif scenario.objective == "carbon":
        unmet_t = pyo.quicksum(
            years[p] * penalty / scenario.carbon_reference_price * m.unmet[r, k, p]
            for (r, k, p), (_, penalty) in data.demand.items()
        )
        tie_break = scenario.cost_weight * m.total_cost if scenario.cost_weight else 0.0
        m.objective = pyo.Objective(
            expr=m.total_emissions + unmet_t + tie_break, sense=pyo.minimize
        )
    else:
        m.objective = pyo.Objective(
            expr=m.total_cost + scenario.carbon_weight * m.total_emissions, sense=pyo.minimize
        )
