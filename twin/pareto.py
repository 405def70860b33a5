"""The cost-carbon Pareto frontier by the epsilon-constraint method.

Endpoints with a tie-break, so that neither is, within the gap, a dominated plan (one of the
same cost with more emissions, or of the same emissions at a higher cost):

- cost end: least cost :math:`C^*` with emissions :math:`E_C`; then least
  :math:`cost + \\varepsilon E` with :math:`\\varepsilon = \\tau C^* / (2 E_C)`, started from
  the first plan: a preference for less carbon within the gap, not a proof of
  non-dominance (the tie-break plan is never worse in the weighted objective than the plan
  it starts from, and lies within :math:`1.5\\tau` of the least cost);
- carbon end: least emissions :math:`E^*` (the `carbon` objective, which still values unmet
  demand) at cost :math:`C_E`; then least :math:`E + \\delta\\, cost` with
  :math:`\\delta = \\tau E^* / (2 C_E)` (`Scenario.cost_weight`), likewise;

with :math:`\\tau` the solver's relative gap (at least 1e-6). Each tie-break is a solve as hard
as a plan, where a lexicographic second stage (the other objective under a cap on the first)
was often the slowest solve of a frontier. Between the ends, evenly spaced emission budgets
over the horizon (tCO2e), each solved for least cost, all starting from the carbon end's
plan (which keeps within every budget), so that they run in parallel (`twin.parallel`).
Cost never falls as the budget tightens, up to the MIP gap: the gap must be well below the
frontier's cost span (on the reference data the whole frontier spans under 2 % of
total cost, so a 1 % gap blurs it; the default 0.2 % resolves it).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from twin.data import Dataset
from twin.parallel import ParallelOptions, run_tasks
from twin.plan import PlanRun, optimise
from twin.results.schema import conform
from twin.scenario import Scenario
from twin.solve import SolveResult

HEADLINE = ("value_added", "jobs", "unmet_demand")
SERIAL = ParallelOptions(backend="serial")
log = logging.getLogger(__name__)  # a line per solve: a frontier takes minutes (app.log too)


@dataclass
class ParetoPoint:
    point: int
    kind: str  # cost_optimal / epsilon / carbon_optimal
    carbon_cap: float | None  # tCO2e over the horizon
    run: PlanRun


def frontier(
    ds: Dataset,
    scenario: Scenario,
    points: int,
    run_id: str,
    parallel: ParallelOptions = SERIAL,
) -> list[ParetoPoint]:
    """`points` plans from least cost to least carbon (only the two first stages when one
    of them has no solution); the interior points on `parallel`'s workers."""
    if points < 2:
        raise ValueError(f"a frontier needs at least 2 points, got {points}")
    tolerance = max(scenario.solver.mip_gap, 1e-6)
    cost_first = replace(scenario, objective="cost", emissions_budget=None, cost_cap=None)

    def solve(
        point: int, kind: str, cap: float | None, start: ParetoPoint | None, **changes
    ) -> ParetoPoint:
        """One point; `start` is a plan that satisfies its constraints (a MIP start)."""
        name = f"{scenario.name}:pareto_{point}"
        variant = replace(cost_first, name=name, emissions_budget=cap, **changes)
        values = start.run.highs.values() if start is not None else None
        began = time.perf_counter()
        run = optimise(ds, variant, f"{run_id}:pareto_{point}", start=values)
        least = f"least {variant.objective}"
        if variant.objective == "weighted":
            least = "least cost with carbon as a tie-break"
        elif variant.cost_weight:
            least = "least carbon with cost as a tie-break"
        elif cap is not None:
            least += f" within {cap:,.0f} tCO2e"
        seconds = time.perf_counter() - began
        log.info(
            "pareto point %d of %d, %s: %s in %.1f s",
            point + 1,
            points,
            least,
            run.solved.status,
            seconds,
        )
        return ParetoPoint(point, kind, cap, run)

    cheapest = solve(0, "cost_optimal", None, None)
    cleanest = solve(points - 1, "carbon_optimal", None, None, objective="carbon")
    if cheapest.run.results is None or cleanest.run.results is None:
        return [cheapest, cleanest]  # the table and the run record say which failed
    # each tie-break starts from the plan it refines
    cost, emissions = cheapest.run.results.cost, cheapest.run.results.emissions_t
    weight = tolerance * cost / (2 * max(emissions, 1e-9))
    high = solve(0, "cost_optimal", None, cheapest, objective="weighted", carbon_weight=weight)
    cost, emissions = cleanest.run.results.cost, cleanest.run.results.emissions_t
    weight = tolerance * emissions / (2 * max(cost, 1e-9))
    low = solve(
        points - 1, "carbon_optimal", None, cleanest, objective="carbon", cost_weight=weight
    )
    ends = [
        refined if refined.run.results is not None else first
        for refined, first in ((high, cheapest), (low, cleanest))
    ]
    top, bottom = (p.run.results.emissions_t for p in ends)
    caps = np.linspace(top, bottom, points)[1:-1]
    # every budget admits the carbon end's plan: each interior point starts from it, so the
    # points are independent and run in parallel
    start = ends[1].run.highs.values()
    tasks = [
        (
            ds,
            replace(
                cost_first, name=f"{scenario.name}:pareto_{i + 1}", emissions_budget=float(cap)
            ),
            f"{run_id}:pareto_{i + 1}",
            start,
        )
        for i, cap in enumerate(caps)
    ]
    middle = []
    for i, outcome in enumerate(run_tasks(_epsilon_point, tasks, parallel)):
        cap = float(caps[i])
        if outcome.ok:
            run = outcome.value
        else:  # the worker failed: a point without a plan, and why
            failed = SolveResult(status="error", message=outcome.error.splitlines()[-1])
            run = PlanRun(tasks[i][1], None, failed, None)  # type: ignore[arg-type]
        log.info(
            "pareto point %d of %d, least cost within %s tCO2e: %s in %.1f s",
            i + 2,
            points,
            f"{cap:,.0f}",
            run.solved.status,
            outcome.seconds,
        )
        middle.append(ParetoPoint(i + 1, "epsilon", cap, run))
    return [ends[0], *middle, ends[1]]


def _epsilon_point(task: tuple) -> PlanRun:
    """One interior point, solved where the runner puts it; returned without its model and
    solver (they do not cross processes), with its tables, KPIs and timings."""
    ds, variant, run_id, start = task
    run = optimise(ds, variant, run_id, start=start)
    solved = replace(run.solved, duals={})  # keyed by the model's rows: used, then dropped
    return PlanRun(run.scenario, None, solved, None, run.results, run.kpis, run.timings)  # type: ignore[arg-type]


def pareto_table(points: list[ParetoPoint], run_id: str) -> pd.DataFrame:
    """results/pareto.parquet: one row per point; emissions over the horizon, discounted cost,
    and headline KPIs of the last period (per year)."""
    rows = []
    for item in points:
        run, results = item.run, item.run.results
        row = {
            "point": item.point,
            "kind": item.kind,
            "carbon_cap": item.carbon_cap,
            "status": run.solved.status,
            "gap": run.solved.gap,
        }
        if results is not None:
            kpis = run.kpis[(run.kpis["scope_type"] == "total") & run.kpis["period"].notna()]
            last = kpis[kpis["period"] == kpis["period"].max()].set_index("kpi")["value"]
            row |= {"emissions_t": results.emissions_t, "cost": results.cost}
            row |= {kpi: float(last.get(kpi, 0.0)) for kpi in HEADLINE}
        rows.append(row)
    return conform("pareto", rows, run_id)


def plot(table: pd.DataFrame, currency: str, path: Path) -> None:
    """pareto.png: discounted cost against emissions, each point labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    solved = table.dropna(subset=["cost", "emissions_t"])
    figure, axes = plt.subplots(figsize=(7, 4.5))
    axes.plot(solved["emissions_t"] / 1e6, solved["cost"] / 1e9, "o-", color="tab:green")
    for row in solved.itertuples():
        axes.annotate(
            str(row.point),
            (row.emissions_t / 1e6, row.cost / 1e9),
            xytext=(4, 4),
            textcoords="offset points",
        )
    axes.set_xlabel("emissions over the horizon (Mt CO2e)")
    axes.set_ylabel(f"total discounted cost (bn {currency})")
    axes.set_title("Cost-carbon frontier (0 = least cost)")
    axes.grid(alpha=0.3)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
