"""Rows stored as arrays are Pyomo constraints to every reader, and compile as such."""

from __future__ import annotations

import io
import math

import numpy as np
import pyomo.environ as pyo
import pytest

from tests.test_standard_form import assert_same_as_pyomo
from twin.model.array_constraint import ArrayConstraint
from twin.standard_form import AT_LEAST, AT_MOST, EQUAL, compile_model

INF = math.inf


@pytest.fixture
def model() -> pyo.ConcreteModel:
    """An array family between two ordinary rows, with every kind of bound."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var([1, 2, 3, 4], bounds=(0, 10))
    m.before = pyo.Constraint(expr=m.x[4] <= 9)
    x = m.x
    m.rows = ArrayConstraint.from_terms(
        pyo.Set(initialize=["eq", "le", "ge", "range"]),
        [
            [(1.0, x[1]), (2.0, x[2])],  # = 3
            [(1.0, x[2]), (-1.0, x[3])],  # <= 4
            [(1.0, x[3]), (1.0, x[3])],  # >= 1, one variable twice
            [(1.0, x[1]), (1.0, x[4])],  # in [1, 5]
        ],
        lower=[3.0, -INF, 1.0, 1.0],
        upper=[3.0, 4.0, INF, 5.0],
    )
    m.after = pyo.Constraint(expr=m.x[1] + m.x[3] >= 2)
    m.objective = pyo.Objective(expr=m.x[1] + m.x[4])
    return m


def test_rows_compile_as_pyomo_compiles_their_expressions(model):
    assert_same_as_pyomo(model)
    form = compile_model(model)
    assert [(c.name, sense) for c, sense in form.rows] == [
        ("before", AT_MOST),
        ("rows[eq]", EQUAL),
        ("rows[le]", AT_MOST),
        ("rows[ge]", AT_LEAST),
        ("rows[range]", AT_MOST),
        ("rows[range]", AT_LEAST),
        ("after", AT_LEAST),
    ]
    assert form.rhs.tolist() == [9.0, 3.0, 4.0, 1.0, 5.0, 1.0, 2.0]
    names = [v.name for v in form.columns]
    row = form.A.toarray()[3]  # rows[ge]: x[3] twice, summed
    assert row[names.index("x[3]")] == 2.0 and np.count_nonzero(row) == 1


def test_a_fixed_variable_moves_to_the_right_hand_side(model):
    model.x[2].fix(1.0)
    assert_same_as_pyomo(model)
    form = compile_model(model)
    rhs = {(c.name, sense): b for (c, sense), b in zip(form.rows, form.rhs, strict=True)}
    assert rhs["rows[eq]", EQUAL] == 1.0  # 3 - 2 x 1
    assert rhs["rows[le]", AT_MOST] == 3.0  # 4 - 1
    assert "x[2]" not in [v.name for v in form.columns]


def test_a_row_left_constant_is_dropped_when_it_holds_and_refused_when_it_fails(model):
    model.x[3].fix(2.0)  # rows[ge]: 2 + 2 >= 1 holds
    assert "rows[ge]" not in [c.name for c, _ in compile_model(model).rows]
    model.x[3].fix(0.0)  # 0 >= 1 fails
    with pytest.raises(Exception, match=r"rows\[ge\]"):
        compile_model(model)


def test_a_deactivated_row_is_left_out_as_pyomo_leaves_it(model):
    model.rows["le"].deactivate()
    assert_same_as_pyomo(model)
    assert "rows[le]" not in [c.name for c, _ in compile_model(model).rows]


def test_a_row_without_bounds_has_no_row():
    m = pyo.ConcreteModel()
    m.x = pyo.Var()
    m.rows = ArrayConstraint.from_terms(pyo.Set(initialize=[1]), [[(1.0, m.x)]], -INF, INF)
    m.objective = pyo.Objective(expr=m.x)
    assert compile_model(m).rows == []


def test_each_row_reads_as_a_constraint(model):
    row = model.rows["range"]
    assert row.name == "rows[range]" and row.index() == "range"
    assert (row.lower, row.upper) == (1.0, 5.0) and not row.equality
    assert model.rows["eq"].equality and model.rows["le"].lower is None
    model.x[1].set_value(2.0)
    model.x[4].set_value(1.5)
    assert pyo.value(row.body) == 3.5
    assert row.slack() == pytest.approx(1.5)
    text = io.StringIO()
    model.rows.pprint(ostream=text)
    assert "x[1] + x[4]" in text.getvalue()
    with pytest.raises(TypeError, match="array constraint"):
        row.set_value(model.x[1] <= 1)


def test_a_model_with_array_rows_solves_with_duals(model):
    from twin.scenario import SolverOptions
    from twin.solve import solve

    solved, _ = solve(model, SolverOptions())
    assert solved.status == "optimal"
    assert model.x[1].value + 2 * model.x[2].value == pytest.approx(3.0)
    assert model.rows["eq"] in solved.duals


def test_index_and_rows_must_agree():
    m = pyo.ConcreteModel()
    m.x = pyo.Var()
    with pytest.raises(ValueError, match="2 indices for 1 rows"):
        m.rows = ArrayConstraint.from_terms(pyo.Set(initialize=[1, 2]), [[(1.0, m.x)]], 0, 1)
