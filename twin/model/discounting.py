"""Discounting and capital recovery: how money at different times is made comparable.

Pure functions, shared by the finance family, the objective and the results, so a cost in the
objective and the same cost in a results table are computed once, the same way.
"""

from __future__ import annotations

from functools import cache


def discount_factor(year: int, base_year: int, rate: float) -> float:
    """Present value in `base_year` of one unit of money paid in `year`."""
    return (1.0 + rate) ** -(year - base_year)


def capital_recovery_factor(rate: float, lifetime: int) -> float:
    """Annuity per unit of overnight capex over `lifetime` years at interest `rate`."""
    if rate == 0:
        return 1.0 / lifetime
    growth = (1.0 + rate) ** lifetime
    return rate * growth / (growth - 1.0)


@cache  # asked once per decision with a handful of distinct arguments
def period_weight(start: int, years: int, base_year: int, rate: float) -> float:
    """Discounted number of years a period stands for: weight of its per-year costs."""
    return sum(discount_factor(start + t, base_year, rate) for t in range(years))


@cache
def annuity_weight(
    built: int, lifetime: int, horizon_end: int, base_year: int, discount_rate: float
) -> float:
    """Discounted years an asset built in year `built` pays its annuity within the horizon.

    Annuities after `horizon_end` (exclusive) are left out: the horizon pays only for the
    years it uses, so late investments are not penalised by end effects.
    """
    last = min(built + lifetime, horizon_end)
    return sum(discount_factor(year, base_year, discount_rate) for year in range(built, last))
