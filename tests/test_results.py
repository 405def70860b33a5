"""Results tables follow docs/results.md: columns, dtypes, identities, KPIs."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pyomo.environ as pyo
import pytest

from twin.data import load_dataset
from twin.plan import optimise, plan_against_as_is
from twin.results import TABLES
from twin.results.audit import audit
from twin.results.schema import ANALYSIS_TABLES
from twin.scenario import Scenario, SolverOptions

from .conftest import DATA, ROOT


@pytest.fixture(scope="module")
def toy_plan():
    return plan_against_as_is(load_dataset(DATA / "toy"), Scenario(), "toy-run")


def test_contract_columns_are_documented_in_order():
    """Every table's columns appear, in order, in docs/results.md (the output contract)."""
    text = (ROOT / "docs" / "results.md").read_text()
    for name, columns in TABLES.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| {name}.parquet"))
        cell = re.sub(r"\([^)]*\)", "", row.split("|")[3])
        assert [c.strip() for c in cell.split(",")] == list(columns), name


def test_analysis_columns_are_documented():
    """resilience.parquet and pareto.parquet: one documented row per column, none missing."""
    lines = (ROOT / "docs" / "results.md").read_text().splitlines()
    for name, columns in ANALYSIS_TABLES.items():
        start = lines.index(next(x for x in lines if x.startswith(f"| {name}.parquet")))
        rows = []
        for line in lines[start + 2 :]:
            if not line.startswith("|"):
                break
            rows += [c.strip() for c in line.split("|")[1].split(",")]
        assert rows == list(columns), name


def test_every_table_has_the_contract_columns_and_dtypes(toy_plan):
    to_be, _ = toy_plan
    for name, columns in TABLES.items():
        frame = to_be.kpis if name == "kpis" else to_be.results[name]
        assert list(frame.columns[: len(columns)]) == list(columns), name
        assert {c: str(frame[c].dtype) for c in columns} == columns, name
        assert (frame["run_id"] == "toy-run").all()


@pytest.mark.parametrize("plan", ["to_be", "as_is"])
def test_identities_hold_on_the_toy_dataset(toy_plan, plan):
    run = toy_plan[0] if plan == "to_be" else toy_plan[1]
    assert audit(run.results.tables, run.results.cost) == []
    assert run.results.cost == pytest.approx(run.solved.objective, rel=1e-9)


@pytest.mark.parametrize("objective", ["cost", "carbon"])
def test_cost_and_objective_are_the_models_own(objective):
    """The total cost is read as the sum of its components, each evaluated once, and the
    objective as the total cost where it is that: both are what the model itself says."""
    scenario = Scenario(objective=objective, solver=SolverOptions(mip_gap=1e-9))
    run = optimise(load_dataset(DATA / "toy"), scenario, "toy-run")
    m = run.built.model
    assert run.results.cost == pytest.approx(pyo.value(m.total_cost), rel=1e-12)
    assert run.results.objective == pytest.approx(pyo.value(m.objective), rel=1e-12)
    assert (run.results.objective == run.results.cost) == (objective == "cost")


@pytest.mark.slow
def test_identities_hold_on_the_reference_dataset():
    scenario = Scenario(solver=SolverOptions(mip_gap=0.01, time_limit=120))
    to_be, as_is = plan_against_as_is(load_dataset(DATA / "eaeu_china"), scenario, "ref")
    for run in (to_be, as_is):
        assert run.solved.status == "optimal"
        assert audit(run.results.tables, run.results.cost) == []
        assert_emissions_table_matches_the_model(run)
    kpis = to_be.kpis
    change = kpis[(kpis["plan"] == "change") & (kpis["scope_type"] == "total")]
    assert {"value_added_change_pct", "emissions_change_pct", "jobs_created"} <= set(change["kpi"])


def assert_emissions_table_matches_the_model(run) -> None:
    """The table attributes transport emissions per flow (to chains); the model sums them
    per link load: both must give the same tonnes per country and period."""
    import pyomo.environ as pyo

    m = run.built.model
    table = run.results["emissions"].groupby(["country", "period"])["emissions_t"].sum()
    for (country, period), expr in m.country_emissions.items():
        assert table.get((country, period), 0.0) == pytest.approx(pyo.value(expr), abs=1e-6)
    for period, expr in m.emissions.items():
        assert table.xs(period, level="period").sum() == pytest.approx(pyo.value(expr))
    assert table.sum() > 0


def test_emissions_table_matches_the_model_on_the_toy(toy_plan):
    for run in toy_plan:
        assert_emissions_table_matches_the_model(run)


def test_audit_catches_a_broken_identity(toy_plan):
    to_be, _ = toy_plan
    tables = {name: frame.copy() for name, frame in to_be.results.tables.items()}
    assert audit(tables, to_be.results.cost) == []
    tables["flows"].loc[0, "flow"] += 1.0
    tables["production"].loc[0, "activity"] = tables["production"].loc[0, "capacity"] * 2
    conversion = tables["conversion"]
    made, used = conversion["quantity"] > 0, conversion["quantity"] < 0
    conversion.loc[conversion.index[made][0], "quantity"] *= 2
    conversion.loc[conversion.index[used][0], "quantity"] *= 2
    found = audit(tables, to_be.results.cost * (1 + 1e-4))
    assert any("produced != sum of conversion" in p for p in found)
    assert any("consumed != sum of conversion" in p for p in found)
    assert any("inflow != sum of flows" in p for p in found)
    assert any("activity exceeds capacity" in p for p in found)
    assert any("objective components sum" in p for p in found)


def test_kpis_match_hand_computation_on_the_toy(toy_plan):
    to_be, _ = toy_plan
    k = to_be.kpis.set_index(["plan", "scope_type", "scope", "period", "kpi"])["value"]
    # 2025: 80,000 t flour x 350 - 100,000 t grain x 200 - 4,000 MWh x 50
    assert k["to_be", "total", "total", 2025, "value_added"] == pytest.approx(7_800_000)
    # 2030 to-be builds a second mill (50 jobs each); as-is keeps one
    assert k["to_be", "total", "total", 2030, "jobs"] == pytest.approx(100)
    assert k["change", "total", "total", 2030, "jobs_created"] == pytest.approx(50)
    # as-is serves 100,000 of 150,000 t: value added 100,000/80,000 of 2025's
    assert k["as_is", "total", "total", 2030, "value_added"] == pytest.approx(9_750_000)
    assert k["change", "total", "total", 2030, "value_added_change_pct"] == pytest.approx(50)
    assert k["to_be", "total", "total", pd.NA, "total_cost"] == pytest.approx(to_be.results.cost)


def test_prices_are_balance_duals_per_unit_of_the_period(toy_plan):
    to_be, _ = toy_plan
    balance = to_be.results["balance"].set_index(["region", "commodity", "period"])
    # grain is bought at 150/t at the farm and nothing limits its supply
    assert balance.loc[("kz_farm", "grain", 2025), "price"] == pytest.approx(150)
    # at the hub it costs 150 + 1,000 km x 0.02/t-km
    assert balance.loc[("kz_hub", "grain", 2025), "price"] == pytest.approx(170)


def test_investments_report_overnight_and_annualised_capex(toy_plan):
    to_be, _ = toy_plan
    built = to_be.results["investments"]
    assert built[["asset_id", "period", "units_built", "capex"]].values.tolist() == [
        ["mill_hub", 2030, 1.0, 10_000_000.0]
    ]


def test_failed_solve_has_no_results(toy: Path):
    to_be, _ = plan_against_as_is(load_dataset(toy), Scenario(carbon_cap=-1.0), "bad")
    assert to_be.solved.status == "infeasible"
    assert to_be.results is None and to_be.kpis is None


def test_headline_readers_find_the_plans_the_target_year_and_horizon_values():
    """One reader of kpis.parquet serves the terminal summary, the sweep table and the report."""
    from twin.kpis import last_period, plans, total_value

    rows = [
        ("as_is", "total", 2030, "jobs", 100.0),
        ("to_be", "total", 2030, "jobs", 130.0),
        ("to_be", "total", 2035, "jobs", 150.0),
        ("to_be", "country", 2035, "jobs", 90.0),  # not the whole hypercluster
        ("change", "total", 2035, "jobs_created", 50.0),
        ("to_be", "total", None, "total_cost", 9.0),
        ("as_is", "total", 2035, "jobs", 100.0),
    ]
    kpis = pd.DataFrame(rows, columns=["plan", "scope_type", "period", "kpi", "value"])
    kpis["period"] = kpis["period"].astype("Int64")
    assert plans(kpis) == ("to_be", "as_is")
    assert plans(kpis[kpis["plan"] == "to_be"]) == ("to_be", None)
    assert plans(kpis[kpis["plan"] == "as_is"]) == ("as_is", None)  # scenario=as_is alone
    assert last_period(kpis) == 2035 and last_period(kpis.iloc[:0]) is None
    assert total_value(kpis, "to_be", "jobs", 2035) == 150.0
    assert total_value(kpis, "as_is", "jobs", 2030) == 100.0
    assert total_value(kpis, "change", "jobs_created", 2035) == 50.0
    assert total_value(kpis, "to_be", "total_cost", None) == 9.0  # over the horizon
    assert total_value(kpis, "to_be", "total_cost", 2035) is None
    assert total_value(kpis, None, "jobs", 2035) is None


def test_modules_installed_are_existing_ones_alive_plus_new_ones_alive(toy_plan):
    """`modules_installed` counts existing modules until they retire and each period's new
    modules through their lifetime, from the solved build variables."""
    for run in toy_plan:
        data, m = run.built.data, run.built.model
        production = run.results["production"].set_index(["site_id", "period"])
        checked = 0
        for (s, p), row in production.iterrows():
            lifetime = data.lifetime(s)
            built = sum(
                m.build[s, q].value
                for q in data.periods
                if (s, q) in m.builds and q <= p < q + lifetime
            )
            assert row["modules_installed"] == pytest.approx(data.existing_alive[s, p] + built)
            checked += built > 0
        assert checked or run.scenario.allow_investment is False
