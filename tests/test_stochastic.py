"""Two-stage stochastic plans (analysis=stochastic): the extensive form against the
deterministic plan, its invariances, the order ws <= rp <= eev, mean-CVaR, and Benders.

The toy's three futures (low, mid, high demand; dearer supply in the high one) make the
plan's worth strictly positive: solved exactly, ws < rp < eev on the toy.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest

from twin.data import load_dataset
from twin.decompose import Best, _master, _may_keep, _start_plan, split
from twin.parallel import ParallelOptions
from twin.plan import PlanError, optimise
from twin.results.audit import audit
from twin.scenario import Scenario, SolverOptions
from twin.solve import HighsModel
from twin.stochastic import (
    Risk,
    _every_future,
    combined_results,
    extensive_form,
    future_model,
    solve_stochastic,
)
from twin.stress import cvar
from twin.uncertainty import Closure, Future, Scope, future_inputs
from twin.worth import (
    drawn_futures,
    expected_value_of_mean_plan,
    mean_future_inputs,
    mean_future_plan,
    relaxed_bounds,
    sampling_note,
    wait_and_see,
    worth,
)

from .builders import link, region, write
from .conftest import DATA, assert_ran, twin_run

EXACT = Scenario(solver=SolverOptions(mip_gap=1e-9))
SERIAL = ParallelOptions(backend="serial")
TOY_FUTURES = [
    Future("low", 0.3, demand=(Scope(0.6),)),
    Future("mid", 0.4),
    Future("high", 0.3, demand=(Scope(1.6),), price=(Scope(1.5),)),
]


@pytest.fixture(scope="module")
def toy():
    return load_dataset(DATA / "toy")


@pytest.mark.parametrize("future", [Future("same", 1.0), TOY_FUTURES[2]])
def test_one_future_of_probability_one_is_the_deterministic_plan(toy, future: Future):
    plan = solve_stochastic(toy, EXACT, [replace(future, probability=1.0)], Risk(), "s")
    ds, scenario = future_inputs(toy, EXACT, future)
    deterministic = optimise(ds, scenario, "d")
    assert plan.solved.status == "optimal"
    assert plan.solved.objective == pytest.approx(deterministic.solved.objective, rel=1e-9)


def test_splitting_a_future_into_two_identical_halves_changes_nothing(toy):
    whole = solve_stochastic(toy, EXACT, TOY_FUTURES, Risk(), "s")
    high = TOY_FUTURES[2]
    halves = [
        *TOY_FUTURES[:2],
        replace(high, name="high_a", probability=0.15),
        replace(high, name="high_b", probability=0.15),
    ]
    split = solve_stochastic(toy, EXACT, halves, Risk(), "s")
    assert split.solved.objective == pytest.approx(whole.solved.objective, rel=1e-9)
    built = whole.runs[0].results.tables["investments"]["units_built"].sum()
    assert split.runs[0].results.tables["investments"]["units_built"].sum() == built


def test_every_future_operates_the_same_investments_and_costs_add_up(toy):
    plan = solve_stochastic(toy, EXACT, TOY_FUTURES, Risk(), "s")
    investments = [run.results.tables["investments"] for run in plan.runs]
    for other in investments[1:]:
        pd.testing.assert_frame_equal(other, investments[0])
    p = np.array([f.probability for f in TOY_FUTURES])
    costs = np.array([run.results.cost for run in plan.runs])
    assert plan.expected_cost == pytest.approx(p @ costs, rel=1e-12)
    assert plan.expected_cost == pytest.approx(pyo.value(plan.highs.model.expected_cost))
    for run in plan.runs:  # each future's cost, as its own block of the model says
        assert run.solved.objective == run.results.cost
        assert run.results.cost == pytest.approx(pyo.value(run.built.model.total_cost), rel=1e-12)
    assert plan.solved.objective == pytest.approx(p @ costs, rel=1e-9)


def test_wait_and_see_below_the_stochastic_plan_below_the_mean_plan(toy):
    plan = solve_stochastic(toy, EXACT, TOY_FUTURES, Risk(), "s")
    ws = wait_and_see(toy, EXACT, TOY_FUTURES, SERIAL)
    eev = expected_value_of_mean_plan(toy, EXACT, TOY_FUTURES, SERIAL, "s")
    figures = worth(plan, ws, eev, Risk())
    assert figures["ws"] < figures["rp"] < figures["eev"]  # strict on this toy
    assert figures["evpi"] > 0 and figures["vss"] > 0
    assert ws["ws_futures"] == len(TOY_FUTURES) and ws["ws_se"] == 0  # none sampled


def test_a_sampled_ws_is_the_mean_relaxation_plus_the_drawn_futures_root_gaps(toy):
    """Beyond `most` futures, ws is every future's LP relaxation, weighted by probability,
    plus the mean over the draws of each drawn future's own optimum less its relaxation
    (`twin.worth`): checked against each future solved on its own."""
    p = np.array([f.probability for f in TOY_FUTURES])
    drawn, weights = drawn_futures(p, 2, seed=1)
    assert len(set(drawn)) == 2 and weights.tolist() == [0.5, 0.5]  # two futures, not one
    relaxed = []
    for future in TOY_FUTURES:
        model = HighsModel(future_model(toy, EXACT, future).model, relax=True)
        model.highs.run()
        relaxed.append(model.highs.getInfo().objective_function_value)
    gaps, rooms = [], []  # each drawn future's optimum, and its bound, less its relaxation
    for i in drawn:
        own = optimise(*future_inputs(toy, EXACT, TOY_FUTURES[i]), "own")
        gaps.append(own.solved.objective - relaxed[i])
        rooms.append(own.solved.bound - relaxed[i])
    ws = wait_and_see(toy, EXACT, TOY_FUTURES, SERIAL, most=2, seed=1)
    assert (ws["ws_draws"], ws["ws_futures"]) == (2, 2)
    assert min(gaps) >= 0 and max(gaps) > 0  # a relaxation bounds its optimum: here below
    base = p @ relaxed
    assert ws["ws_relaxed"] == pytest.approx(base, rel=1e-9)
    assert ws["ws"] == pytest.approx(base + np.mean(gaps), rel=1e-8)
    assert ws["ws_bound"] == pytest.approx(base + np.mean(rooms), rel=1e-8)
    assert ws["ws_se"] == pytest.approx(np.std(gaps, ddof=1) / np.sqrt(2), rel=1e-6)


@pytest.mark.parametrize("workers", [2, 3])  # chunks of 2 and 1, and of 1 each
def test_relaxations_line_up_with_their_futures_in_every_chunking(toy, workers: int):
    serial, _ = relaxed_bounds(toy, EXACT, TOY_FUTURES, SERIAL)
    pooled, problems = relaxed_bounds(toy, EXACT, TOY_FUTURES, ParallelOptions("joblib", workers))
    assert not problems and pooled.tolist() == serial.tolist()
    for future, bound in zip(TOY_FUTURES, serial, strict=True):
        own = optimise(*future_inputs(toy, EXACT, future), "own").solved.objective
        assert bound <= own * (1 + 1e-9)  # a relaxation bounds its own optimum
    assert len(set(serial.tolist())) == len(TOY_FUTURES)  # each its own future's


def test_a_failed_relaxation_is_named_and_no_ws_is_guessed(toy, monkeypatch):
    def relaxed(task):
        return [
            ("Time limit reached", None) if f.name == "mid" else ("Optimal", 1.0) for f in task[2]
        ]

    asked = []
    monkeypatch.setattr("twin.worth._relaxed", relaxed)
    monkeypatch.setattr("twin.worth._own_optimum", asked.append)
    ws = wait_and_see(toy, EXACT, TOY_FUTURES, SERIAL, most=2, seed=1)
    assert ws["ws"] is None and ws["ws_relaxed"] is None and not asked  # no MILP solved
    assert ws["ws_note"] == "no LP relaxation for future mid: Time limit reached"
    note = sampling_note({"futures": 3, **ws}, "USD")
    assert note == "no ws: no LP relaxation for future mid: Time limit reached"


def test_a_drawn_futures_bound_below_its_relaxation_counts_as_its_relaxation(toy, monkeypatch):
    """A MILP stopped early may report a bound below its own LP relaxation; both bound the
    future's optimum, so the higher one counts in ws_bound."""

    def own(task):
        return {"status": "time_limit", "objective": 12.0, "bound": 5.0}  # relaxation 10

    monkeypatch.setattr("twin.worth._relaxed", lambda task: [("optimal", 10.0) for _ in task[2]])
    monkeypatch.setattr("twin.worth._own_optimum", own)
    ws = wait_and_see(toy, EXACT, TOY_FUTURES, SERIAL, most=2, seed=1)
    assert (ws["ws_relaxed"], ws["ws"], ws["ws_bound"]) == (10.0, 12.0, 10.0)
    assert ws["ws_statuses"] == ["time_limit"]


def test_draws_all_on_one_future_give_no_standard_error_and_the_note_says_so(toy):
    shares = (0.01, 0.98, 0.01)
    futures = [replace(f, probability=q) for f, q in zip(TOY_FUTURES, shares, strict=True)]
    p = np.array([f.probability for f in futures])
    seed = next(s for s in range(100) if set(drawn_futures(p, 2, s)[0]) == {1})
    ws = wait_and_see(toy, EXACT, futures, SERIAL, most=2, seed=seed)
    assert (ws["ws_draws"], ws["ws_futures"], ws["ws_se"]) == (2, 1, None)
    record = {"futures": 3, "evpi": 1.0, **ws}
    assert "standard error unknown (no spread among the draws)" in sampling_note(record, "USD")
    assert sampling_note(record | {"evpi": None}, "USD").startswith("ws is estimated")
    assert sampling_note(record | {"ws": None}, "USD") == ""  # no ws: nothing estimated


def test_futures_are_drawn_by_their_probability_unless_there_are_few_enough():
    p = np.array([0.5, 0.2, 0.1, 0.1, 0.05, 0.05])
    counts = np.zeros(len(p))
    for seed in range(2000):
        drawn, weights = drawn_futures(p, 5, seed)
        assert len(drawn) == 5 and weights.sum() == pytest.approx(1)
        counts += np.bincount(drawn, minlength=len(p))
    assert counts / counts.sum() == pytest.approx(p, abs=0.02)  # 10,000 draws: se <= 0.005
    for most in (0, 6, 10):  # every future, each at its probability
        drawn, weights = drawn_futures(p, most, 0)
        assert drawn.tolist() == list(range(len(p))) and weights.tolist() == p.tolist()


def test_the_mean_futures_plan_starts_the_solve_at_its_expected_cost_eev(toy):
    """Its investments become every future's (the master's rows hold), and the decomposition
    prices that first plan at its expected cost over the futures: eev, which `stress`
    computes on its own by operating the plan in each future."""
    mean = mean_future_plan(toy, EXACT, TOY_FUTURES, "s")
    eev = expected_value_of_mean_plan(toy, EXACT, TOY_FUTURES, SERIAL, "s", mean)
    ef, _ = extensive_form(toy, EXACT, TOY_FUTURES, Risk())
    model = HighsModel(ef)
    model.start_from(_every_future(mean.highs.values(), len(TOY_FUTURES)))
    parts = split(model)
    plan = _start_plan(model, parts)
    assert plan is not None and plan.any()  # the mean plan invests
    first = Best.of(parts, plan, [sub.solve(plan) for sub in parts.subproblems])
    assert first.objective == pytest.approx(eev["eev"], rel=1e-9)


def test_a_stochastic_solve_out_of_time_at_once_still_has_the_mean_futures_plan(toy):
    """No time at all for the decomposition: its plan is the start, never worse than eev."""
    rushed = replace(EXACT, solver=SolverOptions(mip_gap=1e-3, time_limit=0.0))
    mean = mean_future_plan(toy, EXACT, TOY_FUTURES, "s")
    eev = expected_value_of_mean_plan(toy, EXACT, TOY_FUTURES, SERIAL, "s", mean)
    plan = solve_stochastic(toy, rushed, TOY_FUTURES, Risk(), "s", mean.highs.values())
    assert plan.solved.ok, plan.solved.message
    assert plan.expected_cost <= eev["eev"] * (1 + 1e-9)


def test_the_order_holds_within_the_gaps_on_the_reference_data():
    """At a 1 % gap: ws's bound <= ws* <= rp* <= the plan found, and rp's bound <= rp* <=
    eev (the mean plan is one plan for all futures, its operations solved exactly)."""
    ds = load_dataset(DATA / "eaeu_china")
    scenario = Scenario(solver=SolverOptions(mip_gap=0.01))
    futures = [
        Future("open", 0.6),
        Future("dostyk_closed", 0.25, closures=(Closure("crossing", "dostyk_alashankou"),)),
        Future("agro_boom", 0.15, demand=(Scope(1.2, chain="agrotech"),)),
    ]
    plan = solve_stochastic(ds, scenario, futures, Risk(), "s")
    ws = wait_and_see(ds, scenario, futures, ParallelOptions(backend="joblib", workers=2))
    eev = expected_value_of_mean_plan(ds, scenario, futures, SERIAL, "s")
    assert plan.solved.status == "optimal"
    assert ws["ws_bound"] <= plan.expected_cost * (1 + 1e-9)
    assert plan.solved.bound <= eev["eev"] * (1 + 1e-9)


@pytest.fixture(scope="module")
def hedge(tmp_path_factory):
    """Solvable by hand: one module of 100 t exists; a second costs 1,000; demand is 100 t
    (probability 0.9) or 200 t (0.1); unmet demand costs 50/t. Risk-neutral: no second
    module (expected cost 0.1 x 100 x 50 = 500 < 1,000). CVaR at 0.9 is the surge's cost:
    5,000 without the module, 1,000 with it; mean-CVaR builds it once the weight w gives
    (1 - w) 500 + w 5,000 > 1,000, i.e. w > 1/9."""
    return write(
        tmp_path_factory.mktemp("hedge") / "hedge",
        regions=[region("R"), region("S")],
        commodities=[{"commodity_id": "p"}, {"commodity_id": "raw"}],
        technologies=[{"technology_id": "t", "module_size": 100, "capex_per_module": 1000}],
        recipes=[
            {"technology_id": "t", "commodity_id": "p", "coefficient": 1},
            {"technology_id": "t", "commodity_id": "raw", "coefficient": -1},
        ],
        supply=[{"region_id": "R", "commodity_id": "raw", "max_quantity": 1e6}],
        sites=[
            {
                "site_id": "s",
                "region_id": "R",
                "technology_id": "t",
                "existing_modules": 1,
                "max_modules": 2,
            }
        ],
        links=[link("rs", "R", "S")],
        link_commodities=[{"link_id": "rs", "commodity_id": "p"}],
        demand=[{"region_id": "S", "commodity_id": "p", "quantity": 100, "unmet_penalty": 50}],
    )


HEDGE_FUTURES = [Future("usual", 0.9), Future("surge", 0.1, demand=(Scope(2.0),))]
UNDISCOUNTED = Scenario(discount_rate=0.0, green_rate=0.0, solver=SolverOptions(mip_gap=1e-9))


@pytest.mark.parametrize(
    ("weight", "expected", "tail", "built"),
    [
        (0.0, 500.0, 5000.0, 0),
        (0.1, 500.0, 5000.0, 0),
        (0.2, 1000.0, 1000.0, 1),
        (0.9, 1000.0, 1000.0, 1),
    ],
)
@pytest.mark.parametrize("method", ["auto", "benders"])  # Benders failed under mean-CVaR
def test_mean_cvar_buys_a_hedge_once_the_tail_weighs_enough(
    hedge, weight, expected, tail, built, method
):
    scenario = replace(UNDISCOUNTED, solver=replace(UNDISCOUNTED.solver, method=method))
    plan = solve_stochastic(hedge, scenario, HEDGE_FUTURES, Risk(0.9, weight), "s")
    assert plan.solved.status == "optimal", plan.solved.message
    p = np.array([f.probability for f in HEDGE_FUTURES])
    costs = np.array([run.results.cost for run in plan.runs])
    assert p @ costs == pytest.approx(expected)
    assert cvar(costs, p, 0.9) == pytest.approx(tail)
    assert plan.solved.objective == pytest.approx((1 - weight) * expected + weight * tail)
    assert plan.runs[0].results.tables["investments"]["units_built"].sum() == built


def test_under_mean_cvar_no_prices_and_no_evpi_or_vss_are_claimed(hedge):
    plan = solve_stochastic(hedge, UNDISCOUNTED, HEDGE_FUTURES, Risk(0.9, 0.5), "s")
    assert plan.runs[0].results.tables["balance"]["price"].isna().all()
    figures = worth(plan, {"ws": 1.0}, {"eev": 2.0}, Risk(0.9, 0.5))
    assert figures["evpi"] is None and figures["vss"] is None


def test_a_stochastic_plan_refuses_what_it_cannot_mean(toy):
    with pytest.raises(PlanError, match="objective must be cost"):
        solve_stochastic(toy, replace(EXACT, objective="carbon"), TOY_FUTURES, Risk(), "s")
    with pytest.raises(PlanError, match="probability above 0"):
        solve_stochastic(toy, EXACT, [Future("a", 1.0), Future("b", 0.0)], Risk(), "s")
    with pytest.raises(PlanError, match="weight"):
        solve_stochastic(toy, EXACT, TOY_FUTURES, Risk(0.9, 1.0), "s")


def test_eev_of_a_plan_that_serves_every_future_but_not_the_undisrupted_data(toy):
    """With unmet demand disallowed, the mean plan serves both low-demand futures but not
    the full demand of the data; its operations are still evaluated in each future."""
    strict = replace(EXACT, allow_unmet=False)
    futures = [Future("a", 0.5, demand=(Scope(0.5),)), Future("b", 0.5, demand=(Scope(0.6),))]
    plan = solve_stochastic(toy, strict, futures, Risk(), "s")
    eev = expected_value_of_mean_plan(toy, strict, futures, SERIAL, "s")
    assert eev["eev"] >= plan.solved.bound * (1 - 1e-9)


def test_the_mean_future_keeps_a_link_open_for_the_share_of_periods_it_is_not_closed(toy):
    link = sorted(toy.links["link_id"])[0]
    periods = sorted(toy.periods["period"].astype(int))
    both = tuple(Closure("link", link, p) for p in periods)
    futures = [Future("shut", 0.5, closures=both), Future("open", 0.5)]
    _, mean = mean_future_inputs(toy, EXACT, futures)
    assert mean.availability[link] == pytest.approx(0.5)
    one = [Future("shut", 0.5, closures=both[:1]), Future("open", 0.5)]
    _, mean = mean_future_inputs(toy, EXACT, one)
    assert mean.availability[link] == pytest.approx(1 - 0.5 / len(periods))


def test_each_future_is_audited_against_its_own_cost(toy):
    plan = solve_stochastic(toy, EXACT, TOY_FUTURES, Risk(), "s")
    results, _ = combined_results(plan, "s")
    assert audit(results.tables, results.cost, results.future_costs) == []
    wrong = {**results.future_costs, "mid": results.future_costs["mid"] + 1e6}
    problems = audit(results.tables, results.cost, wrong)
    assert problems and all(problem.startswith("future mid:") for problem in problems)


def test_benders_reaches_the_extensive_forms_optimum(toy):
    benders = replace(EXACT, solver=replace(EXACT.solver, method="benders"))
    whole = solve_stochastic(toy, EXACT, TOY_FUTURES, Risk(), "s")
    split = solve_stochastic(toy, benders, TOY_FUTURES, Risk(), "s")
    assert "Benders" in split.solved.message
    assert split.solved.objective == pytest.approx(whole.solved.objective, rel=1e-7)


def test_the_masters_investments_are_one_set_for_all_futures_not_a_copy_each(toy):
    """The non-anticipativity rows tie every future's copy of an investment: the master MILP
    holds one column for them all (with 500 futures, 500 times fewer), and keeps no
    future's period whole (a future's alone may)."""
    ef, _ = extensive_form(toy, EXACT, TOY_FUTURES, Risk())
    tied = split(HighsModel(ef))
    alone = split(HighsModel(future_model(toy, EXACT, TOY_FUTURES[1]).model))
    assert len(tied.master) == len(TOY_FUTURES) * len(alone.master)
    assert tied.width == alone.width < len(alone.master) + 1
    assert not _may_keep(tied) and _may_keep(alone)


def test_the_master_holds_each_investment_row_once_not_once_per_future(toy):
    """Tied into one column, every future's copy of an investment row is the same row: the
    master keeps it once (with 500 futures its LP held 378,732 rows before any cut, 785
    of them distinct, and each LP master took 1.7-4.2 s instead of 0.05-0.62 s)."""
    ef, _ = extensive_form(toy, EXACT, TOY_FUTURES, Risk())
    tied = split(HighsModel(ef))
    alone = split(HighsModel(future_model(toy, EXACT, TOY_FUTURES[1]).model))
    assert len(tied.master_rows) > len(alone.master_rows) > 0  # else nothing to keep once
    rows = _master(tied).getNumRow()
    assert rows == _master(alone).getNumRow() == len(alone.master_rows)


def test_each_subproblem_sees_only_its_own_futures_investments(toy):
    """A future's operations are coupled to that future's copy of the investments only: a
    cut's slope and a plan's shift are computed on those (with 500 futures, on 1/500 of the
    master's columns; on all of them a round of cuts took 5 s)."""
    ef, _ = extensive_form(toy, EXACT, TOY_FUTURES, Risk())
    model = HighsModel(ef)
    parts = split(model)
    for sub in parts.subproblems:
        future = {model.columns[j].name.split(".", 1)[0] for j in sub.columns}
        linked = {model.columns[j].name.split(".", 1)[0] for j in parts.master[sub.links]}
        assert len(future) == 1 and linked == future
        assert sub.coupling.shape == (len(sub.rows), len(sub.links))
        assert np.all(np.diff(sub.coupling.tocsc().indptr) > 0)  # every link is used


def test_benders_meets_the_extensive_form_within_the_gap_on_the_reference():
    ds = load_dataset(DATA / "eaeu_china")
    futures = [
        Future("open", 0.7),
        Future("dostyk_closed", 0.3, closures=(Closure("crossing", "dostyk_alashankou"),)),
    ]
    runs = [
        solve_stochastic(
            ds, Scenario(solver=SolverOptions(mip_gap=0.01, method=m)), futures, Risk(), "s"
        ).solved
        for m in ("monolithic", "benders")
    ]
    whole, split = runs
    assert split.objective >= whole.bound * (1 - 1e-9)
    assert whole.objective >= split.bound * (1 - 1e-9)


def test_a_future_closing_a_crossing_keeps_its_flows_at_zero(toy):
    crossing = sorted(toy.border_crossings["crossing_id"])[0]
    built = future_model(toy, EXACT, Future("shut", 1.0, closures=(Closure("crossing", crossing),)))
    links = set(toy.corridors.loc[toy.corridors["border_crossing"] == crossing, "link_id"])
    flows = [flow for (link, _, _), flow in built.model.flow.items() if link in links]
    assert flows and all(flow.fixed and flow.value == 0 for flow in flows)


@pytest.mark.parametrize("most", [0, 3])  # every future's own plan; three drawn of six
def test_stochastic_run_writes_per_future_tables_and_the_plans_worth(tmp_path: Path, most: int):
    result = twin_run(
        "analysis=stochastic",
        "uncertainty=markets",
        f"analysis.worth_futures={most}",
        "parallel.backend=serial",
        "solver.mip_gap=1e-6",
        "report=true",
        f"hydra.run.dir={tmp_path}",
    )
    assert_ran(result)
    results = tmp_path / "results"
    futures = pd.read_parquet(results / "stochastic.parquet")
    assert len(futures) == 6 and futures["probability"].sum() == pytest.approx(1)
    flows = pd.read_parquet(results / "flows.parquet")
    assert set(flows["future"]) == set(futures["future"])
    assert "future" not in pd.read_parquet(results / "investments.parquet")
    record = json.loads((tmp_path / "run.json").read_text())["stochastic"]
    assert record["rp"] == pytest.approx(futures["probability"] @ futures["cost"], rel=1e-9)
    tolerance = 1e-5 * record["rp"]  # the gap of 1e-6, with room
    assert record["vss"] >= -tolerance
    assert record["evpi"] >= -tolerance - 3 * (record["ws_se"] or 0)  # a sample's error, too
    assert record["evpi_low"] <= record["evpi"] <= record["evpi_high"]
    report = (tmp_path / "report.html").read_text()
    assert "One plan for all futures" in report
    note = f"all 6 futures and the own plans of 3 drawn by probability ({record['ws_futures']}"
    if most:  # said in run.json, on the terminal and in the report
        assert record["ws_draws"] == most and 1 <= record["ws_futures"] <= most
        assert note in " ".join(result.stdout.split()) and note in report
    else:
        assert record["ws_draws"] == record["ws_futures"] == 6 and record["ws_se"] == 0
        assert "estimated from" not in result.stdout + report


def test_a_sweep_over_both_uncertainty_analyses_aggregates_their_tables(tmp_path: Path):
    result = twin_run(
        "-m",
        "analysis=stress,stochastic",
        "uncertainty=markets",
        "parallel.backend=serial",
        "solver.mip_gap=1e-6",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert_ran(result)
    sweep = pd.read_parquet(tmp_path / "sweep.parquet").set_index("analysis")
    assert (sweep["status"] == "optimal").all()
    futures = pd.read_parquet(tmp_path / "stochastic.parquet")
    # a stochastic run's headline is the expectation of its futures' KPIs
    kpis = pd.read_parquet(tmp_path / "kpis.parquet")
    own = kpis[(kpis["analysis"] == "stochastic") & (kpis["scope_type"] == "total")]
    last = own[(own["kpi"] == "value_added") & (own["period"] == own["period"].max())]
    probability = last["future"].map(futures.set_index("future")["probability"])
    expected = float((last["value"] * probability).sum())
    assert sweep.loc["stochastic", "value_added"] == pytest.approx(expected, rel=1e-9)
    assert len(pd.read_parquet(tmp_path / "stress.parquet")) == 6
