"""Workers of a sweep die with the process that launched them.

joblib's workers outlive a launcher killed with SIGKILL: they finish the runs queued to them
and then wait forever. `twin run` marks itself as the launcher (`mark_launcher`, an
environment variable its workers inherit, naming its host and process); each run in another
process of the same host starts a daemon thread (`watch_launcher`) that ends its process as
soon as the launcher is gone. A run on another host (a Slurm job that inherited the
variable, a remote Ray node) is not watched: its process ids are another machine's, and
its scheduler stops it. What the run was writing stays unfinished on disk and is repaired by
the next run into that directory (`twin.rundir`); resume re-runs it.
"""

from __future__ import annotations

import os
import socket
import threading
import time

LAUNCHER = "TWIN_LAUNCHER"  # "<host>:<pid>" of the `twin run` that launched this run
ORPHANED_EXIT = 70  # the exit status of a worker whose launcher died
_watching = threading.Event()


def mark_launcher() -> None:
    """Declare this process the launcher of the runs it starts (inherited by workers)."""
    os.environ[LAUNCHER] = f"{socket.gethostname()}:{os.getpid()}"


def watch_launcher(interval: float = 0.5) -> None:
    """In a worker (a process other than the launcher, on its host), exit once the launcher
    is gone. Idempotent; does nothing in the launcher itself, on another host or outside
    `twin run`."""
    host, _, pid = os.environ.get(LAUNCHER, "").rpartition(":")
    launcher = int(pid) if pid.isdigit() else 0
    if host != socket.gethostname() or launcher in (0, os.getpid()) or _watching.is_set():
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
