"""Linear expressions built directly from (coefficient, variable) pairs.

Pyomo builds `quicksum(c * v ...)` term by term, as a product node per term; a
`LinearExpression` made from the coefficient and variable lists at once is about twice as
fast to build and three times as fast to compile into the standard form (measured on 20k
rows of 15 terms: build 0.31 -> 0.14 s, compile 1.03 -> 0.37 s). The families use it for
the rows they write as expressions; the largest (balance, capacity) are arrays instead
(`twin.model.array_constraint`). Long sums of costs and emissions use `factored`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyomo.common.numeric_types import native_numeric_types as NUMBERS
from pyomo.core.expr.numeric_expr import (
    LinearExpression,
    MonomialTermExpression,
    ProductExpression,
    SumExpression,
)


def linear(pairs: Sequence[tuple[float, object]], constant: float = 0.0) -> LinearExpression:
    """constant + sum of coefficient x variable over `pairs` (a variable may repeat). A term
    of coefficient 1 is the variable itself, which `LinearExpression` allows: no monomial
    object (two Python objects) for the most common term of twin's rows."""
    args: list = [constant] if constant.__class__ not in NUMBERS or constant else []
    args += [  # inline test: a Param coefficient is kept in a monomial (it may change)
        v if c.__class__ in NUMBERS and c == 1 else MonomialTermExpression((c, v)) for c, v in pairs
    ]
    return LinearExpression(args)


def weighted(pairs: Sequence[tuple[float, object]], rest: object = 0.0) -> object:
    """`rest` + sum of coefficient x named expression over `pairs`: a sum that refers to
    expressions declared once (as `link_load`) instead of repeating their terms."""
    products = [
        e if c.__class__ in NUMBERS and c == 1 else ProductExpression((c, e)) for c, e in pairs
    ]
    if not products:
        return rest
    return SumExpression(products if rest.__class__ in NUMBERS and not rest else [rest, *products])


def factored(pairs: Sequence[tuple[float, object]], constant: float = 0.0) -> object:
    """The sum `linear(pairs, constant)` with the variables of each repeated coefficient
    added first: c x (v1 + v2 + ...), one product per coefficient instead of a monomial per
    term. Long sums such as costs and emissions repeat their coefficients (a technology's
    opex in a period, a commodity's penalty), so they make several times fewer objects."""
    by_coefficient: dict[object, list] = {}
    for coefficient, var in pairs:
        by_coefficient.setdefault(coefficient, []).append(var)
    single = [(c, vs[0]) for c, vs in by_coefficient.items() if len(vs) == 1]
    sums = [(c, LinearExpression(vs)) for c, vs in by_coefficient.items() if len(vs) > 1]
    return weighted(sums, linear(single, constant))
