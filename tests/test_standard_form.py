"""twin's hand-off compiler makes exactly what Pyomo's standard-form compiler makes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyomo.environ as pyo
import pytest
from pyomo.common.errors import InfeasibleConstraintException
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from twin.data import load_dataset
from twin.model import build_model
from twin.model.linear import linear, weighted
from twin.scenario import Scenario, SolverOptions
from twin.solve import solve
from twin.standard_form import AT_LEAST, AT_MOST, EQUAL, _Columns, compile_model

ROOT = Path(__file__).resolve().parents[1]


def assert_same_as_pyomo(model: pyo.ConcreteModel, exact: bool = True) -> None:
    """Equal to Pyomo's standard form; `exact=False` allows rounding in A, for a model where
    a variable is in several summed expressions (as the cost cap sums the cost components),
    whose terms twin adds in another order than Pyomo does."""
    ours = compile_model(model)
    pyomo = LinearStandardFormCompiler().write(model, mixed_form=True)
    assert [v.name for v in ours.columns] == [v.name for v in pyomo.columns]
    assert [(c.name, sense) for c, sense in ours.rows] == [(c.name, s) for c, s in pyomo.rows]
    assert ours.A.nnz == pyomo.A.nnz and ((ours.A != 0) != (pyomo.A != 0)).nnz == 0
    if exact:
        assert (ours.A != pyomo.A).nnz == 0
    else:
        np.testing.assert_allclose(ours.A.toarray(), pyomo.A.toarray(), rtol=1e-13, atol=0)
    np.testing.assert_array_equal(ours.rhs, np.asarray(pyomo.rhs, dtype=float))
    np.testing.assert_allclose(ours.c, pyomo.c.toarray()[0], rtol=1e-13, atol=0)
    assert ours.offset == pytest.approx(float(pyomo.c_offset[0]), rel=1e-13, abs=1e-9)


@pytest.mark.parametrize("dataset", ["toy", "eaeu_china"])
def test_twin_models_compile_as_pyomo_compiles_them(dataset):
    ds = load_dataset(ROOT / "data" / dataset)
    assert_same_as_pyomo(build_model(ds, Scenario()).model)


def test_every_family_with_prices_caps_and_budgets_compiles_as_pyomo_compiles_it():
    """The carbon price on each period's emissions, caps on country sums that refer to link
    loads, budgets on overnight capex less agglomeration savings: every named-expression
    path of the hand-off, on the reference data."""
    ds = load_dataset(ROOT / "data" / "eaeu_china")
    levers = Scenario(
        carbon_price=80.0,
        carbon_cap=5e6,
        carbon_cap_by_country={"KAZ": 2e6},
        budget=4e9,
        budget_shares={"CHN": 0.6},
        max_import_share=0.5,
        cost_cap=1e12,
        emissions_budget=1e9,
    )
    model = build_model(ds, levers).model
    assert model.carbon_cap and model.country_carbon_cap and model.budget_share
    assert_same_as_pyomo(model, exact=False)


def test_fixed_flows_inside_a_shared_link_load_compile_as_pyomo_compiles_them():
    """A what-if that closes a link fixes its flows: the link load they are in, read once
    and used by capacity rows and costs, carries their fixed values as a constant."""
    model = build_model(load_dataset(ROOT / "data" / "toy"), Scenario()).model
    link_id = next(iter(model.link_load_index))[0]
    flows = [f for (lk, _, _), f in model.flow.items() if lk == link_id]
    for flow in flows:
        flow.fix(0.0)
    flows[0].fix(5.0)  # a nonzero constant moves to the right-hand sides and the offset
    assert_same_as_pyomo(model)


def test_a_parameter_weight_of_a_named_expression_is_evaluated():
    m = pyo.ConcreteModel()
    m.x = pyo.Var([1, 2], bounds=(0, 10))
    m.p = pyo.Param(initialize=2.0, mutable=True)
    m.carried = pyo.Expression(expr=linear([(1.0, m.x[1]), (3.0, m.x[2])]))
    m.row = pyo.Constraint(expr=weighted([(m.p, m.carried), (2.0, m.carried)]) <= 9)
    m.objective = pyo.Objective(expr=m.x[1])
    assert_same_as_pyomo(m)
    assert compile_model(m).A.toarray().tolist() == [[4.0, 12.0]]
    m.p = 3.0
    assert compile_model(m).A.toarray().tolist() == [[5.0, 15.0]]


def test_a_model_with_fixed_decisions_compiles_as_pyomo_compiles_it():
    """What-ifs fix a plan's integer decisions: the fixed values move to the right-hand side."""
    model = build_model(load_dataset(ROOT / "data" / "toy"), Scenario()).model
    result, _ = solve(model, SolverOptions())
    assert result.ok
    fixed = [v for v in model.component_data_objects(pyo.Var) if v.is_integer()]
    for var in fixed:
        var.fix(round(var.value))
    assert any(v.value > 0 for v in fixed)  # some decisions fold a nonzero into the rows
    assert_same_as_pyomo(model)


@pytest.fixture
def small() -> pyo.ConcreteModel:
    """Every kind of row the compiler meets, on three variables."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var([1, 2, 3], bounds=(0, 10))
    m.unused = pyo.Var()
    m.ranged = pyo.Constraint(expr=pyo.inequality(1, linear([(1.0, m.x[1]), (2.0, m.x[2])]), 5))
    m.equal = pyo.Constraint(expr=linear([(1.0, m.x[1]), (1.0, m.x[1])], 3.0) == 7)
    m.product = pyo.Constraint(expr=2 * (m.x[2] + m.x[3]) >= 1)  # walked by Pyomo's visitor
    m.zero = pyo.Constraint(expr=linear([(0.0, m.unused), (1.0, m.x[3])]) <= 4)
    m.constant = pyo.Constraint(expr=linear([(1.0, m.x[3])]) - m.x[3] <= 1)  # always true
    m.objective = pyo.Objective(expr=linear([(3.0, m.x[1]), (-1.0, m.x[2])]), sense=pyo.maximize)
    return m


def test_each_kind_of_row_compiles_as_pyomo_compiles_it(small):
    assert_same_as_pyomo(small)
    form = compile_model(small)
    assert [(c.local_name, sense) for c, sense in form.rows] == [
        ("ranged", AT_MOST),
        ("ranged", AT_LEAST),
        ("equal", EQUAL),
        ("product", AT_LEAST),
        ("zero", AT_MOST),
    ]
    assert form.A.toarray()[2].tolist() == [2.0, 0.0, 0.0]  # x[1] twice, summed
    assert form.rhs[2] == 4.0  # 7 less the constant 3
    assert form.c.tolist() == [-3.0, 1.0, 0.0]  # maximise 3 x1 - x2 as minimise its negation
    assert "unused" not in [v.name for v in form.columns]  # only in a zero term


def test_a_fixed_variable_moves_to_the_right_hand_side(small):
    """A row left with only fixed variables is dropped when it holds (2 x 2 + 3 = 7 here),
    where Pyomo's compiler may keep it as an empty row."""
    small.x[1].fix(2.0)
    form = compile_model(small)
    assert [v.name for v in form.columns] == ["x[2]", "x[3]"]
    assert [(c.local_name, sense) for c, sense in form.rows] == [
        ("ranged", AT_MOST),
        ("ranged", AT_LEAST),
        ("product", AT_LEAST),
        ("zero", AT_MOST),
    ]
    assert form.rhs[:2].tolist() == [3.0, -1.0]  # 1 <= 2 + 2 x[2] <= 5
    assert form.offset == -6.0  # the objective's 3 x[1], negated to minimise


def test_a_constant_row_out_of_bounds_is_infeasible(small):
    small.x[3].fix(0.0)
    small.broken = pyo.Constraint(expr=linear([(1.0, small.x[3])], 2.0) <= 1)
    with pytest.raises(InfeasibleConstraintException, match="broken"):
        compile_model(small)


def test_a_nonlinear_row_is_refused(small):
    small.curved = pyo.Constraint(expr=small.x[1] * small.x[2] <= 1)
    with pytest.raises(ValueError, match="constraint curved: a nonlinear term"):
        compile_model(small)


def test_a_partly_fixed_variable_keeps_pyomos_column_order():
    """A fixed y[1] seen first must not number y ahead of x (Pyomo's visitor folds it in)."""
    m = pyo.ConcreteModel()
    m.x, m.z = pyo.Var(), pyo.Var()
    m.y = pyo.Var([1, 2])
    m.y[1].fix(1.0)
    m.first = pyo.Constraint(expr=linear([(1.0, m.y[1]), (1.0, m.x)]) <= 3)
    m.second = pyo.Constraint(expr=linear([(1.0, m.y[2]), (1.0, m.x), (1.0, m.z)]) <= 4)
    m.objective = pyo.Objective(expr=m.z)
    assert_same_as_pyomo(m)
    assert [v.name for v in compile_model(m).columns] == ["z", "x", "y[2]"]


def test_a_parameter_coefficient_is_evaluated():
    m = pyo.ConcreteModel()
    m.x = pyo.Var()
    m.p = pyo.Param(initialize=3.0, mutable=True)
    m.row = pyo.Constraint(expr=linear([(m.p, m.x)], 2.0) <= 4)
    m.objective = pyo.Objective(expr=m.x)
    assert_same_as_pyomo(m)
    assert compile_model(m).A.toarray().tolist() == [[3.0]]


def test_bounds_equal_make_an_equality_and_infinite_bounds_no_row():
    m = pyo.ConcreteModel()
    m.x = pyo.Var()
    m.pinned = pyo.Constraint(expr=pyo.inequality(5, linear([(1.0, m.x)]), 5))
    m.open_above = pyo.Constraint(expr=pyo.inequality(1, linear([(1.0, m.x)]), float("inf")))
    m.free = pyo.Constraint(expr=pyo.inequality(-float("inf"), m.x, float("inf")))
    m.objective = pyo.Objective(expr=m.x)
    form = compile_model(m)
    assert [(c.local_name, sense) for c, sense in form.rows] == [
        ("pinned", EQUAL),
        ("open_above", AT_LEAST),
    ]
    assert form.rhs.tolist() == [5.0, 1.0]


def test_a_constant_row_that_holds_to_rounding_is_dropped(small):
    """0.1 + 0.2 <= 0.3 is 5.6e-17 over in floating point: it holds."""
    small.b = pyo.Var([1, 2])
    small.b.fix(1.0)
    small.rounding = pyo.Constraint(expr=linear([(0.1, small.b[1]), (0.2, small.b[2])]) <= 0.3)
    names = [c.local_name for c, _ in compile_model(small).rows]
    assert "rounding" not in names and "equal" in names


def test_objectives_other_than_one_are_handled(small):
    small.objective.deactivate()
    form = compile_model(small)  # no objective: find a feasible point
    assert not form.c.any() and form.offset == 0.0
    small.objective.activate()
    small.again = pyo.Objective(expr=small.x[3])
    with pytest.raises(ValueError, match="several active: objective, again"):
        compile_model(small)


def test_what_a_standard_form_cannot_hold_is_refused_not_dropped(small):
    small.sos = pyo.SOSConstraint(var=small.x, sos=1)
    with pytest.raises(ValueError, match="cannot take: sos"):
        compile_model(small)


def test_unit_terms_are_the_variables_themselves_and_named_sums_scale():
    """A coefficient of 1 adds no monomial object; a named expression is scaled by its
    number wherever it is used."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var([1, 2], bounds=(0, 10))
    row = linear([(1.0, m.x[1]), (2.0, m.x[2])])
    assert row.args[0] is m.x[1] and row.args[1].args == (2.0, m.x[2])
    m.carried = pyo.Expression(expr=linear([(1.0, m.x[1]), (3.0, m.x[2])]))
    m.twice = pyo.Constraint(expr=weighted([(2.0, m.carried)], linear([(1.0, m.x[2])], 1.0)) <= 9)
    m.again = pyo.Constraint(expr=weighted([(1, m.carried), (-1.0, m.carried)]) >= -1)
    m.objective = pyo.Objective(expr=weighted([(5.0, m.carried)]))
    assert_same_as_pyomo(m)
    form = compile_model(m)
    assert form.A.toarray().tolist() == [[2.0, 7.0]]  # the second row cancels: dropped
    assert form.rhs.tolist() == [8.0] and form.c.tolist() == [5.0, 15.0]


STANDARD_FORM_OF_THE_REFERENCE = """
import sys
import numpy as np
from twin.data import load_dataset
from twin.model import build_model
from twin.scenario import Scenario
from twin.standard_form import compile_model

form = compile_model(build_model(load_dataset(sys.argv[1]), Scenario()).model)
np.savez(sys.argv[2], c=form.c, rhs=form.rhs, data=form.A.data, indices=form.A.indices,
         indptr=form.A.indptr, columns=[v.name for v in form.columns],
         rows=[f"{con.name}:{sense}" for con, sense in form.rows])
"""


def test_the_model_does_not_depend_on_the_hash_seed(tmp_path):
    """Two processes with different string hashing (set and dict order of names) build the
    same standard form of the reference model: no tie is broken by set order."""
    forms = []
    for seed in ("1", "2"):
        out = tmp_path / f"form_{seed}.npz"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        script = [
            sys.executable,
            "-c",
            STANDARD_FORM_OF_THE_REFERENCE,
            str(ROOT / "data" / "eaeu_china"),
            str(out),
        ]
        subprocess.run(script, check=True, env=env, cwd=ROOT)
        forms.append(np.load(out))
    for key in ("columns", "rows", "indices", "indptr", "data", "c", "rhs"):
        np.testing.assert_array_equal(forms[0][key], forms[1][key], err_msg=key)


def test_the_visitor_finds_each_numbered_variable_by_id():
    """The visitor's var_map is a view of the columns: the variable of each id, in column
    order, for the expressions only Pyomo's walker reads (a Param coefficient here)."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var([1, 2, 3])
    m.p = pyo.Param(initialize=4.0, mutable=True)
    columns = _Columns()
    cols, coefs, constant = columns.terms(m.p * m.x[3] + m.x[1] + 2)
    var_map = columns.visitor.var_map
    assert [var_map[i] for i in var_map] == [m.x[1], m.x[2], m.x[3]] and len(var_map) == 3
    assert (cols, coefs, constant) == ([2, 0], [4.0, 1], 2)
    assert id(m.x[2]) in var_map and id(m.p) not in var_map
    repn = columns.visitor.walk_expression(m.x[1] * m.x[2])  # nonlinear: rebuilt by id
    assert str(repn.to_expression(columns.visitor)) == "x[1]*x[2]"
