"""RENS beside a branch and bound (`twin.rens`): its plans reach HiGHS, a stopped or
failing search costs nothing but its plans, and the optimum is still the branch and bound's
to prove."""

from __future__ import annotations

import logging
import re
import signal
from dataclasses import replace
from pathlib import Path

import highspy
import numpy as np
import pytest

import twin.rens
from twin.config import compose_config, to_run_inputs
from twin.orlib import published_optimum
from twin.rens import Rens, alongside, rounding_bounds, wanted
from twin.scenario import SolverOptions
from twin.solve import HighsModel, LpRows

OPTIONS = SolverOptions(time_limit=60.0, mip_gap=1e-9)


@pytest.fixture
def everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """RENS on any MIP, on a machine with a spare core."""
    monkeypatch.setattr(twin.rens, "RENS_NONZEROS", 0)
    monkeypatch.setattr(twin.rens, "thread_share", lambda: 2)


def searched_first(searches: list[Rens]):
    """`Rens.start` that runs the search to its end before the branch and bound."""

    def start(rens: Rens) -> None:
        searches.append(rens)
        rens.thread.start()
        rens.thread.join()

    return start


def test_rounding_bounds_fix_integral_values_and_free_fractional_ones_to_floor_or_ceiling():
    x = np.array([0.0, 1.0 + 1e-8, 2.5, 0.7, 4.6])
    lower = np.zeros(5)
    upper = np.array([1.0, 3.0, 3.0, 1.0, 4.0])  # the last LP value above its bound
    low, high = rounding_bounds(x, lower, upper)
    assert low.tolist() == [0.0, 1.0, 2.0, 0.0, 4.0]
    assert high.tolist() == [0.0, 1.0, 3.0, 1.0, 4.0]


def test_rens_runs_only_where_asked_on_a_large_mip_with_a_spare_core(
    cap41, monkeypatch: pytest.MonkeyPatch
):
    highs_model = HighsModel(cap41)
    highs, integer = highs_model.highs, highs_model.integer
    monkeypatch.setattr(twin.rens, "thread_share", lambda: 2)
    assert not wanted(highs, integer, OPTIONS)  # 1,666 nonzeros: HiGHS is quicker alone
    monkeypatch.setattr(twin.rens, "RENS_NONZEROS", highs.getNumNz())
    assert wanted(highs, integer, OPTIONS)
    assert not wanted(highs, integer, replace(OPTIONS, rens=False))
    assert not wanted(highs, integer, replace(OPTIONS, threads=1))
    assert not wanted(highs, np.zeros_like(integer), OPTIONS)  # an LP: nothing to round
    monkeypatch.setattr(twin.rens, "thread_share", lambda: 1)  # a sweep's worker
    assert not wanted(highs, integer, OPTIONS)
    assert wanted(highs, integer, replace(OPTIONS, threads=2))


class Offered:
    """What HiGHS's user-solution callback hands a caller: somewhere to put a plan."""

    def __init__(self) -> None:
        self.plans: list[np.ndarray] = []
        self.data_in = self

    def setSolution(self, plan: np.ndarray) -> None:  # highspy's name
        self.plans.append(plan)


def test_each_plan_is_handed_once_and_only_a_better_one_after_it():
    rens = Rens(highspy.HighsLp(), np.array([True]), time_limit=1.0)
    event = Offered()
    rens.offer(event)  # nothing found yet
    rens.plan, rens.found = np.array([2.0]), 1
    rens.offer(event)
    rens.offer(event)
    rens.plan, rens.found = np.array([1.0]), 3  # two found since, the better one kept
    rens.offer(event)
    assert [plan.tolist() for plan in event.plans] == [[2.0], [1.0]]
    assert rens.handed == 2


def test_rens_searches_only_the_roundings_of_the_lp():
    """min 10 y1 + 11 y2 s.t. 3 y1 + 4 y2 >= 9, y integral in [0, 10]: the LP takes
    y = (0, 2.25), so RENS keeps y1 at 0 and rounds y2 up, at 33; the optimum, 30 at
    y = (3, 0), is not a rounding of the LP."""
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = 2, 1
    lp.col_cost_ = np.array([10.0, 11.0])
    lp.col_lower_, lp.col_upper_ = np.zeros(2), np.full(2, 10.0)
    lp.row_lower_, lp.row_upper_ = np.array([9.0]), np.array([highspy.kHighsInf])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.array([0, 1, 2])
    lp.a_matrix_.index_ = np.array([0, 0])
    lp.a_matrix_.value_ = np.array([3.0, 4.0])
    lp.integrality_ = [highspy.HighsVarType.kInteger] * 2
    rens = Rens(lp, np.array([True, True]), time_limit=10.0)
    rens.start()
    rens.thread.join()  # to its end: nothing stops it
    assert rens.error is None
    assert rens.plan.tolist() == [0.0, 3.0] and rens.plan_cost == 33.0


def test_a_rens_plan_is_a_plan_of_the_whole_model(cap41):
    highs_model = HighsModel(cap41)
    lp = highs_model.highs.getLp()
    rens = Rens(lp, highs_model.integer, time_limit=60.0)
    rens.start()
    rens.thread.join()
    assert rens.error is None and rens.plan is not None
    assert not LpRows.of(highs_model.highs, lp).missed_by(rens.plan)  # its every row
    integer = rens.plan[highs_model.integer]
    assert np.array_equal(integer, np.round(integer))
    assert rens.plan_cost >= published_optimum("cap41") * (1 - 1e-9)


def test_a_stopped_rens_ends_its_search_without_a_plan(cap41):
    highs_model = HighsModel(cap41)
    rens = Rens(highs_model.highs.getLp(), highs_model.integer, time_limit=60.0)
    rens.stopped.set()  # the branch and bound ended before the search began
    rens.start()
    rens.stop()
    assert rens.error is None
    assert rens.plan is None  # its LP was interrupted


def test_a_rens_plan_reaches_the_branch_and_bound_which_still_proves_the_optimum(
    cap41, everywhere, monkeypatch: pytest.MonkeyPatch, caplog, tmp_path: Path
):
    searches: list[Rens] = []
    monkeypatch.setattr(Rens, "start", searched_first(searches))  # a plan before HiGHS asks
    highs_model = HighsModel(cap41)
    with caplog.at_level(logging.INFO, logger="twin.rens"):
        result = highs_model.solve(OPTIONS, tmp_path / "highs.log")
    (rens,) = searches
    assert rens.plan is not None and rens.handed == 1
    assert "RENS handed 1 plan(s)" in caplog.text
    taken = re.search(r"^\s*X\s+\d", (tmp_path / "highs.log").read_text(), re.MULTILINE)
    assert taken  # HiGHS took it: a line of its log from a user solution
    assert result.status == "optimal"
    assert result.objective == pytest.approx(published_optimum("cap41"), rel=1e-9)


def test_a_failing_rens_costs_its_plans_not_the_solve(
    cap41, everywhere, monkeypatch: pytest.MonkeyPatch, caplog
):
    def fail(rens: Rens) -> None:
        raise RuntimeError("no memory for a second model")

    monkeypatch.setattr(Rens, "_search", fail)
    with caplog.at_level(logging.WARNING, logger="twin.rens"):
        result = HighsModel(cap41).solve(OPTIONS)
    assert "RENS found no plan: no memory for a second model" in caplog.text
    assert result.status == "optimal"
    assert result.objective == pytest.approx(published_optimum("cap41"), rel=1e-9)


@pytest.mark.parametrize(("overrides", "rens"), [([], True), (["solver.rens=false"], False)])
def test_solver_rens_reaches_the_solver_options(overrides: list[str], rens: bool):
    _, scenario = to_run_inputs(compose_config(["dataset=toy", *overrides]))
    assert scenario.solver.rens is rens


def test_a_search_still_running_is_stopped_when_the_branch_and_bound_fails(
    cap41, everywhere, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(Rens, "_search", lambda rens: rens.stopped.wait())  # never ends alone
    highs_model = HighsModel(cap41)
    highs = highs_model.highs
    with (
        pytest.raises(RuntimeError, match="the branch and bound failed"),
        alongside(highs, highs_model.integer, OPTIONS) as rens,
    ):
        assert rens.thread.is_alive()
        raise RuntimeError("the branch and bound failed")
    assert not rens.thread.is_alive()
    assert highs.cbMipUserSolution.callbacks == []


def test_ctrl_c_stops_the_solve_and_reaches_the_caller(
    cap41, everywhere, ctrl_c_as_in_a_terminal, monkeypatch: pytest.MonkeyPatch
):
    """highspy swallows an exception raised in a callback: Ctrl-C while HiGHS is in one
    (here, as RENS hands its plan) would end the run as a solve error and carry on."""
    searches: list[Rens] = []
    monkeypatch.setattr(Rens, "start", searched_first(searches))
    offer = Rens.offer

    def ctrl_c_then_offer(rens: Rens, event) -> None:
        signal.raise_signal(signal.SIGINT)
        offer(rens, event)

    monkeypatch.setattr(Rens, "offer", ctrl_c_then_offer)
    highs_model = HighsModel(cap41)
    with pytest.raises(KeyboardInterrupt):
        highs_model.solve(OPTIONS)
    (rens,) = searches
    assert rens.handed == 1 and not rens.thread.is_alive()
    assert highs_model.highs.cbMipUserSolution.callbacks == []
    assert highs_model.highs.cbMipInterrupt.callbacks == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
