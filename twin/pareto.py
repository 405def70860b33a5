"""The cost-carbon Pareto frontier: its two ends, then the points between them.

Endpoints with a tie-break, so that neither is, within the gap, a dominated plan (one of the
same cost with more emissions, or of the same emissions at a higher cost):

- cost end: least cost :math:`C^*` with emissions :math:`E_C`; then least
  :math:`cost + \\varepsilon E` with :math:`\\varepsilon = \\tau C^* / (2 E_C)`, started from
  the first plan: a preference for less carbon within the gap, not a proof of
  non-dominance (the tie-break plan is never worse in the weighted objective than the plan
  it starts from, and lies within :math:`1.5\\tau` of the least cost);
- carbon end: least emissions :math:`E^*` (the `carbon` objective, which still values unmet
  demand) at cost :math:`C_E`; then least :math:`E + \\delta\\, cost` with
  :math:`\\delta = \\tau E^* / (2 C_E)` (`Scenario.cost_weight`), likewise (with
  :math:`E_C` for :math:`E^*` where the least emissions are zero: a zero weight would
  leave the cost out, and any plan without emissions would do);

with :math:`\\tau` the solver's relative gap (at least 1e-6). Each tie-break is a solve as hard
as a plan, where a lexicographic second stage (the other objective under a cap on the first)
was often the slowest solve of a frontier.

Between the ends, by one of two methods (`scenario.pareto_method`):

- `weighted` (the default): carbon prices found by the non-inferior set estimation
  (Cohon, *Multiobjective Programming and Planning*, 1978). The plans known so far have a
  lower convex hull in (emissions, cost); each of its segments A-B gives a price
  :math:`\\lambda = (C_B - C_A) / (E_A - E_B)`, and the least :math:`cost + \\lambda E`
  is a plan on or below that segment. Below it (cheaper at that price than every plan
  known), it is a new point and a new vertex of the hull; on it, the segment is an edge of
  the frontier's hull and is not searched again, nor is a segment whose search failed (its
  row says why). A point that a later plan leaves above the hull (the searches are proven
  to the gap, not exactly) leaves the table, and its place is searched again. Segments at
  a price of 0 or less are not searched. A plan below a segment with fewer
  emissions than the carbon end is not a point (the carbon end values unmet demand at the
  reference carbon price, so dearer prices leave demand unmet instead), but it shapes the
  hull: the carbon end is off it, and the segments towards that plan are searched instead.
  Where the ends' price is above the reference carbon price, the first round also searches
  at that reference, so that it has two searches (on the reference data the ends' price,
  447 USD/t, lands beyond the carbon end). The longest open segments (their part up to the
  carbon end) are searched first, a round at a time, the round's solves on `parallel`'s
  workers; which segments a round takes does not depend on the workers (nor do the points,
  where every search ends proven: one stopped by the clock may differ). Each point is the
  least-cost plan at its carbon price (`carbon_price`) within the gap :math:`\\tau` on
  :math:`W = cost + \\lambda E`, so its cost is within :math:`\\tau W` of the least cost
  at its emissions (on the reference data W is 1.0-1.2 times the cost at the prices whose
  plans are points; asking the gap :math:`\\tau C / W` instead made a search at 447 USD/t
  ten times slower, 87 s against 8.5 s). That problem splits by period, so the
  decomposition solves it, where a budget needs one branch and bound. The points are the
  frontier's supported points: a plan in a dent of the frontier is not found, and where
  the hull has fewer vertices than asked for, the frontier has fewer points.
- `epsilon`: evenly spaced emission budgets over the horizon (tCO2e), each solved for least
  cost from the tightest budget to the loosest, each starting from its neighbour's plan
  (which keeps within the next, looser budget); the budgets are split into one such chain
  per worker (`twin.parallel`), each chain starting from the carbon end's plan. A budget
  joins every period, so each point is one branch and bound, often left at the time
  limit on the reference data (benchmarks/README.md, round 12).

Cost never falls as emissions fall, up to the MIP gap: the gap must be well below the
frontier's cost span (on the reference data the whole frontier spans under 2 % of
total cost, so a 1 % gap blurs it; the default 0.2 % resolves it).
"""

from __future__ import annotations

import itertools
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
METHODS = ("weighted", "epsilon")
SERIAL = ParallelOptions(backend="serial")
log = logging.getLogger(__name__)  # a line per solve: a frontier takes minutes (app.log too)


@dataclass(frozen=True)
class Search:
    """What every solve between the ends shares: the data, the least-cost scenario they
    vary, the run and the workers."""

    ds: Dataset
    cost_first: Scenario
    run_id: str
    parallel: ParallelOptions


@dataclass
class ParetoPoint:
    point: int
    kind: str  # cost_optimal / weighted / epsilon / carbon_optimal
    carbon_cap: float | None  # tCO2e over the horizon (epsilon points)
    run: PlanRun
    carbon_price: float | None = None  # currency per tCO2e (weighted points)
    start: dict[str, float] | None = None  # its plan by variable name: a neighbour's start

    @property
    def cost(self) -> float:
        return self.run.results.cost

    @property
    def emissions(self) -> float:
        return self.run.results.emissions_t


def frontier(
    ds: Dataset,
    scenario: Scenario,
    points: int,
    run_id: str,
    parallel: ParallelOptions = SERIAL,
    method: str = "weighted",
) -> list[ParetoPoint]:
    """Up to `points` plans from least cost to least carbon, the points between the ends by
    `method` on `parallel`'s workers (only the two first stages when one of them has no
    solution)."""
    if points < 2:
        raise ValueError(f"a frontier needs at least 2 points, got {points}")
    if method not in METHODS:
        raise ValueError(f"a frontier's method is one of {list(METHODS)}, not {method!r}")
    tolerance = max(scenario.solver.mip_gap, 1e-6)
    cost_first = replace(scenario, objective="cost", emissions_budget=None, cost_cap=None)

    def solve(point: int, kind: str, start: ParetoPoint | None, **changes) -> ParetoPoint:
        """One end; `start` is a plan that satisfies its constraints (a MIP start)."""
        label = f"pareto_{kind}"
        variant = replace(cost_first, name=f"{scenario.name}:{label}", **changes)
        began = time.perf_counter()
        values = start.start if start is not None else None
        run = optimise(ds, variant, f"{run_id}:{label}", start=values)
        least = f"least {variant.objective}"
        if variant.objective == "weighted":
            least = "least cost with carbon as a tie-break"
        elif variant.cost_weight:
            least = "least carbon with cost as a tie-break"
        seconds = time.perf_counter() - began
        # the ends are named, not numbered: a frontier by prices may end with fewer points
        end = kind.removesuffix("_optimal")
        log.info("pareto, %s end, %s: %s in %.1f s", end, least, run.solved.status, seconds)
        return ParetoPoint(point, kind, None, run, start=_plan(run))

    cheapest = solve(0, "cost_optimal", None)
    cleanest = solve(points - 1, "carbon_optimal", None, objective="carbon")
    if cheapest.run.results is None or cleanest.run.results is None:
        return [cheapest, cleanest]  # the table and the run record say which failed
    # each tie-break starts from the plan it refines
    weight = tolerance * cheapest.cost / (2 * max(cheapest.emissions, 1e-9))
    high = solve(0, "cost_optimal", cheapest, objective="weighted", carbon_weight=weight)
    least = cleanest.emissions if cleanest.emissions > 0 else cheapest.emissions
    weight = tolerance * least / (2 * max(cleanest.cost, 1e-9))
    low = solve(points - 1, "carbon_optimal", cleanest, objective="carbon", cost_weight=weight)
    top, bottom = (
        refined if refined.run.results is not None else first
        for refined, first in ((high, cheapest), (low, cleanest))
    )
    between = _weighted_points if method == "weighted" else _epsilon_points
    middle = between(Search(ds, cost_first, run_id, parallel), (top, bottom), points - 2)
    for number, point in enumerate(middle, start=1):
        point.point = number
    bottom.point = len(middle) + 1
    return [top, *middle, bottom]


def _weighted_points(
    job: Search, ends: tuple[ParetoPoint, ParetoPoint], count: int
) -> list[ParetoPoint]:
    """Up to `count` supported points between the ends, from the most emissions to the
    least, by the non-inferior set estimation (module docstring)."""
    top, bottom = ends
    span_e = top.emissions - bottom.emissions
    span_c = bottom.cost - top.cost
    if span_e <= 1e-9 * max(abs(top.emissions), 1.0) or span_c <= 0:
        return []  # no trade-off: one end is as cheap or as clean as the other

    def length(segment: tuple[ParetoPoint, ParetoPoint]) -> float:
        """Its length on the frontier's scales, only the part up to the carbon end."""
        a, b = segment
        inside = min(1.0, (a.emissions - bottom.emissions) / (a.emissions - b.emissions))
        return inside * ((a.emissions - b.emissions) / span_e + (b.cost - a.cost) / span_c)

    found: list[ParetoPoint] = []  # points between the ends, failed searches included
    beyond: list[ParetoPoint] = []  # plans past the carbon end: they shape the hull only
    closed: set[tuple[int, int]] = set()  # segments searched: an edge, or a failed search
    place: dict[int, float] = {}  # a point's emissions, or its segment's middle
    reference = job.cost_first.carbon_reference_price
    seeds = [reference] if count >= 2 and 0 < reference < _slope(top, bottom) else []

    def plans() -> list[ParetoPoint]:
        return [top, bottom, *(p for p in found if p.run.results is not None), *beyond]

    while True:
        hull = _lower_hull(plans())
        # a point that a plan found later leaves above the hull (within the gap) is no
        # supported point: out of the table, and its place searched again
        found = [p for p in found if p.run.results is None or any(p is h for h in hull)]
        segments = [  # with a part before the carbon end, a price above 0, not searched
            (u, v)
            for u, v in itertools.pairwise(hull)
            if u.emissions > bottom.emissions and _slope(u, v) > 0 and (id(u), id(v)) not in closed
        ]
        if len(found) >= count or not segments:
            break
        segments.sort(key=length, reverse=True)
        searches = [(segment, _slope(*segment)) for segment in segments[: count - len(found)]]
        searches += [(None, price) for price in seeds]  # a seed: a search of no segment
        seeds = []
        tasks = []
        for segment, price in searches:
            label = f"pareto_price_{price:.6g}"  # the point's number is known at the end
            variant = replace(
                job.cost_first,
                name=f"{job.cost_first.name}:{label}",
                objective="weighted",
                carbon_weight=price,
            )
            start = (segment or ends)[0].start
            tasks.append((job.ds, variant, f"{job.run_id}:{label}", start))
        outcomes = run_tasks(_solve, tasks, job.parallel)
        for (segment, price), outcome in zip(searches, outcomes, strict=True):
            run, plan = (
                outcome.value if outcome.ok else (_failed(job.cost_first, outcome.error), None)
            )
            point = ParetoPoint(0, "weighted", None, run, carbon_price=price, start=plan)
            # against every plan known, this round's earlier ones included
            verdict = _verdict(point, plans(), top, bottom)
            log.info(
                "pareto, least cost at %s per tCO2e%s: %s in %.1f s, %s",
                f"{price:,.2f}",
                " (the reference carbon price)" if segment is None else "",
                run.solved.status,
                sum(run.timings.values()),
                verdict,
            )
            if verdict == NEW:
                found.append(point)
                place[id(point)] = point.emissions
            elif verdict == BEYOND:
                beyond.append(point)
            elif verdict == NO_PLAN:  # one row in the table, which says why
                found.append(point)
                a, b = segment or ends
                place[id(point)] = (a.emissions + b.emissions) / 2
            if segment is not None and verdict in (NOTHING, NO_PLAN):
                closed.add((id(segment[0]), id(segment[1])))
    return sorted(found, key=lambda point: -place[id(point)])


def _slope(a: ParetoPoint, b: ParetoPoint) -> float:
    """The carbon price of segment a-b: cost per tonne avoided from a to b."""
    return (b.cost - a.cost) / (a.emissions - b.emissions)


def _lower_hull(points: list[ParetoPoint]) -> list[ParetoPoint]:
    """The points on the lower convex hull of (emissions, cost), from the most emissions to
    the least (of two plans with the same emissions, the cheaper)."""
    chain: list[ParetoPoint] = []
    for point in sorted(points, key=lambda p: (-p.emissions, p.cost)):
        if chain and point.emissions == chain[-1].emissions:
            continue
        while len(chain) >= 2 and _slope(chain[-1], point) <= _slope(chain[-2], chain[-1]):
            chain.pop()
        chain.append(point)
    return chain


NEW, BEYOND, NOTHING, NO_PLAN = (
    "a new point",
    "below the hull, beyond the carbon end",
    "nothing below the hull",
    "no plan",
)


def _verdict(
    point: ParetoPoint, known: list[ParetoPoint], top: ParetoPoint, bottom: ParetoPoint
) -> str:
    """What the least cost at a price says: a plan cheaper at that price than every plan
    known lies below the hull, a new point; one that emits no more than the carbon end (the
    least-carbon plan values unmet demand at the reference carbon price, so dearer prices
    leave demand unmet) is not on this frontier, but it shapes the hull searched next.
    Nothing below the hull: the segment searched at its slope is an edge. Below means by
    more than 1e-9 of the objective, not by the gap: a plan within the gap of the hull is
    still proven at its price and kept; the gap column says how far points can be told
    apart."""
    if point.run.results is None:
        return NO_PLAN
    price = point.carbon_price
    least = min(plan.cost + price * plan.emissions for plan in known)
    below = point.cost + price * point.emissions < least - 1e-9 * abs(least)
    if not below or point.emissions >= top.emissions:
        return NOTHING
    return BEYOND if point.emissions <= bottom.emissions else NEW


def _epsilon_points(
    job: Search, ends: tuple[ParetoPoint, ParetoPoint], count: int
) -> list[ParetoPoint]:
    """`count` least-cost points under evenly spaced emission budgets between the ends."""
    caps = np.linspace(ends[0].emissions, ends[1].emissions, count + 2)[1:-1]
    # from the tightest budget to the loosest, each plan keeps within the next budget, so it
    # starts the next solve; the budgets are split into one such chain per worker, each
    # chain starting from the carbon end's plan (it keeps within every budget)
    order = list(reversed(range(len(caps))))  # tightest first
    chains = chunks(order, job.parallel.worker_count())
    tasks = [
        (
            job.ds,
            job.cost_first,
            job.run_id,
            [(i + 1, float(caps[i])) for i in chain],
            ends[1].start,
        )
        for chain in chains
    ]
    solved: dict[int, PlanRun] = {}
    for chain, outcome in zip(chains, run_tasks(_epsilon_chain, tasks, job.parallel), strict=True):
        if outcome.ok:
            solved |= outcome.value
            continue
        for i in chain:  # the worker failed: points without a plan, and why
            solved[i + 1] = _failed(job.cost_first, outcome.error)
    middle = []
    for i, cap in enumerate(caps):
        run = solved[i + 1]
        log.info(
            "pareto point %d of %d, least cost within %s tCO2e: %s in %.1f s",
            i + 2,
            count + 2,
            f"{cap:,.0f}",
            run.solved.status,
            sum(run.timings.values()),
        )
        middle.append(ParetoPoint(i + 1, "epsilon", float(cap), run))
    return middle


def _solve(task: tuple) -> tuple[PlanRun, dict[str, float] | None]:
    """One point in a worker: its run without model and solver, and its plan (a start)."""
    ds, variant, run_id, start = task
    run = optimise(ds, variant, run_id, start=start)
    return _portable(run), _plan(run)


def _plan(run: PlanRun) -> dict[str, float] | None:
    """A run's plan by variable name (a neighbour's MIP start), or None without a plan."""
    return run.highs.values() if run.results is not None else None


def _epsilon_chain(task: tuple) -> dict[int, PlanRun]:
    """Interior points solved in turn, tightest budget first, each from the last plan."""
    ds, cost_first, run_id, budgets, start = task
    out = {}
    for point, cap in budgets:
        label = f"pareto_{point}"
        variant = replace(cost_first, name=f"{cost_first.name}:{label}", emissions_budget=cap)
        run = optimise(ds, variant, f"{run_id}:{label}", start=start)
        if run.results is not None:
            start = run.highs.values()
        out[point] = _portable(run)
    return out


def _portable(run: PlanRun) -> PlanRun:
    """A run without its model and solver (they do not cross processes), with its tables,
    KPIs and timings."""
    solved = replace(run.solved, duals={})  # keyed by the model's rows: used, dropped
    return PlanRun(run.scenario, None, solved, None, run.results, run.kpis, run.timings)  # type: ignore[arg-type]


def _failed(scenario: Scenario, error: str) -> PlanRun:
    """A point whose worker failed: no plan, and the error's last line as the reason."""
    failed = SolveResult(status="error", message=error.splitlines()[-1])
    return PlanRun(scenario, None, failed, None)  # type: ignore[arg-type]


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
            "carbon_price": item.carbon_price,
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
