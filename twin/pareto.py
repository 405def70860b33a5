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
over the horizon (tCO2e), each solved for least cost from the tightest budget to the
loosest, each starting from its neighbour's plan (which keeps within the next, looser
budget); the budgets are split into one such chain per worker (`twin.parallel`), each
chain starting from the carbon end's plan.
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
from twin.parallel import ParallelOptions, chunks, run_tasks
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
    # from the tightest budget to the loosest, each plan keeps within the next budget, so it
    # starts the next solve; the budgets are split into one such chain per worker, each
    # chain starting from the carbon end's plan (it keeps within every budget)
    order = list(reversed(range(len(caps))))  # tightest first
    chains = chunks(order, parallel.worker_count())
    start = ends[1].run.highs.values()
    tasks = [
        (ds, cost_first, scenario.name, run_id, [(i + 1, float(caps[i])) for i in chain], start)
        for chain in chains
    ]
    solved: dict[int, PlanRun] = {}
    for chain, outcome in zip(chains, run_tasks(_epsilon_chain, tasks, parallel), strict=True):
        if outcome.ok:
            solved |= outcome.value
            continue
        failed = SolveResult(status="error", message=outcome.error.splitlines()[-1])
        for i in chain:  # the worker failed: points without a plan, and why
            solved[i + 1] = PlanRun(cost_first, None, failed, None)  # type: ignore[arg-type]
    middle = []
    for i, cap in enumerate(caps):
        run = solved[i + 1]
        log.info(
            "pareto point %d of %d, least cost within %s tCO2e: %s in %.1f s",
            i + 2,
            points,
            f"{cap:,.0f}",
            run.solved.status,
            sum(run.timings.values()),
        )
        middle.append(ParetoPoint(i + 1, "epsilon", float(cap), run))
    return [ends[0], *middle, ends[1]]


def _epsilon_chain(task: tuple) -> dict[int, PlanRun]:
    """Interior points solved in turn, tightest budget first, each from the last plan;
    returned without their models and solvers (they do not cross processes), with their
    tables, KPIs and timings."""
    ds, cost_first, name, run_id, budgets, start = task
    out = {}
    for point, cap in budgets:
        variant = replace(cost_first, name=f"{name}:pareto_{point}", emissions_budget=cap)
        run = optimise(ds, variant, f"{run_id}:pareto_{point}", start=start)
        if run.results is not None:
            start = run.highs.values()
        solved = replace(run.solved, duals={})  # keyed by the model's rows: used, dropped
        out[point] = PlanRun(run.scenario, None, solved, None, run.results, run.kpis, run.timings)  # type: ignore[arg-type]
    return out


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
