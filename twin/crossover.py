"""Crossover of a Benders master's plans, priced whole: better plans for the decomposition.

A MILP master prices the periods it does not hold by cuts, which under-estimate the
operations of plans far from those already seen, so its plans are good but rarely the best.
On the reference data at a 0.1 % gap the first master's bound lay within 0.1 % of the
optimum, its best plan 0.06 % above the plan that proves it, and one or two more masters
(4-11 s each) went by before a plan closed the gap. The master's branch and bound keeps
several plans, and they agree on most investments (on 609-695 of 763 integer columns).
A crossover (after SCIP's heuristic of that name: Berthold, "Primal heuristics for mixed
integer programs", 2006) searches where they disagree: the whole model, operations priced
exactly, with the columns they agree on fixed and every other integer column confined to
the range of its values over them, each plan (and so the best) one of its solutions. On
the reference data it took 0.6-2.2 s to find the plan that closed the gap after the first
master in three of the four scenarios; in the fourth its best plan, found in 4.8 s, fell
0.0013 % short (benchmarks/README.md, round 24).

It stops once the caller's gap is closed (`Goal`: by its own plan, or by a bound that the
next master raises while the crossover runs beside it), at its own gap, or at its time
limit. Only plans cheaper than the best known are looked for (`cutoff`), so that its
branch and bound prunes every node that cannot beat it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from twin.interrupt import ctrl_c_stops
from twin.solve import limit_time, new_highs, pass_model, relative_gap


@dataclass
class Goal:
    """A gap to close, shared by searches that run at once (a Benders master and a
    crossover beside it): the best bound and the best plan's cost known so far, each
    raised or lowered by whichever finds it, and a stop asked from outside."""

    bound: float
    plan: float
    gap: float
    stop: bool = False

    def closed(self) -> bool:
        """Whether the best plan known is proven within the gap by the best bound."""
        finite = math.isfinite(self.plan) and math.isfinite(self.bound)
        return finite and relative_gap(self.plan, self.bound) <= self.gap

    def over(self) -> bool:
        """Whether a search toward it may end: closed, or asked to stop."""
        return self.stop or self.closed()


class Crossover:
    """The whole model as a MIP, searched anew around each set of plans, each time in a
    HiGHS instance of its own: one that a callback has interrupted stays interrupted
    (highspy 1.16), and a stop is how a search that closed the caller's gap ends."""

    def __init__(
        self,
        matrix: sp.csr_matrix,
        cost: np.ndarray,
        bounds: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        integer: np.ndarray,
        offset: float,
    ):
        """The model min cost'x + offset s.t. row bounds on matrix x, column bounds
        (`bounds`: column lower, upper, row lower, upper), `integer` columns integral."""
        self.matrix, self.cost, self.bounds = matrix.tocsc(), cost, bounds
        self.integer, self.offset = np.asarray(integer, dtype=bool), offset
        self.goal = Goal(-math.inf, math.inf, 0.0)
        self.took = 0.0  # the last search's seconds
        self.objective = math.inf  # the cost of the last search's solution

    def search(
        self,
        plans: np.ndarray,
        start: np.ndarray,
        cutoff: float,
        goal: Goal,
        seconds: float,
    ) -> np.ndarray | None:
        """The best solution (every column) found with each integer column between its
        least and its most over `plans` (one row per plan: its integer columns' values, in
        column order), better than `cutoff`; None if none. `start` (every column) is a
        solution within that range, the search's first incumbent. Each solution it finds
        lowers `goal.plan`; it stops once `goal` is over, at half its gap of its own bound,
        or after `seconds`."""
        began = time.perf_counter()
        lower, upper, row_lower, row_upper = self.bounds
        lower, upper = lower.copy(), upper.copy()
        lower[self.integer] = np.clip(plans.min(axis=0), lower[self.integer], upper[self.integer])
        upper[self.integer] = np.clip(plans.max(axis=0), lower[self.integer], upper[self.integer])
        highs = new_highs()
        bounds = (lower, upper, row_lower, row_upper)
        pass_model(highs, self.matrix, self.cost, *bounds, self.integer, self.offset)
        solution = highspy.HighsSolution()
        solution.col_value = start
        highs.setSolution(solution)
        highs.setOptionValue("objective_bound", float(cutoff))
        highs.setOptionValue("mip_rel_gap", goal.gap / 2)
        limit_time(highs, max(seconds, 1e-3), mip=True)
        self.goal = goal
        highs.cbMipImprovingSolution.subscribe(self._found)
        highs.cbMipInterrupt.subscribe(self._interrupt)
        with ctrl_c_stops(highs):
            highs.run()
        self.took = time.perf_counter() - began
        if highs.getInfo().primal_solution_status != 2:
            return None
        values = np.asarray(highs.getSolution().col_value)
        self.objective = self._cost(values)
        margin = 1e-9 * abs(cutoff) if math.isfinite(cutoff) else 0.0  # not the start again
        return values if self.objective < cutoff - margin else None

    def free(self, plans: np.ndarray) -> int:
        """How many integer columns `plans` leave free (disagree on)."""
        return int(np.count_nonzero(plans.min(axis=0) < plans.max(axis=0)))

    def _cost(self, values: np.ndarray) -> float:
        """A solution's cost, from its columns, not as HiGHS reports it: HiGHS 1.16, given
        a start and a cutoff at the start's cost, reported the start 4.7e7 USD (0.08 %)
        under that cost on a coalition of the reference data, in its improving-solution
        callback and in its info alike; taken at its word, the goal closed with the gap
        still open, and the decomposition stopped short of its gap."""
        return float(self.offset + self.cost @ values)

    def _found(self, event) -> None:
        plan = self._cost(np.asarray(event.data_out.mip_solution))
        self.goal.plan = min(self.goal.plan, plan)

    def _interrupt(self, event) -> None:
        if self.goal.over():
            event.interrupt()
