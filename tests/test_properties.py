"""Property tests: on random small instances every plan keeps the model's invariants."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.plan import optimise
from twin.results.audit import audit
from twin.scenario import Scenario

from .conftest import edited_toy

quantities = st.integers(min_value=0, max_value=400_000)
costs = st.floats(min_value=0, max_value=500, allow_nan=False)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    demand_2025=quantities,
    demand_2030=quantities,
    grain=quantities,
    rail_crossing=quantities,
    road_crossing=quantities,
    existing=st.integers(min_value=0, max_value=3),
    grain_cost=costs,
    penalty=st.floats(min_value=0, max_value=5000, allow_nan=False),
    carbon_price=st.sampled_from([0.0, 50.0, 500.0]),
)
def test_random_toy_plans_keep_every_invariant(
    demand_2025,
    demand_2030,
    grain,
    rail_crossing,
    road_crossing,
    existing,
    grain_cost,
    penalty,
    carbon_price,
):
    ds = edited_toy(
        {
            ("demand.csv", 2, "quantity"): demand_2025,
            ("demand.csv", 3, "quantity"): demand_2030,
            ("demand.csv", 2, "unmet_penalty"): penalty,
            ("supply.csv", 2, "max_quantity"): grain,
            ("supply.csv", 2, "cost_per_unit"): grain_cost,
            ("border_crossings.csv", 2, "capacity"): rail_crossing,
            ("border_crossings.csv", 3, "capacity"): road_crossing,
            ("sites.csv", 2, "existing_modules"): existing,
        }
    )
    run = optimise(ds, Scenario(carbon_price=carbon_price), "prop")
    assert run.solved.status == "optimal"
    tables = run.results.tables
    assert audit(tables, run.results.cost) == []
    assert run.results.cost >= -1e-6  # every cost coefficient is non-negative
    flows = tables["flows"]
    through = flows.groupby(["border_crossing", "period"])["flow"].sum()
    limits = {"rail_crossing": rail_crossing, "road_crossing": road_crossing}
    expansions = tables["investments"].query("asset_type == 'crossing'")
    for (crossing, period), total in through.items():
        alive = (expansions["asset_id"] == crossing) & (expansions["period"] <= period)
        added = expansions.loc[alive, "units_built"]
        step = 50_000 if crossing == "rail_crossing" else 0
        assert total <= limits[crossing] + step * added.sum() + 1e-6
    balance = tables["balance"]
    assert (balance["unmet"] >= -1e-9).all()
    assert (balance["served"] <= balance["demand"] + 1e-6).all()
