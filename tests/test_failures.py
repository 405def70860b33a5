"""Runs never lie: bad input refused by name, every failure recorded, nothing stale or lost.

One test (or parametrized case) per defect found by trying twin as a hostile user would
(issue 15): each gives a dataset or an override and checks the exit code, the message that
names the file/row/column or key, the absence of a traceback, and that nothing is lost (the
earlier outputs whole, or a clear `error` run.json).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

import pandas as pd
import pytest

from twin import app, stochastic
from twin.app import Job, execute
from twin.config import ConfigError, SolverConfig, TwinConfig, compose_config, to_run_inputs
from twin.config_checks import config_problems
from twin.data import DatasetError, load_dataset
from twin.data import files as data_files
from twin.data.schemas import FINITE
from twin.results import writer
from twin.rundir import StagedOutputs, locked

from .conftest import DATA, ROOT, CsvEdit, twin_run

DEBRIS = (".staging-", ".replaced-", ".tmp-", ".partial-", ".old-")


def twin_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "twin", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def output(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


def assert_clean_failure(result: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    text = output(result)
    assert result.returncode == code, text
    assert "Traceback" not in text and "[red]" not in text, text
    for needle in needles:
        assert needle in text, text


def record(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())  # strict JSON: no Infinity


def debris(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if any(mark in p.name for mark in DEBRIS)]


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*.parquet"))
        if p.is_file()
    }


# 1. A failed sweep run's old results are never read as new.


@pytest.mark.slow
def test_a_failed_run_of_a_resweep_is_not_read_from_its_earlier_results(tmp_path: Path):
    good, broken = tmp_path / "good", tmp_path / "broken"
    shutil.copytree(DATA / "toy", good)
    shutil.copytree(DATA / "toy", broken)
    sweep_dir = tmp_path / "sweep"
    args = ("-m", f"dataset.path={good},{broken}", f"hydra.sweep.dir={sweep_dir}")
    first = twin_run(*args)
    assert first.returncode == 0, output(first)
    assert len(pd.read_parquet(sweep_dir / "flows.parquet")["run_id"].unique()) == 2

    CsvEdit(broken).set("technologies.csv", 2, "capex_per_module", "inf")
    second = twin_run(*args)
    assert_clean_failure(second, 1, "technologies.csv, row 2, column capex_per_module")  # sweep: 1
    sweep = pd.read_parquet(sweep_dir / "sweep.parquet").set_index("dataset.path")
    assert sweep.loc[str(good), "status"] == "optimal"
    assert sweep.loc[str(broken), "status"] == "error"
    assert pd.isna(sweep.loc[str(broken), "value_added"])  # not the earlier attempt's
    flows = pd.read_parquet(sweep_dir / "flows.parquet")
    assert set(flows["dataset.path"]) == {str(good)}
    broken_dir = sweep_dir / sweep.loc[str(broken), "run_dir"]
    meta = record(broken_dir)
    assert meta["status"] == "error" and meta["earlier_outputs"]["status"] == "optimal"
    assert (broken_dir / "results" / "flows.parquet").exists()  # kept whole, marked as earlier


# 2. carbon_cap_pct is never dropped silently.


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [["scenario.compare_as_is=false"], ["scenario=as_is"]])
def test_carbon_cap_pct_without_an_as_is_comparison_still_caps(tmp_path: Path, overrides):
    reference = tmp_path / "reference"
    result = twin_run(f"hydra.run.dir={reference}")
    assert result.returncode == 0, output(result)
    as_is = pd.read_parquet(reference / "as_is" / "results" / "emissions.parquet")
    as_is = as_is.groupby("period")["emissions_t"].sum()

    run_dir = tmp_path / "capped"
    result = twin_run(*overrides, "scenario.carbon_cap_pct=50", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, output(result)
    capped = pd.read_parquet(run_dir / "results" / "emissions.parquet")
    capped = capped.groupby("period")["emissions_t"].sum()
    assert (capped <= 0.5 * as_is.loc[capped.index] * (1 + 1e-6) + 1e-6).all()


# 3. Non-finite numbers are refused by file, row and column.


@pytest.mark.parametrize(
    ("file", "column", "text", "reason"),
    [
        ("supply.csv", "emission_factor", "inf", f"{FINITE}, got 'inf'"),
        ("commodities.csv", "value_per_unit", "Infinity", FINITE),
        ("commodities.csv", "value_per_unit", "1e308", f"{FINITE}, got '1e308'"),
        ("demand.csv", "quantity", "inf", f"{FINITE}, got 'inf'"),
        ("recipes.csv", "coefficient", "-inf", f"{FINITE}, got '-inf'"),
        ("technologies.csv", "capex_per_module", "1e400", f"{FINITE}, got '1e400'"),
        ("links.csv", "distance_km", "1e308", FINITE),
        ("demand.csv", "unmet_penalty", "nan", "expected a number, got 'nan' (not a number)"),
    ],
)
def test_non_finite_numbers_are_refused_by_file_row_and_column(
    toy: Path, edit: CsvEdit, file: str, column: str, text: str, reason: str
):
    edit.set(file, 2, column, text)
    with pytest.raises(DatasetError) as caught:
        load_dataset(toy)
    found = [(p.file, p.row, p.column, p.reason) for p in caught.value.problems]
    assert any(tuple(where) == (file, 2, column) and reason in why for *where, why in found), found


def test_a_run_on_non_finite_data_is_a_clear_error_in_strict_json(
    tmp_path: Path, toy: Path, edit: CsvEdit
):
    edit.set("supply.csv", 2, "emission_factor", "inf")
    run_dir = tmp_path / "run"
    result = twin_run(f"dataset.path={toy}", f"hydra.run.dir={run_dir}")
    assert_clean_failure(result, 2, "supply.csv, row 2, column emission_factor")
    assert record(run_dir)["status"] == "error"


def test_the_audit_refuses_infinite_numbers_in_any_table():
    from twin.results.audit import non_finite

    tables = {"kpis": pd.DataFrame({"kpi": ["value_added"], "value": [-float("inf")]})}
    assert non_finite(tables) == ["kpis.value holds an infinite number"]
    tables["kpis"]["value"] = [1.0]
    assert non_finite(tables) == []


# 4. Scenario and solver numbers are checked before any work.

BAD_CONFIGS = [
    ("scenario.discount_rate=-1", "scenario.discount_rate=-1.0: must be a finite number from 0"),
    ("scenario.discount_rate=inf", "scenario.discount_rate=inf"),
    ("scenario.discount_rate=-0.5", "scenario.discount_rate=-0.5"),
    ("scenario.carbon_cap=nan", "scenario.carbon_cap=nan"),
    ("scenario.carbon_cap=-5", "scenario.carbon_cap=-5.0: must be a finite number >= 0"),
    ("scenario.carbon_price=-1000", "scenario.carbon_price=-1000.0"),
    ("+corridor.tariff.kz_cn_rail=-1e9", "corridor.tariff.kz_cn_rail=-1000000000.0"),
    ("scenario.demand_growth=nan", "scenario.demand_growth=nan"),
    ("scenario.max_import_share=2", "scenario.max_import_share=2.0: must be a finite number"),
    ("+scenario.budget_shares.KAZ=-1", "scenario.budget_shares.KAZ=-1.0"),
    ("+scenario.foo=1", "scenario.foo=1: unknown key"),
    ("+solver.bar=1", "solver.bar=1: unknown key"),
    ("solver.time_limit=-5", "solver.time_limit=-5.0: must be a number > 0"),
    ("solver.mip_gap=5", "solver.mip_gap=5.0: must be a finite number from 0 to 1"),
    ("solver.threads=-1", "solver.threads=-1: must be from 0 (HiGHS decides)"),
    ("solver.threads=1000", "solver.threads=1000: must be from 0 (HiGHS decides)"),
    ("solver.neighbours_from=-1", "solver.neighbours_from=-1: must be 0 (never) or the"),
    ("solver.keep_period_from=-2", "solver.keep_period_from=-2: must be 0 (never) or the"),
    ("+disruption.capacity_cut.x=1.5", "disruption.capacity_cut.x=1.5"),
    ("scenario.families=[carbon]", "scenario.families=['carbon']: may list only"),
    ("scenario.risk.alpha=1", "scenario.risk.alpha=1.0: must be a number from 0 to below 1"),
    ("scenario.risk.weight=1", "scenario.risk.weight=1.0: must be a number from 0 to below 1"),
    ("parallel.backend=mpi", "parallel.backend='mpi': must be one of serial, joblib, ray"),
    ("solver.root_lp=pdlp", "solver.root_lp='pdlp': must be one of simplex, ipm"),
    ("parallel.workers=-2", "parallel.workers=-2: must be a whole number >= 0"),
    ("uncertainty.sample.count=-1", "uncertainty.sample.count=-1: must be a whole number"),
    ("analysis.worth_futures=1", "analysis.worth_futures=1: must be 0 (every future) or"),
]


@pytest.mark.parametrize(("override", "message"), BAD_CONFIGS)
def test_bad_config_values_are_refused_naming_key_value_and_rule(override: str, message: str):
    problems = config_problems(compose_config(["dataset=toy", override]), TwinConfig)
    assert len(problems) == 1 and problems[0].startswith(message), problems


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("scenario.bloc=NOPE", "scenario.bloc='NOPE': no region of the dataset is in this bloc"),
        ("+scenario.budget_shares.XXX=0.5", "scenario.budget_shares.XXX=0.5: not a country of"),
    ],
)
def test_config_values_the_dataset_does_not_know_are_refused(override: str, message: str):
    cfg = compose_config(["dataset=toy", override])
    assert config_problems(cfg, TwinConfig) == []
    with pytest.raises(ConfigError, match=re.escape(message)):
        to_run_inputs(cfg)


def test_no_time_limit_is_a_valid_time_limit():
    assert config_problems(compose_config(["solver.time_limit=inf"]), TwinConfig) == []


SOLVER_SETTINGS = {  # a value other than the default for every solver setting but its name
    "time_limit": 33.0,
    "mip_gap": 0.03,
    "threads": 1,
    "seed": 5,
    "strengthen": ("linking",),
    "method": "benders",
    "rens": False,
    "root_lp": "ipm",
    "neighbours_from": 2,
    "keep_period_from": 0,
    "crossover": False,
}


def test_every_solver_setting_reaches_the_solve():
    assert set(SOLVER_SETTINGS) == {f.name for f in fields(SolverConfig)} - {"name"}
    overrides = [
        f"solver.{key}={list(value) if isinstance(value, tuple) else value}"
        for key, value in SOLVER_SETTINGS.items()
    ]
    _, scenario = to_run_inputs(compose_config(["dataset=toy", *overrides]))
    assert {key: getattr(scenario.solver, key) for key in SOLVER_SETTINGS} == SOLVER_SETTINGS


def test_the_shipped_configs_break_no_rule():
    for group in ("scenario", "solver", "corridor", "analysis", "disruption", "uncertainty"):
        for file in sorted((ROOT / "configs" / group).glob("*.yaml")):
            cfg = compose_config([f"{group}={file.stem}"])
            assert config_problems(cfg, TwinConfig) == [], file


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("solver.crossover=maybe", "Value 'maybe' is not a valid bool"),
        ("solver.threads=two", "Value 'two' of type 'str' could not be converted to Integer"),
        ("scenario=nope", "Could not find 'scenario/nope'"),
    ],
)
def test_an_override_hydra_refuses_exits_2_without_a_traceback(
    tmp_path: Path, override: str, message: str
):
    """Hydra checks types and config names before any run begins, prints why and exits 1;
    twin's own config errors exit 2, and so do these."""
    result = twin_run(override, f"hydra.run.dir={tmp_path}")
    assert_clean_failure(result, 2, message)
    assert not (tmp_path / "run.json").exists()


@pytest.mark.parametrize("override", ["scenario.discount_rate=-1", "+scenario.budget_shares.XXX=1"])
def test_a_bad_config_exits_2_with_an_error_record_and_no_traceback(tmp_path: Path, override):
    result = twin_run(override, f"hydra.run.dir={tmp_path}")
    assert_clean_failure(result, 2, override.lstrip("+").split("=")[0])
    meta = record(tmp_path)
    assert meta["status"] == "error" and override.lstrip("+").split("=")[0] in meta["message"]
    assert not (tmp_path / "results").exists()


# 5. A sweep with a path-valued override finds its runs; a sweep with no finished run fails.


@pytest.mark.slow
def test_a_sweep_with_a_path_valued_override_finds_every_run(tmp_path: Path):
    result = twin_run(
        "-m", "dataset.path=data/toy", "scenario.carbon_price=0,10", f"hydra.sweep.dir={tmp_path}"
    )
    assert result.returncode == 0, output(result)
    sweep = pd.read_parquet(tmp_path / "sweep.parquet")
    assert len(sweep) == 2 and (sweep["status"] == "optimal").all()
    assert all("/" not in run_dir for run_dir in sweep["run_dir"])  # one level, not nested
    assert set(sweep["dataset.path"]) == {"data/toy"}


def test_a_sweep_with_no_finished_run_exits_non_zero(tmp_path: Path):
    result = twin_run("-m", "scenario.discount_rate=-1,-2", f"hydra.sweep.dir={tmp_path}")
    assert_clean_failure(result, 1, "2 of 2 run(s) failed", "the sweep has no finished run")
    assert len(pd.read_parquet(tmp_path / "sweep.parquet")) == 2


# 6. No exception escapes a run; the summary is written from whatever finished.


def test_a_bug_in_a_run_becomes_an_error_record_with_its_traceback_in_app_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def bug(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(app, "run_analysis", bug)
    code = execute(compose_config(["dataset=toy"]), Job(tmp_path, "bug"))
    assert code == 1
    meta = record(tmp_path)
    assert meta["status"] == "error" and "internal error ZeroDivisionError" in meta["message"]
    log = (tmp_path / "app.log").read_text()
    assert "Traceback" in log and "ZeroDivisionError: a bug" in log


def test_a_future_whose_tables_break_an_identity_fails_its_run_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The run's audit, before anything is written, is the one check of each future's
    tables against its own cost (`twin.stochastic` no longer audits them twice)."""
    extract = stochastic.extract_results
    calls = []

    def one_future_misreported(built, solved, run_id):
        results = extract(built, solved, run_id)
        calls.append(run_id)
        if len(calls) == 2:  # the second future: a row served more than it was
            balance = results.tables["balance"]
            row = balance.index[balance["demand"] > 0][0]
            balance.loc[row, "served"] += 1.0
        return results

    monkeypatch.setattr(stochastic, "extract_results", one_future_misreported)
    overrides = ["dataset=toy", "analysis=stochastic", "uncertainty=markets"]
    config = compose_config([*overrides, "analysis.worth=false", "parallel.backend=serial"])
    code = execute(config, Job(tmp_path, "audited"))
    assert code == 1 and len(calls) == 6  # the six futures of `markets`
    message = record(tmp_path)["message"]
    assert "results fail the audit: future " in message and "served + unmet != demand" in message
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_a_joblib_sweep_with_a_failing_run_writes_its_summary_and_reruns(tmp_path: Path):
    args = (
        "-m",
        "scenario.discount_rate=-1,0.05,0.08",
        "hydra/launcher=joblib",
        f"hydra.sweep.dir={tmp_path}",
    )
    first = twin_run(*args)
    assert_clean_failure(first, 1, "1 of 3 run(s) failed")
    sweep = pd.read_parquet(tmp_path / "sweep.parquet")
    assert sorted(sweep["status"]) == ["error", "optimal", "optimal"]
    assert pd.read_parquet(tmp_path / "kpis.parquet")["run_id"].nunique() == 2
    second = twin_run(*args)
    assert_clean_failure(second, 1, "1 of 3 run(s) failed")
    assert second.stdout.count("skipped") == 2


# 7. A failed attempt leaves the earlier outputs whole and says so.


def test_a_failed_write_leaves_the_earlier_outputs_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    assert execute(compose_config(["dataset=toy"]), Job(tmp_path, "first")) == 0
    before = snapshot(tmp_path)
    assert any(name.startswith("as_is/") for name in before)

    real, calls = writer._parquet, []

    def unwritable(path, frame, metadata):
        calls.append(path)
        if len(calls) == 5:
            raise PermissionError(13, "Permission denied", str(path))
        real(path, frame, metadata)

    monkeypatch.setattr(writer, "_parquet", unwritable)
    other = compose_config(["dataset=toy", "scenario.carbon_price=50"])
    assert execute(other, Job(tmp_path, "second")) == 1
    assert snapshot(tmp_path) == before  # results/ and as_is/ whole
    assert debris(tmp_path) == []
    meta = record(tmp_path)
    assert meta["status"] == "error" and "Permission denied" in meta["message"]
    assert meta["earlier_outputs"]["run_id"] == "first"

    monkeypatch.setattr(writer, "_parquet", real)  # resume must not skip: the last attempt failed
    assert execute(compose_config(["dataset=toy"]), Job(tmp_path, "third")) == 0
    assert record(tmp_path)["status"] == "optimal" and "earlier_outputs" not in record(tmp_path)


def _two_outputs(run_dir: Path, text: str) -> None:
    for name in ("results", "as_is"):
        (run_dir / name).mkdir()
        (run_dir / name / f"{text}.txt").write_text(text)


def _staged(run_dir: Path) -> StagedOutputs:
    staged = StagedOutputs(run_dir)
    _two_outputs(staged.root, "new")
    return staged


def _contents(run_dir: Path) -> dict[str, list[str]]:
    return {
        p.name: sorted(q.name for q in p.iterdir()) for p in run_dir.iterdir() if p.is_dir()
    } | {"run.json": [record(run_dir).get("run_id")]}


@pytest.fixture
def earlier_run(tmp_path: Path) -> Path:
    """A run directory holding an earlier attempt's outputs and its run.json."""
    _two_outputs(tmp_path, "old")
    writer.write_json(tmp_path / "run.json", {"run_id": "old"})
    return tmp_path


def test_a_swap_that_fails_half_way_puts_every_earlier_output_back(
    earlier_run: Path, monkeypatch: pytest.MonkeyPatch
):
    staged, real = _staged(earlier_run), Path.rename

    def failing(self: Path, target):
        if self.name == "results" and self.parent == staged.root:  # the second one moved in
            raise OSError("disk gone")
        return real(self, target)

    monkeypatch.setattr(Path, "rename", failing)
    with pytest.raises(OSError, match="disk gone"):
        staged.commit(["results", "as_is", "pareto"], {"run_id": "new"})
    expected = {"results": ["old.txt"], "as_is": ["old.txt"], "run.json": ["old"]}
    assert _contents(earlier_run) == expected
    assert sorted(p.name for p in earlier_run.iterdir()) == ["as_is", "results", "run.json"]


@pytest.mark.parametrize("killed", ["before the commit", "after the commit"])
def test_a_swap_killed_part_way_is_undone_or_finished_by_the_next_lock(
    earlier_run: Path, monkeypatch: pytest.MonkeyPatch, killed: str
):
    """A kill leaves a manifest and outputs set aside; the next run's lock repairs them:
    the earlier outputs back whole if run.json was not yet replaced, else the new ones."""
    staged, real_rename, real_write = _staged(earlier_run), Path.rename, writer.write_json

    def kill_on_placing_as_is(self: Path, target):
        if self.parent == staged.root and self.name == "results":
            raise KeyboardInterrupt  # a kill: nothing of the process's own clean-up runs
        return real_rename(self, target)

    def kill_after_the_commit(path: Path, data: dict):
        real_write(path, data)
        if path.name == "run.json":
            raise KeyboardInterrupt

    if killed == "before the commit":
        monkeypatch.setattr(Path, "rename", kill_on_placing_as_is)
    else:
        monkeypatch.setattr("twin.rundir.write_json", kill_after_the_commit)
    with pytest.raises(KeyboardInterrupt):
        staged.commit(["results", "as_is"], {"run_id": "new"})
    monkeypatch.undo()
    assert any(p.name.startswith(".swap-") for p in earlier_run.iterdir())  # left as killed
    with locked(earlier_run):
        pass
    text, run_id = ("old", "old") if killed == "before the commit" else ("new", "new")
    expected = {"results": [f"{text}.txt"], "as_is": [f"{text}.txt"], "run.json": [run_id]}
    assert _contents(earlier_run) == expected
    assert [p.name for p in earlier_run.iterdir() if p.name.startswith(".")] == [".twin.lock"]


def test_the_lock_clears_only_what_twin_writes_at_the_top_of_the_run_directory(tmp_path: Path):
    mine = [tmp_path / ".staging-123", tmp_path / ".run.json.tmp-9"]
    theirs = [tmp_path / "notes" / ".draft.tmp-2024", tmp_path / "other" / ".staging-5"]
    for path in [*mine, *theirs]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir() if "staging" in path.name else path.write_text("x")
    with locked(tmp_path):
        pass
    assert not any(path.exists() for path in mine)
    assert all(path.exists() for path in theirs)


def test_a_run_that_fails_after_its_commit_stays_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def broken(*args):
        raise RuntimeError("terminal gone")

    monkeypatch.setattr(app, "_summary", broken)
    assert execute(compose_config(["dataset=toy"]), Job(tmp_path, "x")) == 0
    meta = record(tmp_path)
    assert meta["status"] == "optimal" and "earlier_outputs" not in meta


def test_a_config_that_cannot_be_resolved_is_an_error_record_not_a_traceback(tmp_path: Path):
    result = twin_run("scenario.name=${oc.env:TWIN_NO_SUCH_VARIABLE}", f"hydra.run.dir={tmp_path}")
    assert_clean_failure(result, 2, "the config cannot be resolved")
    assert record(tmp_path)["status"] == "error"


def test_a_what_if_refuses_the_plan_of_a_failed_run(tmp_path: Path):
    plan_dir = tmp_path / "plan"
    (plan_dir / "results").mkdir(parents=True)
    pd.DataFrame({"run_id": ["x"]}).to_parquet(plan_dir / "results" / "investments.parquet")
    writer.write_json(plan_dir / "run.json", {"status": "error"})
    cfg = compose_config(["dataset=toy", "analysis=n1", f"analysis.plan_dir={plan_dir}"])
    assert execute(cfg, Job(tmp_path / "run", "n1")) == 2
    assert "no finished plan" in record(tmp_path / "run")["message"]


# 8. Workers die with a killed sweep; the re-run completes it, every run's rows once.


@pytest.mark.slow
def test_a_sigkilled_joblib_sweep_leaves_no_worker_and_its_rerun_completes(tmp_path: Path):
    prices = ",".join(str(p) for p in range(0, 120, 10))  # 12 runs
    command = [
        sys.executable,
        "-m",
        "twin",
        "run",
        "-m",
        "dataset=toy",
        f"scenario.carbon_price={prices}",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        f"hydra.sweep.dir={tmp_path}",
    ]
    launcher = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _finished_runs(tmp_path):
        time.sleep(0.2)
    assert _finished_runs(tmp_path), "no run finished in 120 s"
    workers = _children(launcher.pid)
    assert workers, "the joblib workers were not found"
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers), "a worker outlived its launcher"
    assert len(_finished_runs(tmp_path)) < 12  # killed part-way

    rerun = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    assert rerun.returncode == 0, output(rerun)
    sweep = pd.read_parquet(tmp_path / "sweep.parquet")
    assert len(sweep) == 12 and (sweep["status"] == "optimal").all()
    kpis = pd.read_parquet(tmp_path / "kpis.parquet")
    per_run = kpis.groupby("run_id").size()
    assert len(per_run) == 12 and per_run.nunique() == 1  # every run's rows, exactly once
    assert debris(tmp_path) == []


def _finished_runs(sweep_dir: Path) -> list[Path]:
    finished = []
    for file in sweep_dir.glob("*/run.json"):
        try:
            if json.loads(file.read_text()).get("status") == "optimal":
                finished.append(file)
        except ValueError:
            continue
    return finished


def _children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:  # the parent's pid follows the state
            children.append(int(stat.parent.name))
    return children


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(") ")[1][0] not in "ZX"  # a zombie has exited
    except (OSError, IndexError):
        return False


def _watched(launcher: str) -> subprocess.CompletedProcess:
    """A process that watches `launcher` (host:pid) and would run for 3 s."""
    script = "from twin import lifeline; import time; lifeline.watch_launcher(0.05); time.sleep(3)"
    env = {**os.environ, "TWIN_LAUNCHER": launcher}
    return subprocess.run([sys.executable, "-c", script], env=env, check=False, timeout=60)


def test_a_worker_exits_when_its_launcher_on_this_host_is_gone():
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid names no process now
    started = time.monotonic()
    assert _watched(f"{socket.gethostname()}:{dead.pid}").returncode == 70
    assert time.monotonic() - started < 3


def test_a_run_on_another_host_is_not_watched():
    assert _watched(f"another-host:{os.getpid() + 999_999}").returncode == 0


# 9. Two runs into one directory: the second refuses.


def test_a_second_run_into_a_directory_in_use_refuses(tmp_path: Path):
    with locked(tmp_path):
        result = twin_run(f"hydra.run.dir={tmp_path}")
    assert_clean_failure(result, 2, "is in use by another run", f"process {os.getpid()}")
    assert not (tmp_path / "run.json").exists() and not (tmp_path / "highs.log").exists()


# 10-12. Only regular files are read, and no more than a bound.


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda path: path.symlink_to("/dev/zero"), "not a regular file but a device"),
        (lambda path: os.mkfifo(path), "not a regular file but a FIFO"),
        (lambda path: path.mkdir(), "not a regular file but a directory"),
    ],
)
def test_a_table_that_is_no_regular_file_is_refused_at_once(toy: Path, make, reason: str):
    (toy / "regions.csv").unlink()
    make(toy / "regions.csv")
    result = twin_cli("validate", str(toy), timeout=60)  # a FIFO must not hang, /dev/zero not fill
    assert_clean_failure(result, 2, f"regions.csv: {reason}")


def test_a_directory_in_place_of_a_table_fails_a_run_cleanly(tmp_path: Path, toy: Path):
    (toy / "links.csv").unlink()
    (toy / "links.csv").mkdir()
    result = twin_run(f"dataset.path={toy}", f"hydra.run.dir={tmp_path}")
    assert_clean_failure(result, 2, "links.csv: not a regular file but a directory")


def test_a_file_larger_than_the_bound_is_refused_unread(toy: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(data_files, "MAX_FILE_BYTES", 100)
    with pytest.raises(DatasetError) as caught:
        load_dataset(toy)
    assert any("larger than" in p.reason for p in caught.value.problems)


# 11. A file of many bad rows: a bounded list, found in linear time.


def test_a_file_of_many_bad_rows_lists_the_first_fifty_and_counts_the_rest(toy: Path):
    lines = [(toy / "regions.csv").read_text().rstrip("\n")]
    lines += [f"r{i},Region {i},kz,abc,200,EAEU" for i in range(20_000)]
    (toy / "regions.csv").write_text("\n".join(lines) + "\n")
    result = twin_cli("validate", str(toy))
    assert_clean_failure(result, 2, "60,000 problem(s)", "regions.csv: and 59,950 more problem(s)")
    listed = [line for line in result.stdout.splitlines() if line.startswith("  - regions.csv,")]
    assert len(listed) == 50
    assert listed[0].startswith("  - regions.csv, row 5,")  # the first rows, in order


def test_many_warnings_are_counted_not_all_printed(toy: Path):
    lines = [(toy / "regions.csv").read_text().rstrip("\n")]
    lines += [f"r{i},Region {i},KAZ,45.5,70.1,EAEU" for i in range(2_000)]  # isolated regions
    (toy / "regions.csv").write_text("\n".join(lines) + "\n")
    result = twin_cli("validate", str(toy))
    assert result.returncode == 0, output(result)
    assert result.stdout.count("is isolated") == 50
    assert "... and 1,950 more" in result.stdout


# 13. Duplicated headers are refused; unknown columns and files are warned of.


def test_a_duplicated_column_header_is_refused(toy: Path):
    path = toy / "periods.csv"
    text = path.read_text().splitlines()
    path.write_text("\n".join([text[0] + ",years", *(row + ",9" for row in text[1:])]) + "\n")
    with pytest.raises(DatasetError) as caught:
        load_dataset(toy)
    problem = caught.value.problems[0]
    assert (problem.file, problem.row, problem.column) == ("periods.csv", 1, "years")
    assert "duplicate column header" in problem.reason


def test_unknown_columns_and_files_are_warned_of_in_validate_and_run(tmp_path: Path, toy: Path):
    edit = CsvEdit(toy)
    rows = edit.rows("links.csv")
    edit.write("links.csv", [[*rows[0], "capcity"], *([*row, "1"] for row in rows[1:])])
    shutil.copy(toy / "demand.csv", toy / "demands.csv")
    result = twin_cli("validate", str(toy))
    assert result.returncode == 0, output(result)
    assert "links.csv, row 1, column capcity: unknown column, ignored" in result.stdout
    assert "demands.csv: unknown file, ignored" in result.stdout
    run = twin_run(f"dataset.path={toy}", f"hydra.run.dir={tmp_path}")
    assert run.returncode == 0, output(run)
    assert any("capcity" in warning for warning in record(tmp_path)["warnings"])


# 14. A missing browser never fails `make test`.


def test_make_test_goes_on_without_a_browser():
    result = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "browser", "BROWSERS=no-such-browser", "APT_GET=false"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, output(result)
    assert "the report's browser test will skip" in result.stdout
