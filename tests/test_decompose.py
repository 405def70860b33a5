"""Benders decomposition (`solver.method=benders`) reaches the monolithic optimum: exactly on
the toy and on facility location, within the gap on the reference data; `auto` chooses it
only where the operations split; its plan, start, root bound and log are what they claim."""

from __future__ import annotations

import math
import re
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import highspy
import numpy as np
import pyomo.environ as pyo
import pytest
import scipy.sparse as sp

from benchmarks.synthetic import write_synthetic
from twin.alternatives import Direction, objective
from twin.config import compose_config, to_run_inputs
from twin.crossover import Goal
from twin.data import load_dataset
from twin.data.subset import only_countries
from twin.decompose import (
    Best,
    Progress,
    _add_cuts,
    _cross,
    _crossed,
    _distinct,
    _estimates,
    _keep_whole,
    _keeps_rows,
    _kept,
    _master,
    _master_plans,
    _may_keep,
    _neighbours,
    _root_phase,
    _start_plan,
    _stops_at,
    _whole,
    split,
)
from twin.mcnd import MCND_SCENARIO, read_mcnd
from twin.mcnd import to_dataset as mcnd_dataset
from twin.model import build_model
from twin.orlib import ORLIB_DIR, ORLIB_RECOURSE, read_cflp
from twin.orlib import to_dataset as orlib_dataset
from twin.scenario import Scenario, SolverOptions
from twin.solve import DECOMPOSE_GAP, INF, HighsModel, solve

from .conftest import DATA, edited_toy
from .drifting import Drifting
from .test_mcnd import TINY

MONOLITHIC = SolverOptions(time_limit=120, mip_gap=1e-7, method="monolithic")
BENDERS = replace(MONOLITHIC, method="benders")


def both(ds, scenario: Scenario, monolithic: SolverOptions = MONOLITHIC):
    """The monolithic and the Benders solve of one model."""
    results = []
    for options in (monolithic, replace(monolithic, method="benders")):
        built = build_model(ds, replace(scenario, solver=options))
        solved, _ = solve(built.model, options)
        assert solved.status == "optimal", solved.message
        results.append(solved)
    return results


@pytest.mark.parametrize(
    ("name", "keep_period_from"),
    [("toy", 0), ("cap41", 0), ("cap71", 0), ("toy", 1), ("toy", 2)],
)
def test_benders_reaches_the_exact_optimum(tmp_path: Path, name: str, keep_period_from: int):
    if name == "toy":
        ds, scenario = load_dataset(DATA / "toy"), Scenario()
    else:
        ds = orlib_dataset(read_cflp(ORLIB_DIR / f"{name}.txt"), tmp_path / name)
        scenario = ORLIB_RECOURSE
    monolithic, benders = both(ds, scenario, replace(MONOLITHIC, keep_period_from=keep_period_from))
    assert benders.objective == pytest.approx(monolithic.objective, rel=1e-6)
    assert benders.bound <= benders.objective  # never above the plan, LP tolerances or not
    assert "Benders decomposition" in benders.message
    # its work is recorded (run.json's `solver`), as a branch and bound's is: it was 0
    assert benders.simplex_iterations > 0 and benders.nodes >= 1


def test_a_period_is_kept_from_the_chosen_master_on_while_the_gap_is_open(tmp_path: Path):
    """`solver.keep_period_from` k: the masters before k are those of cuts alone (on any
    machine, whatever their count n; no crossovers, whose time limits may differ between
    machines), so for each k up to n the period is kept once, just before the k-th master
    (the gap is still open there), and with k past n never. Read from the decomposition's
    log, one line per MILP master."""
    ds = load_dataset(DATA / "toy")

    def masters(k: int) -> list[str]:
        options = replace(BENDERS, keep_period_from=k, crossover=False)
        log = tmp_path / f"highs_{k}.log"
        solved, _ = solve(build_model(ds, Scenario(solver=options)).model, options, log)
        assert solved.status == "optimal"
        lines = re.findall(r"^(master|subproblem \d+ kept)", log.read_text(), re.MULTILINE)
        return ["kept" if line.endswith("kept") else line for line in lines]

    alone = masters(0)
    n = len(alone)
    assert n >= 2 and alone == ["master"] * n
    for k in range(1, n + 1):
        lines = masters(k)
        assert lines[:k] == ["master"] * (k - 1) + ["kept"] and lines.count("kept") == 1, k
    assert masters(n + 1) == alone


def test_no_period_is_kept_where_it_would_be_the_whole_model(tmp_path: Path):
    """A facility location has one period, so one subproblem: kept whole, the master would
    be the whole model, so its Benders keeps to cuts; the toy's two periods may keep one."""
    ds = orlib_dataset(read_cflp(ORLIB_DIR / "cap41.txt"), tmp_path / "cap41")
    one = split(HighsModel(build_model(ds, ORLIB_RECOURSE).model))
    toy = split(HighsModel(build_model(load_dataset(DATA / "toy"), Scenario()).model))
    assert len(one.subproblems) == 1 and not _may_keep(one)
    assert len(toy.subproblems) == 2 and _may_keep(toy)


def test_benders_plans_pass_the_audit_of_a_run(tmp_path: Path):
    """The decomposed plan is a whole plan: results and KPIs as any run's."""
    from twin.plan import optimise
    from twin.results.audit import audit

    run = optimise(load_dataset(DATA / "toy"), Scenario(solver=BENDERS), "benders")
    assert run.solved.status == "optimal"
    assert audit(run.results.tables, run.results.cost) == []


def test_benders_meets_the_monolithic_plan_within_the_gap_on_the_reference():
    """At a 1 % gap each method's plan costs no less than the other's bound."""
    ds = load_dataset(DATA / "eaeu_china")
    monolithic, benders = both(ds, Scenario(), replace(MONOLITHIC, mip_gap=0.01))
    assert benders.objective >= monolithic.bound * (1 - 1e-9)
    assert monolithic.objective >= benders.bound * (1 - 1e-9)


def test_operations_split_into_one_subproblem_per_period():
    ds = load_dataset(DATA / "eaeu_china")
    model = HighsModel(build_model(ds, Scenario()).model)
    parts = split(model)
    periods = set()
    for sub in parts.subproblems:
        names = [model.columns[j].name for j in sub.columns]
        years = {re.search(r"(\d{4})\]$", name).group(1) for name in names}
        assert len(years) == 1, names[:5]  # no subproblem spans two periods
        periods |= years
    assert periods == {str(p) for p in ds.periods["period"]}
    assert not any(model.integer[j] for sub in parts.subproblems for j in sub.columns)


def test_a_plan_that_cannot_be_operated_is_an_error_not_a_wrong_answer(tmp_path: Path):
    """Without unmet demand, an empty design leaves demand unserved: no complete recourse."""
    path = tmp_path / "tiny.dow"
    path.write_text(TINY)
    ds = mcnd_dataset(read_mcnd(path), tmp_path / "tiny")
    built = build_model(ds, replace(MCND_SCENARIO, solver=BENDERS))
    solved, _ = solve(built.model, BENDERS)
    assert solved.status == "error" and "allow unmet demand" in solved.message


def test_n1_of_a_plan_is_the_same_whether_its_operations_are_solved_whole_or_by_benders():
    """The reference plan keeps integer agglomeration columns once its builds are fixed, so
    N-1 solves them by Benders and then fixes them at the decomposition's plan."""
    from twin.plan import optimise
    from twin.whatif import n_minus_one

    ds = load_dataset(DATA / "eaeu_china")
    scenario = Scenario(solver=replace(MONOLITHIC, mip_gap=0.01))
    investments = optimise(ds, scenario, "plan").results.tables["investments"]
    crossings = sorted(ds.border_crossings["crossing_id"])[:2]
    runs = [
        n_minus_one(ds, replace(scenario, solver=options), investments, "n1", elements=crossings)
        for options in (scenario.solver, replace(scenario.solver, method="benders"))
    ]
    (whole, whole_losses), (split_, split_losses) = runs
    assert split_.results.cost == pytest.approx(whole.results.cost, rel=1e-6)
    for a, b in zip(split_losses, whole_losses, strict=True):
        assert a.element == b.element
        assert a.extra_cost == pytest.approx(b.extra_cost, rel=1e-6, abs=1e-3)


def test_auto_decomposes_only_where_the_operations_split_and_the_gap_allows():
    """Per-period operations split (Benders); a horizon-wide emissions budget couples the
    periods (one branch and bound), as does a gap near the LPs' tolerances."""
    ds = load_dataset(DATA / "toy")
    auto = SolverOptions(time_limit=60, mip_gap=1e-3)
    messages = {}
    for name, scenario in {
        "split": Scenario(solver=auto),
        "budget": Scenario(solver=auto, emissions_budget=1e12),
        "exact": Scenario(solver=replace(auto, mip_gap=1e-7)),
    }.items():
        solved, _ = solve(build_model(ds, scenario).model, scenario.solver)
        assert solved.status == "optimal"
        messages[name] = solved.message
    assert messages["split"].startswith("Benders decomposition")
    assert "Benders" not in messages["budget"] and "Benders" not in messages["exact"]


def test_a_decomposed_plan_costs_what_its_operations_lp_says_and_has_prices():
    """The objective is capex plus the subproblems' optima: re-solving the whole model's LP
    with the plan's integer columns fixed gives the same cost, and its duals are the prices."""
    ds = load_dataset(DATA / "eaeu_china")
    options = replace(BENDERS, mip_gap=0.01)
    built = build_model(ds, Scenario(solver=options))
    solved, highs = solve(built.model, options)
    assert "Benders" in solved.message and solved.bound <= solved.objective
    assert len(solved.duals) == len(highs.rows)
    highs.fix_integers()
    highs.highs.run()
    fixed = highs.highs.getInfo().objective_function_value
    assert fixed == pytest.approx(solved.objective, rel=1e-9)


def test_a_start_that_keeps_the_masters_rows_is_the_first_plan(toy: Path):
    ds = load_dataset(toy)
    optimum, highs = solve(build_model(ds, Scenario(solver=MONOLITHIC)).model, MONOLITHIC)
    start = highs.values()
    model = HighsModel(build_model(ds, Scenario(solver=BENDERS)).model)
    model.start_from(start)
    parts = split(model)
    plan = _start_plan(model, parts)
    assert plan is not None  # the optimum keeps every master row
    builds = [i for i, j in enumerate(parts.master) if model.columns[j].name.startswith("build")]
    broken = dict(start)
    broken[model.columns[parts.master[builds[0]]].name] = 0.5  # not integral
    model.start_from(broken)
    assert _start_plan(model, parts) is None
    model.start_from(start)
    solved, _ = solve(build_model(ds, Scenario(solver=BENDERS)).model, BENDERS, start=start)
    assert solved.objective == pytest.approx(optimum.objective, rel=1e-7)


@pytest.mark.parametrize("name", ["toy", "cap41"])
def test_the_root_phase_bound_is_the_lp_relaxation_at_most(tmp_path: Path, name: str):
    """The root phase's cuts are valid: its bound never passes the LP relaxation of the whole
    model, and it gets within a tenth of the gap of it (or stops on a stall)."""
    if name == "toy":
        ds, scenario = load_dataset(DATA / "toy"), Scenario()
    else:
        ds = orlib_dataset(read_cflp(ORLIB_DIR / f"{name}.txt"), tmp_path / name)
        scenario = ORLIB_RECOURSE
    built = build_model(ds, scenario)
    relaxed = HighsModel(built.model, relax=True)
    relaxed.highs.run()
    lp = relaxed.highs.getInfo().objective_function_value
    model = HighsModel(built.model)
    parts = split(model)
    master = _master(parts)

    def evaluate(point):
        return [sub.solve(point) for sub in parts.subproblems]

    gap = 1e-3
    bound, iterations, _ = _root_phase(
        master, parts, evaluate, math.inf, gap, Progress(None, False)
    )
    assert iterations > 1
    assert bound <= lp * (1 + 1e-9)
    assert bound >= lp * (1 - gap)


def root_phase_master():
    """The reference's decomposition, its master after its root phase, the bound that phase
    proved, and a function evaluating every subproblem at a plan."""
    parts = split(HighsModel(build_model(load_dataset(DATA / "eaeu_china"), Scenario()).model))
    master = _master(parts)

    def evaluate(point):
        return [sub.solve(point) for sub in parts.subproblems]

    bound, _, _ = _root_phase(master, parts, evaluate, math.inf, 1e-3, Progress(None, False))
    return parts, master, bound, evaluate


def first_milp_master():
    """The reference's decomposition, its master solved once as a MILP (to 0.05 %) after its
    root phase, and a function evaluating every subproblem at a plan."""
    parts, master, _, evaluate = root_phase_master()
    master.setOptionValue("mip_rel_gap", 5e-4)
    master.run()
    return parts, master, evaluate


def test_a_master_stops_once_its_bound_proves_the_best_plan():
    """`_stops_at`: while the MILP master runs, the bound HiGHS reports raises the goal's,
    and HiGHS stops once that proves the best plan known, its own gap (5e-4, to its own
    plans) no longer the point. Here the best plan lies 0.1 % above the root phase's bound,
    so the master's root node proves it: the master stops there, short of its own gap."""
    parts, master, root, _ = root_phase_master()
    gap = 1e-3
    goal = Goal(bound=-math.inf, plan=root / (1 - gap), gap=gap)
    master.setOptionValue("mip_rel_gap", 5e-4)
    with _stops_at(master, goal, parts.offset):
        master.run()
    assert master.getModelStatus() == highspy.HighsModelStatus.kInterrupt
    assert goal.closed() and goal.bound >= root * (1 - 1e-9)
    # the bound that stopped it is the goal's: HiGHS's own report, after a stop at the root,
    # has none, and a decomposition reading that would carry on with the gap open
    assert master.getInfo().mip_dual_bound == -math.inf


def test_every_incumbent_of_a_milp_master_is_a_distinct_plan_of_its_rows():
    """Benders evaluates each plan the master's branch and bound found, not only its optimum:
    each must be a plan of the master (integral, within its bounds and rows), the optimum
    first, none twice."""
    parts, master, _ = first_milp_master()
    plans = _master_plans(master, parts)
    assert len(plans) > 1  # else there is nothing to harvest and no test
    plan, estimates = parts.unpack(np.asarray(master.getSolution().col_value))
    assert np.allclose(plans[0][0], plan, atol=1e-6)
    assert np.array_equal(plans[0][1], estimates)
    assert len({plan.tobytes() for plan, _ in plans}) == len(plans)
    rows = parts.matrix[parts.master_rows][:, parts.master]
    low, high = parts.row_lower[parts.master_rows], parts.row_upper[parts.master_rows]
    for plan, estimates in plans:
        integer = plan[parts.integer]
        assert np.array_equal(integer, np.round(integer))
        assert np.all(plan >= parts.lower[parts.master] - 1e-6)
        assert np.all(plan <= parts.upper[parts.master] + 1e-6)
        activity = rows @ plan
        assert np.all(activity >= low - 1e-6 * np.maximum(1, abs(activity)))
        assert np.all(activity <= high + 1e-6 * np.maximum(1, abs(activity)))
        assert len(estimates) == len(parts.subproblems)


def test_a_kept_period_is_priced_exactly_by_the_master_at_its_plans():
    """With `solver.keep_period_from` a MILP master that already holds cuts also takes in
    the operations of the last period (its rows hold the most investments): with its
    investments fixed at a plan, the cost of that period's operations in the master is that
    subproblem's optimum there, not a cut's under-estimate, its theta's cuts no longer
    count, and the other periods are still priced by theirs."""
    parts, master, evaluate = first_milp_master()
    assert _may_keep(parts)  # by default, from the first MILP master
    kept = _kept(parts)
    ds = load_dataset(DATA / "eaeu_china")
    model = HighsModel(build_model(ds, Scenario()).model)
    names = [model.columns[j].name for j in parts.subproblems[kept].columns]
    assert {int(re.search(r"(\d{4})\]$", name).group(1)) for name in names} == {
        max(ds.periods["period"])
    }
    plans = [plan for plan, _ in _master_plans(master, parts)[:3]]
    assert len(plans) == 3
    estimated = _estimates(master, parts, plans)  # by cuts alone
    _keep_whole(master, parts)
    assert parts.kept == kept
    columns = np.arange(parts.width, dtype=np.int32)
    operations = slice(parts.width + len(parts.subproblems), None)
    others = np.arange(len(parts.subproblems)) != kept
    short = []  # whether the kept period's cuts under-estimated its cost at each plan
    for plan, estimates in zip(plans, estimated, strict=True):
        tied = np.zeros(parts.width)
        tied[parts.tie] = plan
        master.changeColsBounds(parts.width, columns, tied, tied)
        master.run()
        assert master.getModelStatus() == highspy.HighsModelStatus.kOptimal
        values = np.asarray(master.getSolution().col_value)
        own, _, _ = parts.subproblems[kept].solve(plan)
        short.append(estimates[kept] * parts.scale < own * (1 - 1e-6))
        assert parts.cost[parts.subproblems[kept].columns] @ values[operations] == pytest.approx(
            own, rel=1e-7
        )
        (after,) = _estimates(master, parts, [plan])
        assert after[others] == pytest.approx(estimates[others], rel=1e-9)
        investments = parts.cost[parts.master] @ plan
        objective = master.getInfo().objective_function_value
        priced = investments + estimates[others].sum() * parts.scale + own
        assert objective == pytest.approx(priced, rel=1e-7)
        assert len(parts.unpack(values)[1]) == len(parts.subproblems)
    assert any(short)  # else the kept operations would change nothing here
    before, count = master.getNumRow(), len(parts.subproblems)
    added = _add_cuts(master, parts, evaluate(plans[0]), plans[0], plans[0], np.full(count, -INF))
    lp = master.getLp()
    a = lp.a_matrix_
    matrix = sp.csc_matrix((a.value_, a.index_, a.start_), shape=(lp.num_row_, lp.num_col_))
    cuts = matrix.tocsr()[before:, parts.width : parts.width + count].tocoo()
    assert added == count - 1 and sorted(cuts.col) == [s for s in range(count) if s != kept]


def test_a_crossover_of_a_masters_plans_is_a_better_plan_of_the_model_priced_whole():
    """`solver.crossover`: the whole model searched where the MILP master's plans disagree
    gives a plan of the model (integral, within the range of those plans and the master's
    rows) whose operations the subproblems price at the whole model's own cost, cheaper
    than every plan of the master (which its cuts priced)."""
    parts, master, evaluate = first_milp_master()
    plans = [plan for plan, _ in _master_plans(master, parts)]
    best = min((Best.of(parts, plan, evaluate(plan)) for plan in plans), key=lambda b: b.objective)
    whole = _whole(parts)
    goal = Goal(parts.offset + master.getInfo().mip_dual_bound, best.objective, 1e-3)
    with ThreadPoolExecutor(max_workers=1) as beside:
        crossing = _cross(whole, parts, plans, best, goal, 60.0, beside)
        taken = _crossed(crossing, whole, master, parts, evaluate, Progress(None, False))
    ((crossed, _, solved),) = taken  # one plan, priced by the subproblems
    integer = np.array([plan[parts.integer] for plan in plans])
    assert whole.free(integer) > 0
    assert np.all(crossed[parts.integer] >= integer.min(axis=0))
    assert np.all(crossed[parts.integer] <= integer.max(axis=0))
    assert np.array_equal(crossed[parts.integer], np.round(crossed[parts.integer]))
    assert _keeps_rows(parts, crossed)
    priced = Best.of(parts, crossed, solved).objective
    assert priced == pytest.approx(whole.objective, rel=1e-7)
    assert priced < best.objective * (1 - 1e-5)


def test_a_crossover_prices_its_plans_by_their_columns_not_by_highss_report(tmp_path: Path):
    """On this coalition of the reference data (at the default 0.2 %) HiGHS reported the
    first crossover's start (the best plan) 0.08 % under its cost, as a better plan: taken
    at its word, the goal closed, every later master stopped at once, and the run ended at
    the time limit with 0.23 %. Priced by its columns, no crossover plan is cheaper than
    the run's own best, and the run is proven."""
    members = {"BLR", "CHN", "KAZ", "KGZ", "RUS"}
    ds, scenario = to_run_inputs(compose_config([]))
    built = build_model(only_countries(ds, members), scenario.for_countries(members))
    log = tmp_path / "highs.log"
    solved, _ = solve(built.model, scenario.solver, log)
    crossed = re.findall(r"^crossover .*: plan (\S+)", log.read_text(), re.MULTILINE)
    assert crossed  # else this run tells nothing about crossovers
    assert all(float(plan) >= solved.objective * (1 - 1e-9) for plan in crossed)
    assert solved.status == "optimal" and solved.gap <= scenario.solver.mip_gap


def test_a_crossovers_plan_becomes_the_best_and_the_run_proves_it(tmp_path: Path):
    """`green_hydrogen` at 0.1 %, by default: a master's plans leave the gap open and a
    crossover of them, beside the next master (its line between theirs), finds a better
    plan. That plan is among the best at that next master (its line in the log), the run's
    plan is no dearer than any crossover's, and it is proven, its results passing the audit
    of a run. Without crossovers no line says one ran."""
    from twin.plan import optimise
    from twin.results.audit import audit

    def run(crossover: bool) -> tuple[object, str]:
        overrides = ["scenario=green_hydrogen", "solver.mip_gap=0.001"]
        overrides.append(f"solver.crossover={str(crossover).lower()}")
        ds, scenario = to_run_inputs(compose_config(overrides))
        log = tmp_path / f"highs_{crossover}.log"
        return optimise(ds, scenario, "crossover", log), log.read_text()

    plan, text = run(True)
    assert plan.solved.status == "optimal" and "Benders" in plan.solved.message
    assert audit(plan.results.tables, plan.results.cost) == []
    pattern = r"^master +(\d+) .*\ncrossover .*: plan (\S+).*\nmaster +(\d+) .* best (\S+)"
    crossed = re.findall(pattern, text, re.MULTILINE)
    assert crossed  # else this run tells nothing about crossovers
    for before, found, beside, best in crossed:
        assert int(beside) == int(before) + 1
        assert float(best) <= float(found) * (1 + 1e-9)
        assert plan.solved.objective <= float(found) * (1 + 1e-9)
    assert "crossover" not in run(False)[1]


def test_a_masters_neighbours_are_one_step_away_and_its_estimates_are_its_cuts():
    """Each neighbour moves one integer investment on which the master's plans disagree by
    one step; the master's estimate at its own plan is its theta, and at a neighbour whose
    cuts are added, that neighbour's own cost (a cut is tight at its point), which no
    estimate elsewhere exceeds (cuts under-estimate)."""
    parts, master, evaluate = first_milp_master()
    found = _master_plans(master, parts)
    plans = [plan for plan, _ in found]
    first, estimates = found[0]
    near = _neighbours(parts, plans)
    contested = {j for j in np.flatnonzero(parts.integer) if any(p[j] != first[j] for p in plans)}
    assert near and contested
    for plan in near:
        moved = np.flatnonzero(plan != first)
        assert len(moved) == 1 and moved[0] in contested
        assert abs(plan[moved[0]] - first[moved[0]]) == 1
        assert parts.lower[parts.master][moved[0]] <= plan[moved[0]]
        assert plan[moved[0]] <= parts.upper[parts.master][moved[0]]
    assert all(_keeps_rows(parts, plan) for plan in plans)
    assert not all(_keeps_rows(parts, plan) for plan in near)  # agglomeration segments
    (own,) = _estimates(master, parts, [first])
    assert own == pytest.approx(estimates, rel=1e-6, abs=1e-6)
    solved = evaluate(near[0])
    _add_cuts(master, parts, solved, near[0], near[0], np.full(len(parts.subproblems), -INF))
    costs = np.array([value for value, _, _ in solved]) / parts.scale
    at_near, at_first = _estimates(master, parts, [near[0], first])
    assert at_near == pytest.approx(costs, rel=1e-6, abs=1e-6)
    true = np.array([value for value, _, _ in evaluate(first)]) / parts.scale
    assert np.all(at_first <= true + 1e-6 * np.maximum(1, np.abs(true)))


def test_neighbours_are_cut_from_their_master_on_while_the_gap_is_open(tmp_path: Path):
    """`green_hydrogen` at 0.1 % by Benders without crossovers: by default no master
    evaluates its neighbours,
    and the last one's own plans close the gap. With `solver.neighbours_from` k the masters
    before k are the default's (on any machine, whatever their count), so from the last
    but one master its neighbours are evaluated there (the gap is still open), and from the
    last master none are (its own plans close the gap). Read from the decomposition's log,
    one line per MILP master."""

    def neighbours(k: int) -> list[int]:
        overrides = [
            "scenario=green_hydrogen",
            "solver.mip_gap=0.001",
            "solver.method=benders",
            f"solver.neighbours_from={k}",
            "solver.crossover=false",  # which closes the gap after the first master
        ]
        ds, scenario = to_run_inputs(compose_config(overrides))
        log = tmp_path / f"highs_{k}.log"
        solved, _ = solve(build_model(ds, scenario).model, scenario.solver, log)
        assert solved.status == "optimal"
        lines = re.findall(r"^master\s+\d+ .*  neighbours (\d+)", log.read_text(), re.MULTILINE)
        return [min(int(count), 1) for count in lines]

    default = neighbours(0)
    masters = len(default)
    assert masters >= 2 and default == [0] * masters
    assert neighbours(masters - 1)[: masters - 1] == [0] * (masters - 2) + [1]
    assert neighbours(masters) == [0] * masters


def test_the_first_milp_master_does_not_start_from_the_root_phases_lp_plan():
    """Found by the property test: HiGHS 1.16 took the last LP master's fractional plan as a
    MIP start, repaired it, and reported it optimal at an objective without presolve's
    offset; Benders then stopped at a 42 % gap with a plan 33 % dearer than the optimum."""
    ds = edited_toy(
        {
            ("demand.csv", 2, "quantity"): 1,
            ("demand.csv", 3, "quantity"): 5175,
            ("demand.csv", 2, "unmet_penalty"): 0.0,
            ("supply.csv", 2, "max_quantity"): 0,
            ("supply.csv", 2, "cost_per_unit"): 44.0,
            ("border_crossings.csv", 2, "capacity"): 5062,
            ("border_crossings.csv", 3, "capacity"): 17,
            ("sites.csv", 2, "existing_modules"): 0,
        }
    )
    monolithic, benders = both(ds, Scenario(carbon_price=50.0), replace(MONOLITHIC, mip_gap=1e-4))
    assert benders.objective == pytest.approx(monolithic.objective, rel=1e-4)


@pytest.mark.parametrize("rule", ["root", "stall"])
def test_auto_hands_a_stalled_decomposition_over_to_one_branch_and_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rule: str
):
    """On a synthetic network one branch and bound proves a 0.5 % gap in seconds, while the
    decomposition's root phase needs more LP masters than HAND_OVER_ROOT and, with that rule
    lifted, its MILP masters by cuts alone stop raising the bound (with the last period
    kept whole, or with crossovers of their plans, the first of them proves the gap).
    Either way `auto` hands over: the plan is the whole model's within the gap, from the
    decomposition's best plan."""
    import twin.decompose

    if rule == "stall":
        monkeypatch.setattr(twin.decompose, "HAND_OVER_ROOT", 10_000)
    ds = load_dataset(write_synthetic(tmp_path / "synthetic_2", 2))
    options = SolverOptions(time_limit=120, mip_gap=0.005, keep_period_from=0, crossover=False)
    whole_options = replace(options, method="monolithic")
    whole, _ = solve(build_model(ds, Scenario(solver=whole_options)).model, whole_options)
    log = tmp_path / "highs.log"
    auto, _ = solve(build_model(ds, Scenario(solver=options)).model, options, log_file=log)
    assert auto.status == "optimal"
    assert "by one branch and bound, after Benders" in auto.message
    assert auto.objective >= whole.bound * (1 - 1e-9)
    assert whole.objective >= auto.bound * (1 - 1e-9)
    decomposition = (tmp_path / "highs_benders.log").read_text()
    reason = {"root": "its root phase did not converge", "stall": "barely raised its bound"}
    assert "hand over to one branch and bound: " in decomposition
    assert reason[rule] in decomposition and reason[rule] in auto.message
    # the work of both: more simplex iterations than HiGHS's own log counts
    counted = int(re.search(r"LP iterations\s+(\d+)", log.read_text()).group(1))
    assert auto.simplex_iterations > counted
    text = log.read_text()  # HiGHS's own log, the decomposition's moved aside
    assert "HiGHS" in text and "master" not in text
    if rule == "stall":  # the branch and bound starts from the decomposition's best plan
        best = min(float(value) for value in re.findall(r"best (\S+)", decomposition))
        start = re.search(r"MIP start solution is feasible: objective value is (\S+)", text)
        assert start and float(start.group(1)) == pytest.approx(best, rel=1e-6)
        assert auto.objective <= best * (1 + 1e-9)


@pytest.mark.parametrize(("proved", "status"), [(99.95, "optimal"), (90.0, "time_limit")])
def test_a_hand_over_keeps_the_decompositions_bound_where_the_branch_and_bound_has_less(
    monkeypatch: pytest.MonkeyPatch, toy: Path, proved: float, status: str
):
    """A branch and bound stopped early (here: a plan at 100, bound 50) reports the better
    bound the decomposition had proved, and the plan is proven where that closes the gap."""
    from twin.decompose import HandOver
    from twin.solve import SolveResult

    model = HighsModel(build_model(load_dataset(toy), Scenario()).model)
    stopped = SolveResult("time_limit", "stopped", 100.0, 50.0, 0.5, has_solution=True)
    monkeypatch.setattr(HighsModel, "_branch_and_bound", lambda *_: replace(stopped))
    options = SolverOptions(time_limit=60, mip_gap=1e-3)
    result = model._handed_over(HandOver("stalled", None, proved), 1.0, options, None)
    assert result.bound == proved
    assert result.gap == pytest.approx((100.0 - proved) / 100.0)
    assert result.status == status


def test_a_subproblem_solution_that_misses_its_rows_is_solved_again_from_scratch(toy: Path):
    model = HighsModel(build_model(load_dataset(toy), Scenario(solver=BENDERS)).model)
    parts = split(model)
    plan = np.zeros(len(parts.master))
    sub = max(parts.subproblems, key=lambda sub: len(sub.rows))
    sub.solve(plan)  # the next solve is warm, from its basis
    sub.highs = Drifting(sub.highs)
    value, _, x = sub.solve(plan)
    assert sub.highs.cold  # the warm solution was refused
    shift = sub.coupling @ plan[sub.links]
    activity = sub.matrix @ x
    assert np.all(activity >= sub.lower - shift - 1e-7 * np.maximum(1, abs(activity)))
    assert np.all(activity <= sub.upper - shift + 1e-7 * np.maximum(1, abs(activity)))
    assert value == pytest.approx(float(model.highs.getLp().col_cost_[sub.columns] @ x), rel=1e-9)


@pytest.mark.parametrize(
    ("gaps", "closing"),
    [
        # the 500-future root phase at a quarter of 120 s: 2.4e9 at 15 s, 2.2e8 at 31 s
        ([(10.0, 1.3e10), (15.0, 2.4e9), (19.0, 8.1e8), (22.0, 4.7e8), (31.0, 2.2e8)], True),
        ([(10.0, 5e9), (20.0, 4.9e9), (31.0, 4.8e9)], False),  # barely moving
        ([(10.0, 5e9), (31.0, 5e9)], False),  # not at all
        ([(10.0, 5e9), (31.0, 1e8)], True),  # within the target already
    ],
)
def test_a_root_phase_is_given_time_only_while_its_gap_shrinks_fast_enough(gaps, closing):
    """Target 0.2 % of 6.75e10 (1.35e8) with 89 s left: at its recent geometric rate."""
    from twin.decompose import _closing

    assert _closing(gaps, 0.0, 1.35e8, deadline=120.0) is closing


def test_a_master_solution_a_hair_outside_its_bounds_is_a_plan_within_them(toy: Path):
    """An LP master keeps its column bounds only to its tolerance; a plan passed on to the
    subproblems must keep them exactly (a build of -4.7e-11 left one infeasible)."""
    model = HighsModel(build_model(load_dataset(toy), Scenario(solver=BENDERS)).model)
    parts = split(model)
    values = np.zeros(parts.width + len(parts.subproblems))
    values[: parts.width] = -1e-9  # every investment a hair below its lower bound of 0
    plan, thetas = parts.unpack(values)
    assert np.all(parts.lower[parts.master] == 0)  # the toy's investments start at 0
    assert np.all(plan >= 0) and len(thetas) == len(parts.subproblems)


def test_a_plan_without_a_bound_has_no_gap_not_an_infinite_one(toy: Path):
    """Out of time before any master: the plan is kept, its gap unknown (None, as HiGHS's
    own result has it), never `inf %` in the summary."""
    from twin.decompose import Best, _result

    model = HighsModel(build_model(load_dataset(toy), Scenario(solver=BENDERS)).model)
    parts = split(model)
    plan = np.zeros(len(parts.master))
    best = Best.of(parts, plan, [sub.solve(plan) for sub in parts.subproblems])
    result = _result(model, parts, best, -math.inf, 1e-3, 0.0)
    assert result.has_solution and result.status == "time_limit"
    assert result.gap is None and result.objective == best.objective


def _dual_objective(lp, lower: np.ndarray, upper: np.ndarray, row_dual: np.ndarray) -> float:
    """The LP dual's objective at row duals y (reduced costs d = c - A'y): each y_i and d_j
    times the bound it prices; -inf where one prices an infinite bound (y is infeasible)."""
    matrix = sp.csc_matrix(
        (lp.a_matrix_.value_, lp.a_matrix_.index_, lp.a_matrix_.start_),
        shape=(lp.num_row_, lp.num_col_),
    )
    reduced = np.asarray(lp.col_cost_) - matrix.T @ row_dual
    total = lp.offset_
    for duals, low, high in (
        (row_dual, np.asarray(lp.row_lower_), np.asarray(lp.row_upper_)),
        (reduced, lower, upper),
    ):
        priced = np.where(duals > 0, low, high)
        finite = np.abs(priced) < INF
        tolerance = 1e-7 * max(1.0, float(np.abs(duals).max(initial=0.0)))
        if np.any(np.abs(duals[~finite]) > tolerance):  # a dual on a bound that is not there
            return -math.inf
        total += float(duals[finite] @ priced[finite])
    return total


def test_a_decomposed_plans_prices_are_an_optimal_dual_of_its_fixed_lp():
    """The prices come block by block (each subproblem at the plan, the rest from a small
    LP), not from a re-solve of the whole LP: they must still be an optimal dual of the
    whole LP with the plan's integer columns fixed (its dual objective is its optimum)."""
    from twin.decompose import Best, _prices, benders

    ds = load_dataset(DATA / "eaeu_china")
    options = replace(BENDERS, mip_gap=0.01)
    model = HighsModel(build_model(ds, Scenario(solver=options)).model)
    parts = split(model)
    benders(model, parts, options)
    plan = np.array([model.columns[j].value for j in parts.master], dtype=float)
    best = Best.of(parts, plan, [sub.solve(plan) for sub in parts.subproblems])
    prices = _prices(parts, best)
    assert prices is not None  # no continuous master column in an operations row
    lp = model.highs.getLp()
    lower, upper = np.array(lp.col_lower_), np.array(lp.col_upper_)
    fixed = np.flatnonzero(model.integer)
    lower[fixed] = upper[fixed] = np.round([model.columns[j].value for j in fixed])
    model.fix_integers()
    model.highs.run()
    optimum = model.highs.getInfo().objective_function_value
    whole = np.asarray(model.highs.getSolution().row_dual)
    assert _dual_objective(lp, lower, upper, whole) == pytest.approx(optimum, rel=1e-7)
    assert _dual_objective(lp, lower, upper, prices) == pytest.approx(optimum, rel=1e-7)


def test_only_exact_copies_of_an_earlier_row_are_dropped_from_the_master():
    """A copy has the same coefficients on the same columns (in whatever order they are
    stored, duplicates summed) and the same bounds; a scaled row or other bounds is another
    row."""
    rows = sp.csr_matrix(
        (
            [1.0, 2.0, 2.0, 1.0, 2.0, 4.0, 1.0, 2.0, 1.0, 1.0, 1.0],
            [0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 1],
            [0, 2, 4, 6, 8, 11],
        ),
        shape=(5, 3),
    )
    lower = np.array([0.0, 0.0, 0.0, 1.0, 0.0])
    upper = np.full(5, INF)
    # row 1 is row 0 stored in another order; row 2 is row 0 times 2; row 3 is row 0 with
    # another lower bound; row 4 is row 0 with its 2 on column 1 stored as 1 + 1
    assert _distinct(rows, lower, upper).tolist() == [0, 2, 3]


def _masters_calling(callback):
    """`_master`, each master with `callback` among its HiGHS interrupt callbacks (where
    HiGHS reports the master's bound)."""

    def master(parts):
        highs = _master(parts)
        highs.cbMipInterrupt.subscribe(callback)
        return highs

    return master


def test_ctrl_c_during_a_benders_master_reaches_the_caller(
    ctrl_c_as_in_a_terminal, monkeypatch: pytest.MonkeyPatch
):
    """highspy swallows an exception raised in a callback: Ctrl-C while a master's HiGHS
    reports its bound would end that master as a solve error, and the decomposition would
    hand back its best plan as if its time had run out (and the run write it)."""
    pressed = []

    def ctrl_c_once(_) -> None:
        if not pressed:
            pressed.append(True)
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr("twin.decompose._master", _masters_calling(ctrl_c_once))
    built = build_model(load_dataset(DATA / "toy"), Scenario(solver=BENDERS))
    with pytest.raises(KeyboardInterrupt):
        solve(built.model, BENDERS)
    assert pressed and signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("method", ["auto", "benders"])
def test_a_master_that_fails_ends_no_decomposition_as_a_time_limit(
    method: str, monkeypatch: pytest.MonkeyPatch
):
    """A HiGHS solve error in a master (here from an exception in its callback, which
    highspy turns into one) ended the decomposition, with its time left, as `time_limit`:
    `auto` now hands the model over to one branch and bound, which proves the optimum;
    `benders` fails and says why."""

    def broken(_) -> None:
        raise RuntimeError("a bug in a callback")

    ds = load_dataset(DATA / "toy")
    exact = solve(build_model(ds, Scenario(solver=MONOLITHIC)).model, MONOLITHIC)[0]
    monkeypatch.setattr("twin.decompose._master", _masters_calling(broken))
    options = replace(BENDERS, method=method, mip_gap=DECOMPOSE_GAP)  # auto decomposes it
    result, _ = solve(build_model(ds, Scenario(solver=options)).model, options)
    assert "MILP master 1 ended in a HiGHS solve error" in result.message
    if method == "auto":
        assert result.status == "optimal" and "one branch and bound" in result.message
        assert result.objective == pytest.approx(exact.objective, rel=DECOMPOSE_GAP)
    else:
        assert result.status == "error" and not result.has_solution


class _FailedMaster:
    """A master whose HiGHS solve ended in an error: its info reports a bound of 0."""

    class _Callbacks:
        def subscribe(self, _) -> None: ...

        def unsubscribe(self, _) -> None: ...

    cbMipInterrupt = _Callbacks()

    def getModelStatus(self):
        return highspy.HighsModelStatus.kSolveError

    def getInfo(self):
        counts = {"simplex_iteration_count": -1, "mip_node_count": -1}
        return type("Info", (), {"mip_dual_bound": 0.0, **counts})()


def test_a_master_that_fails_gives_no_bound():
    """HiGHS ended a master (under a cost cap, a share's negated objective: bounds below 0)
    in a solve error, and its info's bound of 0 was taken as proof of a worse plan."""
    goal = Goal(-1.85e10, -1.79e10, 0.01)
    with _stops_at(_FailedMaster(), goal, 0.0):
        pass
    assert goal.bound == -1.85e10 and not goal.closed()
    parts = split(HighsModel(build_model(load_dataset(DATA / "toy"), Scenario()).model))
    assert parts is not None
    parts.count(_FailedMaster(), mip=True)  # nor any work: its counts are -1
    assert parts.work() == (0, 0)


def test_under_a_cost_cap_a_plan_is_one_only_where_its_cost_keeps_the_cap():
    """The master holds the cap with the thetas under-estimating the operations, so its
    plans may break it: priced by the subproblems, the least-cost plan is a plan worth its
    objective (on investments alone), and one that builds everything it may is none."""
    ds = load_dataset(DATA / "toy")
    least = solve(build_model(ds, Scenario(solver=MONOLITHIC)).model, MONOLITHIC)
    built = build_model(ds, Scenario(cost_cap=least[0].objective * 1.05))
    built.model.objective.deactivate()
    weights = objective(built, Direction("random:0", "min"), {}, 0)
    built.model.direction = pyo.Objective(expr=weights)
    model = HighsModel(built.model)
    model.start_from(least[1].values())
    parts = split(model, cap=model.cost_cap_row())
    assert parts is not None and parts.cap is not None and len(parts.subproblems) > 1
    plan = _start_plan(model, parts)
    kept = Best.of(parts, plan, [sub.solve(plan) for sub in parts.subproblems])
    assert kept.plan is not None
    assert kept.objective == pytest.approx(parts.offset + parts.cost[parts.master] @ plan)
    most = np.minimum(parts.upper[parts.master], 10.0)
    assert Best.of(parts, most, [sub.solve(most) for sub in parts.subproblems]).plan is None
