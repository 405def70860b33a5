"""Rows stored as arrays are Pyomo constraints to every reader, and compile as such."""

from __future__ import annotations

import io
import math
import pickle
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyomo.environ as pyo
import pytest
from pyomo.repn.linear import LinearRepnVisitor

from tests.test_standard_form import assert_same_as_pyomo
from twin.data import load_dataset
from twin.model import build_model
from twin.model.array_constraint import ArrayConstraint
from twin.scenario import Scenario, SolverOptions
from twin.solve import solve
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
    columns = [v.name for v in form.columns]
    matrix = [dict(zip(columns, row, strict=True)) for row in form.A.toarray().tolist()]
    assert [{v: a for v, a in row.items() if a} for row in matrix] == [
        {"x[4]": 1.0},
        {"x[1]": 1.0, "x[2]": 2.0},
        {"x[2]": 1.0, "x[3]": -1.0},
        {"x[3]": 2.0},  # x[3] twice, summed
        {"x[1]": 1.0, "x[4]": 1.0},
        {"x[1]": 1.0, "x[4]": 1.0},
        {"x[1]": 1.0, "x[3]": 1.0},
    ]


def test_terms_given_in_any_order_are_grouped_by_row():
    m = pyo.ConcreteModel()
    m.x = pyo.Var([1, 2, 3])
    m.rows = ArrayConstraint(
        [1, 2],
        [m.x[1], m.x[2], m.x[3]],
        rows=np.array([1, 0, 1, 0]),
        positions=np.array([2, 0, 1, 1]),
        coefficients=np.array([3.0, 1.0, 2.0, 4.0]),
        lower=np.array([-INF, 0.0]),
        upper=np.array([1.0, 0.0]),
    )
    assert str(m.rows[1].body) == "x[1] + 4.0*x[2]"
    assert str(m.rows[2].body) == "3.0*x[3] + 2.0*x[2]"  # a row's terms in the order given


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


def test_a_row_without_bounds_has_no_row_and_the_others_keep_their_terms():
    """One row dropped and one split in two: as many rows as before, each with its own
    terms. (Pyomo keeps a row with an infinite right-hand side: a documented difference.)"""
    m = pyo.ConcreteModel()
    m.x = pyo.Var([1, 2])
    m.rows = ArrayConstraint.from_terms(
        ["free", "range"], [[(1.0, m.x[1])], [(2.0, m.x[2])]], [-INF, 1.0], [INF, 5.0]
    )
    m.objective = pyo.Objective(expr=m.x[1])
    form = compile_model(m)
    assert [(c.name, sense) for c, sense in form.rows] == [
        ("rows[range]", AT_MOST),
        ("rows[range]", AT_LEAST),
    ]
    assert form.A.toarray().tolist() == [[0.0, 2.0], [0.0, 2.0]]  # columns x[1], x[2]
    assert form.rhs.tolist() == [5.0, 1.0]


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
    solved, _ = solve(model, SolverOptions())
    assert solved.status == "optimal"
    assert model.x[1].value + 2 * model.x[2].value == pytest.approx(3.0)
    assert model.rows["eq"] in solved.duals


def test_index_and_rows_must_agree():
    m = pyo.ConcreteModel()
    m.x = pyo.Var()
    with pytest.raises(ValueError, match="2 indices for 1 rows"):
        m.rows = ArrayConstraint.from_terms(pyo.Set(initialize=[1, 2]), [[(1.0, m.x)]], 0, 1)


def test_variables_first_met_in_the_arrays_are_numbered_as_pyomo_numbers_them():
    """An objective on z alone leaves y and x to be numbered by the array rows, where y is
    met first, x[2] before x[1] (a component is numbered whole, in index order)."""
    m = pyo.ConcreteModel()
    m.z, m.y = pyo.Var(), pyo.Var([1, 2])
    m.x = pyo.Var([1, 2, 3])
    m.x[3].fix(1.0)
    m.rows = ArrayConstraint.from_terms(
        [1, 2], [[(1.0, m.y[2]), (1.0, m.x[3])], [(1.0, m.x[2]), (1.0, m.x[1])]], 0.0, 0.0
    )
    m.objective = pyo.Objective(expr=m.z)
    assert_same_as_pyomo(m)
    assert [v.name for v in compile_model(m).columns] == ["z", "y[2]", "x[1]", "x[2]"]


@pytest.mark.parametrize("copy", ["clone", "pickle"])
def test_a_copy_compiles_as_the_original(model, copy):
    duplicate = model.clone() if copy == "clone" else pickle.loads(pickle.dumps(model))
    ours, theirs = compile_model(model), compile_model(duplicate)
    assert [(c.name, s) for c, s in ours.rows] == [(c.name, s) for c, s in theirs.rows]
    assert (ours.A != theirs.A).nnz == 0 and ours.rhs.tolist() == theirs.rhs.tolist()
    assert duplicate.rows["eq"].parent_component() is duplicate.rows


@pytest.mark.parametrize("dataset", ["toy", "eaeu_china"])
def test_balance_rows_hold_the_terms_the_formulation_lists(dataset):
    """Each balance row, read back as Pyomo reads it, against its terms listed afresh from
    the sets: + purchase, + flow in, - flow out, + recipe coefficient x activity, + unmet,
    = demand."""
    built = build_model(load_dataset(Path(__file__).parents[1] / "data" / dataset), Scenario())
    m, data = built.model, built.data
    expected: dict[tuple, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for key, var in m.buy.items():
        expected[key][var.name] += 1.0
    for (link_id, k, p), var in m.flow.items():
        expected[data.links[link_id].dst, k, p][var.name] += 1.0
        expected[data.links[link_id].src, k, p][var.name] -= 1.0
    for (s, p), var in m.activity.items():
        for k, coefficient in data.recipe[data.sites[s].technology]:
            expected[data.sites[s].region, k, p][var.name] += coefficient
    for key, var in m.unmet.items():
        expected[key][var.name] += 1.0
    assert sorted(m.balance_index) == sorted(set(expected) | set(data.demand))
    assert {type(part) for key in m.balance_index for part in key} == {str, int}
    visitor = LinearRepnVisitor({})
    for key in m.balance_index:
        row = m.balance[key]
        repn = visitor.walk_expression(row.body)
        found = {visitor.var_map[i].name: c for i, c in repn.linear.items() if c}
        assert found == {name: c for name, c in expected[key].items() if c}, key
        demand = data.demand.get(key, (0.0, 0.0))[0]
        assert row.equality and row.upper == demand
