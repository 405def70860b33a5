"""Compile a Pyomo model into the sparse arrays HiGHS takes: the hand-off's hot loop.

This produces what Pyomo's `LinearStandardFormCompiler(mixed_form=True)` produces (the same
rows, columns, order and coefficients; a test holds the two equal), only faster on twin's
models. Array constraints (twin.model.array_constraint: the balance and the capacity rows)
are taken whole, as arrays. The other families build their rows as `LinearExpression`s of
plain variables (`twin.model.linear`), and sums of numbers times named expressions of them
(link loads in the capacity rows and costs, emissions in the carbon price), so their
coefficients and variables are read straight from the expressions, each named one once,
instead of walking them. Any other expression, and one touching a fixed variable, goes
through Pyomo's own `LinearRepnVisitor`, the walker the standard-form compiler uses, so
nothing is lost in generality. Two differences, both on purpose: a row left with no variable
(all fixed, as when a what-if closes a link) is dropped when it holds, to rounding, and
refused when it fails, where Pyomo may keep it as an empty row; an infinite bound is no
bound, where Pyomo writes a row with an infinite right-hand side.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import repeat

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
    categorize_valid_components,
)

from twin.model.array_constraint import ArrayConstraint

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


class _VarMap(Mapping):
    """id(variable) -> variable, in column order, as the visitor's `var_map`: a view of the
    column numbers and the column list, not a second dict of every variable."""

    def __init__(self, number: dict[int, int], columns: list[VarData]):
        self.number, self.columns = number, columns

    def __getitem__(self, key: int) -> VarData:
        return self.columns[self.number[key]]

    def __contains__(self, key: object) -> bool:
        return key in self.number

    def __iter__(self) -> Iterator[int]:
        return iter(self.number)

    def __len__(self) -> int:
        return len(self.number)


class _Recorder:
    """Pyomo's `VarRecorder` (ordered) that also numbers the columns as it records them: a
    component's unfixed members all at once, in index order, the first time one is seen."""

    def __init__(self) -> None:
        self.sorter = FileDeterminism_to_SortComponents(FileDeterminism.ORDERED)
        self.number: dict[int, int] = {}  # id(variable) -> column
        self.columns: list[VarData] = []  # variable of each column
        self.var_map = _VarMap(self.number, self.columns)

    def add(self, var: VarData) -> None:
        component = var.parent_component()
        members = (var,) if component is None else component.values(self.sorter)
        members = [v for v in members if not v.fixed]
        ids = list(map(id, members))
        number = self.number
        if not number.keys().isdisjoint(ids):  # some recorded already (unfixed since): once
            members = [v for v, i in zip(members, ids, strict=True) if i not in number]
            ids = list(map(id, members))
        first = len(number)
        self.columns += members
        number.update(zip(ids, range(first, first + len(ids)), strict=True))


class _Columns:
    """Column numbers in Pyomo's order (`_Recorder`); fixed variables get no column."""

    def __init__(self) -> None:
        self.recorder = _Recorder()
        self.visitor = LinearRepnVisitor({}, var_recorder=self.recorder)
        self.number = self.recorder.number  # id(variable) -> column
        self.named: dict[int, tuple] = {}  # id(named expression) -> its terms

    def _record(self, variables) -> bool:
        """Number the components of `variables` in the order Pyomo would (a component's
        unfixed members all at once); False if one is fixed or not a variable: the visitor
        folds those in."""
        if not all(getattr(v, "is_variable_type", bool)() and not v.fixed for v in variables):
            return False
        recorded = self.number
        for v in variables:
            if id(v) not in recorded:  # adds every unfixed member of v's component
                self.recorder.add(v)
        return True

    def _linear(self, expr: LinearExpression) -> tuple[list[int], list, float] | None:
        """(columns, coefficients, constant) of a `LinearExpression` of numbers times
        unfixed variables, in one pass over its terms; None when a coefficient or term is
        anything else (a Param, an expression, a fixed variable): the visitor's case.
        Pyomo's own `linear_coefs` asks every bare variable twice whether it is potentially
        variable; here its class answers."""
        number = self.number
        try:  # every term a bare numbered variable (as in a link load): read at C speed
            cols = list(map(number.__getitem__, map(id, expr.args)))
            return cols, [1] * len(cols), 0.0
        except KeyError:  # a term that is not (or an unnumbered variable): term by term
            pass
        cols = []
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

    def of_variables(self, variables: list, positions: np.ndarray) -> np.ndarray:
        """Column of each of `variables` (-1 for a fixed one); components not numbered yet
        are numbered in the order their members first appear in `positions`, as Pyomo's walk
        over the same rows would number them."""
        column = self._numbers(variables)
        missing = column < 0
        if missing.any():
            used = positions[missing[positions]]  # terms of unnumbered variables, in order
            distinct, first = np.unique(used, return_index=True)
            recorded, add = self.number, self.recorder.add
            for j in distinct[np.argsort(first)].tolist():
                v = variables[j]
                if id(v) not in recorded and not v.fixed:
                    add(v)  # numbers every unfixed member of v's component
            missing = np.flatnonzero(missing)
            column[missing] = self._numbers([variables[j] for j in missing.tolist()])
        return column

    def _numbers(self, variables: list) -> np.ndarray:
        """Column of each variable, -1 for one without."""
        found = map(self.number.get, map(id, variables), repeat(-1))
        return np.fromiter(found, dtype=np.int64, count=len(variables))

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
            if coefs.count(1) == len(coefs):  # a sum of variables, as a link load: no products
                return cols, [factor] * len(coefs), factor * constant
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
        return [self.number[i] for i in repn.linear], list(repn.linear.values()), repn.constant


class _Rows:
    """The standard form's rows as they are compiled, in model order: a Pyomo constraint's
    rows one at a time, an `ArrayConstraint`'s as one block of arrays."""

    def __init__(self) -> None:
        self.rows: list[tuple[object, int]] = []  # (constraint data, sense)
        self.blocks: list[tuple[np.ndarray, ...]] = []  # (columns, coefficients, lengths, rhs)
        self._columns: list[int] = []  # the rows added one at a time since the last block
        self._coefficients: list[float] = []
        self._lengths: list[int] = []
        self._rhs: list[float] = []

    def add(self, con, columns: _Columns) -> None:
        """The row(s) of one constraint: one for an equality or a one-sided bound, two for
        a range (at most, then at least), none without bounds."""
        lower, body, upper = con.to_bounded_expression(evaluate_bounds=True)
        if lower is None and upper is None:
            return
        try:
            cols, coefs, constant = columns.terms(body)
        except ValueError as error:
            raise ValueError(f"constraint {con.name}: {error}") from error
        if lower == upper:
            senses = [(EQUAL, upper)]
        else:
            senses = [(s, b) for s, b in ((AT_MOST, upper), (AT_LEAST, lower)) if b is not None]
        for sense, bound in senses:
            self.rows.append((con, sense))
            self._rhs.append(bound - constant)
            self._columns.extend(cols)
            self._coefficients.extend(coefs)
            self._lengths.append(len(cols))

    def add_array(self, component: ArrayConstraint, columns: _Columns) -> None:
        """All rows of an array constraint, by the same rules as `add`; a fixed variable's
        term moves to the right-hand side."""
        self._end_block()
        count = len(component.lower)
        positions, coefficients = component.positions, component.coefficients
        column = columns.of_variables(component.variables, positions)[positions]
        row = np.repeat(np.arange(count), np.diff(component.start))
        constant = np.zeros(count)
        fixed = column < 0
        if fixed.any():
            values = np.array(
                [component.variables[j].value for j in positions[fixed].tolist()], dtype=float
            )
            if np.isnan(values).any():
                raise ValueError(f"constraint {component.name}: a fixed variable has no value")
            np.add.at(constant, row[fixed], coefficients[fixed] * values)
            column, coefficients, row = column[~fixed], coefficients[~fixed], row[~fixed]
        lower, upper = component.lower, component.upper
        equal = lower == upper
        take = np.stack([equal | np.isfinite(upper), ~equal & np.isfinite(lower)], axis=1)
        senses = np.stack([np.where(equal, EQUAL, AT_MOST), np.full(count, AT_LEAST)], axis=1)
        bounds = np.stack([upper, lower], axis=1)
        source = np.repeat(np.arange(count), 2).reshape(count, 2)[take]  # row of each new row
        lengths = np.bincount(row, minlength=count)
        if len(source) != count or (source != np.arange(count)).any():  # rows dropped/split
            old_start = np.cumsum(lengths) - lengths
            lengths = lengths[source]
            shift = old_start[source] - (np.cumsum(lengths) - lengths)
            picked = np.arange(lengths.sum()) + np.repeat(shift, lengths)
            column, coefficients = column[picked], coefficients[picked]
        data = list(component.values())
        rows = [data[r] for r in source.tolist()]
        self.rows.extend(zip(rows, senses[take].tolist(), strict=True))
        rhs = bounds[take] - constant[source]
        self.blocks.append((column, coefficients, lengths, rhs))

    def _end_block(self) -> None:
        """Close the run of rows added one at a time into a block of arrays."""
        if self._lengths:
            self.blocks.append(
                (
                    np.asarray(self._columns, dtype=np.int64),
                    np.asarray(self._coefficients, dtype=float),
                    np.asarray(self._lengths, dtype=np.int64),
                    np.asarray(self._rhs, dtype=float),
                )
            )
            self._columns, self._coefficients, self._lengths, self._rhs = [], [], [], []

    def matrix(self, n: int) -> tuple[sp.csc_matrix, list, np.ndarray]:
        """(A in CSC form with duplicates summed and zeros dropped, rows, rhs)."""
        self._end_block()
        empty = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64), np.zeros(0))
        columns, coefficients, lengths, rhs = (
            np.concatenate(part) for part in zip(empty, *self.blocks, strict=True)
        )
        start = np.concatenate(([0], np.cumsum(lengths)))
        matrix = sp.csr_matrix(
            (coefficients, columns.astype(np.int32), start), shape=(len(self.rows), n)
        ).tocsc()
        matrix.sum_duplicates()
        matrix.eliminate_zeros()
        return matrix, self.rows, rhs


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

    form = _Rows()
    for component in model.component_objects(pyo.Constraint, active=True, descend_into=True):
        if isinstance(component, ArrayConstraint) and component.all_active():
            form.add_array(component, columns)
            continue
        for con in component.values():
            if con.active:
                form.add(con, columns)

    n = len(columns.number)
    matrix, rows, rhs = form.matrix(n)
    matrix, rows, rhs = _drop_constant_rows(matrix, rows, rhs)
    cost = np.zeros(n)
    np.add.at(cost, np.asarray(obj_index, dtype=np.int64), sign * np.asarray(obj_data, float))
    used = (np.diff(matrix.indptr) > 0) | (cost != 0)  # a column only in zero terms is dropped
    variables = columns.recorder.columns
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
