"""Plans near the optimum (analysis=alternatives): each within the slack, each at least as
far in its direction as the least-cost plan."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from twin.alternatives import (
    Direction,
    _alternative,
    alternatives,
    reach_gap,
    reference_shares,
    unproven,
)
from twin.data import load_dataset
from twin.parallel import ParallelOptions
from twin.plan import optimise
from twin.scenario import Scenario, SolverOptions

from .conftest import DATA, assert_ran, twin_run

SLACK = 0.05
EXACT = Scenario(solver=SolverOptions(mip_gap=1e-9))


@pytest.fixture(scope="module")
def near_toy():
    ds = load_dataset(DATA / "toy")
    optimum = optimise(ds, EXACT, "optimum")
    frame, investments = alternatives(
        ds, EXACT, optimum, SLACK, 3, 0, ParallelOptions(backend="serial")
    )
    return optimum, frame, investments


def shares_of(frame: pd.DataFrame, prefix: str) -> pd.DataFrame:
    columns = [c for c in frame.columns if c.startswith(prefix)]
    total = frame[columns].sum(axis=1)
    return (
        frame[columns]
        .div(total.where(total > 0), axis=0)
        .rename(columns=lambda c: c.removeprefix(prefix))
    )


def test_every_alternative_is_a_plan_within_the_slack(near_toy):
    optimum, frame, _ = near_toy
    assert (frame["status"] == "optimal").all()
    assert (frame["cost"] <= optimum.results.cost * (1 + SLACK) * (1 + 1e-9)).all()
    assert (frame["cost_increase_pct"] <= 100 * SLACK + 1e-6).all()
    assert len(frame) == 2 * 2 + 2 * 2 + 2 + 3  # countries, chains up and down, emissions, random


@pytest.mark.parametrize(("scope", "prefix"), [("country", "capex_"), ("chain", "chain_capex_")])
def test_a_max_share_gives_at_least_the_optimums_share_and_a_min_share_at_most(
    near_toy, scope: str, prefix: str
):
    optimum, frame, _ = near_toy
    reference = reference_shares(optimum)
    shares = shares_of(frame, prefix)
    for name in shares.columns:
        at = frame["direction"] == f"{scope}:{name}"
        best = shares.loc[at & (frame["sense"] == "max"), name]
        least = shares.loc[at & (frame["sense"] == "min"), name]
        assert best.notna().all(), name  # the optimum invests: so does its max-share plan
        assert (best >= reference[f"{scope}:{name}"] - 1e-9).all(), name
        # a plan that invests nothing has no share at all, which is below any
        assert (least.dropna() <= reference[f"{scope}:{name}"] + 1e-9).all(), name


def test_a_country_or_chains_reach_is_its_capex_less_the_optimums_share_of_all_capex(
    near_toy,
):
    """reach is the direction's objective at the plan (sign undone for a max), and a proven
    plan's bound is its reach: recomputed here from the row's own capex columns."""
    optimum, frame, _ = near_toy
    reference = reference_shares(optimum)
    countries = [c for c in frame.columns if c.startswith("capex_")]
    rows = frame[frame["direction"].str.startswith(("country:", "chain:"))]
    for row in rows.to_dict("records"):
        kind, _, name = row["direction"].partition(":")
        column = f"capex_{name}" if kind == "country" else f"chain_capex_{name}"
        owned = row.get(column, 0.0)  # a chain with no assets to build has no column
        total = sum(row[c] for c in countries)
        expected = owned - reference.get(row["direction"], 0.0) * total
        assert row["reach"] == pytest.approx(expected, rel=1e-9, abs=1e-3), row["direction"]
        assert row["reach_bound"] == pytest.approx(row["reach"], rel=1e-6, abs=1e-3)
    assert frame["gap"].notna().all()


def test_a_reach_gap_is_relative_to_the_larger_of_reach_and_bound():
    """A share direction starts at 0 (the least-cost plan): relative to the plan, as HiGHS
    gives it, a stop there had a gap of 1.2e17 %."""
    assert reach_gap(5.3e-08, -6.46e9) == pytest.approx(1.0)
    assert reach_gap(1.4082e10, 1.4961e10) == pytest.approx(0.0879 / 1.4961)
    assert reach_gap(-1.0, -2.0) == pytest.approx(0.5)  # a min direction: its bound below
    assert reach_gap(0.0, 0.0) == 0.0
    assert reach_gap(3.0, None) is None


def test_alternatives_stopped_by_the_clock_are_named_with_their_widest_gap():
    frame = pd.DataFrame(
        {
            "direction": ["country:KAZ", "country:KAZ", "emissions"],
            "sense": ["max", "min", "min"],
            "status": ["time_limit", "optimal", "time_limit"],
            "gap": [0.066, 0.001, 0.016],
        }
    )
    (warning,) = unproven(frame)
    assert warning.startswith("2 of 3 alternatives stopped at the time limit")
    assert "widest gap 6.6% (country:KAZ max)" in warning
    assert unproven(frame.assign(status="optimal")) == []


def capped(optimum, method: str, mip_gap: float = 1e-7) -> Scenario:
    """The alternatives' scenario (least cost within the slack) solved by `method`."""
    solver = replace(EXACT.solver, method=method, mip_gap=mip_gap)
    return replace(EXACT, cost_cap=optimum.results.cost * (1 + SLACK), solver=solver)


def test_a_capex_direction_decomposes_under_the_cost_cap_to_the_branch_and_bounds_optimum(
    near_toy,
):
    """Benders holds the cost cap in its master, the thetas estimating the operations' cost
    within it: on every capex direction of the toy it reaches what one branch and bound
    reaches (the fixture's, exact), and its plan keeps the cap."""
    optimum, frame, _ = near_toy
    ds, scenario = load_dataset(DATA / "toy"), capped(optimum, "benders")
    shares, start = reference_shares(optimum), optimum.highs.values()
    rows = frame[frame["direction"] != "emissions"].to_dict("records")
    assert len(rows) == 11
    for row in rows:
        direction = Direction(row["direction"], row["sense"])
        task = (ds, scenario, row["alternative"], direction, shares, 0, start)
        ours = _alternative(task)["row"]
        assert ours["message"].startswith("Benders decomposition"), direction
        assert ours["status"] == "optimal", direction
        assert ours["reach"] == pytest.approx(row["reach"], rel=1e-6, abs=1e-3), direction
        assert ours["cost"] <= scenario.cost_cap * (1 + 1e-9), direction


def test_an_emissions_direction_under_the_cost_cap_is_left_to_one_branch_and_bound(near_toy):
    """Emissions are operations: under a cost cap the master cannot hold them, so `auto`
    solves such a model whole and `benders` says why it cannot."""
    optimum, _, _ = near_toy
    ds, shares = load_dataset(DATA / "toy"), reference_shares(optimum)
    down = Direction("emissions", "min")
    rows = {
        method: _alternative((ds, capped(optimum, method, 1e-4), 1, down, shares, 0, None))["row"]
        for method in ("auto", "benders")
    }
    assert rows["auto"]["status"] == "optimal" and "Benders" not in rows["auto"]["message"]
    assert rows["benders"]["status"] == "error"
    assert "an objective on operations under a cost cap" in rows["benders"]["message"]


def test_emissions_span_the_optimums(near_toy):
    optimum, frame, _ = near_toy
    emitted = frame.set_index(["direction", "sense"])["emissions_t"]
    assert emitted["emissions", "min"] <= optimum.results.emissions_t * (1 + 1e-9)
    assert emitted["emissions", "max"] >= optimum.results.emissions_t * (1 - 1e-9)
    assert emitted["emissions", "max"] > emitted["emissions", "min"]  # the toy has room


def test_investments_of_each_alternative_match_its_capex_columns(near_toy):
    _, frame, investments = near_toy
    for number, built in investments.groupby("alternative"):
        row = frame[frame["alternative"] == number].iloc[0]
        capex = sum(row[c] for c in frame.columns if c.startswith("capex_"))
        # the investments table nets agglomeration savings; the toy has none
        assert built["capex"].sum() == pytest.approx(capex, rel=1e-9)


def test_alternatives_run_writes_its_tables(tmp_path: Path):
    result = twin_run(
        "analysis=alternatives",
        "analysis.directions=1",
        "parallel.backend=serial",
        f"hydra.run.dir={tmp_path}",
    )
    assert_ran(result)
    table = pd.read_parquet(tmp_path / "results" / "alternatives.parquet")
    built = pd.read_parquet(tmp_path / "results" / "alternative_investments.parquet")
    contract = ["run_id", "alternative", "direction", "sense", "status", "cost"]
    contract += ["cost_increase_pct", "emissions_t"]  # results.md, then capex per country
    assert list(table.columns[: len(contract)]) == contract
    assert table.columns[len(contract)].startswith("capex_")
    assert list(table.columns[-4:]) == ["reach", "reach_bound", "gap", "message"]
    assert set(built["alternative"]) <= set(table["alternative"])
    meta = json.loads((tmp_path / "run.json").read_text())["alternatives"]
    assert meta["slack"] == SLACK and meta["count"] == len(table)
