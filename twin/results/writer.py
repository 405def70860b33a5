"""Write results atomically: Parquet tables and run.json, never a partial file.

Tables go to a staging directory that replaces `results/` in one rename once every file is
written, so a run that fails mid-write leaves the previous good results (or nothing) behind.
run.json is written to a temporary file and renamed over the old one.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def write_tables(target: Path, tables: dict[str, pd.DataFrame], metadata: dict[str, str]) -> None:
    """Write each table to `target/<name>.parquet`, all or nothing; `metadata` goes into
    every file's schema metadata (run_id, config hash)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        for name, frame in tables.items():
            _parquet(staging / f"{name}.parquet", frame, metadata)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _parquet(path: Path, frame: pd.DataFrame, metadata: dict[str, str]) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    extra = {f"twin.{k}".encode(): str(v).encode() for k, v in metadata.items()}
    pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), **extra}), path)


def write_parquet(path: Path, frame: pd.DataFrame, metadata: dict[str, str]) -> None:
    """One Parquet file through a temporary file and an atomic rename."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        _parquet(temporary, frame, metadata)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, path)


def write_json(path: Path, data: dict) -> None:
    """Write JSON through a temporary file and an atomic rename. A non-finite number is
    written as null: `Infinity` and `NaN` are not JSON, and other readers reject them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text(json.dumps(_finite(data), indent=2, default=str, allow_nan=False))
    os.replace(temporary, path)


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
