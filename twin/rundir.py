"""A run directory: one run at a time, and outputs replaced as one step.

A run takes an exclusive lock on its directory (`fcntl.flock` on `.twin.lock`, released by
the kernel however the process ends), so a second run into the same directory refuses
instead of interleaving logs and results.

Outputs of an attempt are written into a staging directory beside them and swapped in once
all are written: a manifest of the swap is written first, the earlier outputs are renamed
aside, the new ones renamed in, and run.json replaced last, naming the swap (`outputs_id`):
that replacement is the commit. The earlier outputs are then deleted. A swap that fails, or
is killed part-way, is finished or undone from its manifest (`recover`): undone if run.json
does not name it (the earlier outputs are put back whole), finished if it does. Recovery
runs when the lock is taken, so a killed attempt is repaired by the next run into the
directory, before anything reads it as the run's.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from twin.results.writer import write_json

LOCK_FILE = ".twin.lock"
RECORD = "run.json"
STAGING = ".staging-"  # + pid: outputs being written
REPLACED = ".replaced-"  # + swap id + "-" + name: an earlier output during a swap
MANIFEST = ".swap-"  # + swap id + ".json": the swap under way
TEMPORARY = ".*.tmp-*"  # run.json and report.html being written (twin.results.writer)


class RunDirectoryBusy(Exception):
    """Another process holds the run directory's lock."""


@contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold the run directory's lock for the duration; RunDirectoryBusy if another run has
    it. What killed attempts left is repaired (`recover`) once the lock is held."""
    run_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 64, 0).decode(errors="replace").strip() or "?"
            raise RunDirectoryBusy(
                f"{run_dir} is in use by another run (process {holder}): wait for it to "
                "finish, or give this run another directory (hydra.run.dir=...)"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, str(os.getpid()).encode(), 0)
        recover(run_dir)
        yield
    finally:
        os.close(descriptor)  # releases the lock; the file stays (removing it would race)


def recover(run_dir: Path) -> None:
    """Finish or undo every swap a killed attempt left (see the module docstring), then
    remove its staging directories and temporary files. Only names twin writes, at the top
    of the run directory: nothing else is touched."""
    committed = _read(run_dir / RECORD).get("outputs_id")
    for manifest in sorted(run_dir.glob(f"{MANIFEST}*.json")):
        swap = _read(manifest)
        if swap:
            _finish(run_dir, swap, done=swap.get("id") == committed)
        manifest.unlink()
    for path in [*run_dir.glob(f"{STAGING}*"), *run_dir.glob(TEMPORARY)]:
        _remove(path)


def _finish(run_dir: Path, swap: dict, done: bool) -> None:
    """Complete a committed swap (drop what was set aside) or undo one that was not (new
    outputs out, earlier ones back)."""
    for name in swap.get("names", []):
        aside = run_dir / f"{REPLACED}{swap['id']}-{name}"
        current = run_dir / name
        if done:
            _remove(aside)
        elif _exists(aside):  # set aside: whatever is there now is the new attempt's
            _remove(current)
            aside.rename(current)
        elif name not in swap.get("earlier", []):  # new, with nothing earlier of its name
            _remove(current)


class StagedOutputs:
    """Outputs of one attempt, written under `root` and swapped into `run_dir` at once."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.root = run_dir / f"{STAGING}{os.getpid()}"
        _remove(self.root)
        self.root.mkdir(parents=True)

    def discard(self) -> None:
        _remove(self.root)

    def commit(self, replaced: Iterable[str], record: dict) -> None:
        """Put the staged outputs in place of the earlier ones named in `replaced` (those
        absent from the staging are removed too, so nothing of an earlier config remains),
        and `record` as run.json, naming this swap. On failure, the earlier outputs and
        run.json are back as they were, and the error is raised."""
        swap_id = uuid.uuid4().hex[:12]
        staged = sorted(p.name for p in self.root.iterdir())
        names = list(dict.fromkeys([*replaced, *staged]))
        earlier = [name for name in names if _exists(self.run_dir / name)]
        manifest = self.run_dir / f"{MANIFEST}{swap_id}.json"
        write_json(manifest, {"id": swap_id, "names": names, "earlier": earlier})
        try:
            for name in earlier:
                (self.run_dir / name).rename(self.run_dir / f"{REPLACED}{swap_id}-{name}")
            for name in staged:
                (self.root / name).rename(self.run_dir / name)
            write_json(self.run_dir / RECORD, {**record, "outputs_id": swap_id})  # the commit
        except OSError:
            recover(self.run_dir)  # not committed: undone
            raise
        recover(self.run_dir)  # committed: the earlier outputs go


def _read(file: Path) -> dict:
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
