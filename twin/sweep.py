"""Aggregate a finished sweep: one Parquet per table over all runs, and sweep.parquet.

A Hydra callback that reads what each run left on disk (run.json, results/, the job's
overrides), so it works the same with every launcher (basic, joblib, Ray, submitit), also
when some runs failed. Runs are found at any depth below the sweep directory. Only a run
whose run.json says it finished contributes tables: the results/ of a failed attempt are an
earlier attempt's, never read as the new one's. A run whose files cannot be read is a row
with status `error`, never a lost summary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from twin.config import BOOKKEEPING
from twin.kpis import CHANGE, last_period, plans, total_value
from twin.results.schema import ANALYSIS_TABLES, TABLES
from twin.results.writer import write_parquet
from twin.solve import FINISHED


@dataclass
class SweepSummary:
    """What the last sweep aggregated in this process found (for the exit status)."""

    runs: int = 0
    failed: list[str] = field(default_factory=list)  # run_ids of runs that did not finish
    blurred: list[str] = field(default_factory=list)  # run_ids whose gap exceeds a difference


LAST_SWEEP: list[SweepSummary] = []  # the summary of the last sweep of this process
RUN_INFO = ("run_id", "status", "objective", "bound", "gap", "cost", "message", "run_dir")
HEADLINE_KPIS = (
    "value_added",
    "emissions_t",
    "jobs",
    "unmet_demand",
    "value_added_change_pct",
    "emissions_change_pct",
    "jobs_created",
)


class AggregateSweep(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        (sweep_dir / "report.html").unlink(missing_ok=True)  # an earlier sweep's page
        aggregate(sweep_dir)
        if config.get("report"):
            # late: only a sweep that asks for its page needs the app and plotly
            from twin.app import write_page

            write_page(sweep_dir, sweep_dir)


RUN_COLUMNS = {*RUN_INFO, *HEADLINE_KPIS, "gap_exceeds_difference"}  # the rest: swept keys


def job_overrides(job_dir: Path, meta: dict | None = None) -> dict[str, str]:
    """The overrides of a job, key -> value as typed: those that make the run (no hydra
    keys, no bookkeeping such as `report=true`, which is no swept parameter). From its
    run.json (`meta`), written under the run's lock, else from what Hydra recorded."""
    items = (meta or {}).get("overrides")
    if items is None:
        file = job_dir / ".hydra" / "overrides.yaml"
        items = yaml.safe_load(file.read_text()) if file.exists() else []
    pairs = (item.split("=", 1) for item in items or [] if "=" in item)
    overrides = {key.lstrip("+~"): value for key, value in pairs}
    return {
        key: value
        for key, value in overrides.items()
        if not key.startswith("hydra") and key not in BOOKKEEPING
    }


def run_records(sweep_dir: Path) -> list[Path]:
    """Every run.json below the sweep directory, however deep (a path-valued override
    such as `dataset.path=data/toy` nests directories), not those of Hydra's own files."""
    return sorted(
        record
        for record in sweep_dir.rglob("run.json")
        if ".hydra" not in record.relative_to(sweep_dir).parts
    )


def aggregate(sweep_dir: Path) -> pd.DataFrame:
    """Write `<table>.parquet` (all finished runs) and `sweep.parquet` (one row per run)."""
    remove_debris_of_sweep(sweep_dir)
    rows, parts = [], {name: [] for name in [*TABLES, *ANALYSIS_TABLES]}
    for record in run_records(sweep_dir):
        row, tables = _read_run(sweep_dir, record)
        rows.append(row)
        for name, frame in tables.items():
            parts[name].append(frame)
    sweep = flag_gaps(pd.DataFrame(rows))
    failed = [str(r["run_id"]) for r in rows if r["status"] not in FINISHED]
    blurred = []
    if "gap_exceeds_difference" in sweep:
        blurred = sweep.loc[sweep["gap_exceeds_difference"], "run_id"].astype(str).tolist()
    LAST_SWEEP[:] = [SweepSummary(len(rows), failed, blurred)]
    metadata = {"sweep": str(sweep_dir)}
    for name, frames in parts.items():
        if frames:
            write_parquet(
                sweep_dir / f"{name}.parquet", pd.concat(frames, ignore_index=True), metadata
            )
        else:  # no finished run has it now: an older sweep's file would be read as this one's
            (sweep_dir / f"{name}.parquet").unlink(missing_ok=True)
    write_parquet(sweep_dir / "sweep.parquet", sweep, metadata)
    return sweep


def parameters(sweep: pd.DataFrame) -> list[str]:
    """The swept keys: the columns of sweep.parquet that are not about the run."""
    return [column for column in sweep.columns if column not in RUN_COLUMNS]


def flag_gaps(sweep: pd.DataFrame) -> pd.DataFrame:
    """`gap_exceeds_difference`: a finished run that the solver does not order against a
    neighbour, a run that differs from it in one swept key only: the higher objective's
    bound lies at or below the lower objective, so either plan may be the cheaper one within
    their gaps (a higher carbon price may then show more emissions). Runs of different
    analyses minimise different things (a plan's cost, a stochastic plan's expectation) and
    are not compared. The flag is about the objective; differences of other KPIs between
    runs are not certified by any gap."""
    flags = pd.Series(False, index=sweep.index)
    if sweep.empty or "objective" not in sweep:
        return sweep.assign(gap_exceeds_difference=flags)
    keys = parameters(sweep)
    objective = pd.to_numeric(sweep["objective"], errors="coerce")
    bound = pd.to_numeric(sweep["bound"], errors="coerce")
    finished = sweep["status"].isin(FINISHED) & objective.notna() & bound.notna()
    runs = list(sweep.index[finished])
    values = sweep[keys].astype(str)
    for position, one in enumerate(runs):
        for other in runs[position + 1 :]:
            differ = values.loc[one] != values.loc[other]
            if differ.sum() != 1 or differ.get("analysis", False):
                continue  # not neighbours along one swept key, or other analyses' objectives
            low, high = sorted((one, other), key=lambda run: objective[run])
            if bound[high] <= objective[low]:
                flags[one] = flags[other] = True
    return sweep.assign(gap_exceeds_difference=flags)


def remove_debris_of_sweep(sweep_dir: Path) -> None:
    """Temporary files a killed aggregation left at the sweep's root (runs clear their own
    directories under their lock)."""
    for path in sweep_dir.glob(".*.tmp-*"):
        path.unlink(missing_ok=True)


def _read_run(sweep_dir: Path, record: Path) -> tuple[dict, dict[str, pd.DataFrame]]:
    """A run's row of sweep.parquet and, when it finished, its tables with the override
    columns; a run whose files cannot be read is a row with status `error`."""
    job_dir = record.parent
    relative = str(job_dir.relative_to(sweep_dir))
    try:
        meta = json.loads(record.read_text())
        overrides = job_overrides(job_dir, meta)
    except (OSError, ValueError, yaml.YAMLError) as error:
        message = f"run.json cannot be read: {error}"
        return {"run_id": relative, "status": "error", "message": message, "run_dir": relative}, {}
    row = {
        "run_id": meta.get("run_id", relative),
        **overrides,
        "status": meta.get("status"),
        "objective": meta.get("objective"),
        "bound": meta.get("bound"),
        "gap": meta.get("gap"),
        "cost": meta.get("cost"),
        "message": meta.get("message"),
        "run_dir": relative,
    }
    if row["status"] not in FINISHED:
        return row, {}
    tables = {}
    try:
        for name in [*TABLES, *ANALYSIS_TABLES]:
            file = job_dir / "results" / f"{name}.parquet"
            if file.exists():
                tables[name] = pd.read_parquet(file).assign(**overrides)
    except (OSError, ValueError, pa.ArrowException) as error:
        row.update(status="error", message=f"results cannot be read: {error}")
        return row, {}
    if "kpis" in tables:
        row.update(_headline(tables["kpis"], tables.get("stochastic")))
    return row, tables


def _headline(kpis: pd.DataFrame, futures: pd.DataFrame | None = None) -> dict[str, float]:
    """Headline KPIs of the last period, for the hypercluster as a whole; of a stochastic
    plan (KPIs per future), their expectation over its futures."""
    if futures is not None and "future" in kpis:
        expected: dict[str, float] = {}
        for future, probability in zip(futures["future"], futures["probability"], strict=True):
            own = kpis[kpis["future"] == future]
            for kpi, value in _headline(own.drop(columns="future")).items():
                expected[kpi] = expected.get(kpi, 0.0) + probability * value
        return expected
    last = last_period(kpis)
    if last is None:
        return {}
    plan, _ = plans(kpis)
    headline = {}
    for kpi in HEADLINE_KPIS:  # the plan's own KPIs, then its changes
        value = total_value(kpis, plan, kpi, last)
        value = total_value(kpis, CHANGE, kpi, last) if value is None else value
        if value is not None:
            headline[kpi] = value
    return headline
