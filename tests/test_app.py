"""`twin run` as planners use it: runs, sweeps, failures and resumes, on the toy dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from twin.results import TABLES
from twin.results.audit import audit
from twin.sweep import flag_gaps, job_overrides

from .conftest import assert_ran, twin_run


def read_results(directory: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(directory / f"{name}.parquet") for name in TABLES}


def test_a_sweep_over_scenarios_includes_the_as_is_plan_run_on_its_own(tmp_path: Path):
    """scenario=as_is alone has no reference plan: its KPIs are its own, in the terminal
    table and in the sweep table next to the to-be run's."""
    result = twin_run("-m", "scenario=to_be,as_is", f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("headline KPIs") == 2
    sweep = pd.read_parquet(tmp_path / "sweep.parquet").set_index("scenario")
    assert sweep.loc["as_is", "jobs"] > 0 and sweep.loc["to_be", "jobs"] > 0
    assert pd.isna(sweep.loc["as_is", "jobs_created"])  # compared with nothing
    assert sweep.loc["to_be", "jobs_created"] >= 0


def test_default_run_writes_every_table_and_run_json(tmp_path: Path):
    result = twin_run(f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stdout + result.stderr
    meta = json.loads((tmp_path / "run.json").read_text())
    assert meta["status"] == "optimal"
    for key in (
        "run_id",
        "started_at",
        "finished_at",
        "message",
        "objective",
        "bound",
        "gap",
        "config",
        "dataset",
        "data_hash",
        "versions",
        "timings",
        "model_size",
        "solver",
    ):
        assert key in meta, key
    timings = meta["timings"]
    assert set(timings) >= {"load", "build", "handoff", "solve", "extract", "write", "analysis"}
    assert timings["analysis"] >= timings["solve"]  # the wall clock holds HiGHS's seconds
    for plan_dir in (tmp_path / "results", tmp_path / "as_is" / "results"):
        tables = read_results(plan_dir)
        assert audit(tables, float(tables["objective"]["value"].sum())) == []
    tables = read_results(tmp_path / "results")
    assert tables["objective"]["value"].sum() == pytest.approx(meta["objective"], rel=1e-9)
    assert str(tables["flows"]["period"].dtype) == "int64"
    assert str(tables["flows"]["flow"].dtype) == "float64"
    import pyarrow.parquet as pq

    schema_metadata = pq.read_schema(tmp_path / "results" / "flows.parquet").metadata
    assert schema_metadata[b"twin.config_hash"].decode() == meta["config_hash"]
    kpis = tables["kpis"]
    assert {"value_added_change_pct", "emissions_change_pct", "jobs_created"} <= set(kpis["kpi"])
    assert "headline KPIs" in result.stdout


@pytest.mark.slow
def test_joblib_sweep_over_carbon_price_and_corridor(tmp_path: Path):
    result = twin_run(
        "-m",
        "scenario.carbon_price=0,500",
        "corridor.open=[all],[kz_cn_rail]",
        "hydra/launcher=joblib",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sweep = pd.read_parquet(tmp_path / "sweep.parquet")
    assert len(sweep) == 4
    assert (sweep["status"] == "optimal").all()
    assert (sweep["objective"] >= sweep["bound"] - 1e-6).all() and (sweep["gap"] >= 0).all()
    flows = pd.read_parquet(tmp_path / "flows.parquet")
    assert flows["run_id"].nunique() == 4
    assert {"scenario.carbon_price", "corridor.open"} <= set(flows.columns)
    for _, group in sweep.groupby("corridor.open"):
        ordered = group.sort_values("scenario.carbon_price", key=lambda s: s.astype(float))
        assert ordered["cost"].is_monotonic_increasing
        assert ordered["emissions_t"].is_monotonic_decreasing


@pytest.mark.slow
def test_ray_sweep_on_a_local_ray(tmp_path: Path):
    pytest.importorskip(
        "hydra_plugins.hydra_ray_launcher",
        reason="Ray launcher not installed (pip install twin[ray])",
    )
    result = twin_run(
        "-m",
        "scenario.carbon_price=0,500",
        "hydra/launcher=ray",
        "+hydra.launcher.ray.init.num_cpus=2",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert_ran(result)
    sweep = pd.read_parquet(tmp_path / "sweep.parquet")
    assert sorted(sweep["scenario.carbon_price"].astype(float)) == [0.0, 500.0]
    assert (sweep["status"] == "optimal").all()


def test_bad_override_fails_before_any_work(tmp_path: Path):
    result = twin_run("scenario.carbon_price=lots", f"hydra.run.dir={tmp_path}")
    assert result.returncode != 0
    assert "carbon_price" in result.stderr
    assert not (tmp_path / "run.json").exists()


def test_unknown_config_key_is_rejected(tmp_path: Path):
    result = twin_run("scenario.carbon_prize=5", f"hydra.run.dir={tmp_path}")
    assert result.returncode != 0
    assert "carbon_prize" in result.stderr


def test_bad_corridor_is_a_clear_error_naming_the_key(tmp_path: Path):
    result = twin_run("corridor=kz_cn_dostyk", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert "corridor.open names corridors not in the dataset: ['kz_cn_dostyk']" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    meta = json.loads((tmp_path / "run.json").read_text())
    assert meta["status"] == "error" and "corridor.open" in meta["message"]


def test_negative_carbon_cap_is_rejected(tmp_path: Path):
    result = twin_run("scenario.carbon_cap=-5", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert "scenario.carbon_cap=-5.0: must be a finite number >= 0" in result.stdout


def test_failed_write_leaves_no_partial_parquet(tmp_path: Path, monkeypatch):
    from twin.results import writer

    calls = []
    real = writer._parquet

    def failing(path, frame, metadata):
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        real(path, frame, metadata)

    frames = {name: pd.DataFrame({"run_id": ["x"], "value": [1.0]}) for name in TABLES}
    writer.write_tables(tmp_path / "results", frames, {"run_id": "good"})
    monkeypatch.setattr(writer, "_parquet", failing)
    with pytest.raises(OSError):
        writer.write_tables(tmp_path / "results", frames, {"run_id": "bad"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # no staging left
    kept = pd.read_parquet(tmp_path / "results" / "flows.parquet")
    assert kept["run_id"].tolist() == ["x"]
    assert len(list((tmp_path / "results").iterdir())) == len(TABLES)


@pytest.mark.slow
def test_rerun_of_a_sweep_skips_finished_runs_and_failures_do_not_stop_it(tmp_path: Path):
    args = ("-m", "scenario.carbon_cap=-1,100000000", f"hydra.sweep.dir={tmp_path}")
    first = twin_run(*args)
    assert first.returncode != 0  # one run failed, the sweep went on and says so
    sweep = pd.read_parquet(tmp_path / "sweep.parquet")
    assert sorted(sweep["status"]) == ["error", "optimal"]
    second = twin_run(*args)
    assert "skipped" in second.stdout
    assert second.stdout.count("skipped") == 1  # the failed run is tried again


def test_job_overrides_leave_out_bookkeeping(tmp_path: Path):
    """`report=true` and `resume=false` say how to run, not what: no sweep parameter."""
    (tmp_path / ".hydra").mkdir()
    items = ["scenario.carbon_price=0", "report=true", "resume=false", "hydra.run.dir=x"]
    (tmp_path / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(items))
    assert job_overrides(tmp_path) == {"scenario.carbon_price": "0"}


def test_the_summary_shows_money_in_the_dataset_currency(tmp_path: Path, toy: Path):
    meta = toy / "dataset.yaml"
    meta.write_text(meta.read_text().replace("currency: USD", "currency: EUR"))
    result = twin_run(f"dataset.path={toy}", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "value added (EUR/yr)" in result.stdout
    assert "total cost, discounted (EUR)" in result.stdout and "USD" not in result.stdout


def test_runs_the_solver_does_not_order_along_one_swept_key_are_flagged():
    """Along carbon_price (corridor all): 100 (bound 90) and 95 (bound 94.9) overlap, so
    neither is proven the cheaper: both flagged; 200 is far from both. A run of another
    corridor and another price differs in two keys: not compared. A failed run never is."""
    sweep = pd.DataFrame(
        {
            "run_id": ["a", "b", "c", "d", "e"],
            "scenario.carbon_price": ["0", "50", "100", "0", "50"],
            "corridor": ["all", "all", "all", "kz_cn", "kz_cn"],
            "status": ["optimal", "optimal", "time_limit", "optimal", "error"],
            "objective": [100.0, 95.0, 200.0, 94.95, None],
            "bound": [90.0, 94.9, 199.0, 94.94, None],
        }
    )
    flagged = flag_gaps(sweep)["gap_exceeds_difference"].tolist()
    assert flagged == [True, True, False, True, False]  # d overlaps a (same price, other corridor)
    other_analyses = sweep.iloc[:2].assign(
        analysis=["plan", "stochastic"], **{"scenario.carbon_price": "0"}
    )
    assert not flag_gaps(other_analyses)["gap_exceeds_difference"].any()
