"""Linear expressions built directly from (coefficient, variable) pairs.

Pyomo builds `quicksum(c * v ...)` term by term, as a product node per term; a
`LinearExpression` made from the coefficient and variable lists at once is about twice as
fast to build and three times as fast to compile into the standard form (measured on 20k
rows of 15 terms: build 0.31 -> 0.14 s, compile 1.03 -> 0.37 s). The families use it for
their rows, which hold most of the model's nonzeros.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyomo.core.expr.numeric_expr import LinearExpression


def linear(pairs: Sequence[tuple[float, object]], constant: float = 0.0) -> LinearExpression:
    """constant + sum of coefficient x variable over `pairs` (a variable may repeat)."""
    coefficients, variables = zip(*pairs, strict=True) if pairs else ((), ())
    return LinearExpression(
        constant=constant, linear_coefs=list(coefficients), linear_vars=list(variables)
    )
