"""The fast HiGHS path against Pyomo's own HiGHS interface, statuses and explanations."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import highspy
import numpy as np
import pyomo.environ as pyo
import pytest

import twin.solve
from twin.data import load_dataset
from twin.model import build_model
from twin.orlib import published_optimum
from twin.scenario import Scenario, SolverOptions
from twin.solve import HighsModel, LpRows, limit_time, new_highs, solve, status_name

from .conftest import CsvEdit
from .drifting import Drifting


@pytest.fixture
def toy_lp(toy: Path, edit: CsvEdit):
    """Toy as-is (no integers) with a loose rail crossing, so primal and duals are unique."""
    edit.set("border_crossings.csv", 2, "capacity", "300000")
    return load_dataset(toy)


def contrib_solution(ds, scenario: Scenario, duals: bool = True):
    built = build_model(ds, scenario)
    m = built.model
    if duals:
        m.dual = pyo.Suffix(direction=pyo.Suffix.IMPORT)
    pyo.SolverFactory("highs").solve(m)
    values = {v.name: v.value for v in m.component_data_objects(pyo.Var) if v.value is not None}
    constraints = m.component_data_objects(pyo.Constraint)
    duals = {c.name: m.dual[c] for c in constraints} if duals else {}
    return pyo.value(m.objective), values, duals


def test_fast_path_matches_contrib_interface_on_an_lp(toy_lp):
    scenario = Scenario(allow_investment=False)
    objective, values, duals = contrib_solution(toy_lp, scenario)
    built = build_model(toy_lp, scenario)
    solved, highs = solve(built.model, scenario.solver)
    assert solved.status == "optimal"
    assert highs.size["integer_variables"] == 0
    assert solved.objective == pytest.approx(objective, rel=1e-9)
    for var in built.model.component_data_objects(pyo.Var):
        assert var.value == pytest.approx(values[var.name], rel=1e-7, abs=1e-6), var.name
    ours = {con.name: value for con, value in solved.duals.items()}
    assert set(ours) == set(duals)
    for name, dual in duals.items():
        assert ours[name] == pytest.approx(dual, rel=1e-7, abs=1e-6), name


def test_fast_path_matches_contrib_objective_on_a_milp(toy_lp):
    scenario = Scenario()
    objective, values, _ = contrib_solution(toy_lp, scenario, duals=False)
    built = build_model(toy_lp, scenario)
    solved, highs = solve(built.model, scenario.solver)
    assert highs.size["integer_variables"] > 0
    assert solved.objective == pytest.approx(objective, rel=1e-9)
    assert built.model.build["mill_hub", 2030].value == round(values["build[mill_hub,2030]"])
    assert "integer decisions fixed" in solved.duals_note
    assert built.model.balance["cn_city", "flour", 2030] in solved.duals


def test_balance_dual_is_the_marginal_cost_of_demand(toy_lp):
    """Raising demand a little raises the optimal cost by dual x extra demand (an LP)."""
    scenario = Scenario(allow_investment=False)
    built = build_model(toy_lp, scenario)
    solved, _ = solve(built.model, scenario.solver)
    growth = 1 + 1e-5
    expected = sum(
        solved.duals[built.model.balance[key]] * quantity * (growth - 1)
        for key, (quantity, _) in built.data.demand.items()
    )
    more = Scenario(allow_investment=False, demand_growth=growth)
    solved_more, _ = solve(build_model(toy_lp, more).model, more.solver)
    assert solved_more.objective - solved.objective == pytest.approx(expected, rel=1e-6)


def test_infeasible_cap_is_explained_by_its_constraint(toy: Path):
    ds = load_dataset(toy)
    built = build_model(ds, Scenario(carbon_cap=-1.0))
    solved, highs = solve(built.model, SolverOptions())
    assert solved.status == "infeasible"
    assert not solved.ok
    assert any("carbon_cap[2025]" in line for line in solved.explanation)
    elastic = highs._elastic()
    assert elastic == [
        "carbon_cap[2025] must be relaxed by 1",
        "carbon_cap[2030] must be relaxed by 1",
    ]


def test_status_names_cover_every_outcome():
    kinds = highspy.HighsModelStatus
    assert status_name(kinds.kOptimal) == "optimal"
    assert status_name(kinds.kTimeLimit) == "time_limit"
    assert status_name(kinds.kInfeasible) == "infeasible"
    assert status_name(kinds.kUnbounded) == "unbounded"
    assert status_name(kinds.kSolveError) == "error"


@pytest.mark.parametrize("method", ["monolithic", "benders"])
def test_log_file_is_written(toy: Path, tmp_path: Path, method: str):
    """HiGHS's log of one branch and bound, or the decomposition's lines (and its end)."""
    options = SolverOptions(method=method)
    built = build_model(load_dataset(toy), Scenario(solver=options))
    log = tmp_path / "run" / "highs.log"
    solved, _ = solve(built.model, options, log)
    assert solved.status == "optimal"
    text = log.read_text()
    assert "HiGHS" in text
    if method == "benders":
        assert "Benders decomposition" in text and "root" in text
        assert text.splitlines()[-1].startswith("optimal: objective")


def test_in_place_bound_change_equals_a_rebuild_without_the_link(toy: Path):
    """What-if on the built model: closing a link by its flow bounds and re-solving gives the
    optimum of a model built without that link (the N-1 re-solve of the twin side)."""
    ds = load_dataset(toy)
    scenario = Scenario()
    built = build_model(ds, scenario)
    _, highs = solve(built.model, scenario.solver)
    for key in built.model.flow:
        if key[0] == "hub_city_rail":
            highs.set_bounds(built.model.flow[key], 0.0, 0.0)
    reopt = highs.solve(scenario.solver)
    closed = Scenario(closed_links=frozenset({"hub_city_rail"}))
    rebuilt, _ = solve(build_model(ds, closed).model, closed.solver)
    assert reopt.status == rebuilt.status == "optimal"
    assert reopt.objective == pytest.approx(rebuilt.objective, rel=1e-9)
    assert built.model.flow["hub_city_road", "flour", 2025].value == pytest.approx(80_000)


def test_columns_carry_each_variables_domain_and_bounds():
    """Integrality is asked once per domain and bounds are read a column at a time: both
    must still say, column by column, what each variable says."""
    from twin.solve import HighsModel

    m = pyo.ConcreteModel()
    m.b = pyo.Var([1, 2], domain=pyo.Binary)
    m.n = pyo.Var([1, 2], domain=pyo.NonNegativeIntegers, bounds=lambda _, i: (0, 3 * i))
    m.x = pyo.Var([1, 2, 3], domain=pyo.Reals)
    m.x[2].setlb(-1.5)
    m.x[3].setub(4.0)
    m.y = pyo.Var(domain=pyo.NonNegativeReals)
    m.y.fix(2.0)
    m.c = pyo.Constraint(expr=sum(m.b.values()) + sum(m.n.values()) + sum(m.x.values()) + m.y <= 9)
    m.objective = pyo.Objective(expr=sum(m.x.values()))
    for relax in (False, True):
        model = HighsModel(m, relax=relax)
        lp = model.highs.getLp()
        names = [v.name for v in model.columns]  # the objective's x first, as Pyomo numbers
        assert names == ["x[1]", "x[2]", "x[3]", "b[1]", "b[2]", "n[1]", "n[2]"]  # y is fixed
        assert list(model.integer) == [v.is_integer() and not relax for v in model.columns]
        inf = highspy.kHighsInf
        expected = [
            (-inf if lo is None else lo, inf if up is None else up)
            for lo, up in (v.bounds for v in model.columns)
        ]
        assert list(zip(lp.col_lower_, lp.col_upper_, strict=True)) == expected
        bounds = dict(zip(names, expected, strict=True))
        assert bounds["n[2]"] == (0, 6) and bounds["x[2]"] == (-1.5, inf)
        assert bounds["x[3]"] == (-inf, 4.0) and bounds["b[1]"] == (0, 1)
        assert sum(model.integer) == (0 if relax else 4)


def _hard_mip() -> highspy.Highs:
    """OR-Library capa at capacity 8,000 in its textbook form: seconds to close."""
    from benchmarks import peers
    from twin.orlib import ORLIB_DIR, read_cflp

    made = []
    original = peers.new_highs
    peers.new_highs = lambda: made.append(original()) or made[-1]
    try:
        peers.textbook_cflp(read_cflp(ORLIB_DIR / "capa.txt", 8000), 0.0, 0.0)
    finally:
        peers.new_highs = original
    return made[0]


@pytest.mark.parametrize("mip", [True, False])
def test_a_solve_in_place_gets_its_own_time_limit_whatever_ran_before(mip: bool):
    """HiGHS 1.16 counts an LP's time limit over every solve of its instance, a MIP's from
    the start of its own solve: each needs its own rule, or a MIP re-solved in place runs
    past its limit by the time of the solves before it (a Benders master MILP ran 60 s
    late) and an LP after enough re-solves gets no time at all."""
    highs = _hard_mip()
    if not mip:  # its LP relaxation: a second or two on its own
        n = highs.getNumCol()
        highs.changeColsIntegrality(n, np.arange(n, dtype=np.int32), np.zeros(n, np.int32))
    # a MIP stops at its next check of the clock: on a busy machine 1 s after its limit of
    # 0.5 s (once in CI), so its first solve is long enough to tell that from a lengthening
    first = 4.0 if mip else 2.0
    for limit in (first, 0.5):
        highs.clearSolver()
        limit_time(highs, limit, mip=mip)
        began = time.perf_counter()
        highs.run()
        seconds = time.perf_counter() - began
        assert highs.getModelStatus() == highspy.HighsModelStatus.kTimeLimit
        assert seconds >= 0.9 * limit  # the limit was not used up by the solve before
        assert seconds < limit + first / 2  # nor lengthened by it (`first` more if it were)


def test_solver_threads_holds_whatever_ran_before_in_the_process(toy: Path):
    """HiGHS sizes one pool of threads per process at its first run and failed any later
    instance that asked another size: after a Benders decomposition (its masters take
    HiGHS's default), a branch and bound with `solver.threads=1` ended in an error, "Not
    Set" (a stochastic run's wait-and-see future that handed over did). At least one of
    the solves after the first asks a size that differs from the pool's."""
    ds = load_dataset(toy)
    objectives = []
    for method, threads in (("benders", 0), ("monolithic", 1), ("monolithic", 2)):
        options = SolverOptions(method=method, threads=threads, mip_gap=1e-6)
        solved, _ = solve(build_model(ds, Scenario(solver=options)).model, options)
        assert solved.status == "optimal", (method, threads, solved.message)
        objectives.append(solved.objective)
    assert objectives == pytest.approx([objectives[0]] * 3, rel=1e-5)


def test_a_start_reaches_each_variable_it_names_wherever_its_component_sits():
    """`start_from` names only the columns of components the start names: a variable in an
    indexed block, with an index, or scalar, gets its value; every other column 0."""
    m = pyo.ConcreteModel()
    m.b = pyo.Block([1, 2])
    for i in (1, 2):
        m.b[i].x = pyo.Var(["a", "b"], domain=pyo.NonNegativeIntegers, bounds=(0, 5))
    m.y = pyo.Var(bounds=(0, 3))
    m.z = pyo.Var(bounds=(0, 3))
    m.c = pyo.Constraint(expr=m.b[1].x["a"] + m.b[2].x["b"] + m.y + m.z >= 1)
    m.o = pyo.Objective(expr=m.b[1].x["a"] + m.y + m.z)
    model = HighsModel(m)
    model.start_from({"b[2].x[b]": 4.0, "y": 1.5, "b[1].x[b]": 2.0})
    start = {v.name: value for v, value in zip(model.columns, model.start, strict=True)}
    assert start == {"b[1].x[a]": 0.0, "b[2].x[b]": 4.0, "y": 1.5, "z": 0.0}


@pytest.mark.parametrize("shift", [0.0, 1e-5])
def test_an_lp_re_solved_in_place_is_solved_again_only_where_it_misses_its_rows(toy_lp, shift):
    """N-1 re-solves a plan's operations LP in place after each closure: a solution that
    misses its rows (as HiGHS 1.16's warm re-solves now and then do) is solved again from
    scratch; one that keeps them is kept, with its basis."""
    model = HighsModel(build_model(toy_lp, Scenario(allow_investment=False)).model)
    assert not model.integer.any()
    options = SolverOptions(method="monolithic")
    first = model.solve(options)
    model.highs = drifting = Drifting(model.highs, shift)
    again = model.solve(options)
    assert drifting.cold == (shift > 0)
    assert again.objective == pytest.approx(first.objective, rel=1e-12)
    values = np.array([v.value for v in model.columns])
    assert not LpRows.of(drifting.highs).missed_by(values)  # what was loaded keeps the rows


def test_only_the_first_highs_instance_points_stdout_away(monkeypatch: pytest.MonkeyPatch):
    """HiGHS prints its banner at the first instance only; pointing the process's stdout
    away for a later one, made on a crossover's thread beside a Benders master, would
    swallow what the main thread prints meanwhile."""
    pointed = []
    monkeypatch.setattr(twin.solve.os, "dup2", lambda *fds: pointed.append(fds))
    monkeypatch.setattr(twin.solve, "BANNER_HIDDEN", threading.Event())
    twin.solve.BANNER_HIDDEN.set()  # an instance was made before
    assert new_highs().getOptionValue("output_flag")[1] is False
    assert pointed == []
    twin.solve.BANNER_HIDDEN.clear()  # the first instance: stdout away, then back
    new_highs()
    assert len(pointed) == 2 and twin.solve.BANNER_HIDDEN.is_set()


@pytest.mark.parametrize("root_lp", ["simplex", "ipm"])
def test_either_root_lp_proves_the_published_optimum(cap41, root_lp: str):
    highs_model = HighsModel(cap41)
    options = SolverOptions(mip_gap=1e-9, method="monolithic", rens=False, root_lp=root_lp)
    result = highs_model.solve(options)
    assert highs_model.highs.getOptionValue("mip_lp_solver")[1] == root_lp
    assert result.status == "optimal"
    assert result.objective == pytest.approx(published_optimum("cap41"), rel=1e-9)
