"""Sums of model terms per period and per (country, period), declared as expressions.

Emissions and overnight capex are both needed in total and by country (for caps and
budget shares), so one function declares the pair for either.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import pyomo.environ as pyo

from twin.model.data import ModelData
from twin.model.linear import linear


def add_period_and_country_sums(
    m: pyo.ConcreteModel,
    data: ModelData,
    total_name: str,
    country_name: str,
    terms: Iterable[tuple[str, int, float, object]],
    extra: Iterable[tuple[str, int, object]] = (),
) -> None:
    """Declare `m.<total_name>[p]` and `m.<country_name>[c, p]` from (country, period,
    coefficient, variable) terms, plus `extra` (country, period, expression) terms."""
    by_period: dict[int, list] = defaultdict(list)
    by_country: dict[tuple[str, int], list] = defaultdict(list)
    for country, period, coefficient, var in terms:
        by_period[period].append((coefficient, var))
        by_country[country, period].append((coefficient, var))
    extra_by_period: dict[int, list] = defaultdict(list)
    extra_by_country: dict[tuple[str, int], list] = defaultdict(list)
    for country, period, expr in extra:
        extra_by_period[period].append(expr)
        extra_by_country[country, period].append(expr)

    def total_rule(_, p):
        return linear(by_period[p]) + pyo.quicksum(extra_by_period[p])

    def country_rule(_, c, p):
        return linear(by_country[c, p]) + pyo.quicksum(extra_by_country[c, p])

    countries = sorted(set(data.country.values()))
    total = pyo.Expression(data.periods, rule=total_rule)
    by_country_expr = pyo.Expression(
        [(c, p) for c in countries for p in data.periods], rule=country_rule
    )
    m.add_component(total_name, total)
    m.add_component(country_name, by_country_expr)
