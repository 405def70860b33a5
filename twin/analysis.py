"""The analyses a run can make (`analysis=` in the config), each a plain function.

plan: the to-be plan, against as-is. disruption: a plan's operations under a disruption,
against the same plan undisrupted. n1: every border crossing (or every link of a corridor)
closed in turn. pareto: the cost-carbon frontier. stress: a plan's operations in every
future of an uncertainty set. stochastic: one plan for all of them. coalitions: the cost
of every coalition of countries, and fair shares of the grand coalition's. alternatives:
plans within a slack of the least cost, each as far as it goes in one direction. Each
returns an `Outcome` that the app writes: the main run to `results/`, the others to
`<name>/results/`, the analysis tables beside the main results, and figures in the run
directory.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from twin.alternatives import alternatives, reference_shares, unproven
from twin.coalitions import allocation_table, plan_row, play, players
from twin.config import ConfigError, TwinConfig
from twin.data import Dataset
from twin.data.subset import only_countries
from twin.kpis import AS_IS, BASELINE, compare_kpis
from twin.parallel import ParallelOptions
from twin.pareto import frontier, pareto_table, plot
from twin.plan import PlanRun, capped_as_is, optimise, plan_against_as_is
from twin.results.schema import conform, conform_with
from twin.scenario import Scenario
from twin.solve import FINISHED, SolveResult
from twin.stochastic import Risk, combined_results, futures_table, solve_stochastic
from twin.stress import stress, stress_table, summary
from twin.uncertainty import Uncertainty, from_config
from twin.whatif import (
    Disruption,
    horizon_total,
    loss,
    n_minus_one,
    operations,
    resilience_table,
    shocked_inputs,
)
from twin.worth import expected_value_of_mean_plan, mean_future_plan, wait_and_see, worth

ANALYSES = (
    "plan",
    "disruption",
    "n1",
    "pareto",
    "stress",
    "stochastic",
    "coalitions",
    "alternatives",
)
PARETO_DIR, PARETO_FIGURE = "pareto", "pareto.png"  # beside results/: points 2.., the figure


@dataclass
class Outcome:
    main: PlanRun  # its results go to results/, its status to run.json
    kpis: pd.DataFrame | None  # the main run's KPIs, with the comparison when there is one
    others: dict[str, PlanRun] = field(default_factory=dict)  # subdirectory -> run
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # written to results/
    figures: dict[str, Callable[[Path], None]] = field(default_factory=dict)  # file -> draw
    helpers: list[PlanRun] = field(default_factory=list)  # solved on the way, not written
    record: dict = field(default_factory=dict)  # objects added to run.json (e.g. `stress`)
    warnings: list[str] = field(default_factory=list)  # shown and added to run.json
    tested: dict | None = None  # a what-if's plan: how its solve ended (`PROOF`), and where


# How a plan's solve ended. A what-if (disruption, n1, a stress test of another run's plan)
# solves LPs on a plan it is given, which are exact; whether its figures are the optimal
# plan's rests on that plan's solve, which run.json and the summary report (`proof_record`).
PROOF = ("status", "message", "objective", "bound", "gap")


def proof(solved: SolveResult) -> dict:
    """How a solve ended (`PROOF`), as run.json records it for a run and for a tested plan."""
    return {key: getattr(solved, key) for key in PROOF}


def run_analysis(cfg: TwinConfig, ds: Dataset, scenario: Scenario, run_id: str, run_dir: Path):
    """The outcome of the analysis `cfg.analysis.name` asks for."""
    name = cfg.analysis.name
    if name not in ANALYSES:
        raise ConfigError(f"analysis.name must be one of {list(ANALYSES)}, not {name!r}")
    if name != "plan" and scenario.carbon_cap_pct is not None and cfg.analysis.plan_dir:
        raise ConfigError(
            "scenario.carbon_cap_pct needs this run's as-is solve; with analysis.plan_dir "
            "give scenario.carbon_cap (tCO2e per year) instead"
        )
    runner = {
        "plan": plan,
        "disruption": disruption,
        "n1": n1,
        "pareto": pareto,
        "stress": stress_test,
        "stochastic": stochastic,
        "coalitions": coalitions,
        "alternatives": near_optimal,
    }[name]
    return runner(cfg, ds, scenario, run_id, run_dir)


def plan(cfg: TwinConfig, ds: Dataset, scenario: Scenario, run_id: str, run_dir: Path):
    if not cfg.scenario.compare_as_is:
        helpers = []
        if scenario.carbon_cap_pct is not None:  # its reference: as-is emissions
            helpers = [optimise(ds, scenario.as_is(), run_id, run_dir / "highs_as_is.log")]
            scenario = capped_as_is(scenario, helpers[0])
        run = optimise(ds, scenario, run_id, run_dir / "highs.log")
        return Outcome(run, run.kpis, helpers=helpers)
    to_be, as_is = plan_against_as_is(ds, scenario, run_id, run_dir)
    return Outcome(to_be, to_be.kpis, {AS_IS: as_is})


def _plan_to_test(cfg: TwinConfig, ds, scenario, run_id, run_dir):
    """The plan a what-if takes: from `analysis.plan_dir`, else solved in this run.

    Returns (investments table, scenario with any as-is derived caps, the plan outcome,
    how the plan's solve ended: `PROOF` and `solved_in`).
    """
    if cfg.analysis.plan_dir:
        investments, meta = read_plan(Path(cfg.analysis.plan_dir))
        ended = {key: meta.get(key) for key in PROOF}
        return investments, scenario, None, ended | {"solved_in": cfg.analysis.plan_dir}
    outcome = plan(cfg, ds, scenario, run_id, run_dir)
    ended = proof(outcome.main.solved) | {"solved_in": "this run"}
    if outcome.main.results is None:
        return None, scenario, outcome, ended
    return outcome.main.results.tables["investments"], outcome.main.scenario, outcome, ended


def read_plan(run_dir: Path) -> tuple[pd.DataFrame, dict]:
    """The investments of a finished run, and its run.json; ConfigError if there is none
    (results/ of a run whose last attempt failed are an earlier attempt's: no plan to test)."""
    file = run_dir / "results" / "investments.parquet"
    try:
        meta = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        meta = {}
    status = meta.get("status")
    if status not in FINISHED or not file.exists():
        raise ConfigError(
            f"analysis.plan_dir: no finished plan in {run_dir} (run.json status {status}); "
            "give the directory of a finished `twin run`"
        )
    return pd.read_parquet(file), meta


def _tested(outcome: Outcome, ended: dict, own_cost: bool) -> Outcome:
    """`outcome` of a what-if on a plan whose solve ended as `ended` says (`own_cost`: the
    what-if's objective is that plan's own cost), with a warning where it is not proven."""
    outcome.tested = ended | {"own_cost": own_cost}
    if ended["status"] != "optimal":
        gap = "unknown" if ended["gap"] is None else f"{ended['gap']:.2%}"
        outcome.warnings.append(
            f"the plan tested is not proven optimal ({ended['status']}, gap {gap}, solved in "
            f"{ended['solved_in']}): these are that plan's figures, not the optimal plan's"
        )
    return outcome


def proof_record(tested: dict) -> dict:
    """run.json's keys for a what-if on the plan `tested`: that plan's solve as `plan`; its
    status where the plan is not proven optimal; its bound and gap where the what-if's
    objective is the plan's own cost (N-1's baseline, a stress test's; not a disruption's:
    its objective is the plan's cost under the disruption, which the plan's solve does not
    bound)."""
    record = {"plan": tested}
    if tested["status"] != "optimal":
        record |= {"status": tested["status"], "message": f"the plan tested: {tested['message']}"}
    if tested["own_cost"]:
        record |= {"bound": tested["bound"], "gap": tested["gap"]}
    return record


def _solved_on_the_way(planned: Outcome | None) -> list[PlanRun]:
    """The plan (and its as-is) a what-if solved first: counted in the timings."""
    return [] if planned is None else [planned.main, *planned.others.values()]


def disruption(cfg: TwinConfig, ds: Dataset, scenario: Scenario, run_id: str, run_dir: Path):
    event = Disruption(**OmegaConf.to_container(cfg.disruption, resolve=True))
    if event.is_empty():
        raise ConfigError("analysis=disruption needs a disruption: disruption=close_dostyk, ...")
    shocked_inputs(ds, scenario, event)  # every id and factor checked before any solve
    investments, scenario, planned, ended = _plan_to_test(cfg, ds, scenario, run_id, run_dir)
    if investments is None:
        return planned
    baseline = operations(ds, scenario, investments, run_id)
    hit = operations(ds, scenario, investments, run_id, event)
    helpers = _solved_on_the_way(planned)
    if baseline.results is None or hit.results is None:
        return Outcome(baseline if baseline.results is None else hit, None, helpers=helpers)
    kpis = compare_kpis(hit.kpis.assign(plan="disrupted"), baseline.kpis, before=BASELINE)
    seconds = sum(hit.timings.get(key, 0.0) for key in ("build", "handoff", "solve"))
    table = resilience_table([loss(baseline, hit, event.name, "disruption", seconds)], run_id)
    tables = {"resilience": table}
    outcome = Outcome(hit, kpis, {BASELINE: baseline}, tables, helpers=helpers)
    return _tested(outcome, ended, own_cost=False)


def n1(cfg: TwinConfig, ds: Dataset, scenario: Scenario, run_id: str, run_dir: Path):
    kind, elements = "crossing", None
    corridor = cfg.analysis.n1_corridor
    if corridor:
        rows = ds.corridors[ds.corridors["corridor_id"] == corridor]
        if rows.empty:
            known = sorted(set(ds.corridors["corridor_id"]))
            raise ConfigError(f"analysis.n1_corridor: no corridor {corridor!r}; known: {known}")
        kind, elements = "link", sorted(rows["link_id"])
    investments, scenario, planned, ended = _plan_to_test(cfg, ds, scenario, run_id, run_dir)
    if investments is None:
        return planned
    baseline, losses = n_minus_one(ds, scenario, investments, run_id, kind, elements)
    table = resilience_table(losses, run_id)
    helpers = _solved_on_the_way(planned)
    outcome = Outcome(baseline, baseline.kpis, tables={"resilience": table}, helpers=helpers)
    return _tested(outcome, ended, own_cost=True)


def pareto(cfg: TwinConfig, ds: Dataset, scenario: Scenario, run_id: str, run_dir: Path):
    if scenario.carbon_cap_pct is not None:
        raise ConfigError("analysis=pareto spans every emission level: unset carbon_cap_pct")
    settings = cfg.scenario
    points = frontier(
        ds, scenario, settings.pareto_points, run_id, parallel_options(cfg), settings.pareto_method
    )
    table = pareto_table(points, run_id)
    others = {
        f"{PARETO_DIR}/point_{p.point}": p.run for p in points[1:] if p.run.results is not None
    }
    figures = {PARETO_FIGURE: lambda path: plot(table, ds.currency, path)}
    first = points[0].run
    return Outcome(first, first.kpis, others, {"pareto": table}, figures)


def parallel_options(cfg: TwinConfig) -> ParallelOptions:
    p = cfg.parallel
    return ParallelOptions(backend=p.backend, workers=p.workers, address=p.address)


def uncertainty_of(cfg: TwinConfig, ds: Dataset) -> Uncertainty:
    """The futures `uncertainty=` names, checked against the dataset before any solve."""
    config = OmegaConf.to_container(cfg.uncertainty, resolve=True)
    return from_config(config, ds)  # type: ignore[arg-type]


def stress_test(cfg: TwinConfig, ds: Dataset, scenario: Scenario, run_id: str, run_dir: Path):
    uncertainty = uncertainty_of(cfg, ds)
    investments, scenario, planned, ended = _plan_to_test(cfg, ds, scenario, run_id, run_dir)
    if investments is None:
        return planned
    start = time.perf_counter()
    frame = stress(ds, scenario, investments, uncertainty.futures, parallel_options(cfg))
    seconds = time.perf_counter() - start
    baseline = (
        planned.main if planned is not None else operations(ds, scenario, investments, run_id)
    )
    record = summary(frame, horizon_total(baseline, "unmet_demand")) | {
        "uncertainty": uncertainty.name,
        "seconds": seconds,
        "futures_per_second": len(frame) / seconds if seconds > 0 else None,
    }
    tables = {"stress": stress_table(frame, run_id)}
    warnings = uncertainty.warnings
    if planned is not None:
        planned.tables.update(tables)
        planned.record["stress"] = record
        planned.warnings += warnings
        return planned  # its main run is the plan itself
    outcome = Outcome(
        baseline, baseline.kpis, tables=tables, record={"stress": record}, warnings=warnings
    )
    return _tested(outcome, ended, own_cost=True)


def stochastic(cfg: TwinConfig, ds: Dataset, scenario: Scenario, run_id: str, run_dir: Path):
    if scenario.carbon_cap_pct is not None:
        raise ConfigError(
            "analysis=stochastic: scenario.carbon_cap_pct needs an as-is plan per future; "
            "give scenario.carbon_cap (tCO2e per year) instead"
        )
    if scenario.objective != "cost":
        raise ConfigError(
            "analysis=stochastic minimises expected cost (or mean-CVaR: scenario.risk); "
            f"scenario.objective={scenario.objective!r} must be cost"
        )
    uncertainty = uncertainty_of(cfg, ds)
    futures = uncertainty.futures
    risk = Risk(alpha=cfg.scenario.risk.alpha, weight=cfg.scenario.risk.weight)
    mean = mean_future_plan(ds, scenario, futures, run_id)  # the first plan, and eev's
    start = mean.highs.values() if mean.results is not None else None
    plan = solve_stochastic(ds, scenario, futures, risk, run_id, start, run_dir / "highs.log")
    first = plan.runs[0]
    main = PlanRun(scenario, first.built, plan.solved, plan.highs)
    main.timings = {"solve": plan.solved.solve_seconds, "handoff": plan.solved.handoff_seconds}
    main.timings["build"] = plan.seconds - sum(main.timings.values())
    if not plan.solved.ok:
        return Outcome(main, None, warnings=uncertainty.warnings)
    main.results, main.kpis = combined_results(plan, run_id)
    record = {
        "futures": len(futures),
        "uncertainty": uncertainty.name,
        "risk": {"alpha": risk.alpha, "weight": risk.weight},
        "objective": plan.solved.objective,
        "gap": plan.solved.gap,
    }
    if cfg.analysis.worth:
        options = parallel_options(cfg)
        most, seed = cfg.analysis.worth_futures, cfg.analysis.seed
        ws = wait_and_see(ds, scenario, futures, options, most, seed)
        eev = expected_value_of_mean_plan(ds, scenario, futures, options, run_id, mean)
        record |= worth(plan, ws, eev, risk)
    else:
        record["rp"] = plan.expected_cost
    table = conform("stochastic", futures_table(plan), run_id)
    return Outcome(
        main,
        main.kpis,
        tables={"stochastic": table},
        record={"stochastic": record},
        warnings=uncertainty.warnings,
    )


def coalitions(cfg: TwinConfig, ds: Dataset, scenario: Scenario, run_id: str, run_dir: Path):
    if scenario.objective != "cost" or scenario.carbon_cap_pct is not None:
        raise ConfigError(
            "analysis=coalitions compares least costs: scenario.objective must be cost, and "
            "scenario.carbon_cap_pct (an as-is cap per coalition) is not supported"
        )
    joint = [key for key in ("budget", "carbon_cap") if getattr(scenario, key) is not None]
    if joint:
        raise ConfigError(
            f"analysis=coalitions: scenario.{joint[0]} is a joint cap with no stand-alone "
            "share for a coalition; leave it out (per-country shares and caps follow their "
            "country)"
        )
    fixed = list(cfg.analysis.coalitions.fixed_outside)
    names = players(ds, fixed)
    start = time.perf_counter()
    grand = optimise(only_countries(ds, {*names, *fixed}), scenario, run_id, run_dir / "highs.log")
    if grand.results is None:  # no plan for all: the game has no grand coalition to split
        return Outcome(grand, None)
    game = play(ds, scenario, fixed, parallel_options(cfg), plan_row(grand))
    allocation, record = allocation_table(game)
    record |= {"fixed_outside": fixed, "seconds": time.perf_counter() - start}
    table = game.coalitions.assign(members=game.coalitions["members"].map(list))
    failed = table[~table["status"].isin(("optimal", "time_limit"))]
    warnings = [
        f"coalition {row.coalition}: {row.status}: {str(row.message).splitlines()[-1]}"
        for row in failed.itertuples()
    ]
    tables = {
        "coalitions": conform("coalitions", table, run_id),
        "allocation": conform("allocation", allocation, run_id),
    }
    record = {"coalitions": record}
    return Outcome(grand, grand.kpis, tables=tables, record=record, warnings=warnings)


def near_optimal(cfg: TwinConfig, ds: Dataset, scenario: Scenario, run_id: str, run_dir: Path):
    if scenario.objective != "cost" or scenario.carbon_cap_pct is not None:
        raise ConfigError(
            "analysis=alternatives spans plans within a slack of the least cost: "
            "scenario.objective must be cost, without scenario.carbon_cap_pct"
        )
    optimum = optimise(ds, scenario, run_id, run_dir / "highs.log")
    if optimum.results is None:
        return Outcome(optimum, None)
    a = cfg.analysis
    frame, investments = alternatives(
        ds, scenario, optimum, a.slack, a.directions, a.seed, parallel_options(cfg)
    )
    capex = [c for c in frame.columns if c.startswith(("capex_", "chain_capex_"))]
    table = conform_with("alternatives", frame, run_id, capex)
    built = conform("alternative_investments", investments, run_id)
    tables = {"alternatives": table, "alternative_investments": built}
    shares = {key: float(value) for key, value in reference_shares(optimum).items()}
    record = {"alternatives": {"slack": a.slack, "count": len(table), "optimum_shares": shares}}
    warnings = unproven(frame)
    return Outcome(optimum, optimum.kpis, tables=tables, record=record, warnings=warnings)
