"""RENS on a spare core: plans for a branch and bound while it is still at its root.

On a large MIP HiGHS spends its first minute on the root node and finds its good plans
after it, in a sub-MIP: OR-Library capa at 8,000 has its root LP at 21 s, cut rounds to
75 s, and the optimum from a sub-MIP at 75-107 s, after which the proof takes seconds.
Given the optimum once the root LP is solved, the same solve ends at 55 s instead of 91 s
(benchmarks/README.md, rounds 13 and 19).

RENS (Berthold, "RENS: the optimal rounding", Math. Prog. Comp. 2014) looks for that plan
among the roundings of the LP relaxation: every integer column the LP leaves integral is
fixed there, every fractional one may take its floor or its ceiling, and what remains is
a small MIP (capa: 15 of 100 warehouses free, 15k of 101k columns after presolve, its
optimum found in 3 s). `Rens` runs it on its own HiGHS instance and thread beside the
branch and bound (HiGHS lets go of Python while it solves) and hands each plan it finds
to it through HiGHS's user-solution callback; HiGHS checks the plan against its rows and
keeps it if it is better. A plan only gives the branch and bound an incumbent: the bound,
and so the proof of the optimum, is still the branch and bound's own.

The price is the second core and the memory of a second model, and reproducibility: when a
plan arrives depends on the machine, so two runs may end at different plans within the
gap. A better plan early does not always shorten the search either: beside a Benders
master of 500 futures it sent HiGHS down a slower tree (round 19), so the decomposition's
masters go without it. `solver.rens=false` turns it off; it is off where a solve has one core
(`twin.parallel.thread_share`, as in a sweep's workers) and off on models under
`RENS_NONZEROS`, whose root node HiGHS solves before a helper would have its LP.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import highspy
import numpy as np

from twin.interrupt import ctrl_c_stops
from twin.parallel import thread_share
from twin.scenario import SolverOptions

log = logging.getLogger(__name__)
RENS_NONZEROS = 100_000  # smaller models: HiGHS's root, and its own RENS, take under a second
INTERRUPTS = ("cbSimplexInterrupt", "cbIpmInterrupt", "cbMipInterrupt")


def rounding_bounds(
    x: np.ndarray, lower: np.ndarray, upper: np.ndarray, tolerance: float = 1e-6
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the RENS sub-MIP for integer columns at LP values `x`: an integral value
    (within `tolerance`) fixed, a fractional one between its floor and its ceiling, both
    within the column's own bounds."""
    nearest = np.round(x)
    integral = np.abs(x - nearest) <= tolerance
    low = np.where(integral, nearest, np.floor(x))
    high = np.where(integral, nearest, np.ceil(x))
    return np.clip(low, lower, upper), np.clip(high, lower, upper)


class Rens:
    """RENS of a MIP on a thread of its own; `offer` hands its plans to a branch and bound."""

    def __init__(self, lp: highspy.HighsLp, integer: np.ndarray, time_limit: float):
        self.lp: highspy.HighsLp | None = lp  # dropped once the helper holds the model
        self.integer = np.flatnonzero(integer).astype(np.int32)
        self.time_limit = time_limit
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.plan: np.ndarray | None = None  # the best plan found
        self.plan_cost = np.inf
        self.found = 0  # plans found, the best last
        self.offered = 0  # how many of them had been found when one was last handed
        self.handed = 0  # plans handed to the branch and bound
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="rens", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Interrupt the search and wait for its thread."""
        self.stopped.set()
        if self.thread.ident is not None:  # started
            self.thread.join()
        if self.error is not None:  # a helper's failure costs its plans, not the solve
            log.warning("RENS found no plan: %s", self.error)

    def offer(self, event) -> None:
        """HiGHS's user-solution callback: the best plan found, if not handed yet. HiGHS
        asks after its setup, during its root node and before each dive, so a plan waits
        for the next ask."""
        with self.lock:
            if self.found == self.offered:
                return
            plan, self.offered = self.plan, self.found
            self.handed += 1
        event.data_in.setSolution(plan)

    def _run(self) -> None:
        try:
            self._search()
        except Exception as error:  # reported by stop(), never raised
            self.error = error

    def _search(self) -> None:
        if self.stopped.is_set():
            return
        # made as twin.solve.new_highs makes every instance after the first (it cannot be
        # imported here: twin.solve imports this module): the branch and bound's instance,
        # made before, hid HiGHS's banner, so stdout is left alone (pointed away from this
        # thread, it would swallow the branch and bound's output)
        highs = highspy.Highs()
        highs.setOptionValue("output_flag", False)
        highs.setOptionValue("time_limit", self.time_limit)
        for name in INTERRUPTS:
            getattr(highs, name).subscribe(self._interrupt)
        highs.cbMipImprovingSolution.subscribe(self._found)
        lower = np.asarray(self.lp.col_lower_)[self.integer]
        upper = np.asarray(self.lp.col_upper_)[self.integer]
        _check(highs.passModel(self.lp), "passModel")
        self.lp = None
        self._set_integrality(highs, highspy.HighsVarType.kContinuous)
        highs.run()
        if self.stopped.is_set() or highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return  # interrupted, or no relaxation to round
        x = np.asarray(highs.getSolution().col_value)[self.integer]
        low, high = rounding_bounds(x, lower, upper)
        self._set_integrality(highs, highspy.HighsVarType.kInteger)
        n = len(self.integer)
        _check(highs.changeColsBounds(n, self.integer, low, high), "changeColsBounds")
        highs.run()

    def _set_integrality(self, highs: highspy.Highs, kind: highspy.HighsVarType) -> None:
        n = len(self.integer)
        kinds = np.full(n, int(kind), dtype=np.uint8)
        _check(highs.changeColsIntegrality(n, self.integer, kinds), "changeColsIntegrality")

    def _interrupt(self, event) -> None:
        if self.stopped.is_set():
            event.interrupt()

    def _found(self, event) -> None:
        """HiGHS's improving-solution callback: each plan is better than the last."""
        plan = np.array(event.data_out.mip_solution)
        with self.lock:
            self.plan, self.plan_cost = plan, float(event.data_out.objective_function_value)
            self.found += 1


def _check(status: highspy.HighsStatus, call: str) -> None:
    if status == highspy.HighsStatus.kError:
        raise RuntimeError(f"HiGHS refused {call}")


def wanted(highs: highspy.Highs, integer: np.ndarray, options: SolverOptions) -> bool:
    """Whether RENS should run beside the branch and bound of `highs`: asked for, a MIP
    large enough, and a second core."""
    threads = options.threads or thread_share()
    return (
        options.rens and bool(integer.any()) and highs.getNumNz() >= RENS_NONZEROS and threads >= 2
    )


@contextmanager
def alongside(
    highs: highspy.Highs, integer: np.ndarray, options: SolverOptions
) -> Iterator[Rens | None]:
    """RENS on the model `highs` holds while the body runs its branch and bound (None where
    it is not `wanted`); stopped, and its callback removed, when the body ends."""
    if not wanted(highs, integer, options):
        yield None
        return
    rens = Rens(highs.getLp(), integer, options.time_limit)
    highs.cbMipUserSolution.subscribe(rens.offer)
    try:
        with ctrl_c_stops(highs):
            rens.start()
            yield rens
    finally:
        try:
            rens.stop()
        finally:
            highs.cbMipUserSolution.unsubscribe(rens.offer)
        log.info(
            "RENS handed %d plan(s) to the branch and bound; its best of %d at %.10g",
            rens.handed,
            rens.found,
            rens.plan_cost,
        )
