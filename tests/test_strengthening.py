"""Strengthening (`solver.strengthen`): tighter LP relaxations, never another optimum.

The bounds and linking rows of `twin.model.bounds` and `twin.model.linking` must cut only
fractional points: on random small instances the optimum is the same with and without
them, while on facility location the LP relaxation becomes the textbook strong one. The
symmetry rows of `twin.model.symmetry` cut plans, but never every optimal one.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.data import load_dataset
from twin.model import build_model
from twin.model.bounds import flow_bounds
from twin.model.data import prepare
from twin.orlib import (
    ORLIB_DIR,
    ORLIB_RECOURSE,
    ORLIB_SCENARIO,
    CflpInstance,
    published_optimum,
    read_cflp,
)
from twin.orlib import to_dataset as orlib_dataset
from twin.scenario import STRENGTHENING, Scenario, SolverOptions
from twin.solve import HighsModel, solve

from .conftest import DATA, edited_toy

EXACT = SolverOptions(time_limit=60, mip_gap=1e-9)
PLAIN = replace(EXACT, strengthen=())


def outcome(ds, scenario: Scenario, options: SolverOptions):
    """The solve of `ds` under `scenario` with the solver `options`."""
    return solve(build_model(ds, replace(scenario, solver=options)).model, options)[0]


def optimum(ds, scenario: Scenario, options: SolverOptions) -> float:
    solved = outcome(ds, scenario, options)
    assert solved.status == "optimal", solved.message
    return solved.objective


def lp_bound(ds, scenario: Scenario, options: SolverOptions) -> float:
    relaxed = HighsModel(build_model(ds, replace(scenario, solver=options)).model, relax=True)
    relaxed.highs.run()
    return relaxed.highs.getInfo().objective_function_value


def test_linking_rows_make_the_facility_location_lp_the_strong_one(tmp_path: Path):
    """cap41: the weak LP lies 2 % below the optimum, the strong one (x_ij <= d_j y_i) on it."""
    ds = orlib_dataset(read_cflp(ORLIB_DIR / "cap41.txt"), tmp_path / "cap41")
    best = published_optimum("cap41")
    weak, strong = (lp_bound(ds, ORLIB_SCENARIO, o) for o in (PLAIN, EXACT))
    assert weak < 0.99 * best
    assert strong == pytest.approx(best, rel=1e-6)


@st.composite
def facility_location(draw) -> CflpInstance:
    m, n = draw(st.integers(2, 5)), draw(st.integers(2, 7))
    integers = lambda low, high, size: np.array(  # noqa: E731
        draw(st.lists(st.integers(low, high), min_size=size, max_size=size)), dtype=float
    )
    demands = integers(1, 30, n)
    capacities = integers(5, 80, m)
    return CflpInstance(
        "random",
        capacities=capacities,
        fixed_costs=integers(0, 500, m),
        demands=demands,
        costs=integers(0, 200, m * n).reshape(m, n),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance=facility_location(), served=st.booleans())
def test_strengthening_keeps_the_optimum_of_random_facility_location(
    instance: CflpInstance, served: bool
):
    """Every customer served (infeasible where capacity falls short) or unmet at a penalty."""
    with tempfile.TemporaryDirectory() as directory:
        ds = orlib_dataset(instance, Path(directory) / "random")
    scenario = ORLIB_SCENARIO if served else ORLIB_RECOURSE
    plain, strong = (outcome(ds, scenario, o) for o in (PLAIN, EXACT))
    assert strong.status == plain.status
    assert plain.status == (
        "optimal"
        if instance.capacities.sum() >= instance.demands.sum() or not served
        else "infeasible"
    )
    if plain.status == "optimal":
        assert strong.objective == pytest.approx(plain.objective, rel=1e-7, abs=1e-6)


quantities = st.integers(min_value=0, max_value=400_000)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    demand=quantities,
    grain=quantities,
    rail_crossing=quantities,
    existing=st.integers(min_value=0, max_value=3),
    carbon_price=st.sampled_from([0.0, 500.0]),
    closed=st.sampled_from([frozenset(), frozenset({"hub_city_rail"})]),
    served=st.booleans(),
)
def test_strengthening_keeps_the_optimum_of_random_toy_plans(
    demand, grain, rail_crossing, existing, carbon_price, closed, served
):
    """With unmet demand at a penalty, or every demand served (cover rows; the plan may then
    be infeasible, with and without)."""
    ds = edited_toy(
        {
            ("demand.csv", 3, "quantity"): demand,
            ("supply.csv", 2, "max_quantity"): grain,
            ("border_crossings.csv", 2, "capacity"): rail_crossing,
            ("sites.csv", 2, "existing_modules"): existing,
        }
    )
    scenario = Scenario(carbon_price=carbon_price, closed_links=closed, allow_unmet=not served)
    plain, strong = (outcome(ds, scenario, o) for o in (PLAIN, EXACT))
    assert strong.status == plain.status
    if plain.status == "optimal":
        assert strong.objective == pytest.approx(plain.objective, rel=1e-7, abs=1e-6)
    else:
        assert served and plain.status == "infeasible"


@pytest.mark.slow
def test_strengthening_keeps_the_reference_plan():
    """The reference data to a 0.2 % gap, with and without: each plan's cost lies above the
    other's bound, as it must if no optimum was cut off."""
    ds = load_dataset(DATA / "eaeu_china")
    options = SolverOptions(time_limit=120, mip_gap=0.002)
    results = []
    for strengthen in ((), EXACT.strengthen):
        scenario = Scenario(solver=replace(options, strengthen=strengthen))
        solved, _ = solve(build_model(ds, scenario).model, scenario.solver)
        assert solved.status == "optimal"
        results.append(solved)
    plain, strong = results
    assert strong.objective >= plain.bound * (1 - 1e-9)
    assert plain.objective >= strong.bound * (1 - 1e-9)


def toy_with_twin_mills(demand: float, existing: int, cost: float):
    """The toy with a second candidate mill in the city, identical to the first."""
    cells = {
        ("demand.csv", 3, "quantity"): demand,
        ("sites.csv", 2, "existing_modules"): existing,
        ("sites.csv", 3, "opening_cost"): cost,
    }
    return edited_toy(cells, copies={("sites.csv", 3): "mill_city_b"})


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    demand=st.integers(min_value=1, max_value=600_000),  # none: the city mills are pruned
    existing=st.integers(min_value=0, max_value=3),
    cost=st.sampled_from([0.0, 2e6, 5e7]),
)
def test_symmetry_rows_order_identical_sites_and_keep_the_optimum(demand, existing, cost):
    from twin.model.symmetry import identical_sites

    ds = toy_with_twin_mills(demand, existing, cost)
    without = replace(EXACT, strengthen=tuple(f for f in STRENGTHENING if f != "symmetry"))
    built = build_model(ds, Scenario(solver=EXACT))
    assert identical_sites(built.data) == [["mill_city", "mill_city_b"]]
    assert len(built.model.site_symmetry) == 1
    solved, _ = solve(built.model, EXACT)
    assert solved.status == "optimal"
    assert solved.objective == pytest.approx(optimum(ds, Scenario(), without), rel=1e-7, abs=1e-6)
    first, second = (
        sum(built.model.build[s, p].value for p in built.data.build_periods[s])
        for s in ("mill_city", "mill_city_b")
    )
    assert first >= second


def test_a_given_plan_that_breaks_the_symmetry_order_still_operates():
    """The rows choose among swapped plans; a plan fixed for a what-if (built elsewhere, or
    before the rows existed) may list the second of two identical sites alone."""
    import pandas as pd

    from twin.whatif import fix_investments

    ds = toy_with_twin_mills(150_000, 1, 2e6)
    built = build_model(ds, Scenario(solver=EXACT))
    plan = pd.DataFrame(
        {
            "asset_type": ["site"],
            "asset_id": ["mill_city_b"],
            "period": [2030],
            "units_built": [1.0],
            "capex": [1e7],
        }
    )
    fix_investments(built, plan)
    solved, _ = solve(built.model, EXACT)
    assert solved.status == "optimal"
    assert built.model.build["mill_city_b", 2030].value == 1


def bounds_by_flow(ds, scenario: Scenario) -> dict:
    """(link, commodity, period) -> (flow bound, most at the flow's source with no new
    module), from `twin.model.bounds.flow_bounds`."""
    data = prepare(ds, scenario)
    bounds = flow_bounds(data)
    pairs = zip(bounds.flow.tolist(), bounds.source_without_building.tolist(), strict=True)
    return dict(zip(data.link_flows, pairs, strict=True))


def test_flow_bounds_of_a_facility_location_by_hand(tmp_path: Path):
    """Warehouse i (capacity 10 and 50) to customer j (demand 7 and 30): x_ij is bounded by
    the least of u_i and d_j, what the source can make and what the destination can take,
    never the other way round. Nothing exists before a warehouse is opened."""
    instance = CflpInstance(
        "hand",
        capacities=np.array([10.0, 50.0]),
        fixed_costs=np.array([5.0, 9.0]),
        demands=np.array([7.0, 30.0]),
        costs=np.ones((2, 2)),
    )
    ds = orlib_dataset(instance, tmp_path / "hand")
    assert bounds_by_flow(ds, ORLIB_SCENARIO) == {
        ("l1_1", "goods", 2025): (7.0, 0.0),
        ("l1_2", "goods", 2025): (10.0, 0.0),
        ("l2_1", "goods", 2025): (7.0, 0.0),
        ("l2_2", "goods", 2025): (30.0, 0.0),
    }


def test_flow_bounds_of_the_toy_by_hand():
    """Grain leaves the farm (500,000 t bought) for the hub, whose mill takes at most 3 x
    100,000 t x 1.25 = 375,000 t in 2025; in 2030 the city's mill may use 250,000 t more,
    and the 500,000 t that can be bought bound it. Flour to the city is bounded by its
    demand (80,000 and 150,000 t); grain to the city in 2030 by a crossing (rail 100,000 +
    2 x 50,000 t of expansions, road 200,000 t). At the source with no new module: the
    farm's purchases, the hub's existing mill (100,000 t of flour), and for grain at the hub
    what the farm's link can bring (1,000,000 t)."""
    ds = load_dataset(DATA / "toy")
    assert bounds_by_flow(ds, Scenario()) == {
        ("farm_hub_rail", "grain", 2025): (375_000.0, 500_000.0),
        ("farm_hub_rail", "grain", 2030): (500_000.0, 500_000.0),
        ("hub_city_rail", "flour", 2025): (80_000.0, 100_000.0),
        ("hub_city_rail", "flour", 2030): (150_000.0, 100_000.0),
        ("hub_city_rail", "grain", 2030): (200_000.0, 1_000_000.0),
        ("hub_city_road", "flour", 2025): (80_000.0, 100_000.0),
        ("hub_city_road", "flour", 2030): (150_000.0, 100_000.0),
        ("hub_city_road", "grain", 2030): (200_000.0, 1_000_000.0),
    }


def family_rows(ds, scenario: Scenario, family: str) -> dict:
    """index -> (lower bound, upper bound, {variable name: coefficient}) of the rows of
    `family` (none where the model has no such family)."""
    from pyomo.repn import generate_standard_repn

    model = build_model(ds, scenario).model
    rows = {}
    for key, row in getattr(model, family, {}).items():
        repn = generate_standard_repn(row.body)
        names = (v.name for v in repn.linear_vars)
        rows[key] = (row.lower, row.upper, dict(zip(names, repn.linear_coefs, strict=True)))
    return rows


def test_link_linking_rows_of_the_toy_by_hand():
    """The hub's rail link to the city built from nothing (capacity 0, steps of 300,000 t):
    each flow on it is bounded under one step (flour by the city's demand, 80,000 and
    150,000 t; grain in 2030 by the rail crossing, 200,000 t), so each gets
    flow <= bound x (the link's expansions alive). Only flour in 2025 is also under one new
    module of the hub's mill (100,000 t): the other two rows come from the link alone."""
    ds = edited_toy(
        {
            ("links.csv", 3, "capacity"): 0,
            ("links.csv", 3, "expansion_step"): 300_000,
            ("links.csv", 3, "expansion_capex"): 1_000_000,
            ("links.csv", 3, "max_expansions"): 2,
        }
    )
    expand = {p: f"expand_link[hub_city_rail,{p}]" for p in (2025, 2030)}
    flow = "flow[hub_city_rail,{},{}]".format

    def row(commodity: str, period: int, bound: float) -> tuple:
        alive = (2025,) if period == 2025 else (2025, 2030)
        return None, 0.0, {flow(commodity, period): 1.0} | {expand[q]: -bound for q in alive}

    assert family_rows(ds, Scenario(), "link_linking") == {
        ("hub_city_rail", "flour", 2025): row("flour", 2025, 80_000.0),
        ("hub_city_rail", "flour", 2030): row("flour", 2030, 150_000.0),
        ("hub_city_rail", "grain", 2030): row("grain", 2030, 200_000.0),
    }


def test_cover_row_of_the_toy_by_hand():
    """Flour in 2030, every demand served: 150,000 t, one existing 100,000 t mill; the mills'
    new modules alive then (the hub's of 2025 and 2030, the city's of 2030) must cover the
    other 50,000 t. In 2025 the existing mill covers the 80,000 t. Where unmet demand may
    stand in, no plan needs a module: no row."""
    ds = load_dataset(DATA / "toy")
    builds = ("build[mill_city,2030]", "build[mill_hub,2025]", "build[mill_hub,2030]")
    served = Scenario(allow_unmet=False)
    assert family_rows(ds, served, "cover") == {
        ("flour", 2030): (50_000.0, None, dict.fromkeys(builds, 1e5))
    }
    assert family_rows(ds, Scenario(), "cover") == {}
    linking_only = replace(served, solver=replace(EXACT, strengthen=("linking",)))
    assert family_rows(ds, linking_only, "cover") == {}


def test_no_cover_row_where_existing_modules_cover_the_demand():
    ds = edited_toy({("demand.csv", 3, "quantity"): 100_000})
    assert family_rows(ds, Scenario(allow_unmet=False), "cover") == {}
