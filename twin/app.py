"""`twin run`: the Hydra app. A thin shell that calls the pipeline's stages in order.

load -> analysis (build, solve, extract) -> write, each timed and shown with rich; at the end
a table of headline KPIs, to-be against as-is (or disrupted against the undisrupted plan), and
the analysis's own table. Every run leaves `run.json` (also when it fails) and, when it has a
solution, `results/*.parquet` (and `as_is/results/`, ...), written atomically.
A failed run never raises into the launcher, so one bad run does not kill a sweep.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import hydra
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from twin.analysis import PARETO_DIR, PARETO_FIGURE, Outcome, run_analysis
from twin.config import BOOKKEEPING, REPO, ConfigError, dataset_path, register, to_run_inputs
from twin.data import DatasetError, load_dataset
from twin.kpis import REFERENCE_PLANS, last_period, plans, total_value
from twin.plan import PlanRun
from twin.results.audit import audit
from twin.results.writer import write_json, write_tables
from twin.whatif import WhatIfError

FINISHED = ("optimal", "time_limit")
EXIT_CODES: list[int] = []  # exit codes of the runs made in this process
console = Console()


# What a run writes beside results/ (results/ itself is replaced atomically); report.html is
# twin.report's page, named here to keep plotly out of a run that asks for no page.
EARLIER_OUTPUTS = (*REFERENCE_PLANS, PARETO_DIR, PARETO_FIGURE, "report.html")


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


def execute(cfg: DictConfig, run_dir: Path, run_id: str) -> int:
    """One run in `run_dir`: 0 solved, 1 no usable solution, 2 bad input or config."""
    config = OmegaConf.to_container(cfg, resolve=True)
    meta: dict = {
        "run_id": run_id,
        "started_at": datetime.now(UTC).isoformat(),
        "config": config,
        "config_hash": config_hash(config),
        "dataset": cfg.dataset.path,
        "versions": versions(),
        "analysis": cfg.analysis.name,
        "plan_hash": plan_hash(cfg.analysis.plan_dir),
    }
    timings: dict[str, float] = {}
    record = run_dir / "run.json"
    try:
        with stage("load", timings):
            ds = load_dataset(dataset_path(cfg.dataset))
        meta["data_hash"] = ds.data_hash
        if cfg.resume and _finished_before(record, meta):
            console.print(f"[cyan]skipped[/] {run_id}: finished before with this config and data")
            if cfg.report:  # the page may be what the resumed run is asked for
                write_page(run_dir)
            return 0
        ds, scenario = to_run_inputs(cfg, ds)
        with stage("solve", timings):
            outcome = run_analysis(cfg, ds, scenario, run_id, run_dir)
    except (DatasetError, ConfigError, WhatIfError) as error:
        return _fail(record, meta, timings, f"{type(error).__name__}: {error}", 2)
    runs = [outcome.main, *outcome.others.values(), *outcome.helpers]
    for key in ("build", "handoff", "solve", "extract"):
        timings[key] = sum(run.timings.get(key, 0.0) for run in runs)
    main = outcome.main
    meta.update(_solve_record(main))
    if main.results is None:
        message = "; ".join([main.solved.message, *main.solved.explanation])
        return _fail(record, meta, timings, message, 1, status=main.solved.status)
    for name, run in {"results": main, **outcome.others}.items():
        problems = audit(run.results.tables, run.results.cost) if run.results else []
        if problems:
            message = f"{name}: results fail the audit: " + "; ".join(problems)
            return _fail(record, meta, timings, message, 1)
    with stage("write", timings):
        _remove_earlier_outputs(run_dir)
        metadata = {"run_id": run_id, "config_hash": meta["config_hash"]}
        tables = {**main.results.tables, "kpis": outcome.kpis, **outcome.tables}
        write_tables(run_dir / "results", tables, metadata)
        for name, run in outcome.others.items():
            if run.results is not None:
                other = {**run.results.tables, "kpis": run.kpis}
                write_tables(run_dir / name / "results", other, metadata)
        for file, draw in outcome.figures.items():
            draw(run_dir / file)
    meta["timings"] = timings
    meta["finished_at"] = datetime.now(UTC).isoformat()
    write_json(record, meta)
    _summary(outcome, run_dir)
    if cfg.report:
        write_page(run_dir)
    return 0


def _remove_earlier_outputs(run_dir: Path) -> None:
    """Remove what an earlier run into the same directory wrote beside `results/` (reference
    plans, frontier points, figures, the page), so that nothing of another config is read
    as this run's; this run then writes its own. Called once the new run has results."""
    for name in EARLIER_OUTPUTS:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def write_page(directory: Path) -> None:
    """`report=true`: the run's (or sweep's) report.html; any problem with it (a bad file or
    a bug in the report) is shown, but the results are written and the run counts as done."""
    from twin.report import ReportError, write_report  # plotly only when a page is asked for

    try:
        path = write_report(directory)
    except Exception as error:  # the page is a by-product: never fail a finished run for it
        reason = str(error) if isinstance(error, ReportError) else repr(error)
        console.print(f"[yellow]no report:[/] {escape(reason)}", soft_wrap=True)
        return
    console.print(f"report:  [bold]{escape(str(path.resolve()))}[/]", soft_wrap=True)


def _finished_before(record: Path, meta: dict) -> bool:
    if not record.exists():
        return False
    before = json.loads(record.read_text())
    return (
        before.get("status") in FINISHED
        and before.get("config_hash") == meta["config_hash"]
        and before.get("data_hash") == meta["data_hash"]
        and before.get("plan_hash") == meta["plan_hash"]
        and (record.parent / "results").is_dir()
    )


def _solve_record(run: PlanRun) -> dict:
    solved = run.solved
    size = run.highs.size if run.highs is not None else {}
    return {
        "status": solved.status,
        "message": solved.message,
        "objective": solved.objective,
        "bound": solved.bound,
        "gap": solved.gap,
        "cost": run.results.cost if run.results else None,
        "emissions_t": run.results.emissions_t if run.results else None,
        "model_size": size,
        "solver": {"simplex_iterations": solved.simplex_iterations, "nodes": solved.nodes},
        "duals": solved.duals_note,
        "explanation": solved.explanation,
    }


def _fail(
    record: Path, meta: dict, timings: dict, message: str, code: int, status: str = "error"
) -> int:
    """Record a failed run (status and message) without touching earlier good results."""
    meta.update(
        {
            "status": status,
            "message": message,
            "timings": timings,
            "finished_at": datetime.now(UTC).isoformat(),
        }
    )
    meta.setdefault("objective", None)
    write_json(record, meta)
    console.print(f"[red]{status}[/]: {message}", highlight=False, markup=False, soft_wrap=True)
    return code


HEADLINE = (
    ("value_added", "value added", "{currency}/yr"),
    ("emissions_t", "emissions", "tCO2e/yr"),
    ("emissions_intensity", "emissions intensity", "t/M {currency}"),
    ("jobs", "jobs", "FTE"),
    ("unmet_demand", "unmet demand", "{currency}/yr"),
)
ANALYSIS_COLUMNS = {
    "resilience": ("rank", "element", "extra_cost", "extra_unmet_demand", "extra_emissions_t"),
    "pareto": ("point", "kind", "status", "emissions_t", "cost", "value_added", "jobs"),
}


def _summary(outcome: Outcome, run_dir: Path) -> None:
    console.print(_kpi_table(outcome))
    for name, columns in ANALYSIS_COLUMNS.items():
        if name in outcome.tables:
            console.print(_frame_table(name, outcome.tables[name], columns))
    gap = outcome.main.solved.gap
    console.print(f"status {outcome.main.solved.status}, gap {0 if gap is None else gap:.2%}")
    console.print(f"results: [bold]{escape(str((run_dir / 'results').resolve()))}[/]")


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


def _frame_table(title: str, frame: pd.DataFrame, columns: tuple[str, ...]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if frame[column].dtype == "string" else "right")
    for row in frame[list(columns)].itertuples(index=False):
        cells = [v if isinstance(v, str) else "" if pd.isna(v) else f"{v:,.0f}" for v in row]
        table.add_row(*cells)
    return table


register()


@hydra.main(version_base=None, config_path=str(REPO / "configs"), config_name="config")
def run_app(cfg: DictConfig) -> None:
    """The Hydra task: one run in Hydra's output directory."""
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    run_id = hydra_cfg.job.override_dirname or "default"
    EXIT_CODES.append(execute(cfg, run_dir, run_id))
