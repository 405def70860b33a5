"""The crossover of plans (`twin.crossover`) searches the whole model only between its
plans, only for plans better than its cutoff, and stops once the caller's gap is closed or
it is asked to; hand-solvable models."""

from __future__ import annotations

import math
import signal

import numpy as np
import pytest
import scipy.sparse as sp

from twin.crossover import Crossover, Goal


def covering() -> tuple[Crossover, np.ndarray, np.ndarray]:
    """A covering model that HiGHS's presolve does not solve: the crossover, its plans (all
    columns at their least and at their most) and its costs."""
    rng = np.random.default_rng(0)
    rows, columns = 15, 40
    matrix = sp.csr_matrix(rng.integers(1, 20, (rows, columns)).astype(float))
    cost = rng.integers(5, 30, columns).astype(float)
    bounds = (
        np.zeros(columns),
        np.full(columns, 5.0),
        np.full(rows, 150.0),
        np.full(rows, math.inf),
    )
    crossover = Crossover(matrix, cost, bounds, np.ones(columns, dtype=bool), 0.0)
    return crossover, np.array([np.zeros(columns), np.full(columns, 5.0)]), cost


def three_columns() -> Crossover:
    """min x1 + 2 x2 + 3 x3 s.t. x1 + x2 + x3 >= 4, x integer in [0, 3]: the optimum is
    (3, 1, 0) at 5."""
    bounds = (np.zeros(3), np.full(3, 3.0), np.array([4.0]), np.array([math.inf]))
    matrix = sp.csr_matrix(np.ones((1, 3)))
    return Crossover(matrix, np.array([1.0, 2.0, 3.0]), bounds, np.ones(3, dtype=bool), 0.0)


PLANS = np.array([[3.0, 0.0, 2.0], [0.0, 3.0, 2.0]])  # cost 9 and 12; both hold x3 = 2


def open_goal() -> Goal:
    """A gap no plan closes: the search goes to its own optimum."""
    return Goal(bound=-math.inf, plan=math.inf, gap=0.0)


def test_a_crossover_searches_only_between_its_plans():
    """With x3 held at 2 by both plans, x1 and x2 free within [0, 3]: the best is (2, 0, 2)
    at 8, which is neither plan nor the model's optimum (3, 1, 0)."""
    crossover = three_columns()
    assert crossover.free(PLANS) == 2
    found = crossover.search(PLANS, PLANS[0], math.inf, open_goal(), 10.0)
    assert found == pytest.approx([2.0, 0.0, 2.0], abs=1e-9)


def test_a_crossover_looks_only_for_plans_better_than_its_cutoff():
    crossover = three_columns()
    assert crossover.search(PLANS, PLANS[0], 8.0, open_goal(), 10.0) is None
    found = crossover.search(PLANS, PLANS[0], 8.5, open_goal(), 10.0)
    assert found == pytest.approx([2.0, 0.0, 2.0], abs=1e-9)


def test_a_crossover_stops_at_a_plan_that_closes_the_callers_gap():
    """With a bound the start already meets (within 50 % of its own cost) the search stops
    at the start, and its plan is the goal's; with none it finds the optimum, also after a
    search that was stopped (a HiGHS instance that was interrupted once stays interrupted,
    so each search has its own)."""
    crossover, plans, cost = covering()
    start = plans[1]

    def searched(goal: Goal) -> float:
        found = crossover.search(plans, start, math.inf, goal, 60.0)
        return float(cost @ found)

    optimum = searched(open_goal())
    assert optimum < 0.1 * (cost @ start)  # the start is far from the optimum
    met = Goal(bound=float(cost @ start), plan=math.inf, gap=0.5)
    assert searched(met) == cost @ start
    assert met.plan == cost @ start
    assert searched(open_goal()) == pytest.approx(optimum, rel=1e-9)


@pytest.mark.parametrize(
    "goal",
    [
        Goal(bound=-math.inf, plan=math.inf, gap=0.0, stop=True),  # asked to stop
        Goal(bound=99.0, plan=100.0, gap=0.01),  # closed by another search's plan and bound
    ],
    ids=["stop", "closed"],
)
def test_a_crossover_ends_at_its_start_when_its_goal_is_over(goal: Goal):
    """A search beside a Benders master ends as soon as the master's bound and the best plan
    close the gap, or the decomposition asks it to stop: it returns its start, not the
    optimum it would otherwise find."""
    crossover, plans, cost = covering()
    start = plans[1]
    found = crossover.search(plans, start, math.inf, goal, 60.0)
    assert found is not None and float(cost @ found) == cost @ start


def test_a_goal_is_closed_only_by_a_finite_plan_and_bound_within_its_gap():
    assert Goal(bound=99.0, plan=100.0, gap=0.01).closed()
    assert not Goal(bound=98.9, plan=100.0, gap=0.01).closed()
    assert not Goal(bound=-math.inf, plan=100.0, gap=0.01).closed()
    assert not Goal(bound=99.0, plan=math.inf, gap=0.01).closed()
    assert Goal(bound=-math.inf, plan=math.inf, gap=0.0, stop=True).over()
    assert not Goal(bound=-math.inf, plan=math.inf, gap=0.0).over()


def test_ctrl_c_during_a_crossover_reaches_the_caller(
    ctrl_c_as_in_a_terminal, monkeypatch: pytest.MonkeyPatch
):
    """highspy swallows an exception raised in a callback: Ctrl-C while HiGHS is in one
    (here, as it reports a plan) would end the search as a solve error, and the
    decomposition would carry on."""
    crossover, plans, _ = covering()
    found = Crossover._found

    def ctrl_c_then_found(self: Crossover, event) -> None:
        signal.raise_signal(signal.SIGINT)
        found(self, event)

    monkeypatch.setattr(Crossover, "_found", ctrl_c_then_found)
    with pytest.raises(KeyboardInterrupt):
        crossover.search(plans, plans[1], math.inf, open_goal(), 60.0)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
