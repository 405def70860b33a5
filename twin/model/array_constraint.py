"""A constraint family stored as sparse arrays: rows without an expression object per term.

A Pyomo `Constraint` holds an expression tree per row, with an object per term; for the
balance, which holds most of twin's nonzeros, making those objects and reading them back in
the hand-off was most of the modelling time (0.8 s to build and 0.4 s to read at 1.1M
nonzeros). An `ArrayConstraint` keeps its rows in compressed sparse row form: positions in a
list of variables, coefficients, and a lower and an upper bound per row.

Each row is still a `ConstraintData` with its index and name (`balance[r, k, p]`), so duals,
infeasibility reports and what-ifs key it as any other row. Its expression is made from the
arrays only when something asks for it (Pyomo's writers and compilers, `pprint`,
`con.body`), so every Pyomo tool sees the same model (writers, `clone`, pickling);
`twin.standard_form` reads the arrays directly. Rows cannot be changed in place
(`set_value`): a family is rebuilt instead.
"""

from __future__ import annotations

import math
from typing import ClassVar
from weakref import ref as weakref_ref

import numpy as np
import pyomo.environ as pyo
from pyomo.core.base.constraint import ConstraintData, IndexedConstraint
from pyomo.core.expr.relational_expr import (
    EqualityExpression,
    InequalityExpression,
    RangedExpression,
)

from twin.model.linear import linear


class ArrayRowData(ConstraintData):
    """One row of an `ArrayConstraint`; its expression is made from the arrays on demand."""

    __slots__ = ("_row",)
    # a copy or pickle stores no expression: the arrays it refers to hold it
    __autoslot_mappers__: ClassVar[dict] = {"_expr": lambda encode, value: None}

    def __init__(self, component: ArrayConstraint, index: object, row: int):
        self._component = weakref_ref(component)  # as ComponentData keeps its owner
        self._index = index
        self._active = True
        self._row = row

    @property
    def _expr(self):  # shadows ConstraintData's slot, which every Pyomo reader goes through
        return self.parent_component().expression(self._row)

    @_expr.setter
    def _expr(self, value) -> None:  # restoring a copy or pickle sets nothing
        if value is not None:
            raise TypeError(f"{self.name} is a row of an array constraint: rebuild its family")

    def set_value(self, expr) -> None:
        raise TypeError(f"{self.name} is a row of an array constraint: rebuild its family")


class ArrayConstraint(IndexedConstraint):
    """lower <= A x <= upper over `index` (in its order), A given as (row, position,
    coefficient) triplets into `variables`; a row's terms keep the triplets' order."""

    def __init__(
        self,
        index: pyo.Set | list,
        variables: list,
        rows: np.ndarray,
        positions: np.ndarray,
        coefficients: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        **kwargs,
    ):
        IndexedConstraint.__init__(self, index, **kwargs)
        count = len(lower)
        order = np.argsort(rows, kind="stable")  # stable: a row's terms in the order given
        self.variables = variables
        self.start = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=count))))
        self.positions = np.asarray(positions, dtype=np.int64)[order]
        self.coefficients = np.asarray(coefficients, dtype=float)[order]
        self.lower = np.asarray(lower, dtype=float)  # -inf: no lower bound
        self.upper = np.asarray(upper, dtype=float)  # +inf: no upper bound

    @classmethod
    def from_terms(
        cls,
        index: pyo.Set | list,
        terms: list[list[tuple[float, object]]],
        lower: list[float] | float,
        upper: list[float] | float,
        **kwargs,
    ) -> ArrayConstraint:
        """Rows given as (coefficient, variable) lists, one per member of `index`, as
        `twin.model.linear` takes them; a bound may be one number for every row."""
        pairs = [pair for row in terms for pair in row]
        coefficients = [coefficient for coefficient, _ in pairs]
        ids = [id(var) for _, var in pairs]
        distinct = dict(zip(ids, (var for _, var in pairs), strict=True))  # first-seen order
        position_of = {key: i for i, key in enumerate(distinct)}
        variables = list(distinct.values())
        positions = list(map(position_of.__getitem__, ids))
        rows = np.repeat(np.arange(len(terms), dtype=np.int64), [len(row) for row in terms])
        count = len(terms)
        return cls(
            index,
            variables,
            rows=rows,
            positions=np.asarray(positions, dtype=np.int64),
            coefficients=np.asarray(coefficients, dtype=float),
            lower=np.broadcast_to(np.asarray(lower, dtype=float), count),
            upper=np.broadcast_to(np.asarray(upper, dtype=float), count),
            **kwargs,
        )

    def construct(self, data=None) -> None:
        if self._constructed:
            return
        self._constructed = True
        for anonymous in self._anonymous_sets or ():  # an index given as a list or a new Set
            anonymous.construct()
        rows = self.index_set()
        if len(rows) != len(self.lower):
            raise ValueError(f"{self.name}: {len(rows)} indices for {len(self.lower)} rows")
        self._data = {key: ArrayRowData(self, key, row) for row, key in enumerate(rows)}

    def expression(self, row: int):
        """Row `row` as a Pyomo relational expression (for Pyomo's own readers)."""
        terms = range(self.start[row], self.start[row + 1])
        body = linear(
            [(float(self.coefficients[t]), self.variables[self.positions[t]]) for t in terms]
        )
        lower, upper = float(self.lower[row]), float(self.upper[row])
        if lower == upper:
            return EqualityExpression((body, upper))
        if math.isinf(lower):
            return InequalityExpression((body, upper), False)
        if math.isinf(upper):
            return InequalityExpression((lower, body), False)
        return RangedExpression((lower, body, upper), (False, False))

    def all_active(self) -> bool:
        """Every row active: the arrays say all there is to say."""
        return all(row._active for row in self._data.values())
