"""Run benchmark cases, each in a fresh process (so peak memory is its own), into Parquet.

Per case: model size, build_s (Pyomo construction), handoff_s (compile and pass to HiGHS),
solve_s (HiGHS), extract_s, and `highs_alone_s`: the same model written to MPS once and
solved by highspy alone, measured in the same process, so
`overhead_ratio = (build_s + handoff_s) / highs_alone_s` compares like with like. Solve
power, from HiGHS's log (`benchmarks.progress`): root_gap, first_incumbent_s, to_1pct_s,
to_target_s, nodes. Where a textbook model exists (facility location), it is solved in the
same process by highspy alone (`peer_s`, `benchmarks.peers`). The cost-carbon frontier is
one case: its solves summed, and how many of its points were proven optimal; so are the
plans near the optimum (`analysis=alternatives`), whose directions a time limit stops. A
stress case times the reference plan's operations in every sampled future
(futures_per_second); a stochastic case the extensive form of n futures, whole or by
Benders.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import resource
import time
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path
from queue import Empty

import pandas as pd
import pyomo.environ as pyo

from benchmarks.cases import Case, frontier_settings, scratch
from benchmarks.progress import progress
from twin.analysis import near_optimal, parallel_options, uncertainty_of
from twin.config import compose_config, to_run_inputs
from twin.model import build_model
from twin.parallel import release_workers
from twin.pareto import frontier
from twin.plan import optimise
from twin.results import extract_results
from twin.scenario import SolverOptions
from twin.solve import HighsModel, new_highs
from twin.stochastic import Risk, solve_stochastic
from twin.stress import stress


def measure(case: Case) -> dict:
    """Build, hand off, solve and extract one case; then HiGHS alone on its MPS file and the
    textbook peer, where the case has them."""
    if case.kind == "pareto":
        return measure_frontier(case)
    if case.kind == "alternatives":
        return measure_alternatives(case)
    if case.kind == "stress":
        return measure_stress(case)
    if case.kind == "stochastic":
        return measure_stochastic(case)
    with scratch() as directory:
        workdir = Path(directory)
        ds, scenario, published = case.inputs(workdir)
        built = build_model(ds, scenario)
        highs = HighsModel(built.model, relax=case.relax)
        solved = highs.solve(scenario.solver, workdir / "highs.log")
        log = (workdir / "highs.log").read_text()
        start = time.perf_counter()
        if solved.ok:
            extract_results(built, solved, case.name)
        extract_s = time.perf_counter() - start
        highs_alone_s = _alone(highs, scenario.solver, workdir) if case.alone else float("nan")
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    row = {
        "case": case.name,
        **highs.size,
        "build_s": built.build_seconds,
        "handoff_s": highs.handoff_seconds,
        "solve_s": solved.solve_seconds,
        "extract_s": extract_s,
        "highs_alone_s": highs_alone_s,
        "peak_rss_mb": peak_kb / 1024,
        "status": solved.status,
        "objective": solved.objective,
        "bound": solved.bound,
        "gap": solved.gap,
        "nodes": solved.nodes,
        "simplex_iterations": solved.simplex_iterations,
        "relaxed": case.relax,
        "published_optimum": published,
        **progress(log, scenario.solver.mip_gap),
        **case.peer(scenario.solver.time_limit),
    }
    row["total_s"] = row["build_s"] + row["handoff_s"] + row["solve_s"] + row["extract_s"]
    row["overhead_ratio"] = (row["build_s"] + row["handoff_s"]) / max(highs_alone_s, 1e-9)
    return row


def _alone(highs: HighsModel, options: SolverOptions, workdir: Path) -> float:
    """Seconds HiGHS alone takes on the model's MPS file."""
    mps = workdir / "model.mps"
    highs.highs.writeModel(str(mps))
    alone = new_highs()
    alone.readModel(str(mps))
    alone.setOptionValue("time_limit", float(options.time_limit))
    alone.setOptionValue("mip_rel_gap", float(options.mip_gap))
    start = time.perf_counter()
    alone.run()
    return time.perf_counter() - start


def measure_frontier(case: Case) -> dict:
    """The cost-carbon frontier `twin run <source>` makes, timed as a whole."""
    with scratch() as directory:
        ds, scenario, _ = case.inputs(Path(directory))
        start = time.perf_counter()
        parallel = parallel_options(compose_config(case.source.split()))
        count, method = frontier_settings(case)
        points = frontier(ds, scenario, count, case.name, parallel, method)
        seconds = time.perf_counter() - start
    statuses = [point.run.solved.status for point in points]
    gaps = [point.run.solved.gap for point in points]  # None: a point without a plan
    nodes = sum(point.run.solved.nodes for point in points)
    return _points(case, statuses, gaps, seconds) | {"nodes": nodes}


def measure_alternatives(case: Case) -> dict:
    """The plans near the optimum `twin run <source>` makes (the least-cost plan, then one
    MILP per direction, as the app runs them), timed as a whole."""
    with scratch() as directory:
        workdir = Path(directory)
        ds, scenario, _ = case.inputs(workdir)
        cfg = compose_config(case.source.split())
        start = time.perf_counter()
        outcome = near_optimal(cfg, ds, scenario, case.name, workdir)
        seconds = time.perf_counter() - start
    table = outcome.tables["alternatives"]
    gaps = [None if pd.isna(gap) else float(gap) for gap in table["gap"]]
    return _points(case, list(table["status"]), gaps, seconds)


def _points(case: Case, statuses: list[str], gaps: list[float | None], seconds: float) -> dict:
    """The row of a case of many solves: how many, how many proven, the widest gap (nan
    where one has no plan); `error` if one failed, not `time_limit`."""
    status = "optimal" if set(statuses) == {"optimal"} else "time_limit"
    return {
        "case": case.name,
        "status": "error" if "error" in statuses else status,
        "solve_s": seconds,
        "total_s": seconds,
        "points": len(statuses),
        "points_optimal": statuses.count("optimal"),
        "gap": float("nan") if None in gaps else max(gaps),
        "peak_rss_mb": _peak_mb(),  # its solves run on workers
    }


def _peak_mb() -> float:
    """Peak resident memory of this process and of its finished children (the workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def _uncertain_inputs(case: Case):
    cfg = compose_config(case.source.split())
    ds, scenario = to_run_inputs(cfg)
    solver = replace(scenario.solver, mip_gap=case.mip_gap, time_limit=case.time_limit)
    scenario = replace(scenario, solver=solver)
    return cfg, ds, scenario, uncertainty_of(cfg, ds).futures


def measure_stress(case: Case) -> dict:
    """The reference plan's operations in every future of the case's set."""
    cfg, ds, scenario, futures = _uncertain_inputs(case)
    plan = optimise(ds, scenario, case.name)
    start = time.perf_counter()
    frame = stress(ds, scenario, plan.results.tables["investments"], futures, parallel_options(cfg))
    seconds = time.perf_counter() - start
    solved = frame["status"] == "optimal"
    return {
        "case": case.name,
        "status": "optimal" if solved.all() else "error",
        "futures": len(frame),
        "solve_s": seconds,
        "total_s": seconds,
        "futures_per_second": len(frame) / seconds,
        "resolve_s_median": float(frame["resolve_s"].median()),
        "peak_rss_mb": _peak_mb(),
    }


def measure_stochastic(case: Case) -> dict:
    """The extensive form of the case's futures, solved as `solver.method` says."""
    _, ds, scenario, futures = _uncertain_inputs(case)
    plan = solve_stochastic(ds, scenario, futures, Risk(), case.name)
    solved = plan.solved
    size = plan.highs.size if plan.highs is not None else {}
    return {
        "case": case.name,
        **size,
        "status": solved.status,
        "objective": solved.objective,
        "bound": solved.bound,
        "gap": solved.gap,
        "futures": len(futures),
        "handoff_s": solved.handoff_seconds,
        "solve_s": solved.solve_seconds,
        "total_s": plan.seconds,
        "message": solved.message,
        "peak_rss_mb": _peak_mb(),
    }


def _warm_up() -> None:
    """Compile a one-variable model once, so the first case's hand-off does not pay for the
    one-off imports of the compiler and scipy (a per-process cost, not a per-model one)."""
    model = pyo.ConcreteModel()
    model.x = pyo.Var(bounds=(0, 1))
    model.c = pyo.Constraint(expr=model.x <= 1)
    model.o = pyo.Objective(expr=model.x)
    HighsModel(model).solve(SolverOptions())


def _child(case: Case, queue) -> None:
    try:
        _warm_up()
        queue.put(measure(case))
    except Exception as error:  # a failing case is a row with status error, not a crash
        queue.put({"case": case.name, "status": "error", "message": repr(error)})
    finally:
        release_workers()  # else the case's process exits 300 s after its row


def _progress(row: dict) -> str:
    seconds = "  ".join(
        f"{name} {row.get(f'{name}_s', 0):7.2f} s" for name in ("build", "handoff", "solve")
    )
    return (
        f"{row['case']:<22} {row.get('status'):<10} nnz {row.get('nonzeros', 0):>9}  {seconds}"
        f"  alone {row.get('highs_alone_s', 0):7.2f} s"
        f"  ratio {row.get('overhead_ratio', float('nan')):5.2f}"
    )


def _measure_in_child(context, case: Case) -> dict:
    """Run one case in a fresh process; a process that dies (out of memory, a crash in the
    solver) becomes a row with status error instead of a hung suite."""
    queue = context.Queue()
    process = context.Process(target=_child, args=(case, queue))
    process.start()
    while True:
        try:
            row = queue.get(timeout=5)
            break
        except Empty:
            if not process.is_alive():
                row = {"case": case.name, "status": "error", "message": "process died"}
                break
    process.join()
    return row


def run_cases(cases: list[Case], tier: str, repetitions: int = 1) -> pd.DataFrame:
    context = multiprocessing.get_context("spawn")
    rows = []
    for case in cases:
        for repetition in range(repetitions):
            row = _measure_in_child(context, case)
            rows.append({**row, "tier": tier, "repetition": repetition})
            print(_progress(row), flush=True)
    frame = pd.DataFrame(rows)
    frame["versions"] = str({n: version(n) for n in ("twin", "pyomo", "highspy")})
    frame["machine"] = f"{platform.node()} {platform.machine()} {os.cpu_count()} cores"
    return frame
