"""twin's hand-off compiler makes exactly what Pyomo's standard-form compiler makes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyomo.environ as pyo
import pytest
from pyomo.common.errors import InfeasibleConstraintException
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from twin.data import load_dataset
from twin.model import build_model
from twin.model.linear import linear
from twin.scenario import Scenario, SolverOptions
from twin.solve import solve
from twin.standard_form import AT_LEAST, AT_MOST, EQUAL, compile_model

ROOT = Path(__file__).resolve().parents[1]


def assert_same_as_pyomo(model: pyo.ConcreteModel) -> None:
    ours = compile_model(model)
    pyomo = LinearStandardFormCompiler().write(model, mixed_form=True)
    assert [v.name for v in ours.columns] == [v.name for v in pyomo.columns]
    assert [(c.name, sense) for c, sense in ours.rows] == [(c.name, s) for c, s in pyomo.rows]
    assert (ours.A != pyomo.A).nnz == 0 and ours.A.nnz == pyomo.A.nnz
    np.testing.assert_array_equal(ours.rhs, np.asarray(pyomo.rhs, dtype=float))
    # The objective sums the same terms in another order: equal to rounding.
    np.testing.assert_allclose(ours.c, pyomo.c.toarray()[0], rtol=1e-13, atol=0)
    assert ours.offset == pytest.approx(float(pyomo.c_offset[0]), rel=1e-13, abs=1e-9)


@pytest.mark.parametrize("dataset", ["toy", "eaeu_china"])
def test_twin_models_compile_as_pyomo_compiles_them(dataset):
    ds = load_dataset(ROOT / "data" / dataset)
    assert_same_as_pyomo(build_model(ds, Scenario()).model)


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
    """Unlike Pyomo's compiler, which keeps it as an empty row, a row left with only fixed
    variables is dropped when it holds (2 x 2 + 3 = 7 here)."""
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
    with pytest.raises(ValueError, match="nonlinear"):
        compile_model(small)
