"""A run directory: one run at a time, and outputs replaced as one step.

A run takes an exclusive lock on its directory (`fcntl.flock` on `.twin.lock`, released by
the kernel however the process ends), so a second run into the same directory refuses
instead of interleaving logs and results. With the lock held, files left by an attempt that
was killed (staging directories, temporary files) are debris and are removed.

Outputs of an attempt are written into a staging directory beside them and swapped in only
once all are written: earlier outputs are renamed aside, the new ones renamed in, and the
earlier ones deleted. A failure before or during the swap leaves the earlier outputs whole.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = ".twin.lock"
STAGING = ".staging-"  # + pid: outputs being written
REPLACED = ".replaced-"  # + pid + name: earlier outputs during a swap
DEBRIS = (f"{STAGING}*", f"{REPLACED}*", ".*.tmp-*", ".*.partial-*", ".*.old-*")


class RunDirectoryBusy(Exception):
    """Another process holds the run directory's lock."""


@contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold the run directory's lock for the duration; RunDirectoryBusy if another run has
    it. Debris of killed attempts is removed once the lock is held."""
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
        remove_debris(run_dir)
        yield
    finally:
        os.close(descriptor)  # releases the lock; the file stays (removing it would race)


def remove_debris(directory: Path) -> None:
    """Remove what killed attempts left in `directory` and its output directories."""
    for pattern in DEBRIS:
        for path in directory.rglob(pattern):
            if ".hydra" in path.relative_to(directory).parts:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


class StagedOutputs:
    """Outputs of one attempt, written under `root` and swapped into `run_dir` at once."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.root = run_dir / f"{STAGING}{os.getpid()}"
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)

    def discard(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def commit(self, replaced: Iterable[str]) -> None:
        """Put the staged outputs in place of the earlier ones named in `replaced` (those
        absent from the staging are removed too, so nothing of an earlier config remains).
        On failure, every earlier output is back where it was and the staging is gone."""
        aside: list[tuple[Path, Path]] = []
        placed: list[tuple[Path, Path]] = []
        try:
            for name in dict.fromkeys([*replaced, *(p.name for p in self.root.iterdir())]):
                current = self.run_dir / name
                if current.exists() or current.is_symlink():
                    away = self.run_dir / f"{REPLACED}{os.getpid()}-{name}"
                    current.rename(away)
                    aside.append((away, current))
            for staged in sorted(self.root.iterdir()):
                target = self.run_dir / staged.name
                staged.rename(target)
                placed.append((target, staged))
        except OSError:
            for moved, origin in reversed(aside + placed):  # new ones out, then old ones in
                moved.rename(origin)
            self.discard()
            raise
        self.discard()
        for away, _ in aside:
            if away.is_dir() and not away.is_symlink():
                shutil.rmtree(away, ignore_errors=True)
            else:
                away.unlink(missing_ok=True)
