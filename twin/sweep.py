"""Aggregate a finished sweep: one Parquet per table over all runs, and sweep.parquet.

A Hydra callback that reads what each run left on disk (run.json, results/, the job's
overrides), so it works the same with every launcher (basic, joblib, Ray, submitit), also
when some runs failed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from twin.config import BOOKKEEPING
from twin.kpis import CHANGE, last_period, plans, total_value
from twin.results.schema import ANALYSIS_TABLES, TABLES
from twin.results.writer import write_parquet

FAILED_RUNS: list[str] = []  # run_ids of failed runs in the last sweep of this process
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
        aggregate(sweep_dir)
        if config.get("report"):
            # late: only a sweep that asks for its page needs the app and plotly
            from twin.app import write_page

            write_page(sweep_dir)


def job_overrides(job_dir: Path) -> dict[str, str]:
    """The overrides Hydra recorded for a job, key -> value as typed: those that make the run
    (no hydra keys, no bookkeeping such as `report=true`, which is no swept parameter)."""
    file = job_dir / ".hydra" / "overrides.yaml"
    items = yaml.safe_load(file.read_text()) if file.exists() else []
    pairs = (item.split("=", 1) for item in items or [] if "=" in item)
    overrides = {key.lstrip("+~"): value for key, value in pairs}
    return {
        key: value
        for key, value in overrides.items()
        if not key.startswith("hydra") and key not in BOOKKEEPING
    }


def aggregate(sweep_dir: Path) -> pd.DataFrame:
    """Write `<table>.parquet` (all runs) and `sweep.parquet` (one row per run)."""
    rows, parts = [], {name: [] for name in [*TABLES, *ANALYSIS_TABLES]}
    for record in sorted(sweep_dir.glob("*/run.json")):
        job_dir = record.parent
        meta = json.loads(record.read_text())
        overrides = job_overrides(job_dir)
        row = {
            "run_id": meta["run_id"],
            **overrides,
            "status": meta.get("status"),
            "objective": meta.get("objective"),
            "cost": meta.get("cost"),
            "message": meta.get("message"),
            "run_dir": job_dir.name,
        }
        kpis_file = job_dir / "results" / "kpis.parquet"
        if kpis_file.exists():
            row.update(_headline(pd.read_parquet(kpis_file)))
        rows.append(row)
        for name in parts:
            file = job_dir / "results" / f"{name}.parquet"
            if file.exists():
                parts[name].append(pd.read_parquet(file).assign(**overrides))
    sweep = pd.DataFrame(rows)
    FAILED_RUNS[:] = [r["run_id"] for r in rows if r["status"] not in ("optimal", "time_limit")]
    metadata = {"sweep": str(sweep_dir)}
    for name, frames in parts.items():
        if frames:
            write_parquet(
                sweep_dir / f"{name}.parquet", pd.concat(frames, ignore_index=True), metadata
            )
    write_parquet(sweep_dir / "sweep.parquet", sweep, metadata)
    return sweep


def _headline(kpis: pd.DataFrame) -> dict[str, float]:
    """Headline KPIs of the last period, for the hypercluster as a whole."""
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
