"""The multi-echelon graph: structural checks and the sparse sets the model will use."""

from __future__ import annotations

from pathlib import Path

from twin.data import load_dataset
from twin.network import build_graph, check_structure, derive_sets

from .conftest import CsvEdit


def test_toy_sparse_sets_match_hand_derivation(toy: Path):
    sets = derive_sets(load_dataset(toy))
    # The city mill may only be built from 2030, so grain crosses the border only then.
    assert sets.site_periods == (("mill_city", 2030), ("mill_hub", 2025), ("mill_hub", 2030))
    assert set(sets.link_flows) == {
        ("farm_hub_rail", "grain", 2025),
        ("farm_hub_rail", "grain", 2030),
        ("hub_city_rail", "flour", 2025),
        ("hub_city_rail", "flour", 2030),
        ("hub_city_road", "flour", 2025),
        ("hub_city_road", "flour", 2030),
        ("hub_city_rail", "grain", 2030),
        ("hub_city_road", "grain", 2030),
    }
    assert ("cn_city", "flour", 2025) in sets.available
    assert ("kz_farm", "flour", 2025) not in sets.available


def test_graph_couples_chains_through_shared_commodities(toy: Path):
    graph = build_graph(load_dataset(toy))
    site = graph.nodes[("site", "mill_hub")]
    assert (site["chain"], site["echelon"], site["region"]) == ("agrotech", 2, "kz_hub")
    inputs = {
        key
        for _, _, key, kind in graph.in_edges(("site", "mill_hub"), keys=True, data="kind")
        if kind == "input"
    }
    assert inputs == {"grain", "electricity"}  # electricity belongs to the hydrogen chain
    modes = {data["mode"] for *_, data in graph.edges(data=True) if data["kind"] == "link"}
    assert modes == {"rail", "road"}


def test_demand_cut_off_from_supply_is_an_error_naming_it(toy: Path, edit: CsvEdit):
    edit.delete_rows("supply.csv", keep=lambda row: row["commodity_id"] != "grain")
    report = check_structure(load_dataset(toy))
    assert "demand for flour in cn_city (2025) cannot be reached" in " ".join(report.errors)
    assert len(report.errors) == 2  # 2025 and 2030


def test_closing_every_border_link_makes_demand_unreachable(toy: Path):
    ds = load_dataset(toy)
    sets = derive_sets(ds, open_links={"farm_hub_rail"})
    assert ("cn_city", "flour", 2030) not in sets.available
    assert sets.link_flows == ()  # flour has no outlet, so the mill and its grain are idle
    assert sets.flows_by_link_period == ([], [])  # no link load either
    assert len(check_structure(ds, sets).errors) == 2


def test_site_without_usable_input_is_a_warning(toy: Path, edit: CsvEdit):
    edit.append(
        "sites.csv",
        {
            "site_id": "mill_farm",
            "region_id": "kz_farm",
            "technology_id": "mill",
            "existing_modules": "0",
            "max_modules": "1",
            "opening_cost": "0",
        },
    )
    report = check_structure(load_dataset(toy))
    assert report.errors == []
    assert any("mill_farm" in w and "no usable input electricity" in w for w in report.warnings)


def test_isolated_region_is_a_warning(toy: Path, edit: CsvEdit):
    edit.append(
        "regions.csv",
        {"region_id": "island", "name": "Island", "country": "KAZ", "lat": "0", "lon": "0"},
    )
    report = check_structure(load_dataset(toy))
    assert report.warnings == ["region island is isolated: no link in or out"]


def test_flow_arrays_and_link_groups_name_the_flow_tuples():
    """The arrays the balance and link loads are built from say what the tuples say."""
    ds = load_dataset(Path(__file__).parents[1] / "data" / "eaeu_china")
    closed = set(ds.links["link_id"].tolist()[::4])
    every = set(ds.links["link_id"])
    for open_links in (every, every - closed):
        sets, shut = derive_sets(ds, open_links), every - open_links
        names, flows = sets.names, sets.flows
        decoded = [
            (names.links[i], names.commodities[k], names.periods[p])
            for i, k, p in zip(flows.link, flows.commodity, flows.period, strict=True)
        ]
        assert decoded == list(sets.link_flows) == sorted(sets.link_flows)
        assert len(decoded) > 100
        carried = ds.link_commodities[ds.link_commodities["link_id"].isin(open_links)]
        ends = ds.links.set_index("link_id")
        expected = {  # each arc and period whose commodity is had at one end, used at the other
            (link, k, p)
            for link, k in zip(carried["link_id"], carried["commodity_id"], strict=True)
            for p in sets.periods
            if (ends.src[link], k, p) in sets.available and (ends.dst[link], k, p) in sets.useful
        }
        assert set(decoded) == expected
        assert [names.regions[r] for r in flows.src] == [ends.src[x] for x, *_ in decoded]
        assert [names.regions[r] for r in flows.dst] == [ends.dst[x] for x, *_ in decoded]
        loads, members = sets.flows_by_link_period
        assert loads == sorted({(link, p) for link, _, p in sets.link_flows})
        for (link, period), positions in zip(loads, members, strict=True):
            assert list(positions) == sorted(positions)  # a load's flows in flow order
            assert {sets.link_flows[i][::2] for i in positions} == {(link, period)}
        assert sorted(i for positions in members for i in positions) == list(range(len(decoded)))
        assert not shut & {link for link, _ in loads}
        keys = [*sets.link_flows, *sets.site_periods, *sets.available, *sets.useful, *loads]
        assert {type(part) for key in keys for part in key} == {str, int}  # no numpy scalars
