"""Results tables of a solved model, exactly as docs/results.md defines them.

Every number is read from the solved Pyomo model through the same term lists the model was
built from (`emission_terms`, `capex_terms`, `balance_terms`, `cost_component`), so a table
cannot drift from the objective it reports on.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import pandas as pd
import pyomo.environ as pyo

from twin.model import BuiltModel
from twin.model.carbon import emission_terms
from twin.model.discounting import capital_recovery_factor
from twin.model.finance import capex_terms
from twin.model.objective import COMPONENTS
from twin.model.variables import installed
from twin.results.schema import conform
from twin.solve import SolveResult

TOLERANCE = 1e-9  # values below this count as zero (solver noise)


@dataclass
class Results:
    """The results tables of one solved plan, keyed by table name."""

    run_id: str
    tables: dict[str, pd.DataFrame]
    objective: float
    cost: float  # of a stochastic plan: the expected cost over its futures
    emissions_t: float
    future_costs: dict[str, float] | None = None  # a stochastic plan's cost in each future

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]


def _value(component) -> float:
    """A variable's or expression's value, 0 below TOLERANCE (a variable's read directly:
    a stochastic plan of 500 futures reads 4 M of them)."""
    if component.is_variable_type():
        return _clean(component.value)
    return _clean(pyo.value(component, exception=False))


def _clean(value: float | None) -> float:
    return 0.0 if value is None or abs(value) < TOLERANCE else float(value)


def extract_results(built: BuiltModel, solved: SolveResult, run_id: str) -> Results:
    """All results tables of a solved model (flows, production, ... objective). Each cost
    component's expression is evaluated once: the total cost is their sum, and so is the
    objective where it is the total cost (each walk of the cost expression takes about
    10 ms, and a stochastic plan has one model per future)."""
    m, data = built.model, built.data
    costs = {c: float(pyo.value(m.cost_component[c])) for c in COMPONENTS}
    cost = sum(costs.values())  # as m.total_cost adds them, in the same order
    tables = {
        "flows": _flows(m, data, run_id),
        "production": _production(m, data, run_id),
        "conversion": _conversion(m, data, run_id),
        "balance": _balance(m, data, solved, run_id),
        "investments": _investments(m, data, run_id),
        "emissions": _emissions(m, data, run_id),
        "objective": conform(
            "objective",
            [{"component": c, "value": _clean(value)} for c, value in costs.items()],
            run_id,
        ),
    }
    objective = cost if m.objective.expr is m.total_cost else float(pyo.value(m.objective))
    return Results(
        run_id=run_id,
        tables=tables,
        objective=objective,
        cost=cost,
        emissions_t=float(pyo.value(m.total_emissions)),
    )


def link_capacity(m, data, steps: dict[str, list[int]], link_id: str, period: int) -> float:
    """Total capacity of a link in a period: existing plus expansions still alive
    (`steps`: expansion periods by link, `ModelData.periods_of(link_expansions)`)."""
    link = data.links[link_id]
    added = sum(
        _value(m.expand_link[link_id, q])
        for q in steps.get(link_id, ())
        if data.alive(q, link.lifetime, period)
    )
    return data.available(link_id) * (link.capacity + link.step * added)


def _flows(m, data, run_id: str) -> pd.DataFrame:
    steps = data.periods_of(data.link_expansions)
    rows = []
    for link_id, k, p in data.link_flows:
        flow = _value(m.flow[link_id, k, p])
        if flow <= 0:
            continue
        link = data.links[link_id]
        rows.append(
            {
                "period": p,
                "link_id": link_id,
                "src": link.src,
                "dst": link.dst,
                "mode": link.mode,
                "corridor": link.corridor,
                "commodity": k,
                "flow": flow,
                "capacity": link_capacity(m, data, steps, link_id, p),
                "cost": flow * (link.transport_cost + link.tariff + link.border_cost),
                "emissions_t": flow * link.emissions,
                "border_crossing": link.crossing,
            }
        )
    return conform("flows", rows, run_id)


def _modules(m, data, site_id: str, period: int) -> float:
    """Modules installed: existing ones alive plus new ones alive (zero if never active)."""
    if (site_id, period) in m.site_periods:
        return _value(installed(m, site_id, period))
    site = data.sites[site_id]
    retired = site.retirement is not None and period >= site.retirement
    return 0.0 if retired else float(site.existing)


def _production(m, data, run_id: str) -> pd.DataFrame:
    rows = []
    for site_id, site in data.sites.items():
        size = data.available(site_id) * float(data.tech[site.technology]["module_size"])
        for p in data.periods:
            modules = _modules(m, data, site_id, p)
            if modules <= 0:
                continue
            activity = _value(m.activity[site_id, p]) if (site_id, p) in m.site_periods else 0.0
            rows.append(
                {
                    "period": p,
                    "site_id": site_id,
                    "region": site.region,
                    "technology": site.technology,
                    "chain": site.chain,
                    "activity": activity,
                    "capacity": size * modules,
                    "modules_installed": modules,
                    "utilization": activity / (size * modules) if size else 0.0,
                }
            )
    return conform("production", rows, run_id)


def _conversion(m, data, run_id: str) -> pd.DataFrame:
    rows = []
    for site_id, p in data.site_periods:
        site = data.sites[site_id]
        activity = _value(m.activity[site_id, p])
        if activity <= 0:
            continue
        for k, coefficient in data.recipe[site.technology]:
            rows.append(
                {
                    "period": p,
                    "site_id": site_id,
                    "region": site.region,
                    "technology": site.technology,
                    "commodity": k,
                    "quantity": coefficient * activity,
                }
            )
    return conform("conversion", rows, run_id)


def _balance(m, data, solved: SolveResult, run_id: str) -> pd.DataFrame:
    totals: dict[tuple, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r, k, p in data.buys:
        totals[r, k, p]["purchased"] += _value(m.buy[r, k, p])
    for link_id, k, p in data.link_flows:
        link, flow = data.links[link_id], _value(m.flow[link_id, k, p])
        totals[link.dst, k, p]["inflow"] += flow
        totals[link.src, k, p]["outflow"] += flow
    for site_id, p in data.site_periods:
        site = data.sites[site_id]
        activity = _value(m.activity[site_id, p])
        for k, coefficient in data.recipe[site.technology]:
            side = "produced" if coefficient > 0 else "consumed"
            totals[site.region, k, p][side] += abs(coefficient) * activity
    for key, (quantity, _) in data.demand.items():
        unmet = _value(m.unmet[key])
        totals[key]["demand"] = quantity
        totals[key]["unmet"] = unmet
        totals[key]["served"] = quantity - unmet
    rows = []
    for (r, k, p), values in sorted(totals.items()):
        con = m.balance[r, k, p] if (r, k, p) in m.balance_index else None
        dual = solved.duals.get(con) if con is not None else None
        price = None if dual is None else dual / data.weight[p]
        rows.append({"period": p, "region": r, "commodity": k, **values, "price": price})
    frame = conform("balance", rows, run_id)
    numbers = [
        "purchased",
        "inflow",
        "outflow",
        "produced",
        "consumed",
        "served",
        "unmet",
        "demand",
    ]
    frame[numbers] = frame[numbers].fillna(0.0)
    return frame


def _investments(m, data, run_id: str) -> pd.DataFrame:
    built: dict[tuple, dict] = {}
    for term in capex_terms(m, data):
        amount = _value(term.var)
        if amount <= 0:
            continue
        key = (term.asset_type, term.asset_id, term.period)
        row = built.setdefault(key, {"units_built": 0.0, "capex": 0.0})
        row["capex"] += term.coefficient * amount
        if term.var.parent_component().local_name != "open":
            row["units_built"] += amount
    savings = _agglomeration_savings_by_site(m, data)
    rows = []
    for (asset_type, asset_id, p), values in sorted(built.items()):
        capex = values["capex"] - savings.get((asset_id, p), 0.0)
        if asset_type == "site":
            site = data.sites[asset_id]
            tech = data.tech[site.technology]
            rate, lifetime = data.capex_rate(site.technology), int(tech["lifetime_years"])
            region, what, low_carbon = site.region, site.technology, bool(tech["low_carbon"])
        elif asset_type == "link":
            link = data.links[asset_id]
            rate, lifetime = data.scenario.discount_rate, link.lifetime
            region, what, low_carbon = link.src, link.mode, False
        else:
            crossing = data.crossing[asset_id]
            rate, lifetime = data.scenario.discount_rate, int(crossing["lifetime_years"])
            region, what, low_carbon = None, "border_crossing", False
        rows.append(
            {
                "period": p,
                "asset_type": asset_type,
                "asset_id": asset_id,
                "region": region,
                "technology_or_mode": what,
                "units_built": values["units_built"],
                "capex": capex,
                "annualised_capex": capex * capital_recovery_factor(rate, lifetime),
                "low_carbon": low_carbon,
            }
        )
    return conform("investments", rows, run_id)


def _agglomeration_savings_by_site(m, data) -> dict[tuple[str, int], float]:
    """MAR savings of each (region, chain, period), shared out over its sites by capex."""
    if not hasattr(m, "agglomeration_overnight_savings"):
        return {}
    shares: dict[tuple[str, int], float] = {}
    for (region, chain, p), saving in m.agglomeration_overnight_savings.items():
        amount = _value(saving)
        if amount <= 0:
            continue
        gross = {
            s: _value(m.build[s, p])
            * float(data.tech[data.sites[s].technology]["capex_per_module"])
            for s, q in data.builds
            if q == p and data.sites[s].region == region and data.sites[s].chain == chain
        }
        total = sum(gross.values())
        for site_id, value in gross.items():
            if value > 0:
                shares[site_id, p] = amount * value / total
    return shares


def _emissions(m, data, run_id: str) -> pd.DataFrame:
    totals: dict[tuple, float] = defaultdict(float)
    for term in emission_terms(m, data):
        totals[term.region, term.source, term.chain, term.period] += term.coefficient * _value(
            term.var
        )
    rows = [
        {
            "period": p,
            "region": r,
            "country": data.country[r],
            "source": source,
            "chain": chain,
            "emissions_t": value,
        }
        for (r, source, chain, p), value in sorted(totals.items())
        if value > 0
    ]
    return conform("emissions", rows, run_id)
