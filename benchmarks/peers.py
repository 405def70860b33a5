"""Peers: the textbook model of a benchmark instance written directly in highspy, solved in
the same process as twin's, so twin against textbook is a ratio of one run.

CFLP, strong formulation (x_ij the share of customer j's demand served by warehouse i):

    min sum_i f_i y_i + sum_ij c_ij x_ij
    s.t. sum_i x_ij = 1 (j),  sum_j d_j x_ij <= s_i y_i (i),  x_ij <= y_i (i, j),
         0 <= x_ij <= 1, y_i binary
"""

from __future__ import annotations

import time

import highspy
import numpy as np
import scipy.sparse as sp

from twin.orlib import CflpInstance
from twin.solve import new_highs


def textbook_cflp(instance: CflpInstance, time_limit: float, mip_gap: float) -> dict:
    """Solve the strong formulation; its status, objective and seconds (`peer_*`)."""
    m, n = instance.m, instance.n
    columns = m + m * n  # y_i, then x_ij in row-major (i, j) order
    x = np.arange(m * n).reshape(m, n) + m
    rows, cols, values, lower, upper = [], [], [], [], []

    def add(row_cols: np.ndarray, row_values: np.ndarray, low: float, high: float) -> None:
        rows.append(np.full(len(row_cols), len(lower)))
        cols.append(row_cols)
        values.append(row_values)
        lower.append(low)
        upper.append(high)

    for j in range(n):  # every customer served
        add(x[:, j], np.ones(m), 1.0, 1.0)
    for i in range(m):  # capacity of an open warehouse
        add(np.r_[x[i, :], i], np.r_[instance.demands, -instance.capacities[i]], -np.inf, 0.0)
    for i in range(m):  # the strong rows
        for j in range(n):
            add(np.array([x[i, j], i]), np.array([1.0, -1.0]), -np.inf, 0.0)
    matrix = sp.csc_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(lower), columns),
    )
    cost = np.r_[instance.fixed_costs, instance.costs.ravel()]
    integrality = np.r_[np.ones(m), np.zeros(m * n)].astype(np.int32)
    infinite = highspy.kHighsInf
    highs = new_highs()
    highs.passModel(
        columns,
        len(lower),
        matrix.nnz,
        int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize),
        0.0,
        cost,
        np.zeros(columns),
        np.ones(columns),
        np.nan_to_num(np.array(lower), neginf=-infinite),
        np.nan_to_num(np.array(upper), posinf=infinite),
        matrix.indptr.astype(np.int32),
        matrix.indices.astype(np.int32),
        matrix.data,
        integrality,
    )
    highs.setOptionValue("time_limit", float(time_limit))
    highs.setOptionValue("mip_rel_gap", float(mip_gap))
    start = time.perf_counter()
    highs.run()
    seconds = time.perf_counter() - start
    info = highs.getInfo()
    status = highs.modelStatusToString(highs.getModelStatus())
    return {
        "peer_s": seconds,
        "peer_status": status,
        "peer_objective": float(info.objective_function_value),
        "peer_gap": float(info.mip_gap),
    }
