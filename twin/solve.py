"""Hand a Pyomo model to HiGHS and bring the answer back, with a clear status.

The fast path: `twin.standard_form` turns the model into CSC arrays (what Pyomo's
`LinearStandardFormCompiler` makes, faster on twin's rows), which go to highspy in one
`passModel` call (several times faster than Pyomo's solver plugins on large models).
`HighsModel` keeps the map between Pyomo variables/constraints and HiGHS columns/rows, so
solution values, duals and in-place what-if changes (bounds) use it.

Every outcome is one of optimal / time_limit / infeasible / unbounded / error; an infeasible
model is explained (IIS of the LP relaxation where HiGHS finds one, else an elastic re-solve
that reports which caps, budgets or shares had to be violated and by how much).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING

import highspy
import numpy as np
import pyomo.environ as pyo
import scipy.sparse as sp
from pyomo.common.errors import InfeasibleConstraintException
from pyomo.common.gc_manager import PauseGC

from twin.rens import alongside
from twin.scenario import SolverOptions
from twin.standard_form import AT_LEAST, AT_MOST, StandardForm, compile_model

if TYPE_CHECKING:
    from twin.decompose import HandOver

log = logging.getLogger(__name__)
INF = highspy.kHighsInf
BANNER_HIDDEN = threading.Event()  # HiGHS's banner went to the null device (`new_highs`)
FINISHED = ("optimal", "time_limit")  # statuses of a run with a usable plan
# Below this gap `auto` solves whole: the decomposition's bound rests on its subproblems'
# duals, good to the LPs' tolerances (1e-7 relative), and a gap near them is HiGHS's to prove.
DECOMPOSE_GAP = 1e-5
FIXED_DUALS = "duals of the LP with integer decisions fixed at their optimum"
# Families whose rows may be relaxed to explain an infeasible model (the balance always holds:
# unmet demand is its own slack).
ELASTIC_FAMILIES = (
    "carbon_cap",
    "country_carbon_cap",
    "emissions_budget",
    "cost_cap",
    "budget",
    "budget_share",
    "import_share",
    "link_capacity",
    "crossing_capacity",
    "capacity",
    "max_modules",
)


def new_highs() -> highspy.Highs:
    """A silent HiGHS instance. HiGHS prints its banner to the process's stdout when the
    first instance is made, which would corrupt machine-readable output (`--json`); stdout
    is pointed away for that one only, so that a later instance made on another thread (a
    crossover beside a Benders master) swallows nothing the process prints meanwhile."""
    if BANNER_HIDDEN.is_set():
        highs = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                highs = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        BANNER_HIDDEN.set()
    highs.setOptionValue("output_flag", False)
    return highs


def pass_model(
    highs: highspy.Highs,
    matrix: sp.csc_matrix,
    cost: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    integer: np.ndarray | None = None,
    offset: float = 0.0,
) -> highspy.HighsStatus:
    """min cost'x + offset s.t. row_lower <= matrix x <= row_upper, lower <= x <= upper (the
    `integer` columns integral) into `highs`, in one call of the array form of passModel."""
    columns = matrix.shape[1]
    integer = np.zeros(columns, dtype=bool) if integer is None else np.asarray(integer, bool)
    return highs.passModel(
        columns,
        matrix.shape[0],
        matrix.nnz,
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize),
        offset,
        cost,
        lower,
        upper,
        row_lower,
        row_upper,
        matrix.indptr.astype(np.int32),
        matrix.indices.astype(np.int32),
        matrix.data.astype(float),
        integer.astype(np.int32),  # HighsVarType: 0 continuous, 1 integer
    )


def limit_time(highs: highspy.Highs, seconds: float, mip: bool = False) -> None:
    """Allow the next solve `seconds`. HiGHS 1.16 counts an LP's time_limit over all the
    solves of its Highs object, so an LP re-solved in place (N-1, a stress test, a Benders
    master) would otherwise run out of time after enough solves; a MIP's counts from the
    start of its own solve, so adding the run time so far let a Benders master MILP run
    past the deadline by every LP master's time (by 60 s with 500 futures)."""
    limit = float(seconds)
    if math.isfinite(limit) and not mip:
        limit += highs.getRunTime()
    highs.setOptionValue("time_limit", limit)


@dataclass
class LpRows:
    """An LP's rows, lower <= matrix x <= upper, to check a solution against."""

    matrix: sp.csr_matrix
    lower: np.ndarray
    upper: np.ndarray
    tolerance: float  # HiGHS's primal feasibility tolerance

    @classmethod
    def of(cls, highs: highspy.Highs, lp: highspy.HighsLp | None = None) -> LpRows:
        """The rows of the LP `highs` holds (`lp`, if its copy is at hand already)."""
        lp = highs.getLp() if lp is None else lp
        a = lp.a_matrix_
        matrix = sp.csc_matrix((a.value_, a.index_, a.start_), shape=(lp.num_row_, lp.num_col_))
        tolerance = highs.getOptions().primal_feasibility_tolerance
        return cls(matrix.tocsr(), np.asarray(lp.row_lower_), np.asarray(lp.row_upper_), tolerance)

    def missed_by(self, x: np.ndarray) -> bool:
        """Whether `x` misses a row by more than the tolerance (relative above 1)."""
        activity = self.matrix @ x
        miss = np.maximum(self.lower - activity, activity - self.upper)
        return bool(np.any(miss > self.tolerance * np.maximum(1.0, np.abs(activity))))


def run_lp(highs: highspy.Highs, rows: LpRows | None = None) -> None:
    """Solve the LP `highs` holds, warm from its last basis after an in-place change if it
    has one. Now and then HiGHS 1.16 calls a warm re-solve optimal while its column values
    miss a row by more than its own tolerance (with 500 futures about 1 warm solve in
    3,000, a balance off by up to 7e-6, where the same LP cold misses by 3e-10); results
    built on it fail their audit, or are wrong unseen. Such a solution is solved again from
    scratch. A solve from scratch is not checked (reading the rows of 1.1M nonzeros takes
    0.5 s). `rows` defaults to the rows `highs` holds; a caller that re-solves the same rows
    many times passes its own."""
    warm = highs.getBasis().valid
    highs.run()
    if not warm or highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return
    rows = LpRows.of(highs) if rows is None else rows
    if rows.missed_by(np.asarray(highs.getSolution().col_value)):
        highs.clearSolver()
        highs.run()


def relative_gap(objective: float, bound: float) -> float:
    """How far a plan may be from the optimum, relative to the plan (as HiGHS reports it)."""
    return (objective - bound) / max(abs(objective), 1e-9)


@dataclass
class SolveResult:
    """What a solve produced; values are loaded into the Pyomo model when there are any."""

    status: str  # optimal / time_limit / infeasible / unbounded / error
    message: str
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    handoff_seconds: float = 0.0
    solve_seconds: float = 0.0
    simplex_iterations: int = 0
    nodes: int = 0
    has_solution: bool = False
    duals: dict[object, float] = field(default_factory=dict)  # constraint data -> dual
    duals_note: str = ""
    explanation: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.has_solution and self.status in FINISHED


class HighsModel:
    """A Pyomo model compiled into a HiGHS instance, with the column and row maps."""

    def __init__(self, model: pyo.ConcreteModel, relax: bool = False):
        """Compile `model`; `relax` drops integrality (the LP relaxation)."""
        start = time.perf_counter()
        self.model = model
        self.start: np.ndarray | None = None  # a starting solution, by column
        with PauseGC():  # the hand-off makes millions of short-lived objects
            form = compile_model(model)
            self.columns = form.columns
            self.rows = form.rows  # (constraint data, EQUAL / AT_MOST / AT_LEAST)
            domains = [id(v.domain) for v in self.columns]  # a handful: ask one variable each
            one_of = dict(zip(domains, self.columns, strict=True))
            integral = {domain: v.is_integer() for domain, v in one_of.items()}
            self.integer = np.fromiter(
                map(integral.__getitem__, domains), dtype=bool, count=len(domains)
            ) & (not relax)
            self.highs = new_highs()
            self._pass(form)
        self.handoff_seconds = time.perf_counter() - start

    def _pass(self, form: StandardForm) -> None:
        """Hand the arrays to HiGHS in one call. The array form of `passModel` copies them
        at once; filling a `HighsLp` field by field converts them element by element (about
        0.1 s at 1M nonzeros)."""
        bounds = [v.bounds for v in self.columns]
        # one column at a time: numpy converts a list of numbers twice as fast as of pairs
        lower, upper = (np.array(list(map(itemgetter(i), bounds)), dtype=float) for i in (0, 1))
        col_lower = np.nan_to_num(lower, nan=-INF)  # None (no bound) came as nan
        col_upper = np.nan_to_num(upper, nan=INF)
        rhs = np.asarray(form.rhs, dtype=float)
        sense = np.array([s for _, s in self.rows], dtype=int)
        status = pass_model(
            self.highs,
            form.A,
            np.ascontiguousarray(form.c, dtype=float),
            col_lower,
            col_upper,
            np.where(sense == AT_MOST, -INF, rhs),
            np.where(sense == AT_LEAST, INF, rhs),
            self.integer,
            float(form.offset),
        )
        if status == highspy.HighsStatus.kError:
            raise ValueError("HiGHS refused the model's arrays")

    @cached_property
    def column_of(self) -> dict[int, int]:
        """Column of each variable, by id (built on first use: only what-ifs need it)."""
        return {id(v): j for j, v in enumerate(self.columns)}

    def cost_cap_row(self) -> int | None:
        """The row of the model's cost cap (`cost_cap`), if it has an active one."""
        cap = self.model.component("cost_cap")
        if cap is None or not cap.active:
            return None
        return next((i for i, (row, _) in enumerate(self.rows) if row is cap), None)

    @property
    def size(self) -> dict[str, int]:
        return {
            "variables": len(self.columns),
            "integer_variables": int(self.integer.sum()),
            "constraints": len(self.rows),
            "nonzeros": int(self.highs.getNumNz()),
        }

    def set_bounds(self, var: pyo.Var, lower: float | None, upper: float | None) -> None:
        """Change a variable's bounds in place (what-if); ignored if the column was dropped."""
        j = self.column_of.get(id(var))
        if j is not None:
            low = -INF if lower is None else lower
            self.highs.changeColBounds(j, low, INF if upper is None else upper)

    def fix_integers(self) -> None:
        """Fix every integer column at the value of the plan loaded into the model (by this
        solver or by a decomposition of it) and drop integrality: what remains is the LP of
        operations, which re-solves warm from its basis after a bound change."""
        columns = np.flatnonzero(self.integer).astype(np.int32)
        if not len(columns):
            return
        values = np.round([float(self.columns[j].value) for j in columns])
        self.highs.changeColsBounds(len(columns), columns, values, values)
        continuous = np.full(len(columns), highspy.HighsVarType.kContinuous)
        self.highs.changeColsIntegrality(len(columns), columns, continuous)
        self.integer[:] = False

    def start_from(self, values: dict[str, float]) -> None:
        """A starting solution by variable name (a feasible plan of a related model), so
        that a MIP with a tight side constraint has an incumbent from the first node; kept
        as `start` for a decomposition, which checks it against its own rows. Only the
        columns of variables the start names are named (a Pyomo name is built on each ask:
        the 1.7 M columns of 500 futures took 7 s, for a start that names their investments)."""
        named = {prefix for name in values for prefix in _component_names(name)}
        asked: dict[int, bool] = {}  # id of a variable component: whether the start names it

        def value(column) -> float:
            parent = column.parent_component()
            if id(parent) not in asked:
                asked[id(parent)] = parent.name in named
            return values.get(column.name, 0.0) if asked[id(parent)] else 0.0

        self._start_with(np.array([value(v) for v in self.columns]))

    def _start_with(self, values: np.ndarray) -> None:
        """Every column's start value, for HiGHS and a decomposition."""
        self.start = values
        solution = highspy.HighsSolution()
        solution.col_value = values.tolist()
        self.highs.setSolution(solution)

    def values(self) -> dict[str, float]:
        """Column values by variable name: a start for `start_from`."""
        return {v.name: float(v.value) for v in self.columns if v.value is not None}

    def solve(self, options: SolverOptions, log_file: Path | None = None) -> SolveResult:
        """Solve by `options.method` (Benders where `_decomposed` takes the model, else one
        HiGHS branch and bound); load values into the model; duals from the fixed-integer
        LP."""
        if options.method != "monolithic" and self.integer.any():  # else nothing to split
            result = self._decomposed(options, log_file)
            if result is not None:
                return result
        return self._branch_and_bound(options, log_file)

    def _decomposed(self, options: SolverOptions, log_file: Path | None) -> SolveResult | None:
        """The Benders solve, or None where `auto` leaves the model to one branch and
        bound: operations that do not split (one subproblem, as under a horizon-wide
        emissions budget), a model the decomposition cannot solve (an objective on
        operations under a cost cap, whose row the master holds), or a gap below
        DECOMPOSE_GAP."""
        from twin.decompose import DecompositionError, HandOver, benders, split  # builds on this

        chosen = options.method == "benders"
        if not chosen and options.mip_gap < DECOMPOSE_GAP:
            return None
        started = time.perf_counter()
        try:
            parts = split(self, fewest=1 if chosen else 2, cap=self.cost_cap_row())
            if parts is None:
                return None
            result, iterations = benders(self, parts, options, log_file, hand_over=not chosen)
        except DecompositionError as error:
            if not chosen:
                log.info("auto: one branch and bound (%s)", error)
                return None
            return SolveResult(status="error", message=str(error))
        except HandOver as stalled:
            return self._handed_over(stalled, time.perf_counter() - started, options, log_file)
        result.message = f"Benders decomposition, {iterations} iterations"
        return result

    def _handed_over(
        self, stalled: HandOver, spent: float, options: SolverOptions, log_file: Path | None
    ) -> SolveResult:
        """One branch and bound in the time the decomposition left, from its best plan, its
        bound the better of the two (one stopped early may not have the decomposition's);
        the decomposition's log is kept beside HiGHS's (`highs_benders.log`)."""
        log.info("auto: Benders handed over to one branch and bound (%s)", stalled)
        if log_file is not None and log_file.exists():
            log_file.replace(log_file.with_name(f"{log_file.stem}_benders{log_file.suffix}"))
        if stalled.values is not None:
            self._start_with(stalled.values)
        rest = replace(options, time_limit=max(options.time_limit - spent, 1.0))
        result = self._branch_and_bound(rest, log_file)
        if result.has_solution and result.bound is not None and stalled.bound > result.bound:
            result.bound = min(stalled.bound, result.objective)
            result.gap = relative_gap(result.objective, result.bound)
            if result.gap <= options.mip_gap:
                result.status = "optimal"  # proven by the decomposition's bound
        result.solve_seconds += spent
        result.simplex_iterations += stalled.iterations
        result.nodes += stalled.nodes
        result.message = f"{result.message} by one branch and bound, after Benders {stalled}"
        return result

    def _branch_and_bound(self, options: SolverOptions, log_file: Path | None) -> SolveResult:
        """Run HiGHS on the whole model; load values into the model; duals."""
        highs = self.highs
        limit_time(highs, options.time_limit, mip=bool(self.integer.any()))
        highs.setOptionValue("mip_rel_gap", float(options.mip_gap))
        highs.setOptionValue("random_seed", int(options.seed))
        highs.setOptionValue("mip_lp_solver", options.root_lp)
        if options.threads:
            # HiGHS runs every instance of a process on one pool of threads, sized at the
            # first run, and fails an instance that asks another size ("Not Set": a branch
            # and bound with solver.threads=1 after a Benders decomposition's masters, which
            # take the default). Rebuilt here at the size asked; no HiGHS runs meanwhile.
            highspy.Highs.resetGlobalScheduler(True)
            highs.setOptionValue("threads", int(options.threads))
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            highs.setOptionValue("log_file", str(log_file))
            highs.setOptionValue("output_flag", True)
            highs.setOptionValue("log_to_console", bool(options.log_to_console))
        start = time.perf_counter()
        if self.integer.any():
            with alongside(highs, self.integer, options):
                highs.run()
        else:  # an LP, re-solved warm after a what-if's change (N-1)
            run_lp(highs)
        result = self._result(time.perf_counter() - start)
        if result.status in ("infeasible", "unbounded") and highs.getModelStatus() == (
            highspy.HighsModelStatus.kUnboundedOrInfeasible
        ):
            highs.setOptionValue("presolve", "off")
            highs.run()
            highs.setOptionValue("presolve", "choose")
            result = self._result(result.solve_seconds + time.perf_counter() - start)
        if result.has_solution:
            values = np.asarray(highs.getSolution().col_value)
            self.load(values)
            self.add_duals(result, values)
        if result.status == "infeasible":
            result.explanation = self.explain_infeasibility()
        return result

    def _result(self, seconds: float) -> SolveResult:
        highs, info = self.highs, self.highs.getInfo()
        status = highs.getModelStatus()
        empty = status == highspy.HighsModelStatus.kModelEmpty  # nothing to decide
        has_solution = empty or info.primal_solution_status == 2  # feasible
        mip = bool(self.integer.any())
        result = SolveResult(
            status=status_name(status),
            message=highs.modelStatusToString(status),
            handoff_seconds=self.handoff_seconds,
            solve_seconds=seconds,
            simplex_iterations=int(info.simplex_iteration_count),
            nodes=int(info.mip_node_count) if mip else 0,
            has_solution=has_solution and status_name(status) in FINISHED,
        )
        if empty:
            result.objective = result.bound = float(highs.getObjectiveOffset()[1])
            result.gap = 0.0
        elif result.has_solution:
            result.objective = float(info.objective_function_value)
            # a bound above the plan is one by HiGHS's tolerances: the plan's cost is a bound
            bound = float(info.mip_dual_bound) if mip else result.objective
            result.bound = min(bound, result.objective)
            result.gap = float(info.mip_gap) if mip else 0.0
            if result.gap is not None and not math.isfinite(result.gap):
                result.gap = None
        return result

    def load(self, values: np.ndarray) -> None:
        """Column values (integers rounded) into the Pyomo model's variables; variables the
        compiler dropped (in no row, not in the objective) at their lower bound or 0."""
        for var, value, integer in zip(self.columns, values, self.integer, strict=True):
            var.set_value(round(value) if integer else float(value), skip_validation=True)
        for var in self.model.component_data_objects(pyo.Var, descend_into=True):
            if var.value is None:  # dropped by the compiler: in no row and not in the objective
                var.set_value(max(0.0, var.lb or 0.0), skip_validation=True)

    def add_duals(self, result: SolveResult, values: np.ndarray) -> None:
        """Row duals; for a MILP from the LP with its integer columns fixed at `values` (the
        plan of the branch and bound or of a decomposition)."""
        if not self.integer.any():
            self.set_duals(result, np.asarray(self.highs.getSolution().row_dual), "duals of the LP")
            return
        fixed = self.highs.getLp()
        columns = np.flatnonzero(self.integer)
        lower, upper = np.array(fixed.col_lower_), np.array(fixed.col_upper_)
        lower[columns] = upper[columns] = np.round(values[columns])
        fixed.col_lower_, fixed.col_upper_, fixed.integrality_ = lower, upper, []
        lp_solver = new_highs()
        lp_solver.passModel(fixed)
        lp_solver.run()
        if lp_solver.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            result.duals_note = "restricted LP not optimal: no duals"
            return
        self.set_duals(result, np.asarray(lp_solver.getSolution().row_dual), FIXED_DUALS)

    def set_duals(self, result: SolveResult, row_dual: np.ndarray, note: str) -> None:
        """The rows' duals (in the compiled model's row order) as the result's prices."""
        result.duals_note = note
        for i, (con, _) in enumerate(self.rows):
            result.duals[con] = result.duals.get(con, 0.0) + float(row_dual[i])

    def explain_infeasibility(self) -> list[str]:
        """Name the constraints that conflict: IIS of the LP relaxation, else elastic."""
        lines = self._iis()
        return lines or self._elastic()

    def _iis(self) -> list[str]:
        relaxed = new_highs()
        lp = self.highs.getLp()
        lp.integrality_ = []
        relaxed.passModel(lp)
        relaxed.run()
        if relaxed.getModelStatus() != highspy.HighsModelStatus.kInfeasible:
            return []  # the LP relaxation is feasible: integrality causes the conflict
        status, iis = relaxed.getIis()
        if status != highspy.HighsStatus.kOk or not iis.valid_:
            return []
        names = [f"constraint {self.rows[i][0].name}" for i in iis.row_index_]
        names += [f"bounds of {self.columns[j].name}" for j in iis.col_index_]
        return ["irreducible infeasible set (LP relaxation): " + "; ".join(names)] if names else []

    def _elastic(self) -> list[str]:
        """Add a penalised slack to every relaxable row; report the slacks that are used."""
        elastic = new_highs()
        lp = self.highs.getLp()
        elastic.passModel(lp)
        elastic.changeColsCost(
            lp.num_col_, np.arange(lp.num_col_, dtype=np.int32), np.zeros(lp.num_col_)
        )
        relaxable = [
            i
            for i, (con, _) in enumerate(self.rows)
            if con.parent_component().local_name in ELASTIC_FAMILIES
        ]
        for i in relaxable:
            lower, upper = lp.row_lower_[i], lp.row_upper_[i]
            for sign in [-1.0] if lower == -INF else [1.0] if upper == INF else [-1.0, 1.0]:
                elastic.addCol(1.0, 0.0, INF, 1, np.array([i], np.int32), np.array([sign]))
        elastic.run()
        if elastic.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return [
                "the model stays infeasible with every cap, budget and share relaxed: "
                "check integer bounds and fixed decisions"
            ]
        values = np.asarray(elastic.getSolution().col_value)[lp.num_col_ :]
        lines, column = [], 0
        for i in relaxable:
            lower, upper = lp.row_lower_[i], lp.row_upper_[i]
            count = 1 if (lower == -INF or upper == INF) else 2
            violation = float(values[column : column + count].sum())
            column += count
            if violation > 1e-6:
                lines.append(f"{self.rows[i][0].name} must be relaxed by {violation:.6g}")
        return lines or ["infeasible for integrality reasons alone"]


def status_name(status) -> str:
    kinds = highspy.HighsModelStatus
    return {
        kinds.kOptimal: "optimal",
        kinds.kTimeLimit: "time_limit",
        kinds.kIterationLimit: "time_limit",
        kinds.kSolutionLimit: "time_limit",
        kinds.kInterrupt: "time_limit",
        kinds.kInfeasible: "infeasible",
        kinds.kUnbounded: "unbounded",
        kinds.kUnboundedOrInfeasible: "unbounded",
        kinds.kModelEmpty: "optimal",
    }.get(status, "error")


def _component_names(name: str) -> Iterator[str]:
    """The names the component of a variable called `name` may have: the name up to each
    "[" (an index, or an indexed block's), and the whole name (a scalar variable)."""
    at = name.find("[")
    while at >= 0:
        yield name[:at]
        at = name.find("[", at + 1)
    yield name


def solve(
    model: pyo.ConcreteModel,
    options: SolverOptions,
    log_file: Path | None = None,
    start: dict[str, float] | None = None,
) -> tuple[SolveResult, HighsModel | None]:
    """Compile and solve (from `start`, values by variable name, if given) by the method of
    `options`; never raises for a modelling outcome."""
    try:
        highs_model = HighsModel(model)
    except InfeasibleConstraintException as error:
        return SolveResult(status="infeasible", message=str(error), explanation=[str(error)]), None
    if start:
        highs_model.start_from(start)
    return highs_model.solve(options, log_file), highs_model
