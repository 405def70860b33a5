r"""Benders decomposition: investments in a master MILP, operations in LP subproblems.

It works on the standard form of a compiled model (`twin.solve.HighsModel`), so it serves
any twin model. The investment columns (modules, openings, expansions, agglomeration
segments: every integer column and the segment fills) and the rows that hold only them form
the master; the other rows and the operations' columns split into independent subproblems,
the connected components of their sparsity pattern (for twin: one per period, unless a row
couples periods, as a horizon-wide emissions budget does). With :math:`y` the master's
columns, :math:`B_s` their coefficients in subproblem s and :math:`\lambda_s` its row duals:

.. math::

    \min\ c_y y + \sum_s \theta_s \quad \text{s.t. master rows},\quad
    \theta_s \ge z_s(\hat y) - \lambda_s^\top B_s (y - \hat y) \ \text{(each cut)}

    z_s(\hat y) = \min\ c_s x \quad \text{s.t.}\quad L_s - B_s \hat y \le A_s x \le U_s - B_s
    \hat y,\quad l \le x \le u

A root phase first solves the master's LP relaxation by cutting planes: each LP master's
plan :math:`\bar y` is moved towards a core point :math:`y^0` (the running mean of the LP
plans) and the subproblems are separated at :math:`\alpha \bar y + (1 - \alpha) y^0`
(in-out stabilisation, :math:`\alpha = 1/2`, at :math:`\bar y` itself when that yields no cut
that cuts it off). These cuts are cheap (LP masters) and already carry the relaxation's
bound, so the MILP masters that follow start from it: on the reference data this took the
decomposition from 24 MILP masters to 1 at a 0.5 % gap. Each MILP iteration solves the
master, then every subproblem at the master's plan (warm from its last basis; in parallel
threads, `solver.threads`, by default this process's share of the cores) and at each other
plan the master's branch and bound found on its way (HiGHS keeps its improving solutions: a
few LPs each, where a MILP master costs seconds, and one of them is often cheaper than the
master's optimum), and adds a cut for each
subproblem its :math:`\theta_s` underestimates at that plan: :math:`z_s` is convex in
:math:`\hat y` and :math:`-B_s^\top\lambda_s` a subgradient, so every cut is valid. With
`solver.neighbours_from` k > 0 it also separates at the neighbours of the k-th and later
masters whose own plans leave the gap open: the master's plan moved one step (a module, an
opening, an expansion) on each investment on which its plans disagree, where the next
masters look and the cuts so far under-estimate the operations. A neighbour's cut is added
only where it raises the master's estimate there, and a neighbour that keeps the master's
rows may be the best plan; all neighbours or none, where their LPs number at most
`NEIGHBOUR_LPS`. From the second master on, this proved the reference scenarios at 0.1 % in
115 s against 180 s and hard futures faster, but made runs at the default gap that close
in three or four masters 1.4 times slower, so it is off by default (benchmarks/README.md,
round 21). From the
`solver.keep_period_from`-th MILP master on (by default the first; 0: never) the master
also holds the operations of one period whole (partial Benders, after Crainic, Hewitt,
Maggioni and Rei, 2021): the subproblem whose rows hold the most master columns, on twin's
models the last period, its operations' columns at their costs in the master's objective
and its rows, so that the master prices that period exactly at every plan it looks at, not
by cuts from the plans it has seen; its theta costs nothing from then on and gets no more
cuts (those it has stay, and no longer count). The root phase's LP masters stay small, by
cuts alone. Against cuts alone, this proved the reference scenarios at 0.1 % in 59 s
against 237 s, the default frontier in 57 s against 106 s, 9 of 10 hard wait-and-see
futures in 506 s against 7 in 820 s, and 23 runs a planner makes at the default gap in
98 s against 130 s, though the four reference scenarios at that gap, which cuts alone
close in two masters, took 4.2-13.9 s against 2.5-4.9 s (benchmarks/README.md, round 23);
keeping the period in the root phase too was slower at 0.1 % (round 23). A model of one
subproblem and a plan of many futures keep none (`_may_keep`). While a MILP master's plans
leave the gap open, `solver.crossover` (on by default) searches the whole model, its
operations priced exactly, where those plans and the best plan so far disagree: each
integer column within the range of its values over them (a crossover, `twin.crossover`).
It runs on a thread of its own beside the next master (HiGHS lets go of Python while it
solves), for at most as long as the last master took; its plan is priced when both have
ended and cut as the master's are. Both stop once the gap is closed (`Goal`): HiGHS
reports the master's bound while it runs, and the crossover each plan it finds, so a
master stops once its bound proves the best plan (its own gap, to its own plans, no
longer the point) or a crossover's plan is proven by the bound already known. The
master's cuts under-estimate the operations of plans they have not seen, so its plans are
good but rarely the best: at 0.1 % the first master's bound was enough in three of the
four reference scenarios, and its plans were not. With crossovers after each master the
four took 37 s against 61 s at 0.1 % and 20 s against 33 s at 0.2 %, ten hard
wait-and-see futures 312 s against 498 s (all ten proven, against nine), 23 runs a
planner makes 98 s against 103 s (round 24); beside the next master rather than after
it, high_carbon_price at 0.1 % took 12.0-12.1 s against 15.6-16.0 s (the three others,
which the first crossover closes, up to 1.0 s longer: the master beside it shares the cores),
23 runs a planner makes 77 s against 85 s, the default frontier 40-46 s against 65-68 s and
ten hard futures 255 s against 273 s, all proven either way (geometric mean of the
ratios 0.88, from 0.41 to 2.4: the crossover's cuts reach the master after next, and
some futures' masters take another path; round 25). The
master's bound is a lower bound of the optimum, the best plan's :math:`c_y \hat y + \sum_s
z_s(\hat y)` an upper bound; the loop stops when they meet within the MIP gap, or at the
time limit. It needs complete recourse (every subproblem feasible for every plan, as it is
with unmet demand allowed), operating costs bounded below by the column bounds and at least
one integer column (a model without any is solved whole). A MIP start whose investments keep
the master's rows is the first plan (and its cuts the first cuts); one that does not is
dropped. The :math:`\theta_s` are in units of the largest investment cost, so that cuts of
1e10 USD stay within the LP master's tolerances. Master columns that rows :math:`y_a = y_b`
tie together are one column of the master MILP (:math:`y = P y'`; each cut's slope becomes
:math:`P^\top` of it): a stochastic plan's non-anticipativity rows tie every future's copy
of each investment, and with 500 futures the master would otherwise hold 500 copies of every
investment; the rows that tying makes identical (every future's copy of an investment row)
are kept once.

A cost cap (`cost_cap`, :math:`c_y y + \sum_s c_s x_s \le \bar C`: the alternatives of
`twin.alternatives`, each furthest in a direction :math:`d` within a slack of the least
cost) couples every period, but through one row, which the master holds; the subproblems
price their operations by that row and the objective must lie on master columns alone
(capex directions; an emissions direction is solved whole by `auto`):

.. math::

    \min\ d^\top y \quad \text{s.t. master rows},\quad c_y y + \sum_s \theta_s \le \bar C,
    \quad \theta_s \ge \text{cuts}

Each plan's operations at their least cost :math:`z_s(\hat y)` are the cheapest way to keep
the cap, so the cap holds for :math:`\hat y` if and only if :math:`c_y \hat y + \sum_s
z_s(\hat y) \le \bar C`; the thetas under-estimate, so the master is a relaxation and its
bound holds. Its plans spend what the cuts under-estimate and mostly break the cap (they are
cut off, not kept): the plans come from the crossovers of the masters' plans with the best
so far (at first the start, the least-cost plan), which search the whole model, cap
included. The cap is the master's first row, in units that put its bound near 1e6 (in
currency a master ended in a HiGHS solve error, 7.6e-6 USD over a cap of 6.6e10), and a
kept period's operations enter that row. Under a cap a MILP master runs for at most a quarter
of the time limit, its plans then crossed, and a slow master is no reason to hand over: one
branch and bound left these models far less closed (benchmarks/README.md, round 27).

`solver.method=auto`, the default, decomposes where the operations split into two or more
subproblems and the gap is at least 1e-5 (the bound rests on the subproblems' duals, good
to the LPs' tolerances); otherwise, or when the decomposition cannot solve the model, one
branch and bound solves it whole. Where the decomposition stalls (its root phase needs
over 100 LP masters, or after a quarter of the time limit is still a whole gap from the
relaxation and not shrinking fast enough to get there in half the time left, or three
MILP masters in a row barely raise its bound, or one takes a quarter of the time limit
with no cost cap) or fails (a master's HiGHS solve error, which `benders` reports as an
error, not as a time limit), `auto` hands the model over to one branch and bound for the
time left, with the decomposition's best plan as its MIP start and its bound kept where the
branch and bound stops with a weaker one: Benders closes the reference scenarios' gaps
several times faster than one branch and bound, and the synthetic networks' many times slower
(their LP relaxation lies 0.8 % below the optimum on synthetic_2, against 0.35 % on the
reference, and only branch and bound's own cuts on the whole model close it). Either way
the plan's prices are the duals of the whole model's LP with its integer columns fixed at
the plan; after a decomposition they come block by block (each subproblem's at the plan,
the other rows' from a small LP of the continuous master columns), which is exact while no
continuous master column appears in an operations row (else the whole LP is solved).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import highspy
import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from scipy.sparse.csgraph import connected_components

from twin.crossover import Crossover, Goal
from twin.interrupt import ctrl_c_stops
from twin.parallel import chunks, thread_share
from twin.scenario import SolverOptions
from twin.solve import (
    FIXED_DUALS,
    INF,
    HighsModel,
    LpRows,
    SolveResult,
    limit_time,
    new_highs,
    pass_model,
    relative_gap,
    run_lp,
)

# The investment decisions: the master's columns, with every integer column; the others are
# operations. Agglomeration's segment fills are continuous but count modules, not operations.
INVESTMENTS = frozenset(
    {"build", "open", "expand_link", "expand_crossing", "agglomeration_fill", "agglomeration_full"}
)
IN_OUT = 0.5  # the separation point's weight on the LP plan against the core point
ROOT_STALL = 10  # root-phase iterations over which its bound must still rise
# `auto` hands a model over to one branch and bound when the decomposition stalls: when
# HAND_OVER_STALL MILP masters in a row each raise the bound by less than HAND_OVER_RISE of
# the gap left, when the root phase needs more than HAND_OVER_ROOT LP masters (42-55 on the
# reference scenarios, 170-400 on the synthetic networks) or after HAND_OVER_TIME of the
# time limit is still a whole MIP gap from the relaxation and not `_closing` it, or when one
# MILP master takes more than that. On the synthetic networks (benchmarks) the bound stays
# flat while one branch and bound proves their gap in seconds; of the reference scenarios
# at a 0.1 % gap only `smart_agro_2030` is handed over (round 21).
HAND_OVER_STALL = 3
HAND_OVER_RISE = 0.01
HAND_OVER_TIME = 0.25
HAND_OVER_ROOT = 100
# Plans one step from a MILP master's plan are evaluated where their LPs number at most
# NEIGHBOUR_LPS (the reference data's 7 subproblems: up to 285 plans; a stochastic plan's 35
# or more: rarely); a part of them, as many as fit, made stochastic plans slower
# (benchmarks/README.md, round 21).
NEIGHBOUR_LPS = 2000


class DecompositionError(ValueError):
    """A model the decomposition cannot solve (no complete recourse, unbounded operations),
    or a decomposition that failed (a master's HiGHS solve error, short of the time limit)."""


class HandOver(Exception):
    """The decomposition stalls where one branch and bound may not: `auto` hands the model
    over, with the best plan found (every column) as its start, if there is one, and the
    bound the decomposition proved (a branch and bound stopped early may hold a weaker one)."""

    def __init__(
        self,
        reason: str,
        values: np.ndarray | None,
        bound: float = -math.inf,
        work: tuple[int, int] = (0, 0),
    ):
        super().__init__(reason)
        self.values = values
        self.bound = bound
        self.iterations, self.nodes = work  # the decomposition's, as `Decomposition.work`


@dataclass
class Subproblem:
    """One block of operations: its rows and columns in the full model, and its LP."""

    rows: np.ndarray
    columns: np.ndarray
    links: np.ndarray  # the master columns that appear in its rows (positions in the plan)
    coupling: sp.csr_matrix  # B_s: their coefficients in these rows
    lower: np.ndarray
    upper: np.ndarray
    highs: highspy.Highs = field(repr=False)
    floor: float  # the least its cost can be, from the column bounds
    matrix: sp.csr_matrix = field(repr=False)  # A_s: the operations' coefficients
    tolerance: float  # HiGHS's primal feasibility tolerance (70 us to ask it per solve)
    iterations: int = 0  # simplex iterations of its solves so far

    def solve(self, plan: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """z_s at the master's plan, the row duals and the column values, from a warm
        re-solve checked against the rows (`twin.solve.run_lp`)."""
        shift = self.coupling @ plan[self.links]
        count, low, high = len(self.rows), self.lower - shift, self.upper - shift
        self.highs.changeRowsBounds(count, np.arange(count, dtype=np.int32), low, high)
        run_lp(self.highs, LpRows(self.matrix, low, high, self.tolerance))
        if self.highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            status = self.highs.modelStatusToString(self.highs.getModelStatus())
            raise DecompositionError(
                f"an operations subproblem is {status} for the master's plan: the "
                "decomposition needs every plan to be operable (allow unmet demand)"
            )
        solution, info = self.highs.getSolution(), self.highs.getInfo()
        self.iterations += int(info.simplex_iteration_count)
        value = info.objective_function_value
        return value, np.asarray(solution.row_dual), np.asarray(solution.col_value)


@dataclass
class Best:
    """The best plan found: its objective, master columns and operations."""

    objective: float = math.inf
    plan: np.ndarray | None = None
    operations: list[np.ndarray] = field(default_factory=list)
    duals: list[np.ndarray] = field(default_factory=list)  # each subproblem's row duals

    @classmethod
    def of(cls, parts: Decomposition, plan: np.ndarray, solved: list) -> Best:
        """The plan's objective: its investments' cost plus its subproblems' optima; under a
        cost cap, its objective (on investments alone) where its cost keeps the cap, and no
        plan where it does not."""
        operations = sum(z for z, _, _ in solved)
        total = parts.offset + parts.cost[parts.master] @ plan
        if parts.cap is None:
            total += operations
        elif parts.priced[parts.master] @ plan + operations > parts.cap_limit:
            return cls()
        return cls(float(total), plan, [x for _, _, x in solved], [d for _, d, _ in solved])


@dataclass
class Decomposition:
    """A compiled model split into master and subproblems (see the module docstring)."""

    master: np.ndarray  # the master's columns in the full model
    integer: np.ndarray  # which of them are integer
    master_rows: np.ndarray
    subproblems: list[Subproblem]
    matrix: sp.csr_matrix  # the full model's rows
    cost: np.ndarray  # the objective
    priced: np.ndarray  # what the subproblems minimise: the objective's or a cost cap's row
    offset: float
    lower: np.ndarray  # column bounds of the full model
    upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    scale: float  # currency per unit of theta, the order of the largest investment cost
    tie: np.ndarray  # each master column's column in the master MILP (tied columns share one)
    cap: int | None = None  # the cost cap's row, if the model has one (`split`)
    kept: int | None = None  # the subproblem whole in the master (`_keep_whole`): no more cuts
    master_iterations: int = 0  # simplex iterations of the LP and MILP masters so far
    master_nodes: int = 0  # branch-and-bound nodes of the MILP masters so far

    def count(self, master: highspy.Highs, mip: bool) -> None:
        """Add a master solve's work (none from a solve error, whose counts are -1)."""
        info = master.getInfo()
        self.master_iterations += max(int(info.simplex_iteration_count), 0)
        self.master_nodes += max(int(info.mip_node_count), 0) if mip else 0

    def work(self) -> tuple[int, int]:
        """Simplex iterations (masters and subproblems) and nodes so far, for the record."""
        iterations = self.master_iterations + sum(sub.iterations for sub in self.subproblems)
        return iterations, self.master_nodes

    @cached_property
    def cap_limit(self) -> float:
        """The most a plan may cost under the cost cap, to a relative 1e-9 (HiGHS keeps rows
        to its tolerances, and a crossover's plan, priced again, may touch the cap)."""
        limit = float(self.row_upper[self.cap])
        return limit + 1e-9 * abs(limit)

    @cached_property
    def cap_unit(self) -> float:
        """Currency per unit of the cost cap's row in the master, its bound near 1e6: in
        currency, HiGHS found a master's plan 7.6e-6 USD over a cap of 6.6e10 (the bound's
        last bit; its feasibility tolerance is 1e-6) and ended the master in a solve error."""
        return 10.0 ** (round(math.log10(max(abs(self.row_upper[self.cap]), 1.0))) - 6)

    @cached_property
    def tied(self) -> sp.csr_matrix:
        """P: the master columns from the master MILP's, y = P y' (ones, one per row)."""
        n = len(self.tie)
        return sp.csr_matrix((np.ones(n), (np.arange(n), self.tie)), shape=(n, self.width))

    @cached_property
    def width(self) -> int:
        """The master MILP's investment columns (before its thetas)."""
        return int(self.tie.max(initial=-1)) + 1

    @cached_property
    def tied_integer(self) -> np.ndarray:
        """Which of the master MILP's investment columns are integer (any copy is)."""
        integer = np.zeros(self.width, dtype=bool)
        integer[self.tie[self.integer]] = True
        return integer

    def unpack(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A master MILP solution as (every master column, within its bounds; the thetas).
        An LP master's solution keeps its bounds only to HiGHS's tolerance: with 500 futures
        a build of -4.7e-11, times a module's capacity, left an operations subproblem
        infeasible (and the run without a plan)."""
        plan = np.clip(
            self.tied @ values[: self.width], self.lower[self.master], self.upper[self.master]
        )
        return plan, values[self.width : self.width + len(self.subproblems)]


def split(model: HighsModel, fewest: int = 1, cap: int | None = None) -> Decomposition | None:
    """Master columns (investments and every integer column), master rows (rows of master
    columns only), and the subproblems: connected components of the other rows and the
    operations' columns; None if there are fewer than `fewest` (before any is built). With
    `cap`, the row of a cost cap (cost <= C), which the master holds and no subproblem: the
    objective must be on master columns alone, and the subproblems price operations by the
    cap's row."""
    lp = model.highs.getLp()
    whole = LpRows.of(model.highs, lp)
    matrix = whole.matrix
    investment = np.array(
        [column.parent_component().local_name in INVESTMENTS for column in model.columns]
    )
    master = np.flatnonzero(investment | model.integer)
    continuous = np.flatnonzero(~(investment | model.integer))
    cost = np.asarray(lp.col_cost_)
    priced = cost if cap is None else _capped(matrix, cost, continuous, whole, cap)
    operating = matrix[:, continuous]
    other = np.arange(matrix.shape[0]) != (-1 if cap is None else cap)
    sub_rows = np.flatnonzero((operating.getnnz(axis=1) > 0) & other)
    master_rows = np.flatnonzero((operating.getnnz(axis=1) == 0) & other)
    block = operating[sub_rows]  # sub rows x continuous columns: its components split them
    graph = sp.bmat([[None, block], [block.T, None]], format="csr")
    _, label = connected_components(graph, directed=False)
    row_label, column_label = label[: len(sub_rows)], label[len(sub_rows) :]
    if len(np.unique(row_label)) < fewest:  # blocks with rows: a lone column is no split
        return None
    lower, upper = np.asarray(lp.col_lower_), np.asarray(lp.col_upper_)
    row_lower, row_upper = whole.lower, whole.upper
    tie, ties = _ties(
        matrix[master_rows][:, master], row_lower[master_rows], row_upper[master_rows]
    )
    master_rows = master_rows[~ties]
    # each component's rows and columns made contiguous, so that a block is a slice: with
    # 500 futures there are 3,500 blocks, and indexing the whole model for each was quadratic
    row_order = np.argsort(row_label, kind="stable")
    column_order = np.argsort(column_label, kind="stable")
    sorted_rows, sorted_columns = row_label[row_order], column_label[column_order]
    blocks = block[row_order][:, column_order]
    couplings = matrix[sub_rows[row_order]][:, master]
    subproblems = []
    for component in np.unique(column_label):
        r0, r1 = np.searchsorted(sorted_rows, [component, component + 1])
        c0, c1 = np.searchsorted(sorted_columns, [component, component + 1])
        rows, columns = sub_rows[row_order[r0:r1]], continuous[column_order[c0:c1]]
        local = blocks[r0:r1, c0:c1].tocsc()
        highs = new_highs()
        bounds = (lower[columns], upper[columns], row_lower[rows], row_upper[rows])
        pass_model(highs, local, priced[columns], *bounds)
        floor = np.where(priced[columns] >= 0, lower[columns], upper[columns]) @ priced[columns]
        if not math.isfinite(floor):
            raise DecompositionError("operating costs unbounded below: no decomposition")
        coupling = couplings[r0:r1]
        links = np.unique(coupling.indices)
        subproblems.append(
            Subproblem(
                rows,
                columns,
                links,
                sp.csr_matrix(
                    (coupling.data, np.searchsorted(links, coupling.indices), coupling.indptr),
                    shape=(len(rows), len(links)),
                ),
                row_lower[rows],
                row_upper[rows],
                highs,
                float(floor),
                local.tocsr(),
                whole.tolerance,
            )
        )
    return Decomposition(
        master,
        model.integer[master],
        master_rows,
        subproblems,
        matrix,
        cost,
        priced,
        float(lp.offset_),
        lower,
        upper,
        row_lower,
        row_upper,
        10.0 ** round(math.log10(max(float(np.abs(priced[master]).max(initial=0.0)), 1.0))),
        tie,
        cap,
    )


def _capped(
    matrix: sp.csr_matrix, cost: np.ndarray, operations: np.ndarray, rows: LpRows, cap: int
) -> np.ndarray:
    """What each column costs by the cost cap's row, checked: the decomposition of a capped
    model projects its operations onto their least cost, which holds only for a ceiling on
    cost (no floor) and an objective that leaves the operations free to be cheapest."""
    if math.isfinite(rows.lower[cap]):
        raise DecompositionError("the cost cap is not a ceiling: no decomposition")
    if np.any(cost[operations] != 0):
        raise DecompositionError("an objective on operations under a cost cap: no decomposition")
    return matrix[cap].toarray().ravel()


def _ties(
    rows: sp.csr_matrix, lower: np.ndarray, upper: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Master columns that rows y_a = y_b tie together (a stochastic plan's copies of one
    investment, one per future: `twin.stochastic`), as one column each in the master MILP,
    and which rows were such ties (they hold by construction there). With 500 futures the
    master otherwise holds 500 copies of every investment, and each LP master took 23 s."""
    pairs = (np.diff(rows.indptr) == 2) & (lower == 0) & (upper == 0)
    starts = rows.indptr[:-1][pairs]
    a, b = rows.indices[starts], rows.indices[starts + 1]
    equal = rows.data[starts] == -rows.data[starts + 1]  # y_a - y_b = 0, however scaled
    ties = np.zeros(len(pairs), dtype=bool)
    ties[pairs] = equal
    first, second = a[equal], b[equal]
    n = rows.shape[1]
    graph = sp.csr_matrix((np.ones(len(first)), (first, second)), shape=(n, n))
    _, tie = connected_components(graph, directed=False)
    return tie, ties


class Progress:
    """The decomposition's lines in the run's solver log (where HiGHS writes its own when
    it solves the model whole), and on the console if asked."""

    def __init__(self, path: Path | None, echo: bool):
        self.path, self.echo, self.started = path, echo, time.perf_counter()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")

    def __call__(self, text: str) -> None:
        line = f"{text}  {time.perf_counter() - self.started:.1f} s"
        if self.path is not None:
            with self.path.open("a") as log:
                log.write(line + "\n")
        if self.echo:
            print(line, flush=True)


def benders(
    model: HighsModel,
    parts: Decomposition,
    options: SolverOptions,
    log_file: Path | None = None,
    hand_over: bool = False,
) -> tuple[SolveResult, int]:
    """Solve `model`, split into `parts`, by Benders decomposition to `options`' gap and time
    limit (subproblems on `options.threads` threads, on its share of the cores with 0); the result
    (values loaded into the Pyomo model when there is a plan) and the number of iterations
    (root phase included). A start (`model.start`) that keeps the master's rows is the
    first plan. With `hand_over`, raises HandOver where the decomposition stalls (see
    HAND_OVER_STALL)."""
    progress = Progress(log_file, options.log_to_console)
    started, mip_gap = time.perf_counter(), options.mip_gap
    deadline = started + options.time_limit
    master = _master(parts)
    count, subs = parts.width, parts.subproblems
    threads = options.threads or thread_share()  # 0: this process's share of the cores
    runner = Parallel(n_jobs=threads, prefer="threads")
    shares = chunks(subs, threads)  # one per thread: a task per LP costs more than the LP
    progress(
        f"Benders decomposition with HiGHS {master.version()}: {count} master columns "
        f"({int(parts.tied_integer.sum())} integer), {len(subs)} subproblems, gap {mip_gap:g}"
    )

    def evaluate(point: np.ndarray) -> list[tuple[float, np.ndarray, np.ndarray]]:
        done = runner(delayed(_solve_all)(share, point) for share in shares)
        return [solved for share in done for solved in share]

    best = Best()
    first = _start_plan(model, parts)
    if first is not None:
        solved = evaluate(first)
        best = Best.of(parts, first, solved)
        _add_cuts(master, parts, solved, first, first, np.full(len(subs), -INF))
        progress(f"start plan {best.objective:.10g}")
    slow = options.time_limit * HAND_OVER_TIME  # seconds: see HAND_OVER_STALL
    most, patience = (HAND_OVER_ROOT, started + slow) if hand_over else (None, math.inf)
    lower_bound, iterations, gave_up = _root_phase(
        master, parts, evaluate, deadline, mip_gap, progress, most, patience
    )
    if hand_over and gave_up:
        _hand_over(progress, "its root phase did not converge", parts, best, lower_bound)
    masters = stalled = 0  # MILP masters; those in a row that raised the bound too little
    whole = None  # the whole model, for crossovers of the masters' plans (built if needed)
    goal = Goal(lower_bound, best.objective, mip_gap)  # shared with a crossover beside a master
    crossing = None  # a crossover of the last master's plans, running beside the next master
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="crossover") as beside:
        try:
            while True:
                masters += 1
                before, began = lower_bound, time.perf_counter()
                if masters == options.keep_period_from and _may_keep(parts):  # the gap is open
                    _keep_whole(master, parts)
                    progress(f"subproblem {parts.kept} kept whole in the master from here on")
                left = deadline - time.perf_counter()
                if parts.cap is not None:  # no hand-over: a slow master's plans go to a crossover
                    left = min(left, slow)
                limit_time(master, max(left, 1e-3), mip=True)
                master.setOptionValue("mip_rel_gap", mip_gap / 2)
                # no solution left from the last solve: HiGHS 1.16 takes a fractional one as a
                # MIP start, repairs it, and (when presolve empties the model) reports that plan
                # as optimal at an objective and bound that leave out presolve's offset
                master.clearSolver()
                with _stops_at(master, goal, parts.offset):
                    master.run()
                took = time.perf_counter() - began  # the master's seconds
                parts.count(master, mip=True)
                lower_bound = goal.bound  # raised by the master's
                failed = _failed(master)
                found = [
                    (plan, estimates, evaluate(plan))
                    for plan, estimates in (
                        [] if goal.closed() or failed else _master_plans(master, parts)
                    )
                ]  # none: out of time before the master found a plan, the best plan proven, or
                # a HiGHS error
                own = len(found)  # the master's plans come first
                if crossing is not None:  # beside this master: its plan is cut like the master's
                    found += _crossed(crossing, whole, master, parts, evaluate, progress)
                    crossing = None
                priced = [Best.of(parts, plan, solved) for plan, _, solved in found]
                best = min([best, *priced], key=_cost)
                goal.plan = min(goal.plan, best.objective)
                gap = _gap(best, lower_bound)
                seconds = min(took, deadline - time.perf_counter())  # a crossover's, at most
                if options.crossover and mip_gap < gap < math.inf and seconds > 0 and own:
                    whole = whole or _whole(parts)
                    plans = [best.plan, *(plan for plan, _, _ in found)]
                    crossing = _cross(whole, parts, plans, best, goal, seconds, beside)
                near = []
                if 0 < options.neighbours_from <= masters and gap > mip_gap and own:
                    near = _neighbours(parts, [plan for plan, _, _ in found])
                    near = near if len(near) * len(subs) <= NEIGHBOUR_LPS else []
                    near = [
                        (plan, guess, evaluate(plan))
                        for plan, guess in zip(near, _estimates(master, parts, near), strict=True)
                    ]
                    operable = [
                        Best.of(parts, plan, solved)
                        for plan, _, solved in near
                        if _keeps_rows(parts, plan)
                    ]
                    best = min([best, *operable], key=_cost)
                    goal.plan = min(goal.plan, best.objective)
                    gap = _gap(best, lower_bound)
                said = _said(priced[0]) if own else "solve error" if failed else "no plan"
                progress(
                    f"master {masters:4d}  bound {lower_bound:.10g}  {said}  "
                    f"best {best.objective:.10g}  gap {gap:.4%}  plans {len(found)}  "
                    f"neighbours {len(near)}"
                )
                if gap <= mip_gap:
                    break
                if not failed and (time.perf_counter() >= deadline or not found):
                    break
                low = lower_bound - before < HAND_OVER_RISE * (best.objective - before)
                stalled = stalled + 1 if low else 0
                reason = None
                if failed:  # not the time limit: said so, or handed over
                    reason = f"MILP master {masters} ended in a HiGHS solve error"
                    if not hand_over:
                        raise DecompositionError(f"Benders decomposition: {reason}")
                elif stalled == HAND_OVER_STALL:
                    reason = f"{stalled} MILP masters barely raised its bound"
                elif took > slow and parts.cap is None:  # under a cap, slow masters do better
                    reason = "a MILP master took over a quarter of the time limit"
                if hand_over and reason is not None:
                    if crossing is not None:  # stopped where it is, its plan kept
                        goal.stop = True
                        crossed = _crossed(crossing, whole, master, parts, evaluate, progress)
                        best = min(
                            [best, *(Best.of(parts, p, z) for p, _, z in crossed)], key=_cost
                        )
                    _hand_over(progress, reason, parts, best, lower_bound)
                added = [
                    _add_cuts(master, parts, solved, plan, plan, guess)
                    for plan, guess, solved in found + near
                ]
                if own and not added[0]:
                    break  # every estimate exact: the master's plan is optimal within its gap
        finally:
            goal.stop = True  # a crossover still running stops at its next check
    result = _result(model, parts, best, lower_bound, mip_gap, time.perf_counter() - started)
    progress(
        f"{result.status}: objective {result.objective}, bound {result.bound}, "
        f"gap {result.gap}, {iterations} LP and {masters} MILP masters"
    )
    return result, iterations + masters


@contextmanager
def _stops_at(master: highspy.Highs, goal: Goal, offset: float) -> Iterator[None]:
    """While the body runs `master`, its dual bound (plus `offset`) raises `goal.bound`,
    and HiGHS stops once `goal` is closed: with the best plan proven, by the master's bound
    or by a plan a crossover beside it finds, the master's own gap no longer matters. The
    bound is read as HiGHS reports it while it runs: after a stop at its root node HiGHS
    1.16 reports none (-inf). Ctrl-C stops it too, and reaches the caller (`twin.interrupt`):
    in this callback it would end the master as a solve error, and the run would go on."""

    def enough(event) -> None:
        goal.bound = max(goal.bound, offset + event.data_out.mip_dual_bound)
        if goal.closed():
            event.interrupt()

    master.cbMipInterrupt.subscribe(enough)
    try:
        with ctrl_c_stops(master):
            yield
    finally:
        master.cbMipInterrupt.unsubscribe(enough)
    if not _failed(master):  # a failed solve reports a bound of 0
        goal.bound = max(goal.bound, offset + float(master.getInfo().mip_dual_bound))


def _failed(master: highspy.Highs) -> bool:
    """Whether HiGHS ended the master's solve in an error (its bound and plans are none)."""
    return master.getModelStatus() == highspy.HighsModelStatus.kSolveError


def _whole(parts: Decomposition) -> Crossover:
    """The whole model, for crossovers of the masters' plans: its integer columns are the
    master's (every integer column is one), in the same order."""
    integer = np.zeros(len(parts.cost), dtype=bool)
    integer[parts.master[parts.integer]] = True
    bounds = (parts.lower, parts.upper, parts.row_lower, parts.row_upper)
    return Crossover(parts.matrix, parts.cost, bounds, integer, parts.offset)


@dataclass
class _Crossing:
    """A crossover running beside the next master: how many plans, how many integer
    columns they leave free, and its answer to come."""

    plans: int
    free: int
    answer: Future


def _cross(
    whole: Crossover,
    parts: Decomposition,
    plans: list[np.ndarray],
    best: Best,
    goal: Goal,
    seconds: float,
    beside: ThreadPoolExecutor,
) -> _Crossing | None:
    """A crossover of `plans` started on `beside`'s thread: a search of the whole model,
    each integer column within the range `plans` give it (`twin.crossover`), for a plan
    better than the best, until `goal` is over, at half its gap on its own, or after
    `seconds`; None where the plans agree on every integer column."""
    integer = np.array([plan[parts.integer] for plan in plans])
    free = whole.free(integer)
    if free == 0:
        return None
    start = _columns(parts, best)
    answer = beside.submit(whole.search, integer, start, best.objective, goal, seconds)
    return _Crossing(len(plans), free, answer)


def _crossed(
    crossing: _Crossing,
    whole: Crossover,
    master: highspy.Highs,
    parts: Decomposition,
    evaluate: Callable[[np.ndarray], list],
    progress: Progress,
) -> list[tuple[np.ndarray, np.ndarray, list]]:
    """The plan a crossover found, once it has ended, as the master's plans are kept: its
    master columns, the master's estimates there and its subproblems' answers; none if it
    found none. Logged."""
    values = crossing.answer.result()
    said = "no better plan" if values is None else f"plan {whole.objective:.10g}"
    progress(
        f"crossover of {crossing.plans} plans, {crossing.free} integer columns free, "
        f"{whole.took:.1f} s: {said}"
    )
    if values is None:
        return []
    plan = np.clip(values[parts.master], parts.lower[parts.master], parts.upper[parts.master])
    plan = np.where(parts.integer, np.round(plan), plan)
    return [(plan, _estimates(master, parts, [plan])[0], evaluate(plan))]


def _cost(best: Best) -> float:
    return best.objective


def _gap(best: Best, bound: float) -> float:
    """The best plan's gap to `bound`; infinite with no plan (under a cost cap, every plan
    so far may have broken it)."""
    return math.inf if best.plan is None else relative_gap(best.objective, bound)


def _said(priced: Best) -> str:
    """A master's plan, for the log."""
    return "plan over the cost cap" if priced.plan is None else f"plan {priced.objective:.10g}"


def _solve_all(subs: list[Subproblem], plan: np.ndarray) -> list:
    """Each of `subs` at `plan` (one thread's share: HiGHS lets go of Python while it solves)."""
    return [sub.solve(plan) for sub in subs]


def _hand_over(
    progress: Progress, reason: str, parts: Decomposition, best: Best, bound: float
) -> None:
    """Raise HandOver with the best plan's columns (if any), logged."""
    progress(f"hand over to one branch and bound: {reason}")
    values = None if best.plan is None else _columns(parts, best)
    raise HandOver(reason, values, bound, parts.work())


def _columns(parts: Decomposition, best: Best) -> np.ndarray:
    """Every column of the full model at the best plan and its operations."""
    values = np.zeros(len(parts.cost))
    values[parts.master] = best.plan
    for sub, x in zip(parts.subproblems, best.operations, strict=True):
        values[sub.columns] = x
    return values


def _start_plan(model: HighsModel, parts: Decomposition) -> np.ndarray | None:
    """The master's columns of `model.start`, if they are integral where they must be and
    keep their bounds and the master's rows (a plan of a related model may not)."""
    if model.start is None:
        return None
    plan = model.start[parts.master]
    integral = np.abs(plan - np.round(plan)) <= 1e-6 * np.maximum(1.0, np.abs(plan))
    plan = np.where(parts.integer, np.round(plan), plan)
    return plan if np.all(integral | ~parts.integer) and _keeps_rows(parts, plan) else None


def _keeps_rows(parts: Decomposition, plan: np.ndarray) -> bool:
    """Whether the master's columns at `plan` keep their bounds and the master's rows (to a
    relative 1e-6): a plan of the model, not only a point its subproblems can price."""
    tolerance = 1e-6 * np.maximum(1.0, np.abs(plan))
    rows = parts.matrix[parts.master_rows][:, parts.master] @ plan
    low, high = parts.row_lower[parts.master_rows], parts.row_upper[parts.master_rows]
    slack = 1e-6 * np.maximum(1.0, np.abs(rows))
    return bool(
        np.all(plan >= parts.lower[parts.master] - tolerance)
        and np.all(plan <= parts.upper[parts.master] + tolerance)
        and np.all(rows >= low - slack)
        and np.all(rows <= high + slack)
    )


def _neighbours(parts: Decomposition, plans: list[np.ndarray]) -> list[np.ndarray]:
    """Plans one step (a module, an opening, an expansion) from the master's plan, the first
    of `plans`, on each integer investment on which its plans disagree, within its bounds
    (every copy of a tied investment together). The next masters look around their last
    plans, where the cuts so far under-estimate the operations (round 20 of
    benchmarks/README.md); these plans' cuts correct them there. Many break a master row
    (a module more without its agglomeration segment) and are no plans of the model, but
    their subproblems are feasible (complete recourse), so their cuts are valid."""
    first, tie = plans[0], parts.tie
    lower, upper = parts.lower[parts.master], parts.upper[parts.master]
    contested = np.unique(
        tie[[j for j in np.flatnonzero(parts.integer) if any(p[j] != first[j] for p in plans)]]
    )
    near = []
    for column in contested:
        copies = tie == column
        for step in (-1.0, 1.0):
            moved = first[copies] + step
            if np.all(moved >= lower[copies]) and np.all(moved <= upper[copies]):
                plan = first.copy()
                plan[copies] = moved
                near.append(plan)
    return near


def _estimates(
    master: highspy.Highs, parts: Decomposition, plans: list[np.ndarray]
) -> list[np.ndarray]:
    """The master's estimate of each subproblem's cost at each of `plans` (its theta there,
    in units of `parts.scale`): the most of that subproblem's cuts, or its floor. A plan's
    cut is added only where it raises that estimate (`_add_cuts`)."""
    if not plans:
        return []
    lp = master.getLp()
    shape = (lp.num_row_, lp.num_col_)
    a = lp.a_matrix_
    matrix = sp.csc_matrix((a.value_, a.index_, a.start_), shape=shape).tocsr()
    end = parts.width + len(parts.subproblems)  # then a kept period's operations, if any
    # a cut holds one theta; a cost cap's row all of them, with no lower bound (no estimate)
    thetas = matrix[:, parts.width : end].tocoo()
    slopes = matrix[thetas.row][:, : parts.width]
    floors = np.asarray(lp.col_lower_)[parts.width : end]
    lower = np.asarray(lp.row_lower_)[thetas.row]
    estimates = []
    for plan in plans:
        tied = np.zeros(parts.width)
        tied[parts.tie] = plan  # every copy of a tied column holds the same value
        estimate = floors.copy()
        np.maximum.at(estimate, thetas.col, lower - slopes @ tied)
        estimates.append(estimate)
    return estimates


def _master_plans(
    master: highspy.Highs, parts: Decomposition
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The MILP master's plan and estimates (theta), then those of the other incumbents its
    branch and bound found on the way, distinct: each is an integer plan whose subproblems
    give cuts and may beat the best plan, for a few LPs where a MILP master costs seconds
    (on the reference data at a 0.1 % gap this halved the MILP masters needed)."""
    solutions = [master.getSolution().col_value]
    solutions += [saved.col_value for saved in reversed(master.getSavedMipSolutions())]
    plans, seen = [], set()
    for solution in solutions:
        plan, estimates = parts.unpack(np.asarray(solution))
        plan = np.where(parts.integer, np.round(plan), plan)
        if plan.tobytes() not in seen:
            seen.add(plan.tobytes())
            plans.append((plan, estimates))
    return plans


def _root_phase(
    master: highspy.Highs,
    parts: Decomposition,
    evaluate,
    deadline: float,
    mip_gap: float,
    progress: Progress,
    most: int | None = None,
    patience: float = math.inf,
) -> tuple[float, int, bool]:
    """Cuts from the master's LP relaxation before any MILP is solved: the bound, the
    iterations, and whether the phase gave up (after `most` iterations, or past the clock
    time `patience` while a whole MIP gap from the relaxation and not `_closing` it). Each
    iteration solves the LP master (y, theta) and separates at a point between y and a
    core point, the running mean of the LP plans (in-out, Ben-Ameur & Neto 2007): cuts at y
    alone zigzag, and each MILP master would take as long as a monolithic solve. Every
    separation point is a plan of the relaxation, so its cost bounds the relaxation's
    optimum from above; the phase ends when the LP master's bound is within a tenth of the
    MIP gap of that, when no cut cuts y off even when separated at y itself (the relaxation
    is solved), when ROOT_STALL iterations have raised the bound by less than a hundredth of
    the MIP gap, at the deadline, or when it gives up. The cuts stay for the MILP phase."""
    integer = np.flatnonzero(parts.tied_integer).astype(np.int32)
    kinds = highspy.HighsVarType
    master.changeColsIntegrality(len(integer), integer, np.full(len(integer), kinds.kContinuous))
    bound, above, bounds, core, weight = -math.inf, math.inf, [], None, IN_OUT
    stalled = mip_gap / 100  # the least rise of the bound over ROOT_STALL iterations
    gave_up, gaps, began = False, [], time.perf_counter()
    while time.perf_counter() < deadline:
        if len(bounds) == most:
            gave_up = True
            break
        limit_time(master, deadline - time.perf_counter())
        master.run()
        parts.count(master, mip=False)
        if master.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            break
        bound = max(bound, parts.offset + master.getInfo().objective_function_value)
        bounds.append(bound)
        plan, estimates = parts.unpack(np.asarray(master.getSolution().col_value))
        core = plan if core is None else (core + plan) / 2
        point = weight * plan + (1 - weight) * core
        solved = evaluate(point)
        above = min(above, Best.of(parts, point, solved).objective)
        progress(f"root   {len(bounds):4d}  LP bound {bound:.10g}  relaxation at most {above:.10g}")
        size = abs(above) if math.isfinite(above) else abs(bound)  # no point kept the cap yet
        if above - bound <= mip_gap / 10 * size:
            break
        if len(bounds) > ROOT_STALL and bound - bounds[-ROOT_STALL - 1] < stalled * size:
            break
        if math.isfinite(above):
            gaps.append((time.perf_counter(), above - bound))
        late = gaps and gaps[-1][0] > patience
        if late and not _closing(gaps, began, mip_gap * size, deadline):
            gave_up = True
            break
        if _add_cuts(master, parts, solved, point, plan, estimates):
            weight = IN_OUT
        elif weight == 1.0:
            break  # the LP relaxation of the whole model is solved
        else:
            weight = 1.0  # the core held the cuts back: separate at the LP plan itself
    master.changeColsIntegrality(len(integer), integer, np.full(len(integer), kinds.kInteger))
    return bound, len(bounds), gave_up


def _closing(gaps: list[tuple[float, float]], began: float, target: float, deadline: float) -> bool:
    """Whether the root phase's gap (relaxation at most, less its LP bound; by clock time
    since `began`) is within `target`, or on course to be within half the time left: at
    the geometric rate it shrank over the latter half of the phase so far. With 500 futures
    each LP master and its 3,500 subproblems take 4-8 s, and the gap shrank elevenfold in
    the 15 s before a quarter of the time limit; on synthetic_30 it barely moves."""
    now, gap = gaps[-1]
    if gap <= target:
        return True
    then, before = next((t, g) for t, g in gaps if t >= (began + now) / 2)
    if then >= now or before <= gap:
        return False
    rate = math.log(before / gap) / (now - then)  # per second
    return math.log(gap / target) / rate <= (deadline - now) / 2


def _master(parts: Decomposition) -> highspy.Highs:
    """The master MILP: the master columns with their costs, bounds and rows, and one
    column theta_s >= (the least cost of s) per subproblem, in units of `parts.scale` (cuts
    in currency, with right-hand sides of 1e10, would leave the LP master's simplex short of
    its feasibility tolerance). Rows that tying made identical are kept once: a stochastic
    plan's futures each hold a copy of every investment row, and with 500 futures the LP
    master's 375,000 rows were 499 copies in 500 (HiGHS presolves them away for a MILP, at
    every MILP master, but not in a warm LP re-solve). Under a cost cap the thetas cost
    nothing and the master's first row is the cap: the investments' cost and the thetas'
    estimate of the operations' within it."""
    columns, tied, width = parts.master, parts.tied, parts.width
    local = (parts.matrix[parts.master_rows][:, columns] @ tied).tocsr()
    rows = parts.master_rows
    kept = _distinct(local, parts.row_lower[rows], parts.row_upper[rows])
    local, rows = local[kept], rows[kept]
    thetas, capped = len(parts.subproblems), parts.cap is not None
    matrix = sp.hstack([local, sp.csr_matrix((len(rows), thetas))], format="csr")
    row_lower, row_upper = parts.row_lower[rows], parts.row_upper[rows]
    if capped:  # in units of parts.cap_unit
        cap = np.r_[tied.T @ parts.priced[columns], np.full(thetas, parts.scale)]
        matrix = sp.vstack([sp.csr_matrix(cap / parts.cap_unit), matrix], format="csr")
        row_lower = np.r_[-INF, row_lower]
        row_upper = np.r_[parts.row_upper[parts.cap] / parts.cap_unit, row_upper]
    floors = np.array([sub.floor for sub in parts.subproblems]) / parts.scale
    lower = np.full(width, -INF)  # a tied column keeps every copy's bounds
    np.maximum.at(lower, parts.tie, parts.lower[columns])
    upper = np.full(width, INF)
    np.minimum.at(upper, parts.tie, parts.upper[columns])
    highs = new_highs()
    highs.setOptionValue("mip_improving_solution_save", True)  # for _master_plans
    pass_model(
        highs,
        matrix.tocsc(),
        np.r_[tied.T @ parts.cost[columns], np.full(thetas, 0.0 if capped else parts.scale)],
        np.r_[lower, floors],
        np.r_[upper, np.full(thetas, INF)],
        row_lower,
        row_upper,
        np.r_[parts.tied_integer, np.zeros(thetas, dtype=bool)],
    )
    return highs


def _may_keep(parts: Decomposition) -> bool:
    """Whether a subproblem may be kept whole in the master: not the only one (the master
    would be the whole model), nor one future's period of a plan of several futures, too
    small a part of the cost to price exactly (with 500 futures the master then found a
    worse plan in the time: 0.60 % against 0.39 %, round 23). Such a plan ties every
    investment across its futures, so its master columns are at least twice its tied
    ones; one model ties a few (11 of 1,009 on the reference data)."""
    return len(parts.subproblems) > 1 and len(parts.master) < 2 * parts.width


def _kept(parts: Decomposition) -> int:
    """The subproblem kept whole in the master: the one whose rows hold the most master
    columns (on twin's models the last period, which every investment still alive serves)."""
    return int(np.argmax([len(sub.links) for sub in parts.subproblems]))


def _keep_whole(highs: highspy.Highs, parts: Decomposition) -> None:
    """Subproblem `_kept` whole in the master, recorded as `parts.kept` (partial Benders):
    its operations' columns, at their costs, and its rows, so that the master prices that
    period's operations exactly for every plan it looks at, where cuts under-estimate plans
    not yet seen (benchmarks/README.md, rounds 22-23). Its theta costs nothing from then on
    and is no longer cut (`_add_cuts`). The costs go in the objective, in currency: in a row
    with theta, over `parts.scale`, 30 of them fell below HiGHS's smallest matrix value
    (1e-9) and were dropped. Under a cost cap they go in its row (the master's first), in
    place of theta's estimate."""
    index = parts.kept = _kept(parts)
    sub = parts.subproblems[index]
    highs.changeColCost(parts.width + index, 0.0)
    in_cap = sp.csc_matrix((1, len(sub.columns)))  # each column's entry in the cap's row
    if parts.cap is not None:
        highs.changeCoeff(0, parts.width + index, 0.0)
        in_cap = sp.csc_matrix(parts.priced[sub.columns] / parts.cap_unit)
    highs.addCols(
        len(sub.columns),
        parts.cost[sub.columns],  # none under a cost cap (`_capped`)
        parts.lower[sub.columns],
        parts.upper[sub.columns],
        in_cap.nnz,
        in_cap.indptr[:-1].astype(np.int32),
        in_cap.indices.astype(np.int32),
        in_cap.data,
    )
    investments = (sub.coupling @ parts.tied[sub.links]).tocsr()  # B_s, on the tied columns
    thetas = sp.csr_matrix((len(sub.rows), len(parts.subproblems)))
    rows = sp.hstack([investments, thetas, sub.matrix], format="csr")
    starts = rows.indptr[:-1].astype(np.int32)
    highs.addRows(
        len(sub.rows),
        sub.lower,
        sub.upper,
        rows.nnz,
        starts,
        rows.indices.astype(np.int32),
        rows.data,
    )


def _distinct(rows: sp.csr_matrix, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """The positions of `rows` (with bounds `lower`, `upper` of the same length) that are
    not an exact copy of an earlier one."""
    rows = rows.copy()
    rows.sum_duplicates()  # sorted indices: a row's key does not depend on their order
    seen, kept = set(), []
    for i, (a, b) in enumerate(itertools.pairwise(rows.indptr)):
        key = (rows.indices[a:b].tobytes(), rows.data[a:b].tobytes(), lower[i], upper[i])
        if key not in seen:
            seen.add(key)
            kept.append(i)
    return np.array(kept, dtype=np.int64)


def _add_cuts(
    master: highspy.Highs,
    parts: Decomposition,
    solved: list[tuple[float, np.ndarray, np.ndarray]],
    point: np.ndarray,
    at: np.ndarray,
    estimates: np.ndarray,
) -> int:
    """For each subproblem solved at `point`, the cut
    theta_s + (B_s' lambda)' y >= z_s + (B_s' lambda)' point (over `parts.scale`), where it
    cuts off the master's solution (`at`, with its estimates theta); the number added, in
    one call (HiGHS's addRow costs about as much as adding many rows at once)."""
    lower, starts, indices, values = [], [0], [], []
    for index, (sub, (value, duals, _)) in enumerate(zip(parts.subproblems, solved, strict=True)):
        if index == parts.kept:
            continue  # priced exactly by the master itself
        slope = sub.coupling.T @ duals / parts.scale  # on the columns sub.links
        value = value / parts.scale
        here, there = point[sub.links], at[sub.links]
        if value + slope @ (there - here) <= estimates[index] + 1e-9 * max(1.0, abs(value)):
            continue
        columns, tied = np.unique(parts.tie[sub.links], return_inverse=True)
        tied = np.bincount(tied, weights=slope, minlength=len(columns))  # the master MILP's
        used = np.abs(tied) > 1e-12
        lower.append(value + slope @ here)
        indices += [columns[used], [parts.width + index]]
        values += [tied[used], [1.0]]
        starts.append(starts[-1] + int(used.sum()) + 1)
    if lower:
        master.addRows(
            len(lower),
            np.array(lower),
            np.full(len(lower), INF),
            starts[-1],
            np.array(starts[:-1], dtype=np.int32),
            np.concatenate(indices).astype(np.int32),
            np.concatenate(values),
        )
    return len(lower)


def _result(
    model: HighsModel, parts: Decomposition, best: Best, bound: float, mip_gap: float, seconds
) -> SolveResult:
    iterations, nodes = parts.work()
    if best.plan is None:
        return SolveResult(
            status="time_limit",
            message="no plan within the time limit",
            simplex_iterations=iterations,
            nodes=nodes,
        )
    values = _columns(parts, best)
    model.load(values)
    objective = best.objective
    bound = min(bound, objective)  # above it only by the LPs' tolerances
    gap = relative_gap(objective, bound)
    gap = gap if math.isfinite(gap) else None  # no bound yet: as HiGHS's own result says
    result = SolveResult(
        status="optimal" if gap is not None and gap <= mip_gap + 1e-12 else "time_limit",
        message="Benders decomposition",
        objective=objective,
        bound=bound,
        gap=gap,
        handoff_seconds=model.handoff_seconds,
        solve_seconds=seconds,
        simplex_iterations=iterations,
        nodes=nodes,
        has_solution=True,
    )
    prices = _prices(parts, best)  # as a branch and bound's plan has them
    if prices is None:
        model.add_duals(result, values)
    else:
        model.set_duals(result, prices, FIXED_DUALS)
    return result


def _prices(parts: Decomposition, best: Best) -> np.ndarray | None:
    """The row duals of the whole model's LP with its integer columns fixed at the best
    plan, block by block: each subproblem's at that plan (already solved), and those of the
    rows no subproblem holds from their own small LP over the continuous master columns.
    The blocks are independent once the integer columns are fixed, unless a continuous
    master column appears in a subproblem's rows: then None (solve the whole LP). With 500
    futures the whole LP took 36 s, cold; with the blocks, 3.2 s passed from the last
    master to the result (the plan's values loaded into the model included)."""
    if parts.cap is not None or any((~parts.integer[sub.links]).any() for sub in parts.subproblems):
        return None  # under a cost cap the subproblems' duals price costs, not the objective
    rows = np.ones(len(parts.row_lower), dtype=bool)
    rows[np.concatenate([sub.rows for sub in parts.subproblems])] = False
    rows = np.flatnonzero(rows)
    local = parts.matrix[rows][:, parts.master].tocsc()
    lower = np.where(parts.integer, best.plan, parts.lower[parts.master])
    upper = np.where(parts.integer, best.plan, parts.upper[parts.master])
    highs = new_highs()
    bounds = (lower, upper, parts.row_lower[rows], parts.row_upper[rows])
    pass_model(highs, local, parts.cost[parts.master], *bounds)
    highs.run()
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    duals = np.zeros(len(parts.row_lower))
    duals[rows] = highs.getSolution().row_dual
    for sub, sub_duals in zip(parts.subproblems, best.duals, strict=True):
        duals[sub.rows] = sub_duals
    return duals
