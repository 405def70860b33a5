"""Each constraint family, on a case small enough to solve by hand.

Periods are one year long and money is not discounted (rates 0, lifetime 1), so every
expected cost below is plain arithmetic written next to its assertion.
"""

from __future__ import annotations

from pathlib import Path

import pyomo.environ as pyo
import pytest

from twin.model import build_model
from twin.model.discounting import capital_recovery_factor
from twin.scenario import FAMILIES, Scenario
from twin.solve import solve

from .builders import link, region, write

PLAIN = {"discount_rate": 0.0, "green_rate": 0.0}


def optimum(ds, **levers):
    scenario = Scenario(**{**PLAIN, **levers})
    built = build_model(ds, scenario)
    solved, _ = solve(built.model, scenario.solver)
    assert solved.status == "optimal", solved.explanation
    return built.model, solved


def value(component) -> float:
    return pyo.value(component)


@pytest.fixture
def hydrogen(tmp_path: Path):
    """100 t of hydrogen in KAZ (unmet: 10,000/t): existing SMR (gas at 20/MWh x 40 MWh/t =
    800/t, 9 tCO2/t) or a candidate electrolyser (power at 30/MWh x 50 MWh/t = 1,500/t,
    capex 1,000 over 10 years, i.e. 100 in this one-year horizon when money is not
    discounted)."""
    return write(
        tmp_path / "h2",
        regions=[region("A"), region("B")],
        commodities=[
            {"commodity_id": c, "unit": u, "chain": "hydrogen"}
            for c, u in (("gas", "MWh"), ("power", "MWh"), ("h2", "t"))
        ],
        technologies=[
            {
                "technology_id": "smr",
                "chain": "hydrogen",
                "module_size": 100,
                "emissions_t_per_activity": 9,
            },
            {
                "technology_id": "pem",
                "chain": "hydrogen",
                "module_size": 100,
                "low_carbon": "true",
                "capex_per_module": 1000,
                "lifetime_years": 10,
            },
        ],
        recipes=[
            {"technology_id": "smr", "commodity_id": "h2", "coefficient": 1},
            {"technology_id": "smr", "commodity_id": "gas", "coefficient": -40},
            {"technology_id": "pem", "commodity_id": "h2", "coefficient": 1},
            {"technology_id": "pem", "commodity_id": "power", "coefficient": -50},
        ],
        sites=[
            {
                "site_id": "smr_a",
                "region_id": "A",
                "technology_id": "smr",
                "existing_modules": 1,
                "max_modules": 1,
            },
            {
                "site_id": "pem_a",
                "region_id": "A",
                "technology_id": "pem",
                "max_modules": 1,
                "opening_cost": 500,
            },
        ],
        links=[link("a_b", "A", "B")],
        link_commodities=[{"link_id": "a_b", "commodity_id": "h2"}],
        supply=[
            {"region_id": "A", "commodity_id": "gas", "max_quantity": 1e6, "cost_per_unit": 20},
            {"region_id": "A", "commodity_id": "power", "max_quantity": 1e6, "cost_per_unit": 30},
        ],
        demand=[{"region_id": "A", "commodity_id": "h2", "quantity": 100, "unmet_penalty": 10_000}],
    )


def test_without_carbon_limits_smr_serves_hydrogen(hydrogen):
    m, solved = optimum(hydrogen)
    assert m.activity["smr_a", 2025].value == pytest.approx(100)
    assert solved.objective == pytest.approx(100 * 40 * 20)
    assert value(m.emissions[2025]) == pytest.approx(900)


def test_binding_carbon_cap_moves_production_to_the_electrolyser(hydrogen):
    m, solved = optimum(hydrogen, carbon_cap=450.0)
    assert m.activity["smr_a", 2025].value == pytest.approx(50)
    assert m.activity["pem_a", 2025].value == pytest.approx(50)
    # 50 t SMR + 50 t PEM + (capex 1,000 + opening 500) / 10 years
    assert solved.objective == pytest.approx(50 * 800 + 50 * 1500 + 150)
    assert value(m.emissions[2025]) == pytest.approx(450)


def test_country_carbon_cap_binds_like_the_total_one(hydrogen):
    m, _ = optimum(hydrogen, carbon_cap_by_country={"KAZ": 0.0})
    assert m.activity["pem_a", 2025].value == pytest.approx(100)


def test_carbon_price_enters_the_objective(hydrogen):
    m, solved = optimum(hydrogen, carbon_price=100.0)
    # SMR would cost 80,000 + 900 t x 100 = 170,000; the electrolyser 150,150.
    assert m.activity["pem_a", 2025].value == pytest.approx(100)
    assert solved.objective == pytest.approx(150_150)
    assert value(m.cost_component["carbon_price"]) == pytest.approx(0)


def test_switching_the_carbon_family_off_drops_cap_and_price(hydrogen):
    families = tuple(f for f in FAMILIES if f != "carbon")
    m, solved = optimum(hydrogen, carbon_cap=0.0, carbon_price=100.0, families=families)
    assert not hasattr(m, "carbon_cap")
    assert solved.objective == pytest.approx(80_000)


def test_fixed_charge_is_paid_once_when_the_site_opens(hydrogen):
    m, _ = optimum(hydrogen, carbon_cap=0.0)
    assert m.open["pem_a", 2025].value == 1
    assert m.build["pem_a", 2025].value == 1
    assert value(m.cost_component["capex"]) == pytest.approx((1000 + 500) / 10)


def test_green_rate_lowers_annualised_capex(hydrogen):
    rates = {"discount_rate": 0.08, "green_rate": 0.04, "carbon_cap": 0.0}
    green, _ = optimum(hydrogen, **rates)
    families = tuple(f for f in FAMILIES if f != "finance")
    plain, _ = optimum(hydrogen, families=families, **rates)
    capex = 1500.0  # module + opening, built in the first year (discount factor 1)
    assert value(green.cost_component["capex"]) == pytest.approx(
        capex * capital_recovery_factor(0.04, 10)
    )
    assert value(plain.cost_component["capex"]) == pytest.approx(
        capex * capital_recovery_factor(0.08, 10)
    )


def test_budget_caps_modules(hydrogen):
    m, solved = optimum(hydrogen, carbon_cap=0.0, budget=1000.0)
    assert m.build["pem_a", 2025].value == 0  # module and opening cost 1,500 > budget
    assert m.unmet["A", "h2", 2025].value == pytest.approx(100)
    assert value(m.cost_component["unmet_penalty"]) == pytest.approx(100 * 10_000)
    assert solved.objective == pytest.approx(1_000_000)


def test_budget_share_of_a_country(hydrogen):
    m, _ = optimum(hydrogen, carbon_cap=0.0, budget=2000.0, budget_shares={"KAZ": 0.5})
    assert m.build["pem_a", 2025].value == 0  # KAZ may spend 1,000 < 1,500


@pytest.fixture
def fertiliser(tmp_path: Path):
    """100 t of a critical fertiliser in KAZ (EAEU): imported from China at 10/t or bought
    at home at 50/t."""
    return write(
        tmp_path / "fert",
        regions=[region("K"), region("C", country="CHN", blocs="")],
        commodities=[{"commodity_id": "fert", "critical": "true"}],
        technologies=[{"technology_id": "t", "module_size": 1}],
        recipes=[{"technology_id": "t", "commodity_id": "fert", "coefficient": 1}],
        sites=[{"site_id": "unused", "region_id": "C", "technology_id": "t", "max_modules": 0}],
        links=[link("c_k", "C", "K")],
        link_commodities=[{"link_id": "c_k", "commodity_id": "fert"}],
        supply=[
            {"region_id": "C", "commodity_id": "fert", "max_quantity": 1e6, "cost_per_unit": 10},
            {"region_id": "K", "commodity_id": "fert", "max_quantity": 1e6, "cost_per_unit": 50},
        ],
        demand=[{"region_id": "K", "commodity_id": "fert", "quantity": 100}],
    )


def test_sovereignty_share_forces_domestic_supply(fertiliser):
    free, free_solved = optimum(fertiliser)
    assert free.flow["c_k", "fert", 2025].value == pytest.approx(100)
    assert free_solved.objective == pytest.approx(1000)
    bound, solved = optimum(fertiliser, max_import_share=0.2)
    assert bound.flow["c_k", "fert", 2025].value == pytest.approx(20)
    assert bound.buy["K", "fert", 2025].value == pytest.approx(80)
    assert solved.objective == pytest.approx(20 * 10 + 80 * 50)


@pytest.fixture
def twin_towns(tmp_path: Path):
    """Two regions each demanding 100 t; a module of 100 t/yr costs 1,000 in either; shipping
    between them costs 1/t. MAR: the second module of a chain in a region costs half."""
    return write(
        tmp_path / "mar",
        regions=[region("R1"), region("R2")],
        commodities=[{"commodity_id": "p"}, {"commodity_id": "raw"}],
        technologies=[{"technology_id": "t", "module_size": 100, "capex_per_module": 1000}],
        recipes=[
            {"technology_id": "t", "commodity_id": "p", "coefficient": 1},
            {"technology_id": "t", "commodity_id": "raw", "coefficient": -1},
        ],
        supply=[{"region_id": r, "commodity_id": "raw", "max_quantity": 1e6} for r in ("R1", "R2")],
        sites=[
            {"site_id": f"s{i}", "region_id": f"R{i}", "technology_id": "t", "max_modules": 2}
            for i in (1, 2)
        ],
        links=[
            link("r1_r2", "R1", "R2", cost_per_unit_km=1),
            link("r2_r1", "R2", "R1", cost_per_unit_km=1),
        ],
        link_commodities=[{"link_id": lid, "commodity_id": "p"} for lid in ("r1_r2", "r2_r1")],
        demand=[{"region_id": r, "commodity_id": "p", "quantity": 100} for r in ("R1", "R2")],
        agglomeration=[
            {"chain": "agrotech", "modules": 0, "capex_factor": 1.0},
            {"chain": "agrotech", "modules": 1, "capex_factor": 0.5},
        ],
    )


def test_agglomeration_makes_clustering_modules_in_one_region_cheaper(twin_towns):
    families = tuple(f for f in FAMILIES if f != "agglomeration")
    spread, spread_solved = optimum(twin_towns, families=families)
    assert [spread.build[s, 2025].value for s in ("s1", "s2")] == [1, 1]
    assert spread_solved.objective == pytest.approx(2000)
    clustered, solved = optimum(twin_towns)
    assert sorted(clustered.build[s, 2025].value for s in ("s1", "s2")) == [0, 2]
    assert solved.objective == pytest.approx(1000 + 500 + 100)
    assert value(clustered.agglomeration_savings) == pytest.approx(500)


def test_border_capacity_forces_the_alternative_corridor(toy, edit):
    from twin.data import load_dataset

    edit.set("border_crossings.csv", 2, "capacity", "50000")
    edit.set("border_crossings.csv", 2, "max_expansions", "0")
    ds = load_dataset(toy)
    m, _ = optimum(ds)
    assert m.flow["hub_city_rail", "flour", 2025].value == pytest.approx(50_000)
    assert m.flow["hub_city_road", "flour", 2025].value == pytest.approx(30_000)
    # The crossing's row (through the link loads of its links) binds at its capacity.
    row = m.crossing_capacity["rail_crossing", 2025]
    assert value(row.body) == pytest.approx(50_000) and value(row.upper) == 50_000
    families = tuple(f for f in FAMILIES if f != "transport")
    free, _ = optimum(ds, families=families)
    assert free.flow["hub_city_rail", "flour", 2025].value == pytest.approx(80_000)


def test_unmet_demand_appears_with_its_penalty_when_supply_is_short(toy, edit):
    from twin.data import load_dataset

    edit.set("supply.csv", 2, "max_quantity", "50000")  # grain for 40,000 t of flour
    m, _ = optimum(load_dataset(toy))
    assert m.unmet["cn_city", "flour", 2025].value == pytest.approx(40_000)
    # 40,000 t x 1,000/t x 5 years (money not discounted)
    assert value(m.cost_component["unmet_penalty"]) == pytest.approx(40_000 * 1000 * 5)


def test_as_is_builds_nothing_and_leaves_growth_unmet(toy):
    from twin.data import load_dataset

    m, _ = optimum(load_dataset(toy), allow_investment=False)
    assert len(m.build) == 0
    # the existing 100,000 t mill serves 100,000 of the 150,000 t demanded in 2030
    assert m.unmet["cn_city", "flour", 2030].value == pytest.approx(50_000)
