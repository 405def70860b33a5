"""Compile a Pyomo model into the sparse arrays HiGHS takes: the hand-off's hot loop.

This produces what Pyomo's `LinearStandardFormCompiler(mixed_form=True)` produces (the same
rows, columns, order and coefficients; a test holds the two equal), only faster on twin's
models. Every family builds its rows as `LinearExpression`s of plain variables
(`twin.model.linear`), and sums of numbers times named expressions of them (link loads in
the capacity rows and costs, emissions in the carbon price), so their coefficients and
variables are read straight from the expressions, each named one once, instead of walking
them. Any other expression, and one touching a fixed variable, goes through Pyomo's own
`LinearRepnVisitor`, the walker the standard-form compiler uses, so nothing is lost in
generality. Two differences, both on purpose: a row left with no variable (all fixed, as when
a what-if closes a link) is dropped when it holds, to rounding, and refused when it fails,
where Pyomo may keep it as an empty row; an infinite bound is no bound, where Pyomo writes a
row with an infinite right-hand side.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice

import numpy as np
import pyomo.environ as pyo
import scipy.sparse as sp
from pyomo.common.errors import InfeasibleConstraintException
from pyomo.common.numeric_types import native_numeric_types
from pyomo.core.base import (
    Block,
    Constraint,
    Expression,
    ExternalFunction,
    Objective,
    Param,
    RangeSet,
    Set,
    Suffix,
    Var,
)
from pyomo.core.base.var import VarData
from pyomo.core.expr.numeric_expr import (
    LinearExpression,
    MonomialTermExpression,
    ProductExpression,
    SumExpression,
)
from pyomo.network import Port
from pyomo.repn.linear import LinearRepnVisitor
from pyomo.repn.util import (
    FileDeterminism,
    FileDeterminism_to_SortComponents,
    VarRecorder,
    categorize_valid_components,
)

EQUAL, AT_MOST, AT_LEAST = 0, 1, -1  # row senses, as in Pyomo's mixed form
CONSTANT_ROW_TOLERANCE = 1e-9  # relative: 0.1 + 0.2 <= 0.3 holds


@dataclass
class StandardForm:
    """min c x + offset subject to A x (sense) rhs, one row per (constraint, sense)."""

    c: np.ndarray  # objective coefficient per column
    offset: float
    A: sp.csc_matrix
    rhs: np.ndarray
    rows: list[tuple[pyo.Constraint, int]]  # (constraint data, EQUAL / AT_MOST / AT_LEAST)
    columns: list[pyo.Var]  # variable data per column


class _Columns:
    """Column numbers in Pyomo's order: a variable's whole component is numbered, in index
    order, the first time one of its members is seen; fixed variables get no column."""

    def __init__(self) -> None:
        sorter = FileDeterminism_to_SortComponents(FileDeterminism.ORDERED)
        self.recorder = VarRecorder({}, sorter)
        self.visitor = LinearRepnVisitor({}, var_recorder=self.recorder)
        self.number: dict[int, int] = {}  # id(variable) -> column
        self.named: dict[int, tuple] = {}  # id(named expression) -> its terms

    def _record(self, variables) -> bool:
        """Number the components of `variables` in the order Pyomo would (a component's
        unfixed members all at once); False if one is fixed or not a variable: the visitor
        folds those in."""
        if not all(getattr(v, "is_variable_type", bool)() and not v.fixed for v in variables):
            return False
        recorded = self.recorder.var_map
        for v in variables:
            if id(v) not in recorded:  # adds every unfixed member of v's component
                self.recorder.add(v)
        self._sync()
        return True

    def _linear(self, expr: LinearExpression) -> tuple[list[int], list, float] | None:
        """(columns, coefficients, constant) of a `LinearExpression` of numbers times
        unfixed variables, in one pass over its terms; None when a coefficient or term is
        anything else (a Param, an expression, a fixed variable): the visitor's case.
        Pyomo's own `linear_coefs` asks every bare variable twice whether it is potentially
        variable; here its class answers."""
        number = self.number
        cols: list[int] = []
        coefs: list = []
        constant = 0.0
        try:
            for arg in expr.args:
                kind = arg.__class__
                if kind is VarData:
                    cols.append(number[id(arg)])
                    coefs.append(1)
                elif kind is MonomialTermExpression:
                    coefficient, var = arg.args
                    if coefficient.__class__ not in native_numeric_types:
                        return None
                    cols.append(number[id(var)])
                    coefs.append(coefficient)
                elif kind in native_numeric_types:
                    constant += arg
                else:
                    return None
        except KeyError:  # a variable not numbered yet, or fixed
            return self._linear(expr) if self._record(expr.linear_vars) else None
        return cols, coefs, constant

    def _sync(self) -> None:
        """Number the variables the recorder has added since the last call."""
        var_map, number = self.recorder.var_map, self.number
        if len(number) < len(var_map):
            for key in islice(var_map, len(number), None):
                number[key] = len(number)

    def terms(self, expr) -> tuple[list[int], list[float], float]:
        """(columns, coefficients, constant) of a linear expression. Sums of (named)
        `LinearExpression`s and numbers times named expressions, as twin writes its rows and
        objective, are read directly; a named expression is read once however often it is
        used (the returned lists are shared: callers copy, never extend them)."""
        if getattr(expr, "is_named_expression_type", bool)():
            key = id(expr)
            if key not in self.named:
                self.named[key] = self.terms(expr.expr)
            return self.named[key]
        if expr.__class__ is ProductExpression and expr.args[0].__class__ in native_numeric_types:
            factor = expr.args[0]
            cols, coefs, constant = self.terms(expr.args[1])
            return cols, [factor * c for c in coefs], factor * constant
        if expr.__class__ is SumExpression:
            cols, coefs, constant = [], [], 0.0
            for arg in expr.args:
                arg_cols, arg_coefs, arg_constant = self.terms(arg)
                cols += arg_cols
                coefs += arg_coefs
                constant += arg_constant
            return cols, coefs, constant
        if expr.__class__ in native_numeric_types:
            return [], [], expr
        if expr.__class__ is LinearExpression:
            read = self._linear(expr)
            if read is not None:
                return read
        repn = self.visitor.walk_expression(expr)
        if repn.nonlinear is not None:
            raise ValueError(f"a nonlinear term cannot go to HiGHS: {expr}")
        self._sync()
        return [self.number[i] for i in repn.linear], list(repn.linear.values()), repn.constant


def compile_model(model: pyo.ConcreteModel) -> StandardForm:
    """The standard form of `model`'s active objective and constraints (mixed form)."""
    _check_components(model)
    columns = _Columns()
    objectives = list(model.component_data_objects(pyo.Objective, active=True))
    if len(objectives) > 1:
        names = ", ".join(o.name for o in objectives)
        raise ValueError(f"HiGHS takes one objective; the model has several active: {names}")
    obj_index, obj_data, offset, sign = [], [], 0.0, 1.0  # no objective: a feasibility problem
    if objectives:
        obj_index, obj_data, offset = columns.terms(objectives[0].expr)
        sign = 1.0 if objectives[0].sense == pyo.minimize else -1.0

    rows: list[tuple[object, int]] = []
    rhs: list[float] = []
    index: list[int] = []
    data: list[float] = []
    start = [0]
    for con in model.component_data_objects(pyo.Constraint, active=True):
        lower, body, upper = con.to_bounded_expression(evaluate_bounds=True)
        if lower is None and upper is None:
            continue
        try:
            cols, coefs, constant = columns.terms(body)
        except ValueError as error:
            raise ValueError(f"constraint {con.name}: {error}") from error
        if lower == upper:
            senses = [(EQUAL, upper)]
        else:
            senses = [(s, b) for s, b in ((AT_MOST, upper), (AT_LEAST, lower)) if b is not None]
        for sense, bound in senses:
            rows.append((con, sense))
            rhs.append(bound - constant)
            index.extend(cols)
            data.extend(coefs)
            start.append(len(index))

    n = len(columns.number)
    matrix = sp.csr_matrix(
        (np.asarray(data, dtype=float), np.asarray(index, dtype=np.int32), start),
        shape=(len(rows), n),
    ).tocsc()
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    matrix, rows, rhs = _drop_constant_rows(matrix, rows, np.asarray(rhs, dtype=float))
    cost = np.zeros(n)
    np.add.at(cost, np.asarray(obj_index, dtype=np.int64), sign * np.asarray(obj_data, float))
    used = (np.diff(matrix.indptr) > 0) | (cost != 0)  # a column only in zero terms is dropped
    variables = list(columns.recorder.var_map.values())
    if not used.all():
        matrix, cost = matrix[:, used], cost[used]
        variables = [v for v, keep in zip(variables, used, strict=True) if keep]
    return StandardForm(
        c=cost,
        offset=sign * float(offset),
        A=matrix,
        rhs=rhs,
        rows=rows,
        columns=variables,
    )


def _check_components(model: pyo.ConcreteModel) -> None:
    """Refuse what a linear standard form cannot hold (SOS, logical constraints, ...), as
    Pyomo's compiler does, rather than drop it silently."""
    valid = {Block, Constraint, Var, Param, Expression, ExternalFunction, Set, RangeSet, Port}
    _, unknown = categorize_valid_components(
        model, active=True, valid=valid, targets={Suffix, Objective}
    )
    if unknown:
        names = ", ".join(c.name for components in unknown.values() for c in components)
        raise ValueError(f"the model has active components HiGHS cannot take: {names}")


def _drop_constant_rows(matrix: sp.csc_matrix, rows: list, rhs: np.ndarray):
    """Rows left with no variable (all fixed, or cancelled) hold or fail by themselves: drop
    those that hold, and refuse a model with one that fails by more than rounding."""
    empty = np.bincount(matrix.indices, minlength=len(rows)) == 0
    if not empty.any():
        return matrix, rows, rhs
    sense = np.array([s for _, s in rows], dtype=int)
    slack = CONSTANT_ROW_TOLERANCE * np.maximum(1.0, np.abs(rhs))
    fails = empty & (
        ((sense == AT_MOST) & (rhs < -slack))
        | ((sense == AT_LEAST) & (rhs > slack))
        | ((sense == EQUAL) & (np.abs(rhs) > slack))
    )
    if fails.any():
        name = rows[int(np.flatnonzero(fails)[0])][0].name
        raise InfeasibleConstraintException(
            f"model contains a trivially infeasible constraint, '{name}'"
        )
    keep = ~empty
    return matrix[keep], [row for row, k in zip(rows, keep, strict=True) if k], rhs[keep]
