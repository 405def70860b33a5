"""Many independent solves in parallel, every outcome recorded: the one way analyses fan out.

An analysis that multiplies MILPs or LPs (a stress test over thousands of futures, the
wait-and-see plans of a stochastic model, the coalitions of a game) hands a function and a
list of tasks to `run_tasks`. Each task runs in a worker of one backend:

- `serial`: in this process, in order (tests, debugging, one core);
- `joblib`: local processes (loky), as many as `workers` (0: every core);
- `ray`: tasks of a Ray cluster (`address`, e.g. `auto` for a running one; none: a local
  Ray with `workers` CPUs), for sets too large for one machine.

Nothing a task does is lost or hidden: each returns a `TaskResult` with its value, or its
error (the exception's type, message and last frames) when it raised or its worker died,
its seconds and the worker (host:pid) that ran it. One failed task never stops the others.
Given a label, each finished task logs a line (console and app.log): how many are done and
about how long the rest will take, since a batch of MILPs can run for many minutes.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

BACKENDS = ("serial", "joblib", "ray")
log = logging.getLogger(__name__)


class ParallelError(ValueError):
    """A backend that cannot run here (unknown, or Ray not installed); says what to do."""


@dataclass(frozen=True)
class ParallelOptions:
    backend: str = "joblib"
    workers: int = 0  # 0: every core of this machine (or of the local Ray)
    address: str | None = None  # Ray cluster address; None: a local Ray

    def worker_count(self) -> int:
        """How many tasks run at once: 1 in series; else `workers`, or every core of this
        machine (joblib, a local Ray) or of the cluster (Ray at `address`)."""
        if self.backend == "serial":
            return 1
        if self.workers > 0:
            return self.workers
        if self.backend == "ray" and self.address:
            return int(_ray_started(self).cluster_resources().get("CPU", 1))
        return cores()


def cores() -> int:
    """The cores this process may run on (fewer than the machine's under a CPU affinity,
    as in a container or a CI job)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def thread_share() -> int:
    """The threads one solve should use: its share of the cores where a worker pool says
    it (joblib's and Ray's workers run with OMP_NUM_THREADS set to it), else every core."""
    share = os.environ.get("OMP_NUM_THREADS", "")
    return max(1, min(int(share), cores())) if share.isdigit() else cores()


@dataclass
class TaskResult:
    task: int  # position in the task list
    ok: bool
    value: Any = None
    error: str = ""  # the exception, or why the worker gave no answer
    seconds: float = 0.0
    worker: str = ""  # host:pid


def _attempt(function: Callable[[Any], Any], task: Any, position: int) -> TaskResult:
    """Run one task; an exception becomes an error result, never a lost batch."""
    start = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        value = function(task)
    except Exception as error:  # any failure of one task is its outcome, recorded
        frames = "".join(traceback.format_exception(error, limit=-3)).strip()
        return TaskResult(position, False, None, frames, time.perf_counter() - start, worker)
    return TaskResult(position, True, value, "", time.perf_counter() - start, worker)


class _Progress:
    """A line per finished task, with the time the others will take at the pace so far."""

    def __init__(self, label: str, total: int):
        self.label, self.total, self.done, self.failed = label, total, 0, 0
        self.started = time.perf_counter()

    def __call__(self, result: TaskResult) -> TaskResult:
        self.done += 1
        self.failed += not result.ok
        if self.label:
            elapsed = time.perf_counter() - self.started
            left = elapsed / self.done * (self.total - self.done)
            failed = f", {self.failed} failed" if self.failed else ""
            log.info(
                "%s: %d of %d done%s (%.0f s so far, about %.0f s left)",
                self.label,
                self.done,
                self.total,
                failed,
                elapsed,
                left,
            )
        return result


def run_tasks(
    function: Callable[[Any], Any],
    tasks: Sequence[Any],
    options: ParallelOptions,
    label: str = "",
) -> list[TaskResult]:
    """`function(task)` for every task, one `TaskResult` each, in the tasks' order; a line
    of progress per finished task where `label` names the batch.

    `function` and the tasks must pickle (a module-level function, plain data) for the
    process backends."""
    if options.backend not in BACKENDS:
        raise ParallelError(f"parallel.backend={options.backend!r}: one of {list(BACKENDS)}")
    if not tasks:
        return []
    progress = _Progress(label, len(tasks))
    if options.backend == "serial" or len(tasks) == 1:
        return [progress(_attempt(function, task, i)) for i, task in enumerate(tasks)]
    if options.backend == "joblib":
        return _joblib(function, tasks, options, progress)
    return _ray(function, tasks, options, progress)


def _joblib(
    function, tasks: Sequence[Any], options: ParallelOptions, progress: _Progress
) -> list[TaskResult]:
    from joblib import Parallel, delayed

    results: list[TaskResult | None] = [None] * len(tasks)
    workers = min(options.worker_count(), len(tasks))
    calls = (delayed(_attempt)(function, task, i) for i, task in enumerate(tasks))
    try:
        for result in Parallel(n_jobs=workers, return_as="generator_unordered")(calls):
            results[result.task] = progress(result)
    except Exception as error:  # a worker died (killed, out of memory): the rest say so
        reason = f"no answer: the worker pool failed ({type(error).__name__}: {error})"
        for i, result in enumerate(results):
            if result is None:
                results[i] = progress(TaskResult(i, False, None, reason))
    return results  # type: ignore[return-value]


def release_workers() -> None:
    """Stop joblib's idle worker processes. They outlive `run_tasks`, so that its next call
    reuses them; a process that then exits as another's child (a benchmark case) waits out
    their idle timeout, 300 s, unless they are stopped first."""
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


def _ray_started(options: ParallelOptions):
    """The ray module, connected to the cluster at `address` or to a local Ray."""
    try:
        import ray
    except ImportError as error:
        raise ParallelError("parallel.backend=ray needs Ray: pip install -e '.[ray]'") from error
    if not ray.is_initialized():
        if options.address:
            ray.init(address=options.address, log_to_driver=False)
        else:
            ray.init(num_cpus=options.workers or cores(), log_to_driver=False)
    return ray


def _ray(
    function, tasks: Sequence[Any], options: ParallelOptions, progress: _Progress
) -> list[TaskResult]:
    ray = _ray_started(options)
    remote = ray.remote(_attempt)
    pending = [remote.remote(function, task, i) for i, task in enumerate(tasks)]
    results = []
    for i, reference in enumerate(pending):
        try:
            results.append(progress(ray.get(reference)))
        except Exception as error:  # the task's worker or node died: no value, a reason
            results.append(progress(TaskResult(i, False, None, f"no answer from Ray: {error}")))
    return results


def chunks(items: Sequence[Any], count: int) -> list[list[Any]]:
    """`items` in at most `count` contiguous, nearly equal chunks (none empty): one per
    worker when each chunk pays a set-up (a model built once, then re-solved in place)."""
    count = max(1, min(count, len(items)))
    size, extra = divmod(len(items), count)
    bounds = [0]
    for i in range(count):
        bounds.append(bounds[-1] + size + (i < extra))
    return [list(items[a:b]) for a, b in itertools.pairwise(bounds) if b > a]
