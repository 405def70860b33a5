"""Workers of a sweep die with the process that launched them.

joblib's workers outlive a launcher killed with SIGKILL: they finish the runs queued to them
and then wait forever. `twin run` marks itself as the launcher (`mark_launcher`, an
environment variable its workers inherit); each run in another process starts a daemon
thread (`watch_launcher`) that ends its process as soon as the launcher is gone. What the
run was writing stays unfinished on disk and is cleared by the next run into that directory
(`twin.rundir`); resume re-runs it.
"""

from __future__ import annotations

import os
import threading
import time

LAUNCHER_PID = "TWIN_LAUNCHER_PID"
ORPHANED_EXIT = 70  # the exit status of a worker whose launcher died
_watching = threading.Event()


def mark_launcher() -> None:
    """Declare this process the launcher of the runs it starts (inherited by workers)."""
    os.environ[LAUNCHER_PID] = str(os.getpid())


def watch_launcher(interval: float = 0.5) -> None:
    """In a worker (a process other than the launcher), exit once the launcher is gone.
    Idempotent; does nothing in the launcher itself or outside `twin run`."""
    launcher = int(os.environ.get(LAUNCHER_PID, "0") or 0)
    if launcher in (0, os.getpid()) or _watching.is_set():
        return
    _watching.set()
    parent = os.getppid()
    thread = threading.Thread(
        target=_watch, args=(launcher, parent, interval), name="twin-lifeline", daemon=True
    )
    thread.start()


def _watch(launcher: int, parent: int, interval: float) -> None:
    while _alive(launcher) and os.getppid() == parent:
        time.sleep(interval)
    os._exit(ORPHANED_EXIT)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True
