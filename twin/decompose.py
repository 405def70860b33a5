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

Each iteration solves the master, then every subproblem at the master's plan (warm from its
last basis; in parallel threads, `n_jobs`), and adds a cut for each subproblem its
:math:`\theta_s` underestimates: :math:`z_s` is convex in :math:`\hat y` and
:math:`-B_s^\top\lambda_s` a subgradient, so every cut is valid. The master's bound is a
lower bound of the optimum, the best plan's :math:`c_y \hat y + \sum_s z_s(\hat y)` an upper
bound; the loop stops when they meet within the MIP gap, or at the time limit. It needs
complete recourse (every subproblem feasible for every plan, as it is with unmet demand
allowed; a cost cap, which ties capex to operations, breaks it), operating costs bounded
below by the column bounds and at least one integer column (a model without any is solved
whole). A MIP start is not used.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import highspy
import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from scipy.sparse.csgraph import connected_components

from twin.solve import INF, HighsModel, SolveResult, limit_time, new_highs

# The investment decisions: the master's columns, with every integer column; the others are
# operations. Agglomeration's segment fills are continuous but count modules, not operations.
INVESTMENTS = frozenset(
    {"build", "open", "expand_link", "expand_crossing", "agglomeration_fill", "agglomeration_full"}
)


class DecompositionError(ValueError):
    """A model the decomposition cannot solve (no complete recourse, unbounded operations)."""


@dataclass
class Subproblem:
    """One block of operations: its rows and columns in the full model, and its LP."""

    rows: np.ndarray
    columns: np.ndarray
    coupling: sp.csr_matrix  # B_s: the master columns' coefficients in these rows
    lower: np.ndarray
    upper: np.ndarray
    highs: highspy.Highs = field(repr=False)
    floor: float  # the least its cost can be, from the column bounds

    def solve(self, plan: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """z_s at the master's plan, the row duals and the column values."""
        shift = self.coupling @ plan
        count = len(self.rows)
        self.highs.changeRowsBounds(
            count, np.arange(count, dtype=np.int32), self.lower - shift, self.upper - shift
        )
        self.highs.run()
        if self.highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            status = self.highs.modelStatusToString(self.highs.getModelStatus())
            raise DecompositionError(
                f"an operations subproblem is {status} for the master's plan: the "
                "decomposition needs every plan to be operable (allow unmet demand)"
            )
        solution = self.highs.getSolution()
        value = self.highs.getInfo().objective_function_value
        return value, np.asarray(solution.row_dual), np.asarray(solution.col_value)


@dataclass
class Best:
    """The best plan found: its objective, master columns and operations."""

    objective: float = math.inf
    plan: np.ndarray | None = None
    operations: list[np.ndarray] = field(default_factory=list)


@dataclass
class Decomposition:
    """A compiled model split into master and subproblems (see the module docstring)."""

    master: np.ndarray  # the master's columns in the full model
    integer: np.ndarray  # which of them are integer
    master_rows: np.ndarray
    subproblems: list[Subproblem]
    matrix: sp.csr_matrix  # the full model's rows
    cost: np.ndarray
    offset: float
    lower: np.ndarray  # column bounds of the full model
    upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray


def split(model: HighsModel) -> Decomposition:
    """Master columns (investments and every integer column), master rows (rows of master
    columns only), and the subproblems: connected components of the other rows and the
    operations' columns."""
    lp = model.highs.getLp()
    n, m = lp.num_col_, lp.num_row_
    matrix = sp.csc_matrix(
        (lp.a_matrix_.value_, lp.a_matrix_.index_, lp.a_matrix_.start_), shape=(m, n)
    ).tocsr()
    investment = np.array(
        [column.parent_component().local_name in INVESTMENTS for column in model.columns]
    )
    master = np.flatnonzero(investment | model.integer)
    continuous = np.flatnonzero(~(investment | model.integer))
    operating = matrix[:, continuous]
    sub_rows = np.flatnonzero(operating.getnnz(axis=1) > 0)
    master_rows = np.flatnonzero(operating.getnnz(axis=1) == 0)
    block = operating[sub_rows]  # sub rows x continuous columns: its components split them
    graph = sp.bmat([[None, block], [block.T, None]], format="csr")
    _, label = connected_components(graph, directed=False)
    row_label, column_label = label[: len(sub_rows)], label[len(sub_rows) :]
    cost = np.asarray(lp.col_cost_)
    lower, upper = np.asarray(lp.col_lower_), np.asarray(lp.col_upper_)
    row_lower, row_upper = np.asarray(lp.row_lower_), np.asarray(lp.row_upper_)
    subproblems = []
    for component in np.unique(column_label):
        columns = continuous[column_label == component]
        rows = sub_rows[row_label == component]
        local = matrix[rows][:, columns].tocsc()
        highs = new_highs()
        highs.passModel(
            len(columns),
            len(rows),
            local.nnz,
            int(highspy.MatrixFormat.kColwise),
            int(highspy.ObjSense.kMinimize),
            0.0,
            cost[columns],
            lower[columns],
            upper[columns],
            row_lower[rows],
            row_upper[rows],
            local.indptr.astype(np.int32),
            local.indices.astype(np.int32),
            local.data,
            np.zeros(len(columns), dtype=np.int32),
        )
        floor = np.where(cost[columns] >= 0, lower[columns], upper[columns]) @ cost[columns]
        if not math.isfinite(floor):
            raise DecompositionError("operating costs unbounded below: no decomposition")
        subproblems.append(
            Subproblem(
                rows,
                columns,
                matrix[rows][:, master],
                row_lower[rows],
                row_upper[rows],
                highs,
                float(floor),
            )
        )
    return Decomposition(
        master,
        model.integer[master],
        master_rows,
        subproblems,
        matrix,
        cost,
        float(lp.offset_),
        lower,
        upper,
        row_lower,
        row_upper,
    )


def benders(
    model: HighsModel, time_limit: float, mip_gap: float, n_jobs: int = 1
) -> tuple[SolveResult, int]:
    """Solve `model` by Benders decomposition; the result (values loaded into the Pyomo
    model when there is a plan) and the number of iterations."""
    start = time.perf_counter()
    parts = split(model)
    master = _master(parts)
    count, subs = len(parts.master), parts.subproblems
    best, lower_bound, iterations = Best(), -math.inf, 0
    runner = Parallel(n_jobs=n_jobs, prefer="threads")
    while True:
        iterations += 1
        remaining = time_limit - (time.perf_counter() - start)
        limit_time(master, max(remaining, 1e-3))
        master.setOptionValue("mip_rel_gap", mip_gap / 2)
        master.run()
        if master.getInfo().primal_solution_status != 2:
            break  # out of time before the master found a plan
        lower_bound = max(lower_bound, parts.offset + float(master.getInfo().mip_dual_bound))
        values = np.asarray(master.getSolution().col_value)
        plan, estimates = np.round(values[:count]), values[count:]
        solved = runner(delayed(sub.solve)(plan) for sub in subs)
        total = parts.offset + parts.cost[parts.master] @ plan + sum(z for z, _, _ in solved)
        if total < best.objective:
            best = Best(total, plan, [x for _, _, x in solved])
        gap = (best.objective - lower_bound) / max(abs(best.objective), 1e-9)
        if gap <= mip_gap or time.perf_counter() - start >= time_limit:
            break
        added = 0
        for index, (sub, (value, duals, _)) in enumerate(zip(subs, solved, strict=True)):
            if value > estimates[index] + 1e-9 * max(1.0, abs(value)):
                _add_cut(master, count, index, sub, value, duals, plan)
                added += 1
        if not added:  # every estimate exact: the master's plan is optimal within its gap
            break
    seconds = time.perf_counter() - start
    return _result(model, parts, best, lower_bound, mip_gap, seconds), iterations


def _master(parts: Decomposition) -> highspy.Highs:
    """The master MILP: the master columns with their costs, bounds and rows, and one
    column theta_s >= (the least cost of s) per subproblem, at cost 1."""
    columns, rows = parts.master, parts.master_rows
    local = parts.matrix[rows][:, columns].tocsc()
    thetas = len(parts.subproblems)
    floors = np.array([sub.floor for sub in parts.subproblems])
    highs = new_highs()
    highs.passModel(
        len(columns) + thetas,
        len(rows),
        local.nnz,
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize),
        0.0,
        np.r_[parts.cost[columns], np.ones(thetas)],
        np.r_[parts.lower[columns], floors],
        np.r_[parts.upper[columns], np.full(thetas, INF)],
        parts.row_lower[rows],
        parts.row_upper[rows],
        np.r_[local.indptr, np.full(thetas, local.nnz)].astype(np.int32),
        local.indices.astype(np.int32),
        local.data,
        np.r_[parts.integer, np.zeros(thetas)].astype(np.int32),
    )
    return highs


def _add_cut(
    master: highspy.Highs,
    count: int,
    index: int,
    sub: Subproblem,
    value: float,
    duals: np.ndarray,
    plan: np.ndarray,
) -> None:
    """theta_s + (B_s' lambda)' y >= z_s + (B_s' lambda)' y_hat."""
    slope = sub.coupling.T @ duals
    used = np.flatnonzero(np.abs(slope) > 1e-12)
    columns = np.r_[used, count + index].astype(np.int32)
    coefficients = np.r_[slope[used], 1.0]
    master.addRow(value + slope @ plan, INF, len(columns), columns, coefficients)


def _result(
    model: HighsModel, parts: Decomposition, best: Best, bound: float, mip_gap: float, seconds
) -> SolveResult:
    if best.plan is None:
        return SolveResult(status="time_limit", message="no plan within the time limit")
    values = np.zeros(len(parts.cost))
    values[parts.master] = best.plan
    for sub, x in zip(parts.subproblems, best.operations, strict=True):
        values[sub.columns] = x
    model.load(values)
    objective = best.objective
    gap = (objective - bound) / max(abs(objective), 1e-9)
    return SolveResult(
        status="optimal" if gap <= mip_gap + 1e-12 else "time_limit",
        message="Benders decomposition",
        objective=objective,
        bound=bound,
        gap=max(gap, 0.0),
        handoff_seconds=model.handoff_seconds,
        solve_seconds=seconds,
        has_solution=True,
        duals_note="decomposition: no duals",
    )
