"""Decision variables, declared only over the sparse index sets of `ModelData`.

| variable | index | meaning (unit) |
|---|---|---|
| `activity[s, p]` | active site-periods | activity of site s (activity unit per year) |
| `build[s, p]` | buildable site-periods | new modules built at s in period p (integer) |
| `open[s, p]` | first openings | 1 if site s is first opened in p (binary, fixed charge) |
| `flow[l, k, p]` | reachable link-commodity-periods | flow of k on link l (unit per year) |
| `expand_link[l, p]` | expandable links | expansion steps of link l built in p (integer) |
| `expand_crossing[x, p]` | expandable crossings | expansion steps of crossing x in p (integer) |
| `buy[r, k, p]` | useful supply rows | purchases of k in r (unit per year) |
| `unmet[r, k, p]` | demand rows | demand not served (unit per year; 0 if not allowed) |

Expressions: `link_load[l, p]`, the sum of all commodities' flows on link l (unit per
year), which capacity rows, per-link costs and transport emissions refer to instead of
repeating every flow. The modules installed at (s, p), existing ones alive plus new ones
alive, are `installed(m, s, p)`, made on demand from `installed_terms`.
"""

from __future__ import annotations

import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import LinearExpression

from twin.model.data import ModelData
from twin.model.linear import linear


def add_variables(m: pyo.ConcreteModel, data: ModelData) -> None:
    m.site_periods = pyo.Set(initialize=data.site_periods, dimen=2, ordered=True)
    m.builds = pyo.Set(initialize=data.builds, dimen=2, ordered=True)
    m.openings = pyo.Set(initialize=data.openings, dimen=2, ordered=True)
    m.link_flows = pyo.Set(initialize=data.link_flows, dimen=3, ordered=True)
    m.link_expansions = pyo.Set(initialize=data.link_expansions, dimen=2, ordered=True)
    m.crossing_expansions = pyo.Set(initialize=data.crossing_expansions, dimen=2, ordered=True)
    m.buys = pyo.Set(initialize=list(data.buys), dimen=3, ordered=True)
    m.demands = pyo.Set(initialize=list(data.demand), dimen=3, ordered=True)

    m.activity = pyo.Var(m.site_periods, domain=pyo.NonNegativeReals)
    m.build = pyo.Var(
        m.builds,
        domain=pyo.NonNegativeIntegers,
        bounds=lambda _, s, p: (0, data.sites[s].max_modules),
    )
    m.open = pyo.Var(m.openings, domain=pyo.Binary)
    m.flow = pyo.Var(m.link_flows, domain=pyo.NonNegativeReals)
    m.expand_link = pyo.Var(
        m.link_expansions,
        domain=pyo.NonNegativeIntegers,
        bounds=lambda _, link, p: (0, data.links[link].max_expansions),
    )
    m.expand_crossing = pyo.Var(
        m.crossing_expansions,
        domain=pyo.NonNegativeIntegers,
        bounds=lambda _, x, p: (0, int(data.crossing[x]["max_expansions"])),
    )
    m.buy = pyo.Var(
        m.buys, domain=pyo.NonNegativeReals, bounds=lambda _, r, k, p: (0, data.buys[r, k, p][0])
    )
    unmet = data.scenario.allow_unmet  # else demand must be served: unmet fixed at 0
    m.unmet = pyo.Var(
        m.demands,
        domain=pyo.NonNegativeReals,
        bounds=lambda _, r, k, p: (0, data.demand[r, k, p][0] if unmet else 0.0),
    )

    build = dict(m.build.items())  # plain look-ups: three families read every site-period
    m.installed_terms = {  # a plain dict on the model, not a Pyomo component
        (s, p): (data.existing_alive[s, p], [build[s, q] for q in data.builds_alive(s, p)])
        for s, p in data.site_periods
    }

    flows = list(m.flow.values())
    loads, members = data.sets.flows_by_link_period
    m.link_load_index = pyo.Set(initialize=loads, dimen=2, ordered=True)
    link_load = {  # variables alone are terms of coefficient 1
        load: LinearExpression([flows[i] for i in positions.tolist()])
        for load, positions in zip(loads, members, strict=True)
    }
    m.link_load = pyo.Expression(m.link_load_index, initialize=link_load)


def installed(m: pyo.ConcreteModel, s: str, p: int) -> LinearExpression:
    """Modules installed at site s in period p, made when asked (the results read it): as a
    model component it would cost more to declare than the capacity rows that use it."""
    existing, built = installed_terms(m, s, p)
    return linear([(1.0, b) for b in built], existing)


def installed_terms(m: pyo.ConcreteModel, s: str, p: int) -> tuple[int, list]:
    """Modules at site s in period p as (existing modules alive, [build variables of the new
    modules alive]): the one definition the capacity rows and fixed opex scale by their own
    factor."""
    return m.installed_terms[s, p]
