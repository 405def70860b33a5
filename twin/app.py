"""`twin run`: the Hydra app. A thin shell that calls the pipeline's stages in order.

load -> build -> solve -> extract -> write, each timed and shown with rich; at the end a table
of headline KPIs, to-be against as-is. Every run leaves `run.json` (also when it fails) and,
when it has a solution, `results/*.parquet` (and `as_is/results/`), written atomically.
A failed run never raises into the launcher, so one bad run does not kill a sweep.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from twin.config import REPO, ConfigError, dataset_path, register, to_run_inputs
from twin.data import DatasetError, load_dataset
from twin.plan import PlanRun, optimise, plan_against_as_is
from twin.results.audit import audit
from twin.results.writer import write_json, write_tables

FINISHED = ("optimal", "time_limit")
EXIT_CODES: list[int] = []  # exit codes of the runs made in this process
console = Console()


def config_hash(config: dict) -> str:
    """Hash of what determines a run's results (not bookkeeping such as `resume`)."""
    relevant = {k: v for k, v in config.items() if k != "resume"}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


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
        "analysis": "plan",
    }
    timings: dict[str, float] = {}
    record = run_dir / "run.json"
    try:
        with stage("load", timings):
            ds = load_dataset(dataset_path(cfg.dataset))
        meta["data_hash"] = ds.data_hash
        if cfg.resume and _finished_before(record, meta):
            console.print(f"[cyan]skipped[/] {run_id}: finished before with this config and data")
            return 0
        ds, scenario = to_run_inputs(cfg, ds)
    except (DatasetError, ConfigError) as error:
        return _fail(record, meta, timings, f"{type(error).__name__}: {error}", 2)
    if cfg.scenario.compare_as_is:
        with stage("solve", timings):
            to_be, as_is = plan_against_as_is(ds, scenario, run_id, run_dir)
    else:
        with stage("solve", timings):
            to_be, as_is = optimise(ds, scenario, run_id, run_dir / "highs.log"), None
    for key in ("build", "handoff", "extract"):
        timings[key] = to_be.timings.get(key, 0.0) + (as_is.timings.get(key, 0.0) if as_is else 0)
    timings["solve"] = to_be.timings["solve"] + (as_is.timings["solve"] if as_is else 0.0)
    meta.update(_solve_record(to_be))
    if to_be.results is None:
        message = "; ".join([to_be.solved.message, *to_be.solved.explanation])
        return _fail(record, meta, timings, message, 1, status=to_be.solved.status)
    problems = audit(to_be.results.tables, to_be.results.cost)
    if problems:
        return _fail(record, meta, timings, "results fail the audit: " + "; ".join(problems), 1)
    with stage("write", timings):
        metadata = {"run_id": run_id, "config_hash": meta["config_hash"]}
        write_tables(run_dir / "results", {**to_be.results.tables, "kpis": to_be.kpis}, metadata)
        if as_is is not None and as_is.results is not None:
            tables = {**as_is.results.tables, "kpis": as_is.kpis}
            write_tables(run_dir / "as_is" / "results", tables, metadata)
    meta["timings"] = timings
    meta["finished_at"] = datetime.now(UTC).isoformat()
    write_json(record, meta)
    _summary(to_be, as_is is not None, run_dir)
    return 0


def _finished_before(record: Path, meta: dict) -> bool:
    if not record.exists():
        return False
    before = json.loads(record.read_text())
    return (
        before.get("status") in FINISHED
        and before.get("config_hash") == meta["config_hash"]
        and before.get("data_hash") == meta["data_hash"]
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
    ("value_added", "value added", "USD/yr"),
    ("emissions_t", "emissions", "tCO2e/yr"),
    ("emissions_intensity", "emissions intensity", "t/M USD"),
    ("jobs", "jobs", "FTE"),
    ("unmet_demand", "unmet demand", "USD/yr"),
)


def _summary(run: PlanRun, compared: bool, run_dir: Path) -> None:
    kpis = run.kpis
    total = kpis[(kpis["scope_type"] == "total")]
    last = int(total["period"].dropna().max())
    table = Table(title=f"{run.scenario.name}: headline KPIs in {last}")
    table.add_column("KPI")
    for column in ["as-is", "to-be", "change"] if compared else ["value"]:
        table.add_column(column, justify="right")

    def value(plan: str, kpi: str, period) -> float | None:
        rows = total[(total["plan"] == plan) & (total["kpi"] == kpi)]
        rows = rows[rows["period"].isna()] if period is None else rows[rows["period"] == period]
        return float(rows["value"].iloc[0]) if len(rows) else None

    plan = "to_be" if compared else run.scenario.name
    for kpi, label, unit in HEADLINE:
        cells = [value(plan, kpi, last)]
        if compared:
            before = value("as_is", kpi, last)
            now = cells[0]
            change = None if before in (None, 0) or now is None else 100 * (now - before) / before
            cells = [before, now, change]
        text = [("" if c is None else f"{c:,.0f}") for c in cells]
        if compared and cells[2] is not None:
            text[2] = f"{cells[2]:+.1f} %"
        table.add_row(f"{label} ({unit})", *text)
    cost = (
        [value("as_is", "total_cost", None), run.results.cost] if compared else [run.results.cost]
    )
    table.add_row("total cost, discounted (USD)", *(f"{c:,.0f}" for c in cost if c is not None))
    console.print(table)
    gap = run.solved.gap
    console.print(f"status {run.solved.status}, gap {0 if gap is None else gap:.2%}")
    console.print(f"results: [bold]{escape(str((run_dir / 'results').resolve()))}[/]")


register()


@hydra.main(version_base=None, config_path=str(REPO / "configs"), config_name="config")
def run_app(cfg: DictConfig) -> None:
    """The Hydra task: one run in Hydra's output directory."""
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    run_id = hydra_cfg.job.override_dirname or "default"
    EXIT_CODES.append(execute(cfg, run_dir, run_id))
