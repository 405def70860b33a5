"""The shared runner of many solves (`twin.parallel`): every task gets an outcome, in order,
whatever happens to the others or to the worker that ran it."""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest

from twin.parallel import (
    ParallelError,
    ParallelOptions,
    chunks,
    cores,
    release_workers,
    run_tasks,
    thread_share,
)


def _fails_on_three(task: int) -> int:
    if task == 3:
        raise ValueError("three is bad")
    return task * task


@pytest.mark.parametrize("backend", ["serial", "joblib"])
def test_the_parallel_runner_records_every_outcome_and_a_failure_stops_nothing(backend):
    results = run_tasks(_fails_on_three, list(range(6)), ParallelOptions(backend, workers=2))
    assert [r.task for r in results] == list(range(6))
    assert [r.value for r in results if r.ok] == [0, 1, 4, 16, 25]
    (failed,) = [r for r in results if not r.ok]
    assert failed.task == 3 and "ValueError: three is bad" in failed.error
    assert all(":" in r.worker for r in results)


@pytest.mark.parametrize("backend", ["serial", "joblib"])
def test_a_labelled_batch_logs_a_line_per_finished_task_and_its_failures(backend, caplog):
    caplog.set_level("INFO", logger="twin.parallel")
    options = ParallelOptions(backend, workers=2)
    run_tasks(_fails_on_three, list(range(6)), options, label="squares")
    lines = [r.getMessage() for r in caplog.records if r.name == "twin.parallel"]
    assert [line.split(" done")[0] for line in lines] == [f"squares: {k} of 6" for k in range(1, 7)]
    assert "about 0 s left" in lines[-1] and ", 1 failed" in lines[-1]
    caplog.clear()
    run_tasks(_fails_on_three, [1, 2], options)  # no label: a quiet batch
    assert not [r for r in caplog.records if r.name == "twin.parallel"]


def _dies_on_three(task: int) -> int:
    if task == 3:
        os._exit(1)  # the worker process dies: no exception, no answer
    return task


def test_a_dead_worker_costs_its_tasks_an_answer_not_the_batch(caplog):
    caplog.set_level("INFO", logger="twin.parallel")
    options = ParallelOptions("joblib", workers=2)
    results = run_tasks(_dies_on_three, list(range(6)), options, label="dying")
    assert [r.task for r in results] == list(range(6))  # every task has an outcome
    assert not results[3].ok and results[3].error
    assert all(r.value == r.task for r in results if r.ok)
    last = [r.getMessage() for r in caplog.records if r.name == "twin.parallel"][-1]
    failed = sum(not r.ok for r in results)  # its progress counts every task, answered or not
    assert last.startswith(f"dying: 6 of 6 done, {failed} failed")


def test_an_unknown_backend_is_refused_by_name():
    with pytest.raises(ParallelError, match=r"parallel\.backend='mpi'"):
        run_tasks(_fails_on_three, [1, 2], ParallelOptions("mpi"))


def test_chunks_cover_every_item_once_in_order():
    assert chunks(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert chunks([1], 4) == [[1]]


def _fan_out_and_release() -> None:
    """A child process's work: tasks on joblib's workers (each long enough that both
    start), then the workers released."""
    run_tasks(time.sleep, [1.0, 1.0], ParallelOptions("joblib", workers=2))
    release_workers()


def test_a_child_process_that_releases_its_workers_exits_at_once():
    """joblib's idle workers would hold a child process (a benchmark case) at its exit for
    their 300 s idle timeout (without `release_workers` this child is still alive after
    30 s); released, it exits as soon as its work is done."""
    process = multiprocessing.get_context("spawn").Process(target=_fan_out_and_release)
    process.start()
    process.join(timeout=30)
    held = process.is_alive()
    process.kill()
    process.join()
    assert not held and process.exitcode == 0


@pytest.mark.parametrize(
    ("setting", "expected"), [("1", 1), ("999", "all"), ("", "all"), ("lots", "all"), (None, "all")]
)
def test_a_solve_in_a_pools_worker_uses_its_share_of_the_cores(monkeypatch, setting, expected):
    """joblib's and Ray's workers run with OMP_NUM_THREADS at their share of the cores: a
    decomposition there keeps to it (else each worker's threads would take every core);
    never more than the cores, and every core where nothing (or nonsense) is said."""
    if setting is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", setting)
    assert thread_share() == (cores() if expected == "all" else expected)


def test_a_joblib_worker_is_given_its_share_of_the_cores():
    """What thread_share rests on: joblib's process workers have OMP_NUM_THREADS set."""
    shares = [r.value for r in run_tasks(_share, [0, 1], ParallelOptions(workers=2))]
    assert shares == [max(1, cores() // 2)] * 2


def _share(_: int) -> int:
    return thread_share()
