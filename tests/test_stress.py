"""Stress tests (analysis=stress): each in-place change equals a model built anew for the
future; a future equal to the plan's own scenario reproduces its operations; the risk
figures follow their textbook definitions; the app writes what results.md promises."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twin.data import load_dataset
from twin.parallel import ParallelOptions
from twin.plan import optimise
from twin.scenario import Scenario, SolverOptions
from twin.stress import (
    RESULT_COLUMNS,
    PlanOperations,
    cvar,
    operations_scenario,
    stress,
    summary,
    tail_drivers,
)
from twin.uncertainty import Closure, Future, Scope, closed_link_periods, future_inputs
from twin.whatif import fix_investments, horizon_total

from .conftest import DATA, assert_ran, twin_run
from .drifting import Drifting

EXACT = SolverOptions(mip_gap=1e-9)
SERIAL = ParallelOptions(backend="serial")


def rebuilt(ds, scenario: Scenario, investments: pd.DataFrame, future: Future):
    """The reference: the future's data, a model built anew, the plan's investments fixed."""
    ds, scenario = future_inputs(ds, operations_scenario(scenario), future)
    closed = closed_link_periods(ds, future)

    def adjust(built):
        fix_investments(built, investments)
        for (link, _, period), flow in built.model.flow.items():
            if any(link == c and p in (None, period) for c, p in closed):
                flow.fix(0.0)

    run = optimise(ds, scenario, "rebuilt", adjust=adjust)
    assert run.results is not None, run.solved.message
    return run


def futures_of(ds) -> list[Future]:
    """One future per kind of change, one with all at once, and the plan's own again."""
    crossing = sorted(ds.border_crossings["crossing_id"])[0]
    corridor = sorted(ds.corridors["corridor_id"])[-1]
    link = sorted(ds.links["link_id"])[0]
    site = sorted(ds.sites["site_id"])[0]
    last = int(ds.periods["period"].max())
    return [
        Future("demand", 1, demand=(Scope(1.3, chain="agrotech"), Scope(0.8, period=last))),
        Future("price", 1, price=(Scope(2.0, commodity="electricity"), Scope(1.5))),
        Future("closure", 1, closures=(Closure("crossing", crossing, last),)),
        Future("corridor", 1, closures=(Closure("corridor", corridor),)),
        Future("cut", 1, cuts=((crossing, 0.5), (link, 0.7), (site, 0.4))),
        Future("cut_whole", 1, cuts=((link, 1.0),)),
        Future("carbon", 1, carbon_price=150.0),
        Future(
            "all",
            1,
            demand=(Scope(1.2),),
            price=(Scope(1.4, chain="hydrogen"),),
            closures=(Closure("link", link),),
            cuts=((corridor, 0.3),),
            carbon_price=80.0,
        ),
        Future("own", 1),
    ]


CASES = {
    "toy": Scenario(solver=EXACT),
    "reference": Scenario(solver=replace(EXACT, mip_gap=0.01)),
    "reference_sovereign": Scenario(
        solver=replace(EXACT, mip_gap=0.01), max_import_share=0.3, carbon_price=20.0
    ),
    # a scenario that already cuts capacity: a future's cut comes on top of it
    "toy_scenario_cuts": Scenario(
        solver=EXACT, availability={"hub_city_rail": 0.8, "mill_hub": 0.9}
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_in_place_change_equals_a_model_built_for_the_future(case: str):
    ds = load_dataset(DATA / ("toy" if case.startswith("toy") else "eaeu_china"))
    scenario = CASES[case]
    investments = optimise(ds, scenario, "plan").results.tables["investments"]
    operations = PlanOperations(ds, scenario, investments)
    for future in futures_of(ds):  # in this order: each starts from the previous one's changes
        row = operations.evaluate(future)
        reference = rebuilt(ds, scenario, investments, future)
        assert row["status"] == "optimal", future.name
        assert row["cost"] == pytest.approx(reference.results.cost, rel=1e-7), future.name
        totals = {
            "emissions_t": reference.results.emissions_t,
            "value_added": horizon_total(reference, "value_added"),
            "unmet_value": horizon_total(reference, "unmet_demand"),
        }
        for name, value in totals.items():
            assert row[name] == pytest.approx(value, rel=1e-6, abs=1e-3), (future.name, name)


def test_a_future_equal_to_the_plans_own_scenario_reproduces_its_operations():
    ds = load_dataset(DATA / "eaeu_china")
    scenario = Scenario(solver=replace(EXACT, mip_gap=0.01))
    plan = optimise(ds, scenario, "plan")
    frame = stress(ds, scenario, plan.results.tables["investments"], [Future("own", 1)], SERIAL)
    row = frame.iloc[0]
    assert row["status"] == "optimal"
    # the plan's own operations are optimal for its investments: no cheaper, and the MILP's
    # are within its gap of them
    assert row["cost"] <= plan.results.cost * (1 + 1e-9)
    assert row["cost"] >= plan.solved.bound * (1 - 1e-9)
    assert row["emissions_t"] == pytest.approx(plan.results.emissions_t, rel=1e-3)


def test_joblib_and_ray_chunks_give_the_serial_rows(tmp_path: Path):
    ds = load_dataset(DATA / "toy")
    investments = optimise(ds, Scenario(solver=EXACT), "plan").results.tables["investments"]
    futures = [Future(f"d{i}", 0.2, demand=(Scope(0.8 + 0.1 * i),)) for i in range(5)]
    serial = stress(ds, Scenario(solver=EXACT), investments, futures, SERIAL)
    backends = [ParallelOptions(backend="joblib", workers=2)]
    if _has_ray():  # installed by `make test` (the ray extra); else joblib alone
        backends.append(ParallelOptions(backend="ray", workers=2))
    for options in backends:
        other = stress(ds, Scenario(solver=EXACT), investments, futures, options)
        columns = ["future", "status", "cost", "unmet_value", "emissions_t", "value_added"]
        pd.testing.assert_frame_equal(other[columns], serial[columns], rtol=1e-9)
    assert serial["cost"].is_monotonic_increasing  # more demand costs more to serve


def _has_ray() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def test_many_re_solves_of_one_model_each_get_the_whole_time_limit():
    """HiGHS counts its time limit over all solves of one instance: each future must be
    given its own, or futures after the first few seconds would stop at the limit."""
    ds = load_dataset(DATA / "toy")
    scenario = Scenario(solver=replace(EXACT, time_limit=0.05))
    investments = optimise(ds, scenario, "plan").results.tables["investments"]
    futures = [Future(f"f{i}", 1 / 300, demand=(Scope(0.5 + i / 300),)) for i in range(300)]
    frame = stress(ds, scenario, investments, futures, SERIAL)
    assert frame["resolve_s"].sum() > 0.05  # more than one time limit in all
    assert (frame["status"] == "optimal").all()


def test_cvar_follows_its_definition():
    costs = np.array([10.0, 40.0, 20.0, 30.0])
    p = np.full(4, 0.25)
    assert cvar(costs, p, 0.75) == pytest.approx(40.0)  # the worst quarter
    assert cvar(costs, p, 0.5) == pytest.approx(35.0)
    assert cvar(costs, p, 0.9) == pytest.approx(40.0)  # inside the worst future
    assert cvar(costs, p, 0.0) == pytest.approx(costs.mean())
    # with a future split across the boundary: worst 0.3 = 0.25 x 40 + 0.05 x 30
    assert cvar(costs, p, 0.7) == pytest.approx((0.25 * 40 + 0.05 * 30) / 0.3)
    # the minimum of eta + E[(c - eta)+] / (1 - alpha) over eta (Rockafellar and Uryasev)
    grid = np.linspace(0, 50, 5001)
    brute = min(eta + p @ np.maximum(costs - eta, 0) / 0.3 for eta in grid)
    assert cvar(costs, p, 0.7) == pytest.approx(brute, rel=1e-6)


def test_summary_is_null_when_a_future_has_no_operations():
    frame = pd.DataFrame(
        {
            "future": ["a", "b"],
            "probability": [0.5, 0.5],
            "status": ["optimal", "infeasible"],
            "cost": [1.0, None],
            "unmet_value": [0.0, None],
        }
    )
    record = summary(frame, planned_unmet=0.0)
    assert record["expected_cost"] is None and record["worst_future"] is None
    assert record["p_without_operations"] == 0.5
    solved = summary(frame.assign(status="optimal", cost=[1.0, 3.0], unmet_value=[0, 5.0]), 0.0)
    assert solved["expected_cost"] == 2.0 and solved["worst_future"] == "b"
    assert solved["p_unmet"] == 0.5


def test_tail_drivers_weigh_futures_by_their_probability():
    frame = pd.DataFrame(
        {
            "status": "optimal",
            "probability": [0.9, 0.05, 0.05],
            "cost": [1.0, 2.0, 3.0],
            "closed[x]": [0.0, 1.0, 1.0],
        }
    )
    row = tail_drivers(frame, ["closed[x]"]).iloc[0]
    assert row["mean"] == pytest.approx(0.1)
    assert row["tail_mean"] == pytest.approx(1.0)  # the worst 10 %: the two closed futures


def test_tail_drivers_name_the_driver_that_sets_the_worst_futures_apart():
    rng = np.random.default_rng(0)
    demand, noise = rng.normal(1, 0.1, 400), rng.normal(1, 0.1, 400)
    frame = pd.DataFrame(
        {
            "status": "optimal",
            "probability": 1 / 400,
            "cost": 100 * demand + rng.normal(0, 1, 400),
            "demand[all]": demand,
            "price[gas]": noise,
        }
    )
    drivers = tail_drivers(frame, ["price[gas]", "demand[all]"])
    assert drivers.iloc[0]["driver"] == "demand[all]"
    assert drivers.iloc[0]["shift_sd"] > 1.0


def test_stress_run_on_the_toy_writes_its_table_and_distribution(tmp_path: Path):
    result = twin_run(
        "analysis=stress",
        "uncertainty=markets",
        "parallel.backend=serial",
        "solver.mip_gap=1e-6",
        f"hydra.run.dir={tmp_path}",
    )
    assert_ran(result)
    table = pd.read_parquet(tmp_path / "results" / "stress.parquet")
    assert len(table) == 6 and (table["status"] == "optimal").all()
    assert table["probability"].sum() == pytest.approx(1.0)
    contract = ["run_id", "future", "probability", "status", "cost", "unmet_value"]
    contract += ["emissions_t", "value_added"]  # results.md, then the drivers, then extras
    assert list(table.columns[: len(contract)]) == contract
    drivers = list(table.columns[len(contract) : -2])
    assert "demand[agrotech]" in drivers and "price[electricity]" in drivers
    assert list(table.columns[-2:]) == ["message", "resolve_s"]
    meta = json.loads((tmp_path / "run.json").read_text())
    record = meta["stress"]
    assert record["expected_cost"] == pytest.approx(table["probability"] @ table["cost"])
    assert record["cvar_95"] >= record["cvar_90"] >= record["expected_cost"]
    # markets names natural gas, which the toy does not have: a warning, not an error
    assert any("natural_gas" in warning for warning in meta["warnings"])
    assert "stress test" in result.stdout


def test_futures_whose_probabilities_do_not_sum_to_one_are_refused(tmp_path: Path):
    result = twin_run(
        "analysis=stress",
        "uncertainty=markets",
        "uncertainty.futures.0.probability=0.5",
        f"hydra.run.dir={tmp_path}",
    )
    assert result.returncode == 2
    assert "probabilities sum to 1.1" in result.stdout
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "error"


def test_a_warm_re_solve_that_misses_its_rows_is_solved_again_from_scratch():
    """Its KPIs come from its column values: from a solution that misses its rows (as HiGHS
    1.16's warm re-solves now and then do) they would be off unseen. One that keeps the
    future's rows is kept: a solve from scratch for every future would waste the basis."""
    ds = load_dataset(DATA / "toy")
    investments = optimise(ds, Scenario(solver=EXACT), "plan").results.tables["investments"]
    reference = PlanOperations(ds, Scenario(solver=EXACT), investments)
    operations = PlanOperations(ds, Scenario(solver=EXACT), investments)
    for future in (Future("more", 0.5, demand=(Scope(1.2),)), Future("less", 0.5)):
        expected = reference.evaluate(future)
        for shift in (0.0, 1e-5):  # each re-solves warm after the changes before it
            operations.solver = drifting = Drifting(operations.solver, shift)
            row = operations.evaluate(future)
            operations.solver = drifting.highs
            assert drifting.cold == (shift > 0), (future.name, shift)
            for name in ("cost", *RESULT_COLUMNS):
                assert row[name] == pytest.approx(expected[name], rel=1e-9), (future.name, name)
