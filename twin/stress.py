"""Stress-test a plan: its operations re-optimised in every future of an uncertainty set.

The plan's investments are fixed (`twin.whatif.fix_investments`); what remains is an LP of
operations, built and handed to HiGHS once per worker. Each future is then a set of
in-place changes and a warm re-solve from the previous basis, checked against its rows
(`twin.solve.run_lp`):

- demand factors scale the balance rows' right-hand sides, the unmet-demand bounds (zero
  when the scenario allows no unmet demand) and the import-share rows' right-hand sides
  (share x bloc demand);
- price factors scale the purchases' costs; a carbon price moves every emitting column's
  cost by (price - scenario price) x its discounted emissions;
- closures fix a link's flows at zero in the periods closed; a capacity cut scales the
  upper side of the capacity rows of the site, link or crossing (with the plan's
  investments fixed, a row's upper side is its whole available capacity).

The rows are checked against the data they are scaled from when the evaluator is made, and
`tests/test_stress.py` checks each kind of change against a model built anew for the
future. The strengthening of `solver.strengthen` is left out: flow bounds, linking and
cover rows are derived from the scenario's demand and capacities and would not follow it.
Futures are split into one chunk per worker (`twin.parallel`), so each worker builds the
model once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.repn import generate_standard_repn

from twin.data import Dataset
from twin.model import build_model
from twin.parallel import ParallelOptions, chunks, run_tasks
from twin.results.schema import conform_with
from twin.scenario import Scenario
from twin.solve import LpRows, limit_time, run_lp, solve, status_name
from twin.uncertainty import (
    Future,
    closed_link_periods,
    cut_assets,
    driver_defaults,
    multipliers,
)
from twin.whatif import fix_investments

RESULT_COLUMNS = ("cost", "unmet_value", "emissions_t", "value_added")


class StressError(ValueError):
    """A plan that cannot be stress-tested (it cannot operate in its own scenario)."""


@dataclass
class _Linear:
    """A linear function of the HiGHS columns: constant + coefficients . x."""

    columns: np.ndarray
    coefficients: np.ndarray
    constant: float

    def __call__(self, x: np.ndarray) -> float:
        return self.constant + float(self.coefficients @ x[self.columns])


def operations_scenario(scenario: Scenario) -> Scenario:
    """The scenario a plan's operations are re-optimised in: least cost, no strengthening
    (its bounds come from the scenario's demand), one branch and bound."""
    solver = replace(scenario.solver, strengthen=(), method="monolithic")
    return replace(scenario, objective="cost", solver=solver)


class PlanOperations:
    """A plan's operations as one LP, changed in place for each future."""

    def __init__(self, ds: Dataset, scenario: Scenario, investments: pd.DataFrame):
        self.ds, self.scenario = ds, operations_scenario(scenario)
        # built with unmet demand allowed, so that the plan's integer columns can be fixed
        # from a feasible solve; each future bounds unmet demand as the scenario says
        built = build_model(ds, replace(self.scenario, allow_unmet=True))
        fix_investments(built, investments)
        solved, highs = solve(built.model, self.scenario.solver)
        if highs is None or not solved.ok:
            raise StressError(
                f"the plan cannot be operated in its own scenario: {solved.status}, "
                f"{solved.message}"
            )
        highs.fix_integers()  # agglomeration segments follow the fixed builds
        self.built, self.highs, self.solver = built, highs, highs.highs
        lp = self.solver.getLp()
        self.now = LpRows.of(self.solver, lp)  # the rows as the last future changed them
        self.row_lower, self.row_upper = self.now.lower.copy(), self.now.upper.copy()
        self.col_lower, self.col_upper = np.array(lp.col_lower_), np.array(lp.col_upper_)
        self.cost, self.offset = np.array(lp.col_cost_), float(lp.offset_)
        self._rows = self._row_numbers(("balance", "import_share", *_CAPACITY_ROWS))
        self._index_demand()
        self._index_supply()
        self._index_flows()
        self.kpis = self._kpi_functions()
        self.carbon = self._linear(self._carbon_expression())
        self._changed = (np.array([], int), np.array([], int), np.array([], int))

    # ---------------------------------------------------------------- set-up

    def _row_numbers(self, families: tuple[str, ...]) -> dict[tuple[str, object], int]:
        out = {}
        for i, (row, _) in enumerate(self.highs.rows):
            family = row.parent_component().local_name
            if family in families:
                out[family, row.index()] = i
        return out

    def _column(self, var) -> int:
        return self.highs.column_of.get(id(var), -1)

    def _index_demand(self) -> None:
        m, data = self.built.model, self.built.data
        keys = list(data.demand)
        self.demand_rows = pd.DataFrame(keys, columns=["region_id", "commodity_id", "period"])
        self.demand = np.array([data.demand[key][0] for key in keys])
        self.balance_row = np.array([self._rows["balance", key] for key in keys])
        if not np.allclose(self.row_upper[self.balance_row], self.demand, rtol=1e-12):
            raise StressError("balance rows do not carry the demand as their right-hand side")
        self.unmet_column = np.array([self._column(m.unmet[key]) for key in keys])
        self.unmet_allowed = self.scenario.allow_unmet
        share = self.scenario.max_import_share
        position = {key: i for i, key in enumerate(keys)}
        self.import_rows: list[tuple[int, np.ndarray]] = []
        for (family, index), row in self._rows.items():
            if family != "import_share":
                continue
            commodity, period = index
            members = np.array(
                [
                    position[r, commodity, period]
                    for r in sorted(data.bloc_regions)
                    if (r, commodity, period) in position
                ],
                dtype=int,
            )
            expected = share * self.demand[members].sum()
            if not np.isclose(self.row_upper[row], expected, rtol=1e-9, atol=1e-6):
                raise StressError(f"import_share{index}: right-hand side is not share x demand")
            self.import_rows.append((row, members))
        self.share = share

    def _index_supply(self) -> None:
        m, data = self.built.model, self.built.data
        keys = list(m.buy)
        self.supply_rows = pd.DataFrame(keys, columns=["region_id", "commodity_id", "period"])
        self.buy_column = np.array([self._column(m.buy[key]) for key in keys])
        self.purchase_cost = np.array([data.buys[key][1] * data.weight[key[2]] for key in keys])

    def _index_flows(self) -> None:
        self.flow_columns: dict[str, list[tuple[int, int]]] = {}
        for (link, _, period), flow in self.built.model.flow.items():
            j = self._column(flow)
            if j >= 0:
                self.flow_columns.setdefault(link, []).append((int(period), j))

    def _linear(self, expression) -> _Linear:
        """An expression of the model as a function of the HiGHS columns."""
        repn = generate_standard_repn(expression, compute_values=True, quadratic=False)
        columns = np.array([self._column(v) for v in repn.linear_vars], dtype=int)
        coefficients = np.array(repn.linear_coefs, dtype=float)
        kept = columns >= 0  # a fixed variable is a constant of the repn already
        return _Linear(columns[kept], coefficients[kept], float(repn.constant))

    def _carbon_expression(self):
        """Discounted emissions over the horizon: what a unit of carbon price costs."""
        m, data = self.built.model, self.built.data
        if not self.scenario.has("carbon"):
            return 0.0
        return pyo.quicksum(data.weight[p] * m.emissions[p] for p in data.periods)

    def _kpi_functions(self) -> dict[str, _Linear]:
        """Horizon totals (per-year values x years of each period)."""
        m, data = self.built.model, self.built.data
        value = self.ds.commodities.set_index("commodity_id")["value_per_unit"].astype(float)
        unmet = pyo.quicksum(
            data.years[p] * float(value[k]) * var for (_, k, p), var in m.unmet.items()
        )
        added = pyo.quicksum(
            data.years[p]
            * sum(a * float(value[k]) for k, a in data.recipe[data.sites[s].technology])
            * var
            for (s, p), var in m.activity.items()
        )
        return {
            "unmet_value": self._linear(unmet),
            "emissions_t": self._linear(m.total_emissions),
            "value_added": self._linear(added),
        }

    # ---------------------------------------------------------------- per future

    def _changes(self, future: Future):
        """Row bounds, column bounds and costs of the future: (index, values) each."""
        factor = multipliers(self.demand_rows, future.demand, self.ds)
        demand = self.demand * factor
        rows = {i: (d, d) for i, d in zip(self.balance_row.tolist(), demand.tolist(), strict=True)}
        for row, members in self.import_rows:
            rows[row] = (self.row_lower[row], self.share * demand[members].sum())
        kept = cut_assets(self.ds, future)
        for (family, index), row in self._rows.items():
            if family in _CAPACITY_ROWS and index[0] in kept:
                rows[row] = (self.row_lower[row], self.row_upper[row] * kept[index[0]])
        columns = {}
        for j, d in zip(self.unmet_column.tolist(), demand.tolist(), strict=True):
            if j >= 0:
                columns[j] = (0.0, d if self.unmet_allowed else 0.0)
        for link, period in closed_link_periods(self.ds, future):
            for p, j in self.flow_columns.get(link, ()):
                if period is None or p == period:
                    columns[j] = (0.0, 0.0)
        cost = self.cost.copy()
        price = multipliers(self.supply_rows, future.price, self.ds)
        bought = self.buy_column >= 0
        cost[self.buy_column[bought]] += (price[bought] - 1.0) * self.purchase_cost[bought]
        offset = self.offset
        if future.carbon_price is not None:
            change = future.carbon_price - self.scenario.carbon_price
            np.add.at(cost, self.carbon.columns, change * self.carbon.coefficients)
            offset += change * self.carbon.constant
        return rows, columns, cost, offset

    def _apply(self, future: Future) -> None:
        rows, columns, cost, offset = self._changes(future)
        last_rows, last_columns, _ = self._changed
        for i in set(last_rows.tolist()) - rows.keys():  # back to the plan's own scenario
            rows[i] = (self.row_lower[i], self.row_upper[i])
        for j in set(last_columns.tolist()) - columns.keys():
            columns[j] = (self.col_lower[j], self.col_upper[j])
        solver = self.solver
        if rows:
            index = np.fromiter(rows, dtype=np.int32)
            lower, upper = np.array(list(rows.values())).T
            solver.changeRowsBounds(len(index), index, lower, upper)
            self.now.lower[index], self.now.upper[index] = lower, upper
        if columns:
            index = np.fromiter(columns, dtype=np.int32)
            lower, upper = np.array(list(columns.values())).T
            solver.changeColsBounds(len(index), index, lower, upper)
        every = np.arange(len(cost), dtype=np.int32)
        solver.changeColsCost(len(every), every, cost)
        solver.changeObjectiveOffset(offset)
        self._changed = (np.fromiter(rows, int), np.fromiter(columns, int), every)

    def evaluate(self, future: Future) -> dict:
        """The future's row of the stress table."""
        start = time.perf_counter()
        self._apply(future)
        limit_time(self.solver, self.scenario.solver.time_limit)
        run_lp(self.solver, self.now)
        status = status_name(self.solver.getModelStatus())
        row = {"future": future.name, "probability": future.probability, "status": status}
        if status == "optimal":
            x = np.asarray(self.solver.getSolution().col_value)
            row["cost"] = float(self.solver.getInfo().objective_function_value)
            row |= {name: kpi(x) for name, kpi in self.kpis.items()}
        else:
            row |= dict.fromkeys(RESULT_COLUMNS)
        row["resolve_s"] = time.perf_counter() - start
        return row


_CAPACITY_ROWS = ("capacity", "link_capacity", "crossing_capacity")
DRIVER_PREFIXES = ("demand[", "price[", "closed[", "cut[", "carbon_price")


def _evaluate_chunk(task: tuple) -> list[dict]:
    """A worker's share: the model built once, then each future in place."""
    ds, scenario, investments, futures = task
    operations = PlanOperations(ds, scenario, investments)
    return [operations.evaluate(future) for future in futures]


def stress(
    ds: Dataset,
    scenario: Scenario,
    investments: pd.DataFrame,
    futures: list[Future],
    parallel: ParallelOptions,
) -> pd.DataFrame:
    """One row per future (the columns of results/stress.parquet but run_id), in the
    futures' order; a chunk whose worker failed gives its futures status `error`."""
    groups = chunks(futures, parallel.worker_count())
    tasks = [(ds, scenario, investments, group) for group in groups]
    rows = []
    for group, outcome in zip(groups, run_tasks(_evaluate_chunk, tasks, parallel), strict=True):
        if outcome.ok:
            rows += outcome.value
            continue
        if "StressError: " in outcome.error:  # the plan itself: every chunk fails alike
            raise StressError(outcome.error.rsplit("StressError: ", 1)[-1])
        for future in group:
            rows.append(
                {"future": future.name, "probability": future.probability, "status": "error"}
                | dict.fromkeys(RESULT_COLUMNS)
                | {"message": outcome.error.splitlines()[-1] if outcome.error else ""}
            )
    frame = pd.DataFrame(rows)
    periods = len(ds.periods)
    drivers = pd.DataFrame([future.drivers(periods) for future in futures])
    for column in drivers.columns:
        drivers[column] = drivers[column].fillna(driver_defaults(column, scenario))
    return pd.concat([frame, drivers.astype("float64")], axis=1)


def stress_table(frame: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """results/stress.parquet: the contract's columns, the drivers, then twin's extras."""
    return conform_with("stress", frame, run_id, driver_columns(frame))


def driver_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith(DRIVER_PREFIXES)]


def cvar(costs: np.ndarray, probabilities: np.ndarray, alpha: float) -> float:
    """Conditional value at risk: the expected cost of the worst 1 - alpha of probability
    (Rockafellar and Uryasev; the tail's boundary future counts in part)."""
    order = np.argsort(costs)[::-1]
    costs, probabilities = costs[order], probabilities[order]
    tail = 1.0 - alpha
    taken = np.minimum(
        probabilities, np.maximum(tail - np.cumsum(probabilities) + probabilities, 0)
    )
    return float((taken * costs).sum() / tail)


def summary(frame: pd.DataFrame, planned_unmet: float) -> dict:
    """The distribution a planner reads first (run.json `stress`): expected cost, CVaR at 90
    and 95 %, the probability of unmet demand (any, and more than the plan leaves unmet in
    its own scenario, `planned_unmet`, currency over the horizon), the worst future.
    Figures are null when a future has no operations (infeasible or failed): an expectation
    without it would lie."""
    solved = frame["status"] == "optimal"
    p = frame["probability"].to_numpy(float)
    out = {
        "futures": len(frame),
        "futures_without_operations": int((~solved).sum()),
        "p_without_operations": float(p[~solved.to_numpy()].sum()),
    }
    figures = (
        "expected_cost",
        "cvar_90",
        "cvar_95",
        "p_unmet",
        "p_more_unmet",
        "worst_future",
    )
    if not solved.all() or frame.empty:
        return out | dict.fromkeys(figures)
    cost, unmet = frame["cost"].to_numpy(float), frame["unmet_value"].to_numpy(float)
    tolerance = 1e-9 * float(np.abs(cost).max())  # rounding of the LP, in currency
    return out | {
        "expected_cost": float(p @ cost),
        "cvar_90": cvar(cost, p, 0.90),
        "cvar_95": cvar(cost, p, 0.95),
        "p_unmet": float(p[unmet > tolerance].sum()),
        "p_more_unmet": float(p[unmet > planned_unmet + tolerance].sum()),
        "worst_future": str(frame["future"].iloc[int(np.argmax(cost))]),
    }


def tail_drivers(frame: pd.DataFrame, drivers: list[str], alpha: float = 0.9) -> pd.DataFrame:
    """How the worst 1 - alpha of probability (by cost) differs from all futures, per
    driver: its probability-weighted mean in the tail and overall, and the difference in
    standard deviations (the report's explanation of the tail, largest first). The
    boundary future of the tail counts whole."""
    columns = ["driver", "tail_mean", "mean", "shift_sd"]
    solved = frame[frame["status"] == "optimal"].sort_values("cost", ascending=False)
    if solved.empty or not drivers:
        return pd.DataFrame(columns=columns)
    p = solved["probability"].to_numpy(float) / solved["probability"].sum()
    before = np.cumsum(p) - p  # probability of the futures worse than each
    tail = before < 1.0 - alpha
    rows = []
    for driver in drivers:
        values = solved[driver].to_numpy(float)
        mean = float(p @ values)
        spread = float(np.sqrt(p @ (values - mean) ** 2))
        tail_mean = float(p[tail] @ values[tail] / p[tail].sum())
        shift = (tail_mean - mean) / spread if spread > 0 else 0.0
        rows.append(dict(zip(columns, (driver, tail_mean, mean, shift), strict=True)))
    out = pd.DataFrame(rows)
    return out.reindex(out["shift_sd"].abs().sort_values(ascending=False).index)
