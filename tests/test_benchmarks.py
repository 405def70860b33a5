"""The benchmark suite's gate: its smoke tier runs, and its check catches what it must."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.__main__ import COUNTERS, baseline_of, check, tables, targets
from benchmarks.cases import CASES
from benchmarks.synthetic import write_synthetic
from twin.data import load_dataset
from twin.model import build_model
from twin.scenario import Scenario, SolverOptions
from twin.solve import HighsModel, solve

ROOT = Path(__file__).resolve().parents[1]


def _row(**changes) -> dict:
    row = {
        "case": "c",
        "variables": 10,
        "integer_variables": 2,
        "constraints": 5,
        "nonzeros": 30,
        "status": "optimal",
        "gap": 0.0,
        "objective": 100.0,
        "published_optimum": None,
    }
    return row | changes


def test_check_accepts_its_own_baseline():
    results = pd.DataFrame([_row()])
    assert check(results, baseline_of(results)) == []


@pytest.mark.parametrize("counter", ["variables", "integer_variables", "constraints", "nonzeros"])
def test_check_flags_a_model_size_that_moved(counter: str):
    baseline = baseline_of(pd.DataFrame([_row()]))
    moved = pd.DataFrame([_row(**{counter: 31})])
    assert any(counter in problem for problem in check(moved, baseline))


def test_check_flags_a_wrong_objective_and_a_published_optimum_missed():
    baseline = baseline_of(pd.DataFrame([_row()]))
    assert check(pd.DataFrame([_row(objective=100.1)]), baseline)
    missed = pd.DataFrame([_row(published_optimum=99.0)])
    assert any("objective" in problem for problem in check(missed, baseline))


def test_a_case_without_a_model_size_gets_a_baseline_and_passes_its_check():
    """An analysis case (a frontier, a stress test) times many models and has no size of
    one: the full tier's baseline must still take it, and a size it never had is no
    difference. A model case keeps every counter checked."""
    analysis = _row(case="frontier", **dict.fromkeys(COUNTERS, np.nan), gap=0.002)
    results = pd.DataFrame([_row(), analysis])
    baseline = baseline_of(results)
    assert baseline["frontier"] == {}
    assert check(results, baseline) == []
    assert check(pd.DataFrame([_row(nonzeros=np.nan)]), baseline)


def test_check_ignores_objectives_solved_to_a_gap_but_flags_failures_and_new_cases():
    baseline = baseline_of(pd.DataFrame([_row()]))
    assert check(pd.DataFrame([_row(objective=101.0, gap=0.01)]), baseline) == []
    assert check(pd.DataFrame([_row(status="error")]), baseline)
    assert check(pd.DataFrame([_row(case="new")]), baseline)


def test_targets_fit_the_scaling_slope_and_read_the_largest_case():
    """build_s = 1e-5 x nnz^1.2 and handoff_s = 2e-6 x nnz: slopes 1.2 and 1.0."""
    sizes = [1e4, 2e5, 1e6, 3e6]  # the first is below the fitted range
    rows = [
        {
            "case": f"synthetic_{i}_lp",
            "relaxed": True,
            "nonzeros": n,
            "build_s": 1e-5 * n**1.2 * (3 if n < 1e5 else 1),
            "handoff_s": 2e-6 * n,
            "peak_rss_mb": n / 1024,  # 1 kB per nonzero
            "overhead_ratio": 0.5 if n == 1e6 else 9.0,
        }
        for i, n in enumerate(sizes)
    ]
    figures = targets(pd.DataFrame(rows))
    assert figures["build_slope"] == pytest.approx(1.2)
    assert figures["handoff_slope"] == pytest.approx(1.0)
    assert figures["kb_per_nonzero_largest"] == pytest.approx(1.0)
    assert figures["overhead_ratio_lp_1m"] == 0.5


def test_report_tables_show_overhead_and_solve_power():
    """The report's second table carries issue 16's columns, where a run has them."""
    results = pd.DataFrame(
        [
            _row(case="a", root_gap=0.0123, to_target_s=4.5, peer_s=7.25, points=None),
            _row(case="b", root_gap=None, to_target_s=None, peer_s=None, points=7),
        ]
    )
    overhead, power = tables(results).split("\n\n")
    assert overhead.splitlines()[0].split("|")[1].strip() == "case"
    assert "root_gap" not in overhead
    header = [cell.strip() for cell in power.splitlines()[0].split("|")[1:-1]]
    assert header == ["case", "status", "gap", "root_gap", "to_target_s", "peer_s", "points"]
    assert "0.0123" in power and "7.25" in power


def test_every_case_has_its_own_name():
    """A case is chosen and its rows are read by name (`--case`, the baseline)."""
    counts = Counter(case.name for case in CASES)
    assert [name for name, count in counts.items() if count > 1] == []


def test_synthetic_is_deterministic_and_grows_with_its_knob(tmp_path: Path):
    sizes = []
    for scale in (1, 2):
        first = write_synthetic(tmp_path / f"a{scale}", scale)
        again = write_synthetic(tmp_path / f"b{scale}", scale)
        for csv in sorted(first.glob("*.csv")):
            assert csv.read_bytes() == (again / csv.name).read_bytes(), csv.name
        built = build_model(load_dataset(first), Scenario())
        sizes.append(HighsModel(built.model).size["nonzeros"])
    assert sizes[1] > 2 * sizes[0]


def test_a_case_that_stands_for_an_analysis_solves_as_twin_run_does(tmp_path: Path):
    """The frontier and alternatives cases time `twin run <source>`: they solve with that
    run's solver options. Until round 26 the frontier's case solved each point by one branch
    and bound (the cases' default), where the run uses Benders."""
    from benchmarks.cases import CASES
    from twin.config import compose_config, to_run_inputs

    analyses = [case for case in CASES if case.kind in ("pareto", "alternatives")]
    assert {case.kind for case in analyses} == {"pareto", "alternatives"}
    for case in analyses:
        _, scenario, _ = case.inputs(tmp_path)
        _, run = to_run_inputs(compose_config(case.source.split()))
        assert scenario.solver == run.solver, case.name


def test_a_case_of_many_solves_says_error_where_one_failed():
    """A case of many solves is `optimal` only if all are, `error` where one failed (an
    alternative can end in a HiGHS solve error), else `time_limit`."""
    from benchmarks.cases import Case
    from benchmarks.runner import _points

    case = Case("c", ("test",), "alternatives", "")
    assert _points(case, ["optimal"] * 2, [0.0, 0.0], 1.0)["status"] == "optimal"
    assert _points(case, ["optimal", "time_limit"], [0.0, 0.1], 1.0)["status"] == "time_limit"
    row = _points(case, ["time_limit", "error", "optimal"], [0.1, None, 0.0], 1.0)
    assert row["status"] == "error" and row["points_optimal"] == 1 and np.isnan(row["gap"])


def test_the_alternatives_case_counts_every_direction_and_those_proven():
    """A case of plans near the optimum runs them as `twin run` does and reports how many
    directions it solved and proved: on the toy, every country and chain up and down,
    emissions down and up and the default random directions, all proven at its gap."""
    from benchmarks.cases import Case
    from benchmarks.runner import measure
    from twin.alternatives import directions
    from twin.config import compose_config

    source = "dataset=toy analysis=alternatives"
    case = Case("toy_alternatives", ("test",), "alternatives", source, mip_gap=1e-6, method="auto")
    row = measure(case)
    ds = load_dataset(ROOT / "data" / "toy")
    countries = sorted(set(ds.regions["country"]))
    chains = sorted(set(ds.commodities["chain"]))
    random = compose_config(source.split()).analysis.directions
    assert row["points"] == len(directions(countries, chains, random)) == 14
    assert row["points_optimal"] == row["points"] and row["status"] == "optimal"
    assert np.isfinite(row["gap"]) and row["solve_s"] > 0


@pytest.mark.slow
def test_smoke_tier_runs_and_matches_its_baseline(tmp_path: Path):
    """The CI gate: published optima reproduced, model sizes as in benchmarks/baseline.json."""
    run = [sys.executable, "-m", "benchmarks"]
    done = subprocess.run(
        [*run, "run", "--tier", "smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = pd.read_parquet(tmp_path / "results.parquet")
    assert set(results["status"]) == {"optimal"}
    for column in ("build_s", "handoff_s", "solve_s", "highs_alone_s", "peak_rss_mb"):
        assert (results[column] > 0).all(), column
    gate = subprocess.run(
        [*run, "check", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "benchmark check: ok" in gate.stdout


def test_progress_reads_the_gaps_of_a_highs_log_at_full_precision():
    """A branch-and-bound log in HiGHS's own format: an incumbent at 0.5 s, the 1 % gap reached
    at 2.0 s, the 0.1 % target never (the Gap column rounds 0.104 % to 0.10 %)."""
    from benchmarks.progress import progress

    log = "\n".join(
        [
            " J       0       0         0   0.00%   -inf            1000.0           Large"
            "        0      0      0         0     0.5s",
            " T       0       0         0   0.00%   900.0           1000.0          10.00%"
            "        0      0      0       184     1.0s",
            "        10       0         1  50.00%   990.05          1000.0           0.99%"
            "        0      0      0       200     2.0s",
            "        20       0         1  90.00%   998.96          1000.0           0.10%"
            "        0      0      0       300     3.0s",
        ]
    )
    result = progress(log, target_gap=0.001)
    assert result["first_incumbent_s"] == 0.5
    assert result["to_1pct_s"] == 2.0
    assert result["root_gap"] == pytest.approx(0.1)
    assert np.isnan(result["to_target_s"])  # 0.104 % > 0.1 %, though its column shows 0.10 %


def test_progress_reads_the_decompositions_own_log(tmp_path: Path):
    """A Benders solve's highs.log, as `twin.decompose` writes it: its MILP masters stand for
    nodes, so the first plan, the 1 % gap and the target are all read from them."""
    from benchmarks.progress import progress

    options = SolverOptions(mip_gap=1e-3, method="benders")
    built = build_model(load_dataset(ROOT / "data" / "toy"), Scenario(solver=options))
    solved, _ = solve(built.model, options, tmp_path / "highs.log")
    result = progress((tmp_path / "highs.log").read_text(), target_gap=1e-3)
    assert solved.status == "optimal"
    assert result["first_incumbent_s"] >= 0 and result["to_target_s"] >= result["to_1pct_s"]
    assert result["root_gap"] >= solved.gap - 1e-12
