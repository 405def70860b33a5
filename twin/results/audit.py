"""The identities docs/results.md promises, checked on a set of results tables.

An audit returns the violated identities as readable lines (empty = all hold), so the same
check serves the tests, a run that refuses to write inconsistent results, and a planner who
doubts a file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RTOL = 1e-6
ATOL = 1e-6
KEY = ["region", "commodity", "period"]


def _close(a: pd.Series, b: pd.Series) -> pd.Series:
    a, b = a.astype(float), b.astype(float)
    # Tolerance relative to the larger of the two sides' magnitudes.
    return (a - b).abs() <= ATOL + RTOL * np.maximum(a.abs(), b.abs())


def _report(ok: pd.Series, frame: pd.DataFrame, what: str, columns: list[str]) -> list[str]:
    bad = frame.loc[~ok.to_numpy(), columns].head(5)
    return [f"{what}: {row}" for row in bad.to_dict("records")]


def non_finite(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Number columns holding inf or NaN where a number belongs: no plan has them. (NaN is
    allowed where results.md says null: prices without duals, KPIs of nothing.)"""
    problems = []
    for name, frame in tables.items():
        numbers = frame.select_dtypes("number")
        infinite = numbers.columns[np.isinf(numbers.to_numpy(dtype=float)).any(axis=0)]
        problems += [f"{name}.{column} holds an infinite number" for column in infinite]
    return problems


def audit(
    tables: dict[str, pd.DataFrame],
    objective_cost: float,
    future_costs: dict[str, float] | None = None,
) -> list[str]:
    """Every violated identity of results.md (empty when the tables are consistent).

    Tables with a `future` column (a stochastic plan) are audited future by future, each
    against its own model's cost in `future_costs`."""
    if "future" in tables["balance"]:
        return _audit_futures(tables, future_costs or {})
    problems = non_finite(tables)
    if not np.isfinite(objective_cost):
        problems.append(f"the cost is {objective_cost!r}")
    balance = tables["balance"]
    sources = balance["purchased"] + balance["inflow"] + balance["produced"]
    sinks = balance["consumed"] + balance["outflow"] + balance["served"]
    problems += _report(_close(sources, sinks), balance, "balance does not close", KEY)
    has_demand = balance["demand"] > 0
    demand_rows = balance[has_demand]
    problems += _report(
        _close(demand_rows["served"] + demand_rows["unmet"], demand_rows["demand"]),
        demand_rows,
        "served + unmet != demand",
        KEY,
    )

    flows = tables["flows"]
    inflow = flows.groupby(["dst", "commodity", "period"])["flow"].sum()
    outflow = flows.groupby(["src", "commodity", "period"])["flow"].sum()
    indexed = balance.set_index(KEY)
    for name, sums in (("inflow", inflow), ("outflow", outflow)):
        expected = sums.reindex(indexed.index, fill_value=0.0)
        problems += _report(
            _close(indexed[name], expected).reset_index(drop=True),
            balance,
            f"{name} != sum of flows",
            KEY,
        )
        missing = sums.index.difference(indexed.index)
        problems += [f"flows into/out of {key} have no balance row" for key in missing[:5]]

    conversion = tables["conversion"]
    quantity, keys = conversion["quantity"], [conversion[key] for key in KEY]
    for name, signed in (("produced", quantity), ("consumed", -quantity)):
        expected = signed.clip(lower=0).groupby(keys).sum()
        ok = _close(indexed[name], expected.reindex(indexed.index, fill_value=0.0))
        problems += _report(ok.reset_index(drop=True), balance, f"{name} != sum of conversion", KEY)

    over = flows["flow"] > flows["capacity"] * (1 + RTOL) + ATOL
    problems += _report(~over, flows, "flow exceeds capacity", ["link_id", "commodity", "period"])
    production = tables["production"]
    over = production["activity"] > production["capacity"] * (1 + RTOL) + ATOL
    problems += _report(~over, production, "activity exceeds capacity", ["site_id", "period"])

    total = float(tables["objective"]["value"].sum())
    if not _close(pd.Series([total]), pd.Series([objective_cost])).iloc[0]:
        problems.append(f"objective components sum to {total!r}, not the cost {objective_cost!r}")
    return problems


def _audit_futures(tables: dict[str, pd.DataFrame], costs: dict[str, float]) -> list[str]:
    problems = []
    futures = tables["balance"]["future"].unique()
    split = {  # each table's rows by future, in one pass (not one filter per future)
        name: dict(iter(frame.drop(columns="future").groupby(frame["future"], sort=False)))
        for name, frame in tables.items()
        if "future" in frame
    }
    for future in futures:
        if future not in costs:
            problems.append(f"future {future}: no cost to audit its tables against")
            continue
        own = {
            name: split[name].get(future, frame.iloc[:0].drop(columns="future"))
            if name in split
            else frame
            for name, frame in tables.items()
        }
        problems += [f"future {future}: {problem}" for problem in audit(own, costs[future])]
    return problems
