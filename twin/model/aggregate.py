"""Sums of model terms per period and per (country, period), declared as expressions.

Emissions and overnight capex are both needed in total and by country (for caps and
budget shares), so one function declares the pair for either.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import pyomo.environ as pyo

from twin.model.data import ModelData
from twin.model.linear import factored, weighted


def add_period_and_country_sums(
    m: pyo.ConcreteModel,
    data: ModelData,
    total_name: str,
    country_name: str,
    terms: Iterable[tuple[str, int, float, object]],
    extra: Iterable[tuple[str, int, float, object]] = (),
) -> None:
    """Declare `m.<total_name>[p]` and `m.<country_name>[c, p]` from (country, period,
    coefficient, variable) terms, plus `extra` (country, period, coefficient, expression)
    terms."""
    by_country: dict[tuple[str, int], list] = defaultdict(list)
    for country, period, coefficient, var in terms:
        by_country[country, period].append((coefficient, var))
    extra_by_country: dict[tuple[str, int], list] = defaultdict(list)
    for country, period, coefficient, expr in extra:
        extra_by_country[country, period].append((coefficient, expr))

    countries = sorted(set(data.country.values()))
    sums = {  # made here, not by a rule: a rule would keep the term lists as long as the model
        (c, p): weighted(extra_by_country[c, p], factored(by_country[c, p]))
        for c in countries
        for p in data.periods
    }
    by_country_expr = pyo.Expression(list(sums), initialize=sums)
    m.add_component(country_name, by_country_expr)
    # The total refers to the country sums rather than listing every country's terms again.
    total = pyo.Expression(
        data.periods, rule=lambda _, p: weighted([(1, by_country_expr[c, p]) for c in countries])
    )
    m.add_component(total_name, total)
