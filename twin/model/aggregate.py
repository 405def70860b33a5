"""Sums of model terms per period and per (country, period), declared as expressions.

Emissions and overnight capex are both needed in total and by country (for caps and
budget shares), so one function declares the pair for either.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import pyomo.environ as pyo

from twin.model.data import ModelData


def add_period_and_country_sums(
    m: pyo.ConcreteModel,
    data: ModelData,
    total_name: str,
    country_name: str,
    terms: Iterable[tuple[str, int, object]],
) -> None:
    """Declare `m.<total_name>[p]` and `m.<country_name>[c, p]` from (country, period, term)."""
    by_period: dict[int, list] = defaultdict(list)
    by_country: dict[tuple[str, int], list] = defaultdict(list)
    for country, period, term in terms:
        by_period[period].append(term)
        by_country[country, period].append(term)
    countries = sorted(set(data.country.values()))
    total = pyo.Expression(data.periods, rule=lambda _, p: pyo.quicksum(by_period[p]))
    by_country_expr = pyo.Expression(
        [(c, p) for c in countries for p in data.periods],
        rule=lambda _, c, p: pyo.quicksum(by_country[c, p]),
    )
    m.add_component(total_name, total)
    m.add_component(country_name, by_country_expr)
