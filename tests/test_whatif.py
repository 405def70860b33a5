"""What-ifs on a plan: disruptions and N-1 over crossings (the frontier: test_pareto.py).

The border case is solvable by hand: 100 t of grain from A (10/t) to B across one of two
crossings. Crossing `x` (link A->B, 2/t to ship) is the cheap route; crossing `y` (link A->C
then C->B, 2/t + 3/t) is the detour. Grain is worth 50/t; unmet demand costs 1,000/t. One
period of one year, money not discounted, so each expected cost is the arithmetic beside it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from twin.data import load_dataset
from twin.plan import optimise
from twin.results.audit import audit
from twin.scenario import Scenario, SolverOptions
from twin.whatif import Disruption, WhatIfError, n_minus_one, operations, resilience_table

from .builders import inland, link, region, write
from .conftest import twin_run

ROOT = Path(__file__).resolve().parents[1]
EXACT = Scenario(discount_rate=0.0, green_rate=0.0, solver=SolverOptions(mip_gap=1e-9))


@pytest.fixture
def border(tmp_path: Path):
    return write(
        tmp_path / "border",
        regions=[region("A"), region("B", "CHN", ""), region("C", "MNG", "")],
        commodities=[{"commodity_id": "grain", "value_per_unit": 50}],
        technologies=[{"technology_id": "silo", "module_size": 1}],
        recipes=[{"technology_id": "silo", "commodity_id": "grain", "coefficient": 1}],
        sites=[{"site_id": "unused", "region_id": "A", "technology_id": "silo", "max_modules": 0}],
        links=[
            link("ab", "A", "B", cost_per_unit_km=2),
            link("ac", "A", "C", cost_per_unit_km=2),
            link("cb", "C", "B", cost_per_unit_km=3),
        ],
        link_commodities=[{"link_id": lk, "commodity_id": "grain"} for lk in ("ab", "ac", "cb")],
        border_crossings=[
            {"crossing_id": cx, "name": cx, "country_a": a, "country_b": b, "capacity": 1e6}
            for cx, a, b in (("x", "KAZ", "CHN"), ("y", "KAZ", "MNG"))
        ],
        corridors=[
            {"corridor_id": "direct", "link_id": "ab", "border_crossing": "x"},
            {"corridor_id": "detour", "link_id": "ac", "border_crossing": "y"},
        ],
        supply=[
            {"region_id": "A", "commodity_id": "grain", "max_quantity": 1e6, "cost_per_unit": 10}
        ],
        demand=[{"region_id": "B", "commodity_id": "grain", "quantity": 100}],
    )


def no_investments() -> pd.DataFrame:
    return pd.DataFrame(columns=["asset_type", "asset_id", "period", "units_built"])


def test_closing_the_only_crossing_on_a_path_leaves_exactly_its_demand_unmet(border):
    """Both crossings shut: 100 t unmet (5,000 of value) at 1,000/t instead of 12/t."""
    shut = Disruption(close_crossings=("x", "y"))
    run = operations(border, EXACT, no_investments(), "t", shut)
    assert run.results.cost == pytest.approx(100 * 1000)
    balance = run.results.tables["balance"].set_index("region")
    assert balance.at["B", "unmet"] == pytest.approx(100)
    assert run.results.tables["flows"].empty


def test_n1_has_one_row_per_crossing_ranked_by_extra_cost(border):
    """x shut: the detour costs 10 + 2 + 3 = 15/t instead of 12/t, 300 more, nothing
    unmet. y shut: nothing changes."""
    baseline, losses = n_minus_one(border, EXACT, no_investments(), "t")
    assert baseline.results.cost == pytest.approx(100 * 12)
    table = resilience_table(losses, "t").set_index("element")
    assert sorted(table.index) == ["x", "y"]
    assert table.at["x", "extra_cost"] == pytest.approx(300)
    assert table.at["x", "extra_unmet_demand"] == pytest.approx(0, abs=1e-6)
    assert table.at["y", "extra_cost"] == pytest.approx(0, abs=1e-6)
    assert table.at["x", "rank"] == 1 and table.at["y", "rank"] == 2


def test_n1_of_a_corridor_closes_its_links_in_turn(border):
    _, losses = n_minus_one(border, EXACT, no_investments(), "t", "link", ["ab", "cb"])
    cost = {item.element: item.extra_cost for item in losses}
    assert cost == pytest.approx({"ab": 300, "cb": 0})


@pytest.fixture
def plan(toy):
    ds = load_dataset(toy)
    return ds, optimise(ds, EXACT, "plan")


def test_operations_of_a_plan_reproduce_its_cost(plan):
    ds, planned = plan
    investments = planned.results.tables["investments"]
    assert not investments.empty  # the toy plan builds a mill: something is fixed
    again = operations(ds, EXACT, investments, "ops")
    assert again.results.cost == pytest.approx(planned.results.cost, rel=1e-9)
    assert again.highs.size["integer_variables"] == 0
    built = again.results.tables["investments"]
    assert built["units_built"].sum() == pytest.approx(investments["units_built"].sum())


def test_in_place_n1_matches_a_rebuild_with_each_crossing_closed(plan):
    ds, planned = plan
    investments = planned.results.tables["investments"]
    baseline, losses = n_minus_one(ds, EXACT, investments, "n1")
    assert len(losses) == len(ds.border_crossings)
    for item in losses:
        closed = Disruption(close_crossings=(item.element,))
        rebuilt = operations(ds, EXACT, investments, "one", closed)
        assert item.extra_cost == pytest.approx(rebuilt.results.cost - baseline.results.cost)
        emissions = rebuilt.results.emissions_t - baseline.results.emissions_t
        assert item.extra_emissions_t == pytest.approx(emissions, abs=1e-6)


def test_a_full_capacity_cut_equals_a_closure_and_half_a_cut_halves_the_room(plan):
    ds, planned = plan
    investments = planned.results.tables["investments"]
    closed = operations(ds, EXACT, investments, "c", Disruption(close_crossings=("rail_crossing",)))
    cut = operations(ds, EXACT, investments, "c", Disruption(capacity_cut={"rail_crossing": 1.0}))
    assert cut.results.cost == pytest.approx(closed.results.cost, rel=1e-9)
    half = operations(ds, EXACT, investments, "h", Disruption(capacity_cut={"rail_crossing": 0.5}))
    flows = half.results.tables["flows"]
    through = flows[flows["border_crossing"] == "rail_crossing"].groupby("period")["flow"].sum()
    steps = investments[investments["asset_id"] == "rail_crossing"].set_index("period")
    for period, flow in through.items():  # 100,000 t/yr plus 50,000 per expansion built
        built = steps.loc[steps.index <= period, "units_built"].sum()
        assert flow == pytest.approx(0.5 * (100000 + 50000 * built))  # full: worth using
    assert audit(half.results.tables, half.results.cost) == []


def test_demand_and_price_shocks_change_the_inputs_they_name(border):
    surge = operations(border, EXACT, no_investments(), "d", Disruption(demand_factor=1.2))
    balance = surge.results.tables["balance"].set_index("region")
    assert balance.at["B", "served"] + balance.at["B", "unmet"] == pytest.approx(120)
    dear = operations(border, EXACT, no_investments(), "p", Disruption(price_factor={"grain": 3}))
    assert dear.results.cost == pytest.approx(100 * (30 + 2))


@pytest.mark.parametrize(
    ("disruption", "key"),
    [
        (Disruption(close_crossings=("nowhere",)), "close_crossings"),
        (Disruption(close_corridors=("nowhere",)), "close_corridors"),
        (Disruption(capacity_cut={"nowhere": 0.5}), "capacity_cut.nowhere"),
        (Disruption(capacity_cut={"x": 1.5}), "capacity_cut.x"),
        (Disruption(price_factor={"gold": 2.0}), "price_factor"),
    ],
)
def test_a_disruption_that_does_not_fit_the_dataset_names_its_key(border, disruption, key):
    with pytest.raises(WhatIfError, match=key.replace(".", r"\.")):
        operations(border, EXACT, no_investments(), "bad", disruption)


def test_a_demand_factor_of_zero_is_refused_with_the_reason(border):
    with pytest.raises(WhatIfError, match="demand_factor must be > 0"):
        operations(border, EXACT, no_investments(), "z", Disruption(demand_factor=0.0))


def test_n1_without_crossings_says_what_to_do(tmp_path: Path):
    ds = inland(tmp_path / "inland")
    with pytest.raises(WhatIfError, match=r"analysis\.n1_corridor"):
        n_minus_one(ds, EXACT, no_investments(), "t")


def test_a_plan_that_only_opens_a_site_keeps_it_open(toy):
    """mill_city has a 2,000,000 opening charge: an opening row without modules opens it."""
    ds = load_dataset(toy)
    opening = pd.DataFrame(
        [
            {
                "asset_type": "site",
                "asset_id": "mill_city",
                "period": 2030,
                "units_built": 0.0,
                "capex": 2e6,
            }
        ]
    )
    run = operations(ds, EXACT, opening, "o")
    assert run.built.model.open["mill_city", 2030].value == 1
    built = run.results.tables["investments"].set_index("asset_id")
    assert built.at["mill_city", "capex"] == pytest.approx(2e6)


def exact_run(*overrides: str):
    return twin_run(*overrides, "solver.mip_gap=1e-9")


@pytest.mark.slow
def test_n1_run_from_a_previous_plan_writes_the_resilience_table(tmp_path: Path):
    first = exact_run(f"hydra.run.dir={tmp_path / 'plan'}")
    assert first.returncode == 0, first.stdout + first.stderr
    plan_cost = json.loads((tmp_path / "plan" / "run.json").read_text())["cost"]
    result = exact_run(
        "analysis=n1", f"analysis.plan_dir={tmp_path / 'plan'}", f"hydra.run.dir={tmp_path / 'n1'}"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    meta = json.loads((tmp_path / "n1" / "run.json").read_text())
    assert meta["analysis"] == "n1"
    assert meta["cost"] == pytest.approx(plan_cost, rel=1e-9)
    table = pd.read_parquet(tmp_path / "n1" / "results" / "resilience.parquet")
    assert sorted(table["element"]) == ["rail_crossing", "road_crossing"]
    assert "resilience" in result.stdout
    assert meta["plan"]["solved_in"] == str(tmp_path / "plan")
    assert meta["plan"]["status"] == meta["status"] == "optimal"


@pytest.mark.slow
def test_a_what_if_on_an_unproven_plan_reports_that_plan_s_status_and_gap(tmp_path: Path):
    """N-1's own solves are LPs on a fixed plan, always optimal: they said "optimal, gap
    0.00 %" on a plan stopped at its time limit. The run now reports the plan's solve,
    here read from the run.json of a plan run that stopped at the time limit (one made by
    editing a finished toy run's record, as the toy's MILP never stops early)."""
    first = exact_run(f"hydra.run.dir={tmp_path / 'plan'}")
    assert first.returncode == 0, first.stdout + first.stderr
    record = tmp_path / "plan" / "run.json"
    meta = json.loads(record.read_text())
    unproven = {"status": "time_limit", "gap": 0.0123, "bound": meta["objective"] * 0.9877}
    record.write_text(json.dumps(meta | unproven | {"message": "Time limit reached"}))
    result = exact_run(
        "analysis=n1", f"analysis.plan_dir={tmp_path / 'plan'}", f"hydra.run.dir={tmp_path / 'n1'}"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    n1 = json.loads((tmp_path / "n1" / "run.json").read_text())
    assert (n1["status"], n1["gap"], n1["bound"]) == ("time_limit", 0.0123, unproven["bound"])
    assert n1["objective"] == pytest.approx(meta["objective"], rel=1e-12)
    assert n1["plan"]["solved_in"] == str(tmp_path / "plan")
    assert any("the plan tested is not proven optimal (time_limit" in w for w in n1["warnings"])
    shown = " ".join(result.stdout.split())
    assert re.search(r"status time_limit, objective [\d,]+, gap 1\.23%", shown)
    assert re.search(
        r"the plan tested \(solved in .+?\): time_limit, objective [\d,]+, gap 1\.23%", shown
    )


@pytest.mark.slow
def test_disruption_and_pareto_runs_write_their_tables_and_figure(tmp_path: Path):
    shut = exact_run(
        "analysis=disruption",
        "disruption.close_crossings=[rail_crossing]",
        f"hydra.run.dir={tmp_path / 'shut'}",
    )
    assert shut.returncode == 0, shut.stdout + shut.stderr
    for results in (tmp_path / "shut" / "results", tmp_path / "shut" / "baseline" / "results"):
        tables = {f.stem: pd.read_parquet(f) for f in results.glob("*.parquet")}
        assert audit(tables, float(tables["objective"]["value"].sum())) == []
    kpis = pd.read_parquet(tmp_path / "shut" / "results" / "kpis.parquet")
    assert {"baseline", "disrupted", "change"} <= set(kpis["plan"])
    meta = json.loads((tmp_path / "shut" / "run.json").read_text())
    assert meta["plan"]["solved_in"] == "this run"
    assert meta["status"] == meta["plan"]["status"] == "optimal"
    assert meta["objective"] > meta["plan"]["objective"]  # the hit's, not the plan's bound
    assert meta["bound"] == meta["objective"]  # the hit's own LP
    front = exact_run(
        "analysis=pareto",
        "scenario.pareto_points=3",
        "scenario.pareto_method=epsilon",  # the toy has no trade-off: its budgets, 3 points
        f"hydra.run.dir={tmp_path / 'p'}",
    )
    assert front.returncode == 0, front.stdout + front.stderr
    assert len(pd.read_parquet(tmp_path / "p" / "results" / "pareto.parquet")) == 3
    assert (tmp_path / "p" / "pareto.png").stat().st_size > 0
    assert (tmp_path / "p" / "pareto" / "point_2" / "results" / "flows.parquet").exists()
    # A plan without as-is into the same directory leaves nothing of the frontier behind.
    again = exact_run("scenario.compare_as_is=false", f"hydra.run.dir={tmp_path / 'p'}")
    assert again.returncode == 0, again.stdout + again.stderr
    assert sorted(f.name for f in (tmp_path / "p").iterdir() if not f.name.startswith(".")) == [
        "app.log",
        "highs.log",
        "results",
        "run.json",
    ]
    assert not (tmp_path / "p" / "results" / "pareto.parquet").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["analysis=disruption"], "analysis=disruption needs a disruption"),
        (
            ["analysis=pareto", "scenario.pareto_points=1"],
            "scenario.pareto_points=1: must be a whole number >= 2",
        ),
        (
            ["analysis=pareto", "scenario.pareto_method=lexicographic"],
            "scenario.pareto_method='lexicographic': must be one of",
        ),
        (["analysis=n1", "analysis.n1_corridor=nowhere"], "analysis.n1_corridor"),
    ],
)
def test_an_analysis_asked_wrongly_is_a_clear_error(tmp_path: Path, overrides, message):
    result = exact_run(*overrides, f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_an_unknown_crossing_in_a_disruption_is_a_clear_error(tmp_path: Path):
    result = exact_run(
        "analysis=disruption", "disruption.close_crossings=[nowhere]", f"hydra.run.dir={tmp_path}"
    )
    assert result.returncode == 2
    assert "disruption.close_crossings" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
