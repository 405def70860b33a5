"""Two-stage stochastic plans (analysis=stochastic): the extensive form against the
deterministic plan, its invariances, the order ws <= rp <= eev, mean-CVaR, and Benders.

The toy's three futures (low, mid, high demand; dearer supply in the high one) make the
plan's worth strictly positive: solved exactly, ws < rp < eev on the toy.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twin.data import load_dataset
from twin.parallel import ParallelOptions
from twin.plan import optimise
from twin.scenario import Scenario, SolverOptions
from twin.stochastic import (
    Risk,
    expected_value_of_mean_plan,
    future_model,
    solve_stochastic,
    wait_and_see,
    worth,
)
from twin.stress import cvar
from twin.uncertainty import Closure, Future, Scope, future_inputs

from .conftest import DATA, twin_run

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
    assert plan.solved.objective == pytest.approx(p @ costs, rel=1e-9)


def test_wait_and_see_below_the_stochastic_plan_below_the_mean_plan(toy):
    plan = solve_stochastic(toy, EXACT, TOY_FUTURES, Risk(), "s")
    ws = wait_and_see(toy, EXACT, TOY_FUTURES, SERIAL)
    eev = expected_value_of_mean_plan(toy, EXACT, TOY_FUTURES, SERIAL, "s")
    figures = worth(plan, ws, eev)
    assert figures["ws"] < figures["rp"] < figures["eev"]  # strict on this toy
    assert figures["evpi"] > 0 and figures["vss"] > 0


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


def test_mean_cvar_trades_expected_cost_for_a_better_tail(toy):
    alpha = 0.7
    p = np.array([f.probability for f in TOY_FUTURES])
    expected, tails = [], []
    for weight in (0.0, 0.5, 1.0):
        plan = solve_stochastic(toy, EXACT, TOY_FUTURES, Risk(alpha, weight), "s")
        costs = np.array([run.results.cost for run in plan.runs])
        expected.append(p @ costs)
        tails.append(cvar(costs, p, alpha))
        assert plan.solved.objective == pytest.approx(
            (1 - weight) * expected[-1] + weight * tails[-1], rel=1e-9
        )
    plain = solve_stochastic(toy, EXACT, TOY_FUTURES, Risk(), "s")
    assert expected[0] == pytest.approx(plain.solved.objective, rel=1e-12)  # weight 0
    assert all(b >= a * (1 - 1e-12) for a, b in itertools.pairwise(expected))
    assert all(b <= a * (1 + 1e-12) for a, b in itertools.pairwise(tails))
    assert expected[-1] > expected[0]  # on this toy the tail has a price


def test_benders_reaches_the_extensive_forms_optimum(toy):
    benders = replace(EXACT, solver=replace(EXACT.solver, method="benders"))
    whole = solve_stochastic(toy, EXACT, TOY_FUTURES, Risk(), "s")
    split = solve_stochastic(toy, benders, TOY_FUTURES, Risk(), "s")
    assert "Benders" in split.solved.message
    assert split.solved.objective == pytest.approx(whole.solved.objective, rel=1e-7)


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


def test_stochastic_run_writes_per_future_tables_and_the_plans_worth(tmp_path: Path):
    result = twin_run(
        "analysis=stochastic",
        "uncertainty=markets",
        "parallel.backend=serial",
        "solver.mip_gap=1e-6",
        "report=true",
        f"hydra.run.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    results = tmp_path / "results"
    futures = pd.read_parquet(results / "stochastic.parquet")
    assert len(futures) == 6 and futures["probability"].sum() == pytest.approx(1)
    flows = pd.read_parquet(results / "flows.parquet")
    assert set(flows["future"]) == set(futures["future"])
    assert "future" not in pd.read_parquet(results / "investments.parquet")
    record = json.loads((tmp_path / "run.json").read_text())["stochastic"]
    assert record["rp"] == pytest.approx(futures["probability"] @ futures["cost"], rel=1e-9)
    tolerance = 1e-5 * record["rp"]  # the gap of 1e-6, with room
    assert record["evpi"] >= -tolerance and record["vss"] >= -tolerance
    assert "One plan for all futures" in (tmp_path / "report.html").read_text()


def test_a_sweep_over_both_uncertainty_analyses_aggregates_their_tables(tmp_path: Path):
    result = twin_run(
        "-m",
        "analysis=stress,stochastic",
        "uncertainty=markets",
        "parallel.backend=serial",
        "solver.mip_gap=1e-6",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
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
