"""`twin run`: the Hydra app. A thin shell that calls the pipeline's stages in order.

check config -> load -> analysis (build, solve, extract) -> write, each timed and shown with
rich; at the end a table of headline KPIs, to-be against as-is (or disrupted against the
undisrupted plan), and the analysis's own table.

A run never lies and never loses: it holds its directory's lock (`twin.rundir`), so a second
run into it refuses; it records `run.json` at the start (status `error`, "did not finish",
replaced when it ends), so a killed run is never read as finished; it writes its outputs
aside and swaps them in at once, so a failed attempt leaves the earlier outputs whole and
says so in run.json. No exception escapes a run (one bad run does not kill a sweep): a bug
becomes status `error` with its traceback in app.log.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
import traceback
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import hydra
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from twin import lifeline
from twin.analysis import PARETO_DIR, PARETO_FIGURE, Outcome, proof, proof_record, run_analysis
from twin.coalitions import CoalitionError
from twin.config import (
    BOOKKEEPING,
    REPO,
    ConfigError,
    TwinConfig,
    dataset_path,
    register,
    to_run_inputs,
)
from twin.config_checks import config_problems
from twin.data import DatasetError, capped, load_dataset
from twin.kpis import REFERENCE_PLANS, last_period, plans, total_value
from twin.parallel import ParallelError
from twin.plan import PlanError, PlanRun
from twin.results.audit import audit, non_finite
from twin.results.writer import write_json, write_tables
from twin.rundir import RunDirectoryBusy, StagedOutputs, locked
from twin.solve import FINISHED
from twin.stress import StressError
from twin.uncertainty import UncertaintyError
from twin.whatif import WhatIfError
from twin.worth import sampling_note

USER_ERROR, FAILED = 2, 1  # exit codes of a run (0: solved; 1: no usable solution, a bug)
USER_ERRORS = (
    CoalitionError,
    DatasetError,
    ConfigError,
    WhatIfError,
    UncertaintyError,
    StressError,
    ParallelError,
)
EXIT_CODES: list[int] = []  # exit codes of the runs made in this process
LOG_FILE = "app.log"  # Hydra's job log (hydra.job.name is `app` in configs/config.yaml)
console = Console()


# What a run writes beside run.json and its logs, replaced as one step by each attempt that
# has results; report.html is twin.report's page, named here to keep plotly out of a run
# that asks for no page.
OUTPUTS = ("results", *REFERENCE_PLANS, PARETO_DIR, PARETO_FIGURE, "report.html")


def config_hash(config: dict) -> str:
    """Hash of what determines a run's results (not bookkeeping such as `resume`, `report`)."""
    relevant = {k: v for k, v in config.items() if k not in BOOKKEEPING}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def plan_hash(plan_dir: str | None) -> str | None:
    """Hash of the plan a what-if takes from an earlier run: a new plan means a new run."""
    file = Path(plan_dir or "") / "results" / "investments.parquet"
    if not plan_dir or not file.exists():
        return None
    return hashlib.sha256(file.read_bytes()).hexdigest()[:16]


def versions() -> dict[str, str]:
    return {name: version(name) for name in ("twin", "pyomo", "highspy")} | {
        "python": platform.python_version()
    }


@contextmanager
def stage(name: str, timings: dict[str, float]):
    """Time a stage and show it as it finishes."""
    start = time.perf_counter()
    with console.status(f"{name} ..."):
        yield
    timings[name] = time.perf_counter() - start
    console.print(f"[green]✓[/] {name:<8} {timings[name]:7.2f} s")


@dataclass(frozen=True)
class Job:
    """Where a run writes and what it is: its directory and id, the overrides that made it,
    and the sweep it belongs to (None for a single run)."""

    run_dir: Path
    run_id: str
    overrides: tuple[str, ...] = ()
    sweep_dir: Path | None = None


def execute(cfg: DictConfig, job: Job) -> int:
    """One run: 0 solved, 1 no usable solution (or a bug), 2 bad input or config, or the
    directory in use by another run (then nothing in it is touched)."""
    try:
        with locked(job.run_dir):
            return _attempt(cfg, job)
    except RunDirectoryBusy as error:
        _print_failure("refused", str(error))
    except OSError as error:  # the directory cannot be made or locked (permissions, disk)
        _print_failure("refused", f"run directory {job.run_dir}: {error}")
    except Exception as error:  # a bug where no record can be written: shown, not raised
        _print_failure("error", f"internal error {type(error).__name__}: {error}")
        return FAILED
    return USER_ERROR


def _attempt(cfg: DictConfig, job: Job) -> int:
    run_dir, run_id = job.run_dir, job.run_id
    record = run_dir / "run.json"
    earlier = _read_record(record)
    meta: dict = {
        "run_id": run_id,
        "attempt": uuid.uuid4().hex[:12],
        "started_at": datetime.now(UTC).isoformat(),
        "overrides": list(job.overrides),
        "versions": versions(),
    }
    timings: dict[str, float] = {}
    fail = _Failure(record, meta, timings, _earlier_outputs(earlier, run_dir))
    try:
        meta.update(_config_record(cfg))
        problems = config_problems(cfg, TwinConfig)
        if problems:
            raise ConfigError("\n".join(problems))
        meta["plan_hash"] = plan_hash(cfg.analysis.plan_dir)
        with stage("load", timings):
            ds = load_dataset(dataset_path(cfg.dataset))
        meta["data_hash"] = ds.data_hash
        meta["warnings"] = [str(w) for w in ds.warnings]
        for warning in capped(meta["warnings"]):
            console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
        if cfg.resume and _finished_before(earlier, meta, run_dir):
            console.print(f"[cyan]skipped[/] {run_id}: finished before with this config and data")
            if cfg.report:  # the page may be what the resumed run is asked for
                write_page(run_dir, job.sweep_dir)
            return 0
        write_json(record, _unfinished(meta, fail.kept))
        ds, scenario = to_run_inputs(cfg, ds)
        with stage("solve", timings):
            outcome = run_analysis(cfg, ds, scenario, run_id, run_dir)
        return _finish(cfg, outcome, job, meta, fail)
    except USER_ERRORS as error:
        return fail(f"{type(error).__name__}: {error}", USER_ERROR)
    except PlanError as error:
        return fail(str(error), FAILED)
    except OSError as error:  # the machine, not the model: a full disk, a file not writable
        return fail(f"{type(error).__name__}: {error}", FAILED)
    except Exception as error:  # a bug: recorded with its traceback, never lost or raised
        with (run_dir / LOG_FILE).open("a", encoding="utf-8") as log:
            log.write(f"[{datetime.now(UTC).isoformat()}] run {run_id} failed:\n")
            log.write(traceback.format_exc())
        message = f"internal error {type(error).__name__}: {error} (traceback in {LOG_FILE})"
        return fail(message, FAILED)


def _config_record(cfg: DictConfig) -> dict:
    """What run.json says of the config; ConfigError if it cannot be resolved (an
    interpolation naming nothing, an environment variable that is not set)."""
    try:
        config = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as error:
        raise ConfigError(f"the config cannot be resolved: {error}") from error
    return {
        "config": config,
        "config_hash": config_hash(config),
        "dataset": config["dataset"]["path"],
        "analysis": config["analysis"]["name"],
    }


def _finish(cfg: DictConfig, outcome: Outcome, job: Job, meta: dict, fail: _Failure) -> int:
    """Audit the outcome, swap its outputs in and record the run."""
    run_dir, timings = job.run_dir, fail.timings
    # the stage's wall clock (solves in workers included) before `solve` becomes HiGHS's
    timings["analysis"] = timings.get("solve", 0.0)
    runs = [outcome.main, *outcome.others.values(), *outcome.helpers]
    for key in ("build", "handoff", "solve", "extract"):
        timings[key] = sum(run.timings.get(key, 0.0) for run in runs)
    main = outcome.main
    meta.update(_solve_record(main))
    if outcome.tested is not None:  # a what-if: its figures are the optimum's if its plan is
        meta.update(proof_record(outcome.tested))
    meta.update(outcome.record)
    meta["warnings"] = meta.get("warnings", []) + outcome.warnings
    for warning in capped(outcome.warnings):
        console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    if main.results is None:
        message = "; ".join([main.solved.message, *main.solved.explanation])
        return fail(message, FAILED, status=main.solved.status)
    for name, run in {"results": main, **outcome.others}.items():
        if run.results is None:
            continue
        results = run.results
        problems = audit(results.tables, results.cost, results.future_costs)
        problems += non_finite({"kpis": run.kpis})
        if problems:
            return fail(f"{name}: results fail the audit: " + "; ".join(problems), FAILED)
    with stage("write", timings):
        metadata = {"run_id": meta["run_id"], "config_hash": meta["config_hash"]}
        staged = _stage_outputs(outcome, run_dir, metadata)
    meta["timings"] = timings
    meta["finished_at"] = datetime.now(UTC).isoformat()
    staged.commit(OUTPUTS, meta)  # outputs and run.json in place at once: the run is done
    fail.kept = None
    try:  # nothing after the commit can fail the run
        _summary(outcome, meta, run_dir)
    except Exception as error:
        console.print(f"[yellow]no summary:[/] {escape(repr(error))}", soft_wrap=True)
    if cfg.report:
        write_page(run_dir, job.sweep_dir)
    return 0


def _stage_outputs(outcome: Outcome, run_dir: Path, metadata: dict[str, str]) -> StagedOutputs:
    """Every output of the outcome, written aside, to be swapped in at once."""
    staged = StagedOutputs(run_dir)
    try:
        main = outcome.main
        tables = {**main.results.tables, "kpis": outcome.kpis, **outcome.tables}
        write_tables(staged.root / "results", tables, metadata)
        for name, run in outcome.others.items():
            if run.results is not None:
                other = {**run.results.tables, "kpis": run.kpis}
                write_tables(staged.root / name / "results", other, metadata)
        for file, draw in outcome.figures.items():
            draw(staged.root / file)
    except BaseException:
        staged.discard()
        raise
    return staged


def _unfinished(meta: dict, kept: dict | None) -> dict:
    """The record of an attempt under way: if it is killed, this is what stays."""
    message = (
        f"the attempt started at {meta['started_at']} (process {os.getpid()}) did not "
        "finish: killed, or the machine stopped; run it again"
    )
    record = {**meta, "status": "error", "message": message, "objective": None}
    return record | ({"earlier_outputs": kept} if kept else {})


def _earlier_outputs(earlier: dict | None, run_dir: Path) -> dict | None:
    """Which finished attempt the outputs on disk are from, if any: a failed attempt keeps
    them whole, and its run.json says whose they are."""
    earlier = earlier or {}
    earlier = earlier.get("earlier_outputs", earlier)  # kept through several failures
    if earlier.get("status") not in FINISHED or not (run_dir / "results").is_dir():
        return None
    keys = ("run_id", "status", "config_hash", "data_hash", "finished_at")
    return {key: earlier.get(key) for key in keys}


class _Failure:
    """Records a failed attempt: run.json with its status and message, and, when the
    outputs on disk are an earlier attempt's (`kept`), which one."""

    def __init__(self, record: Path, meta: dict, timings: dict, kept: dict | None):
        self.record, self.meta, self.timings, self.kept = record, meta, timings, kept

    def __call__(self, message: str, code: int, status: str = "error") -> int:
        meta = self.meta
        meta.update(
            {
                "status": status,
                "message": message,
                "timings": self.timings,
                "finished_at": datetime.now(UTC).isoformat(),
            }
        )
        meta.setdefault("objective", None)
        kept = self.kept
        if kept:
            meta["earlier_outputs"] = kept
        write_json(self.record, meta)
        _print_failure(status, message)
        if kept:
            console.print(
                f"results/ still holds the earlier attempt's outputs (finished "
                f"{kept['finished_at']}, config {kept['config_hash']}), not this one's",
                highlight=False,
                soft_wrap=True,
            )
        return code


def _print_failure(status: str, message: str) -> None:
    console.print(f"[red]{escape(status)}[/]: {escape(message)}", highlight=False, soft_wrap=True)


def write_page(directory: Path, sweep_dir: Path | None = None) -> None:
    """`report=true`: the run's (or sweep's) report.html, sharing plotly.js with the other
    pages of its sweep; any problem with it (a bad file or a bug in the report) is shown,
    but the results are written and the run counts as done."""
    from twin.report import ReportError, write_report  # plotly only when a page is asked for

    try:
        path = write_report(directory, shared=sweep_dir)
    except Exception as error:  # the page is a by-product: never fail a finished run for it
        reason = str(error) if isinstance(error, ReportError) else repr(error)
        console.print(f"[yellow]no report:[/] {escape(reason)}", soft_wrap=True)
        return
    console.print(f"report:  [bold]{escape(str(path.resolve()))}[/]", soft_wrap=True)


def _read_record(record: Path) -> dict | None:
    """The run.json an earlier attempt left, or None (absent or unreadable)."""
    try:
        earlier = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    return earlier if isinstance(earlier, dict) else None


def _finished_before(earlier: dict | None, meta: dict, run_dir: Path) -> bool:
    if earlier is None:
        return False
    return (
        earlier.get("status") in FINISHED
        and earlier.get("config_hash") == meta["config_hash"]
        and earlier.get("data_hash") == meta["data_hash"]
        and earlier.get("plan_hash") == meta["plan_hash"]
        and (run_dir / "results").is_dir()
    )


def _solve_record(run: PlanRun) -> dict:
    solved = run.solved
    size = run.highs.size if run.highs is not None else {}
    return proof(solved) | {
        "cost": run.results.cost if run.results else None,
        "emissions_t": run.results.emissions_t if run.results else None,
        "model_size": size,
        "solver": {"simplex_iterations": solved.simplex_iterations, "nodes": solved.nodes},
        "duals": solved.duals_note,
        "explanation": solved.explanation,
    }


HEADLINE = (
    ("value_added", "value added", "{currency}/yr"),
    ("emissions_t", "emissions", "tCO2e/yr"),
    ("emissions_intensity", "emissions intensity", "t/M {currency}"),
    ("jobs", "jobs", "FTE"),
    ("unmet_demand", "unmet demand", "{currency}/yr"),
)
ANALYSIS_COLUMNS = {
    "resilience": ("rank", "element", "extra_cost", "extra_unmet_demand", "extra_emissions_t"),
    "pareto": ("point", "kind", "status", "gap", "carbon_price", "emissions_t", "cost"),
    "stochastic": ("future", "probability", "status", "cost", "unmet_value", "emissions_t"),
    "allocation": ("country", "standalone_cost", "shapley", "nucleolus", "saving_pct"),
}
SHOWN_ROWS = 20  # of an analysis table in the terminal; the rest are in its Parquet file


def _summary(outcome: Outcome, meta: dict, run_dir: Path) -> None:
    if "future" not in outcome.kpis:  # a stochastic plan's KPIs are per future
        console.print(_kpi_table(outcome))
    for name, columns in ANALYSIS_COLUMNS.items():
        if name in outcome.tables:
            console.print(_frame_table(name, outcome.tables[name], columns))
    if "stress" in outcome.record:
        console.print(_stress_table(outcome.record["stress"], outcome.main))
    if "stochastic" in outcome.record:
        console.print(_worth_table(outcome.record["stochastic"], outcome.main))
    if "coalitions" in outcome.record:
        game = outcome.record["coalitions"]
        value = game["value_of_cooperation"]
        text = "n/a" if value is None else f"{value:,.0f}"
        console.print(
            f"value of cooperation (stand-alone costs less the grand coalition's): {text}; "
            f"core empty: {game['core_empty']}; {game['coalitions']} coalitions"
        )
    console.print(f"status {meta['status']}, {_proof_text(meta)}")
    if "plan" in meta:
        plan = meta["plan"]
        console.print(
            f"the plan tested (solved in {plan['solved_in']}): {plan['status']}, "
            f"{_proof_text(plan)}"
        )
    console.print(f"results: [bold]{escape(str((run_dir / 'results').resolve()))}[/]")


def _proof_text(record: dict) -> str:
    """The objective beside its gap and bound: a frontier's tie-break or a mean-CVaR plan
    minimises more than the cost the KPI table shows, and its bound is of that objective."""
    objective = "n/a" if record["objective"] is None else f"{record['objective']:,.0f}"
    gap = "n/a" if record["gap"] is None else f"{record['gap']:.2%}"
    bound = "" if record["bound"] is None else f", bound {record['bound']:,.0f}"
    return f"objective {objective}, gap {gap}{bound}"


def _kpi_table(outcome: Outcome) -> Table:
    """Headline KPIs of the last period; with a reference plan, both and the change."""
    run, kpis = outcome.main, outcome.kpis
    after, before = plans(kpis)
    last = last_period(kpis)
    currency = run.built.data.ds.currency  # the dataset's, as in the report
    table = Table(title=f"{run.scenario.name}: headline KPIs in {last}")
    table.add_column("KPI")
    labels = [before.replace("_", "-"), after.replace("_", "-"), "change"] if before else ["value"]
    for column in labels:
        table.add_column(column, justify="right")

    for kpi, label, unit in HEADLINE:
        cells = [total_value(kpis, after, kpi, last)]
        if before:
            was, now = total_value(kpis, before, kpi, last), cells[0]
            change = None if was in (None, 0) or now is None else 100 * (now - was) / was
            cells = [was, now, change]
        text = [("" if c is None else f"{c:,.0f}") for c in cells]
        if before and cells[2] is not None:
            text[2] = f"{cells[2]:+.1f} %"
        table.add_row(f"{label} ({unit.format(currency=currency)})", *text)
    cost = [run.results.cost]
    if before:
        cost.insert(0, total_value(kpis, before, "total_cost", None))
    cells = (f"{c:,.0f}" for c in cost if c is not None)
    table.add_row(f"total cost, discounted ({currency})", *cells)
    return table


def _stress_table(record: dict, run: PlanRun) -> Table:
    """The distribution of the plan's cost over the futures (run.json `stress`)."""
    currency = run.built.data.ds.currency
    table = Table(title=f"stress test: {record['futures']} futures of {record['uncertainty']}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    money = f"{currency}, discounted"
    rows = [
        (f"expected cost ({money})", record["expected_cost"], "{:,.0f}"),
        (f"CVaR 90 % ({money})", record["cvar_90"], "{:,.0f}"),
        (f"CVaR 95 % ({money})", record["cvar_95"], "{:,.0f}"),
        ("probability of unmet demand", record["p_unmet"], "{:.1%}"),
        ("... of more than the plan leaves unmet", record["p_more_unmet"], "{:.1%}"),
        ("probability without operations", record["p_without_operations"], "{:.1%}"),
        ("futures per second", record["futures_per_second"], "{:,.1f}"),
    ]
    for label, value, form in rows:
        table.add_row(label, "n/a" if value is None else form.format(value))
    table.add_row("worst future", str(record["worst_future"]))
    return table


def _worth_table(record: dict, run: PlanRun) -> Table:
    """The stochastic plan's expected cost against the plans made knowing more or less."""
    currency = run.built.data.ds.currency
    table = Table(
        title=f"one plan for {record['futures']} futures of {record['uncertainty']}",
        caption=escape(sampling_note(record, currency)) or None,  # a failure may hold [ ]
    )
    table.add_column("figure")
    table.add_column(f"{currency}, discounted", justify="right")
    rows = (
        ("rp", "expected cost of the stochastic plan"),
        ("ws", "wait and see: each future's own plan"),
        ("eev", "the mean future's plan, in every future"),
        ("evpi", "value of perfect information, rp - ws"),
        ("vss", "value of the stochastic solution, eev - rp"),
    )
    for key, label in rows:
        if key in record:
            value = record[key]
            table.add_row(f"{key}: {label}", "n/a" if value is None else f"{value:,.0f}")
    return table


def _cell(value) -> str:
    """A table cell: text as is, large numbers in whole units, shares to 3 digits."""
    if isinstance(value, str):
        return value
    if pd.isna(value):
        return ""
    return f"{value:.3g}" if abs(value) < 100 and value != round(value) else f"{value:,.0f}"


def _frame_table(title: str, frame: pd.DataFrame, columns: tuple[str, ...]) -> Table:
    hidden = len(frame) - SHOWN_ROWS
    caption = f"{hidden} more rows in {title}.parquet" if hidden > 0 else None
    table = Table(title=title, caption=caption)
    for column in columns:
        table.add_column(column, justify="left" if frame[column].dtype == "string" else "right")
    for row in frame[list(columns)].head(SHOWN_ROWS).itertuples(index=False):
        cells = [_cell(v) for v in row]
        table.add_row(*cells)
    return table


register()


@hydra.main(version_base=None, config_path=str(REPO / "configs"), config_name="config")
def run_app(cfg: DictConfig) -> None:
    """The Hydra task: one run in Hydra's output directory."""
    lifeline.watch_launcher()  # a worker of a sweep dies with the sweep
    hydra_cfg = HydraConfig.get()
    overrides = OmegaConf.to_container(hydra_cfg.overrides.task, resolve=False)
    try:
        run_id = hydra_cfg.job.override_dirname or "default"
    except OmegaConfBaseException:  # an override that cannot be resolved: _attempt says so
        run_id = ",".join(overrides)
    job = Job(
        run_dir=Path(hydra_cfg.runtime.output_dir),
        run_id=run_id,
        overrides=tuple(overrides),
        sweep_dir=Path(hydra_cfg.sweep.dir) if hydra_cfg.mode == RunMode.MULTIRUN else None,
    )
    EXIT_CODES.append(execute(cfg, job))
