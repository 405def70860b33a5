"""Read what a run or a sweep left on disk (docs/results.md) into what the report draws from.

The report needs nothing but the directory: run.json says which dataset the run used (for the
regions' coordinates, commodity values and crossings) and with which corridor overrides. Every
problem a planner can cause (a wrong path, a failed run, a moved dataset) is a ReportError
that names the file and what to do.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from twin.config import ConfigError, CorridorConfig, DatasetConfig, apply_corridor, dataset_path
from twin.data import Dataset, DatasetError, load_dataset, read_meta
from twin.kpis import REFERENCE_PLANS
from twin.results.schema import ANALYSIS_TABLES, EXTRA, TABLES
from twin.solve import FINISHED
from twin.sweep import job_overrides, parameters
from twin.whatif import Disruption, WhatIfError, crossing_shares

SWEEP_RUN_COLUMNS = ("run_id", "status", "objective", "cost", "message", "run_dir")


class ReportError(ValueError):
    """A directory the report cannot be made from; the message says what is missing."""


@dataclass
class RunData:
    """One run: its record, its plan's tables, the reference plan's and its dataset."""

    directory: Path
    meta: dict  # run.json
    tables: dict[str, pd.DataFrame]  # results/*.parquet, the analysis tables when present
    reference: dict[str, pd.DataFrame]  # as_is/ or baseline/ results; {} when none
    ds: Dataset  # with the run's corridor overrides (crossing capacities, tariffs)
    crossing_shares: dict[str, float]  # of each crossing's capacity the plan could use
    overrides: dict[str, str]  # the command-line overrides that made the run
    notes: list[str]  # what the reader should know, e.g. a dataset changed since the run


@dataclass
class SweepData:
    """A sweep: one row per run with its swept parameters and headline KPIs."""

    directory: Path
    sweep: pd.DataFrame  # sweep.parquet
    parameters: list[str]  # override keys, in the order of sweep.parquet
    runs: dict[str, dict]  # run_dir -> run.json
    currency: str  # of the dataset of the first run


def load(directory: str | Path) -> RunData | SweepData:
    """A run directory (run.json) or a sweep directory (sweep.parquet), read."""
    root = Path(directory)
    if not root.is_dir():
        raise ReportError(f"{root}: no such directory")
    if (root / "sweep.parquet").exists():
        return load_sweep(root)
    if (root / "run.json").exists():
        return load_run(root)
    raise ReportError(
        f"{root}: neither a run directory (run.json) nor a sweep directory (sweep.parquet); "
        "give the directory `twin run` printed, e.g. outputs/<day>/<time>"
    )


def _read_json(file: Path) -> dict:
    try:
        record = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ReportError(f"{file}: cannot be read ({error})") from error
    if not isinstance(record, dict):
        raise ReportError(f"{file}: not a run record (a JSON object), but {type(record).__name__}")
    return record


def _read_parquet(file: Path, columns: Iterable[str]) -> pd.DataFrame:
    """A Parquet file with the columns the report reads; a broken or short file is a
    ReportError (a run killed while writing, a file from elsewhere), not a traceback."""
    try:
        frame = pd.read_parquet(file)
    except (OSError, ValueError, pa.ArrowException) as error:
        raise ReportError(f"{file}: cannot be read as Parquet ({error})") from error
    missing = [column for column in columns if column not in frame]
    if missing:
        raise ReportError(f"{file}: missing columns {missing} (not written by this twin?)")
    return frame


def read_tables(results: Path, required: bool) -> dict[str, pd.DataFrame]:
    """The contract's tables in `results`, and the analysis tables that are there."""
    missing = [name for name in TABLES if not (results / f"{name}.parquet").exists()]
    if missing and required:
        files = ", ".join(f"{name}.parquet" for name in missing)
        raise ReportError(f"{results}: missing {files} (is the run finished?)")
    if missing:
        return {}
    schemas = {**TABLES, **ANALYSIS_TABLES}
    names = [*TABLES, *(n for n in ANALYSIS_TABLES if (results / f"{n}.parquet").exists())]
    return {
        name: _read_parquet(results / f"{name}.parquet", [*schemas[name], *EXTRA.get(name, {})])
        for name in names
    }


def load_run(root: Path) -> RunData:
    meta = _read_json(root / "run.json")
    status = meta.get("status", "unknown")
    if status not in FINISHED:  # results/ may be an earlier attempt's: never shown as this
        raise ReportError(
            f"{root}: the run did not finish (status {status}: {meta.get('message', '')}); "
            "its report needs a finished run"
        )
    if not (root / "results").is_dir():
        raise ReportError(f"{root}: the run has no results (status {status})")
    tables, chosen = one_future(read_tables(root / "results", required=True))
    plans = set(tables["kpis"]["plan"].dropna())
    reference = next((name for name in REFERENCE_PLANS if name in plans), None)
    reference_tables = read_tables(root / reference / "results", False) if reference else {}
    ds, notes = _dataset(meta)
    notes = chosen + notes
    shares = _crossing_shares(meta, ds)
    return RunData(
        root, meta, tables, reference_tables, ds, shares, job_overrides(root, meta), notes
    )


def one_future(tables: dict[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """A stochastic plan's tables narrowed to its most probable future (the first of equal
    ones), with a note saying so; other runs' tables as they are."""
    if "future" not in tables["balance"]:
        return tables, []
    futures = tables["stochastic"]
    chosen = futures.loc[futures["probability"].idxmax()]
    narrowed = {
        name: frame[frame["future"] == chosen["future"]].drop(columns="future")
        if "future" in frame and name != "stochastic"
        else frame
        for name, frame in tables.items()
    }
    note = (
        f"One plan for {len(futures)} futures: the investments are shared; the flows, value "
        f"chains, costs and KPIs shown are those of future {chosen['future']} (probability "
        f"{chosen['probability']:.0%}, the most probable). Every future's are in results/ "
        "(column future)."
    )
    return narrowed, [note]


def _crossing_shares(meta: dict, ds: Dataset) -> dict[str, float]:
    """What the run's disruption left of each crossing's capacity; {} when the plan ran
    undisrupted (only analysis=disruption applies the config's disruption to it)."""
    if meta.get("analysis") != "disruption":
        return {}
    try:
        return crossing_shares(ds, Disruption(**meta.get("config", {}).get("disruption", {})))
    except (TypeError, WhatIfError) as error:
        raise ReportError(
            f"the run's disruption does not fit its dataset {meta.get('dataset')}: {error}"
        ) from error


def _dataset_path(meta: dict) -> Path:
    return dataset_path(DatasetConfig(name="", path=str(meta.get("dataset", ""))))


def _dataset(meta: dict) -> tuple[Dataset, list[str]]:
    """The run's dataset with its corridor overrides; a note if it changed since the run."""
    config = meta.get("config", {})
    path = _dataset_path(meta)
    try:
        ds = load_dataset(path)
        ds, _ = apply_corridor(ds, CorridorConfig(**config.get("corridor", {})))
    except (DatasetError, ConfigError, TypeError) as error:
        raise ReportError(
            f"dataset {path} of the run cannot be used for its map and value chains: {error}"
        ) from error
    notes = []
    if meta.get("data_hash") not in (None, ds.data_hash):
        notes.append(
            f"The dataset {path} has changed since the run (data hash {ds.data_hash}, the run "
            f"used {meta['data_hash']}): coordinates, values and capacities are today's."
        )
    return ds, notes


def load_sweep(root: Path) -> SweepData:
    sweep = _read_parquet(root / "sweep.parquet", SWEEP_RUN_COLUMNS)
    if sweep.empty:
        raise ReportError(f"{root / 'sweep.parquet'}: no runs")
    swept = parameters(sweep)
    runs = {}
    for run_dir in sweep["run_dir"]:
        file = root / str(run_dir) / "run.json"
        if file.exists():
            runs[str(run_dir)] = _read_json(file)
    if not runs:
        raise ReportError(f"{root}: none of the runs in sweep.parquet has its run.json here")
    path = _dataset_path(next(iter(runs.values())))
    try:  # the description is enough: the sweep page draws no map or value chain
        currency = str(read_meta(path)["currency"])
    except DatasetError as error:
        message = f"dataset {path} of the sweep's first run cannot be read: {error}"
        raise ReportError(message) from error
    return SweepData(root, sweep, swept, runs, currency)
