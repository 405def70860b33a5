"""One optimisation from dataset to KPIs, and the to-be plan against as-is.

Each stage is a plain function (build_model, solve, extract_results, compute_kpis), so a
notebook can stop anywhere; this module only calls them in order and times them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from twin.data import Dataset
from twin.kpis import compare_kpis, compute_kpis
from twin.model import BuiltModel, build_model
from twin.results import Results, extract_results
from twin.scenario import Scenario
from twin.solve import HighsModel, SolveResult, solve


@dataclass
class PlanRun:
    """A solved (or failed) plan with its tables and stage timings in seconds."""

    scenario: Scenario
    built: BuiltModel
    solved: SolveResult
    highs: HighsModel | None
    results: Results | None = None
    kpis: pd.DataFrame | None = None
    timings: dict[str, float] = field(default_factory=dict)


def optimise(
    ds: Dataset,
    scenario: Scenario,
    run_id: str,
    log_file: Path | None = None,
    adjust: Callable[[BuiltModel], None] | None = None,
    start: dict[str, float] | None = None,
) -> PlanRun:
    """Build, solve and (when there is a solution) extract results and KPIs; `adjust`
    changes the built model before it is solved (what-ifs fix a plan's investments);
    `start` is a starting solution by variable name (`HighsModel.values` of a related run)."""
    built = build_model(ds, scenario)
    if adjust is not None:
        adjust(built)
    solved, highs = solve(built.model, scenario.solver, log_file, start)
    return finish(PlanRun(scenario, built, solved, highs), run_id)


def finish(run: PlanRun, run_id: str) -> PlanRun:
    """Record a solved run's timings and, when it has a solution, its tables and KPIs."""
    solved = run.solved
    run.timings = {
        "build": run.built.build_seconds,
        "handoff": solved.handoff_seconds,
        "solve": solved.solve_seconds,
    }
    run.results, run.kpis = None, None
    if solved.ok:
        start = time.perf_counter()
        run.results = extract_results(run.built, solved, run_id)
        run.kpis = compute_kpis(run.results, run.built.data, plan=run.scenario.name)
        run.timings["extract"] = time.perf_counter() - start
    return run


class PlanError(Exception):
    """A plan that cannot be made as the scenario asks (its message says why)."""


def capped_as_is(scenario: Scenario, as_is: PlanRun) -> Scenario:
    """The scenario with its `carbon_cap_pct` as caps per period: that share of the as-is
    plan's emissions. PlanError if the as-is plan has no solution: the cap would have no
    reference, and a run without it would not be the run asked for."""
    if scenario.carbon_cap_pct is None:
        return scenario
    if as_is.results is None:
        raise PlanError(
            "scenario.carbon_cap_pct needs the as-is plan's emissions, but the as-is solve "
            f"ended {as_is.solved.status}: {as_is.solved.message}"
        )
    emissions = as_is.results.tables["emissions"].groupby("period")["emissions_t"].sum()
    caps = {int(p): scenario.carbon_cap_pct / 100 * float(e) for p, e in emissions.items()}
    return replace(scenario, carbon_cap_by_period=caps)


def plan_against_as_is(
    ds: Dataset, scenario: Scenario, run_id: str, log_dir: Path | None = None
) -> tuple[PlanRun, PlanRun]:
    """Solve as-is (existing assets only), then to-be; to-be KPIs carry both and the changes.

    A `carbon_cap_pct` is turned into per-period caps from the as-is emissions here.
    """
    log = (lambda name: None) if log_dir is None else (lambda name: log_dir / name)
    as_is = optimise(ds, scenario.as_is(), run_id, log("highs_as_is.log"))
    to_be = optimise(ds, capped_as_is(scenario, as_is), run_id, log("highs.log"))
    if to_be.kpis is not None and as_is.kpis is not None:
        to_be.kpis = compare_kpis(to_be.kpis.assign(plan="to_be"), as_is.kpis)
    return to_be, as_is
