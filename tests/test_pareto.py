"""The cost-carbon frontier (`twin.pareto`), on a market solvable by hand.

One market of 100 t (region B), served from A by one module (100 t) of one of four
technologies, one period of one year, money not discounted. Each technology's plan, by
capex and emissions:

    dirty (1,000, 10 t)   medium (1,200, 5 t)   dented (1,700, 3 t)   clean (2,000, 0 t)

All four are Pareto-optimal (none is both dearer and dirtier than another). The convex hull of
the frontier has three vertices, dirty, medium and clean: on the segment medium-clean, 3 t
costs 1,520, below `dented`. The carbon prices of the hull's segments are 40 per t
(dirty-medium), 100 (dirty-clean, the first search) and 160 (medium-clean).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from twin import pareto
from twin.data import Dataset
from twin.parallel import ParallelOptions
from twin.pareto import ParetoPoint, _lower_hull, _verdict, frontier, pareto_table
from twin.plan import optimise
from twin.scenario import Scenario, SolverOptions

from .builders import link, region, write

EXACT = Scenario(discount_rate=0.0, green_rate=0.0, solver=SolverOptions(mip_gap=1e-9))
PLANS = {
    "dirty": (1_000, 0.10),
    "medium": (1_200, 0.05),
    "dented": (1_700, 0.03),
    "clean": (2_000, 0.0),
}
HULL = [(1_000, 10), (1_200, 5), (2_000, 0)]  # (cost, tCO2e) from least cost to least carbon
HULL_AND_DENT = [(1_000, 10), (1_200, 5), (1_700, 3), (2_000, 0)]  # every Pareto-optimal plan


def write_market(
    root: Path, plans: dict[str, tuple[float, float]], unmet_penalty: float
) -> Dataset:
    """100 t demanded in B, served from A by one module of one of `plans` (capex, tCO2e/t)."""
    return write(
        root,
        regions=[region("A"), region("B")],
        commodities=[{"commodity_id": "power", "value_per_unit": 50}],
        technologies=[
            {
                "technology_id": name,
                "module_size": 100,
                "capex_per_module": capex,
                "emissions_t_per_activity": emissions,
            }
            for name, (capex, emissions) in plans.items()
        ],
        recipes=[
            {"technology_id": name, "commodity_id": "power", "coefficient": 1} for name in plans
        ],
        sites=[
            {"site_id": name, "region_id": "A", "technology_id": name, "max_modules": 1}
            for name in plans
        ],
        demand=[
            {
                "region_id": "B",
                "commodity_id": "power",
                "quantity": 100,
                "unmet_penalty": unmet_penalty,
            }
        ],
        links=[link("ab", "A", "B")],  # at no cost and no emissions
        link_commodities=[{"link_id": "ab", "commodity_id": "power"}],
        supply=[{"region_id": "A", "commodity_id": "power", "max_quantity": 0}],
    )


@pytest.fixture
def market(tmp_path: Path) -> Dataset:
    return write_market(tmp_path / "market", PLANS, unmet_penalty=1_000)


def test_weighted_frontier_is_the_convex_hull_by_hand(market, caplog):
    with caplog.at_level("INFO", logger="twin.pareto"):
        table = pareto_table(frontier(market, EXACT, 7, "p"), "p")
    # fewer points than asked: the hull has three vertices, and every segment was searched
    assert list(table["point"]) == [0, 1, 2]
    assert list(table["kind"]) == ["cost_optimal", "weighted", "carbon_optimal"]
    assert (table["status"] == "optimal").all()
    found = list(zip(table["cost"], table["emissions_t"], strict=True))
    assert found == [pytest.approx(point) for point in HULL]
    assert table["carbon_price"].tolist()[1] == pytest.approx(100)  # the ends' slope
    assert table["carbon_price"].iloc[[0, 2]].isna().all()
    assert table["carbon_cap"].isna().all()
    searches = [r.getMessage() for r in caplog.records if "per tCO2e" in r.getMessage()]
    assert [line.split(":")[0] for line in searches] == [
        "pareto, least cost at 100.00 per tCO2e",
        "pareto, least cost at 160.00 per tCO2e",  # the longer segment first
        "pareto, least cost at 40.00 per tCO2e",
    ]
    assert [
        line.endswith(verdict)
        for line, verdict in zip(
            searches,
            ("a new point", "nothing below the hull", "nothing below the hull"),
            strict=True,
        )
    ] == [True] * 3
    # 7 points asked, 3 found: the ends are named in the log, not numbered "of 7"
    ends = [r.getMessage() for r in caplog.records if " end, " in r.getMessage()]
    assert [line.split(",")[1] for line in ends] == [" cost end", " carbon end"] * 2
    assert not [r for r in caplog.records if " of 7" in r.getMessage()]


def test_each_weighted_point_is_the_least_cost_within_its_own_emissions(market):
    """Not dominated: no plan emits as little for less (an independent check, by a budget)."""
    table = pareto_table(frontier(market, EXACT, 7, "p"), "p")
    for row in table.itertuples():
        capped = optimise(market, replace(EXACT, emissions_budget=row.emissions_t), "c")
        assert capped.results.cost == pytest.approx(row.cost, rel=1e-9)


def test_epsilon_frontier_finds_the_dent_that_prices_cannot(market):
    table = pareto_table(frontier(market, EXACT, 4, "p", method="epsilon"), "p")
    assert list(table["kind"]) == ["cost_optimal", "epsilon", "epsilon", "carbon_optimal"]
    assert table["carbon_cap"].iloc[1:3].tolist() == pytest.approx([20 / 3, 10 / 3])
    found = list(zip(table["cost"], table["emissions_t"], strict=True))
    assert found == [pytest.approx(p) for p in HULL_AND_DENT]


@pytest.mark.parametrize("method", ["weighted", "epsilon"])
def test_frontier_ends_are_the_single_objective_optima(market, method):
    table = pareto_table(frontier(market, EXACT, 5, "p", method=method), "p")
    cheapest = optimise(market, EXACT, "c").results
    cleanest = optimise(market, replace(EXACT, objective="carbon"), "e").results
    assert table["cost"].iloc[0] == pytest.approx(cheapest.cost, rel=1e-6)
    assert table["emissions_t"].iloc[0] <= cheapest.emissions_t + 1e-6
    assert table["emissions_t"].iloc[-1] == pytest.approx(cleanest.emissions_t, rel=1e-6)
    assert table["cost"].iloc[-1] <= cleanest.cost * (1 + 1e-6)
    assert (table["cost"].diff().dropna() >= 0).all()  # never cheaper as it gets cleaner
    assert (table["emissions_t"].diff().dropna() <= 0).all()


@pytest.mark.parametrize("method", ["weighted", "epsilon"])
def test_frontier_is_the_same_on_parallel_workers(market, method):
    columns = ["point", "kind", "status", "carbon_cap", "carbon_price", "cost", "emissions_t"]
    tables = [
        pareto_table(
            frontier(market, EXACT, 5, "p", ParallelOptions(backend, workers=2), method), "p"
        )
        for backend in ("serial", "joblib")
    ]
    pd.testing.assert_frame_equal(tables[1][columns], tables[0][columns], rtol=1e-9)


def test_frontier_without_a_trade_off_is_its_two_ends(toy):
    """On the toy, the least-cost plan is also the least-carbon one: nothing to search."""
    from twin.data import load_dataset

    table = pareto_table(frontier(load_dataset(toy), EXACT, 5, "p"), "p")
    assert list(table["kind"]) == ["cost_optimal", "carbon_optimal"]
    assert table["cost"].iloc[0] == pytest.approx(table["cost"].iloc[1], rel=1e-9)


def test_the_hull_is_searched_up_to_the_carbon_end_where_dear_prices_leave_demand_unmet(
    tmp_path: Path, caplog
):
    """Unmet demand at 25 per t: leaving all 100 t unmet costs 2,500 and emits nothing, but
    the least-carbon plan values it at the reference carbon price (100 per t: 25 t), so the
    carbon end is `clean` (2,000, 2 t). The ends' price (125) is above that reference, so
    the first round also searches at 100: medium again. The price of segment medium-clean
    (266.67) finds the plan without supply, beyond the carbon end; the segment from medium
    to it (260) is an edge, and the frontier is dirty, medium, clean."""
    plans = {"dirty": (1_000, 0.10), "medium": (1_200, 0.05), "clean": (2_000, 0.02)}
    market = write_market(tmp_path / "market", plans, unmet_penalty=25)
    with caplog.at_level("INFO", logger="twin.pareto"):
        table = pareto_table(frontier(market, EXACT, 7, "p"), "p")
    found = list(zip(table["cost"], table["emissions_t"], strict=True))
    assert found == [pytest.approx(p) for p in [(1_000, 10), (1_200, 5), (2_000, 2)]]
    searches = [r.getMessage() for r in caplog.records if "per tCO2e" in r.getMessage()]
    found_by = [
        re.search(r"at ([\d.,]+) per tCO2e.*: \w+ in [\d.]+ s, (.*)", line).groups()
        for line in searches
    ]
    assert found_by == [
        ("125.00", "a new point"),
        ("100.00", "nothing below the hull"),  # the reference carbon price, a seed
        ("266.67", "below the hull, beyond the carbon end"),
        ("40.00", "nothing below the hull"),
        ("260.00", "nothing below the hull"),
    ]


def plan_at(cost: float, emissions: float, price: float | None = None) -> ParetoPoint:
    """A point with only the figures the verdict reads."""
    results = SimpleNamespace(cost=cost, emissions_t=emissions)
    return ParetoPoint(0, "weighted", None, SimpleNamespace(results=results), price)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cost", "emissions", "verdict"),
    [
        (1_400, 5, "a new point"),  # below the segment at 100 per t (1,500 at 5 t)
        (1_500, 5, "nothing below the hull"),  # on it: a tie is no new vertex
        (1_000, 10, "nothing below the hull"),  # the cost end again
        (500, 12, "nothing below the hull"),  # cheaper, but more emissions than the cost end
        (1_750, 1, "below the hull, beyond the carbon end"),  # the carbon end emits 2 t
        (1_790, 2, "below the hull, beyond the carbon end"),  # as much as the carbon end
    ],
)
def test_what_a_search_says(cost, emissions, verdict):
    """Plans known: (1,000, 10 t), (2,000, 0 t) and the carbon end (2,500, 2 t); the
    search at 100 per t, the slope from the first to the second."""
    top, clean, carbon_end = plan_at(1_000, 10), plan_at(2_000, 0), plan_at(2_500, 2)
    known = [top, clean, carbon_end]
    assert _verdict(plan_at(cost, emissions, price=100), known, top, carbon_end) == verdict


def test_the_lower_hull_drops_dents_dearer_twins_and_an_end_above_it():
    dirty, medium, dented, clean = (plan_at(*plan) for plan in HULL_AND_DENT)
    twin = plan_at(1_300, 5)  # medium's emissions, dearer
    hull = _lower_hull([clean, dented, twin, medium, dirty])
    assert hull == [dirty, medium, clean]
    # a plan beyond the carbon end, below the line from medium to it: the end leaves the hull
    end, past = plan_at(2_400, 2), plan_at(2_500, 0)
    assert _lower_hull([dirty, medium, end, past]) == [dirty, medium, past]


FIVE = {  # capex, tCO2e per t: a hull of five vertices, at 30, 70, 120 and 230 per t
    "coal": (1_000, 0.10),
    "gas": (1_090, 0.07),
    "mix": (1_300, 0.04),
    "hybrid": (1_540, 0.02),
    "solar": (2_000, 0.0),
}


@pytest.mark.parametrize("reference", [100, 60])  # at 60 the first round also searches there
def test_every_vertex_of_a_five_plan_hull_is_found_in_order(tmp_path: Path, reference):
    market = write_market(tmp_path / "five", FIVE, unmet_penalty=1_000)
    scenario = replace(EXACT, carbon_reference_price=reference)
    table = pareto_table(frontier(market, scenario, 7, "p"), "p")
    assert list(table["point"]) == [0, 1, 2, 3, 4]
    assert list(table["kind"]) == ["cost_optimal", *["weighted"] * 3, "carbon_optimal"]
    found = list(zip(table["cost"], table["emissions_t"], strict=True))
    assert found == [
        pytest.approx(p) for p in [(1_000, 10), (1_090, 7), (1_300, 4), (1_540, 2), (2_000, 0)]
    ]
    assert table["carbon_price"].iloc[1:4].is_monotonic_increasing


def test_with_fewer_points_the_longest_segments_are_searched(tmp_path: Path):
    """The ends' price (100) finds mix; of mix's two segments the longer, mix-solar (4 t and
    700 against 6 t and 300, on the frontier's scales), is searched at 175: hybrid."""
    market = write_market(tmp_path / "five", FIVE, unmet_penalty=1_000)
    table = pareto_table(frontier(market, EXACT, 4, "p"), "p")
    found = list(zip(table["cost"], table["emissions_t"], strict=True))
    assert found == [pytest.approx(p) for p in [(1_000, 10), (1_300, 4), (1_540, 2), (2_000, 0)]]


def fake_searches(monkeypatch, pick) -> list[float]:
    """Each search answered by `pick(price)`, a plan (cost, tCO2e), in place of a solve;
    the prices searched, in order."""
    prices: list[float] = []

    def solve(task):
        price = task[1].carbon_weight
        prices.append(price)
        cost, emissions = pick(price)
        results = SimpleNamespace(cost=cost, emissions_t=emissions)
        return SimpleNamespace(
            results=results, solved=SimpleNamespace(status="optimal"), timings={}
        ), None

    monkeypatch.setattr(pareto, "_solve", solve)
    return prices


def least(plans):
    return lambda price: min(plans, key=lambda plan: plan[0] + price * plan[1])


def between_ends(
    count: int, top=(1_000, 10), bottom=(2_000, 0), reference: float = 100.0
) -> list[tuple[float, float | None]]:
    """The weighted points between ends `top` and `bottom` (cost, tCO2e), as (cost, tCO2e),
    or (price, None) for a failed search; `reference` the reference carbon price."""
    scenario = Scenario(carbon_reference_price=reference)
    job = pareto.Search(None, scenario, "r", pareto.SERIAL)  # type: ignore[arg-type]
    middle = pareto._weighted_points(job, (plan_at(*top), plan_at(*bottom)), count)
    return [(p.cost, p.emissions) if p.run.results else (p.carbon_price, None) for p in middle]


def test_a_failed_search_is_one_row_and_its_segment_is_not_searched_again(monkeypatch):
    def pick(price):
        raise RuntimeError("out of memory")

    prices = fake_searches(monkeypatch, pick)
    assert between_ends(5) == [(100, None)]
    assert prices == [100]


def test_a_point_a_better_plan_leaves_above_the_hull_leaves_the_table(monkeypatch):
    """The search at 100 stops within its gap at (1,210, 5.2 t); medium (1,200, 5 t), found
    next, leaves it above the hull: the frontier holds medium once, and not the other."""
    exact = least([(1_000, 10), (1_200, 5), (2_000, 0)])
    prices = fake_searches(
        monkeypatch, lambda price: (1_210, 5.2) if price == 100 else exact(price)
    )
    assert between_ends(5) == [(1_200, 5)]
    assert prices[0] == 100 and len(prices) == 5  # 43.75 and 151.9 find medium; then 40, 160


def test_no_segment_is_searched_at_a_price_of_zero_or_less(monkeypatch):
    """A plan cheaper and cleaner than the cost end's tie-break plan (1,010, 10 t), within
    its gap: the hull falls from the cost end to it, and that segment is not searched."""
    prices = fake_searches(monkeypatch, least([(1_000, 9.9), (1_200, 5), (2_000, 0)]))
    assert between_ends(5, top=(1_010, 10)) == [(1_000, 9.9), (1_200, 5)]
    assert min(prices) > 0


def test_a_segment_counts_only_its_part_before_the_carbon_end(monkeypatch):
    """Ends (1,000, 10 t) and a carbon end (3,000, 6 t) off the hull; plans P (1,050, 7 t)
    and Z (1,800, 0 t), beyond the carbon end. The ends' price (500) finds Z, the hull's
    (80) finds P. Of P's segments, P-Z is the longer, but only 1 of its 7 t lies before the
    carbon end, so the cost end-P segment (16.67) is searched first."""
    prices = fake_searches(monkeypatch, least([(1_000, 10), (1_050, 7), (1_800, 0)]))
    assert between_ends(2, bottom=(3_000, 6), reference=0) == [(1_050, 7)]  # no seed
    assert prices == pytest.approx([500, 80, 50 / 3, 750 / 7])
