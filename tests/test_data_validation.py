"""Every kind of bad input is rejected with its file, row, column and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.data import DatasetError, Problem, load_dataset
from twin.data.dictionary import render

from .conftest import DATA, ROOT, CsvEdit


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(DatasetError) as caught:
        load_dataset(path)
    return caught.value.problems


def assert_problem(path: Path, file: str, row: int | None, column: str | None, reason: str):
    found = problems_of(path)
    matches = [
        p for p in found if (p.file, p.row, p.column) == (file, row, column) and reason in p.reason
    ]
    assert matches, f"expected {file} row {row} column {column}: {reason!r}; got {found}"


@pytest.mark.parametrize("name", ["toy", "eaeu_china"])
def test_shipped_datasets_are_valid(name: str):
    ds = load_dataset(DATA / name)
    assert set(ds.tables) >= {"regions", "links", "demand", "periods"}
    assert ds.regions["region_id"].is_unique
    assert str(ds.sites["existing_modules"].dtype) == "Int64"
    assert ds.commodities["critical"].dtype == bool


def test_missing_file(toy: Path):
    (toy / "links.csv").unlink()
    assert_problem(toy, "links.csv", None, None, "missing file")


def test_missing_dataset_yaml_key(toy: Path):
    text = (toy / "dataset.yaml").read_text().replace("currency: USD\n", "")
    (toy / "dataset.yaml").write_text(text)
    assert_problem(toy, "dataset.yaml", None, "currency", "missing key")


def test_missing_column(toy: Path, edit: CsvEdit):
    edit.drop_column("links.csv", "mode")
    assert_problem(toy, "links.csv", None, "mode", "missing column")


def test_empty_table(toy: Path, edit: CsvEdit):
    edit.delete_rows("demand.csv", keep=lambda row: False)
    assert_problem(toy, "demand.csv", None, None, "table is empty")


def test_wrong_type(toy: Path, edit: CsvEdit):
    edit.set("links.csv", 3, "capacity", "lots")
    assert_problem(toy, "links.csv", 3, "capacity", "expected a number, got 'lots'")


def test_fraction_where_whole_number_required(toy: Path, edit: CsvEdit):
    edit.set("sites.csv", 2, "max_modules", "2.5")
    assert_problem(toy, "sites.csv", 2, "max_modules", "expected a whole number")


def test_empty_cell_where_value_required(toy: Path, edit: CsvEdit):
    edit.set("supply.csv", 4, "cost_per_unit", "")
    assert_problem(toy, "supply.csv", 4, "cost_per_unit", "value required")


def test_not_a_number_text_is_named_as_such_not_as_an_empty_cell(toy: Path, edit: CsvEdit):
    edit.set("demand.csv", 2, "quantity", "NaN")
    assert_problem(toy, "demand.csv", 2, "quantity", "expected a number, got 'NaN' (not a number)")


def test_negative_value(toy: Path, edit: CsvEdit):
    edit.set("technologies.csv", 2, "capex_per_module", "-5")
    assert_problem(toy, "technologies.csv", 2, "capex_per_module", "must be >= 0, got -5")


def test_out_of_range_value(toy: Path, edit: CsvEdit):
    edit.set("regions.csv", 3, "lat", "123")
    assert_problem(toy, "regions.csv", 3, "lat", "must be <= 90, got 123")


def test_bad_choice(toy: Path, edit: CsvEdit):
    edit.set("links.csv", 2, "mode", "teleport")
    assert_problem(toy, "links.csv", 2, "mode", "must be one of rail")


def test_bad_boolean(toy: Path, edit: CsvEdit):
    edit.set("commodities.csv", 2, "critical", "maybe")
    assert_problem(toy, "commodities.csv", 2, "critical", "must be true or false")


def test_duplicate_id(toy: Path, edit: CsvEdit):
    line = edit.append(
        "regions.csv",
        {"region_id": "kz_hub", "name": "Again", "country": "KAZ", "lat": "1", "lon": "1"},
    )
    assert_problem(toy, "regions.csv", line, "region_id", "duplicate region_id 'kz_hub'")


def test_duplicate_composite_key(toy: Path, edit: CsvEdit):
    line = edit.append(
        "recipes.csv", {"technology_id": "mill", "commodity_id": "grain", "coefficient": "-1"}
    )
    assert_problem(
        toy, "recipes.csv", line, "technology_id, commodity_id", "duplicate key (mill, grain)"
    )


def test_link_to_unknown_region(toy: Path, edit: CsvEdit):
    edit.set("links.csv", 2, "dst", "atlantis")
    assert_problem(toy, "links.csv", 2, "dst", "unknown region_id 'atlantis'")


def test_recipe_with_unknown_commodity(toy: Path, edit: CsvEdit):
    edit.set("recipes.csv", 4, "commodity_id", "unobtainium")
    assert_problem(toy, "recipes.csv", 4, "commodity_id", "unknown commodity_id 'unobtainium'")


def test_unknown_period(toy: Path, edit: CsvEdit):
    edit.set("demand.csv", 3, "period", "2040")
    assert_problem(toy, "demand.csv", 3, "period", "unknown period '2040'")


def test_recipe_with_no_output(toy: Path, edit: CsvEdit):
    edit.set("recipes.csv", 2, "coefficient", "-1")
    assert_problem(toy, "technologies.csv", 2, "technology_id", "recipe has no output")


def test_zero_recipe_coefficient(toy: Path, edit: CsvEdit):
    edit.set("recipes.csv", 4, "coefficient", "0")
    assert_problem(toy, "recipes.csv", 4, "coefficient", "must not be 0")


def test_link_that_carries_no_commodity(toy: Path, edit: CsvEdit):
    edit.delete_rows("link_commodities.csv", keep=lambda row: row["link_id"] != "farm_hub_rail")
    assert_problem(toy, "links.csv", 2, "link_id", "link carries no commodity")


def test_link_with_commodities_of_two_units(toy: Path, edit: CsvEdit):
    line = edit.append(
        "link_commodities.csv", {"link_id": "farm_hub_rail", "commodity_id": "electricity"}
    )
    assert_problem(toy, "link_commodities.csv", line, "commodity_id", "must share one unit")


def test_link_in_two_corridors(toy: Path, edit: CsvEdit):
    line = edit.append(
        "corridors.csv",
        {
            "corridor_id": "other",
            "link_id": "hub_city_rail",
            "tariff_per_unit": "0",
            "border_delay_cost_per_unit": "0",
            "customs_union": "false",
        },
    )
    assert_problem(toy, "corridors.csv", line, "link_id", "already in corridor 'kz_cn_rail'")


def test_crossing_that_does_not_join_the_link_countries(toy: Path, edit: CsvEdit):
    edit.set("border_crossings.csv", 2, "country_b", "MNG")
    assert_problem(toy, "corridors.csv", 2, "border_crossing", "joins KAZ and MNG")


def test_max_modules_below_existing(toy: Path, edit: CsvEdit):
    edit.set("sites.csv", 2, "max_modules", "0")
    assert_problem(toy, "sites.csv", 2, None, "max_modules must be >= existing_modules")


def test_agglomeration_factor_rising(toy: Path, edit: CsvEdit):
    (toy / "agglomeration.csv").write_text(
        "chain,modules,capex_factor\nagrotech,0,1\nagrotech,2,0.8\nagrotech,4,0.9\n"
    )
    assert_problem(toy, "agglomeration.csv", 4, "capex_factor", "non-increasing")


def test_non_utf8_file(toy: Path):
    path = toy / "regions.csv"
    path.write_bytes(path.read_bytes().replace(b"Border hub", "Gr\xe9nze".encode("latin-1")))
    assert_problem(toy, "regions.csv", 3, None, "not UTF-8")


def test_ragged_csv_line(toy: Path):
    path = toy / "periods.csv"
    path.write_text(path.read_text() + "2035,5,extra\n")
    assert_problem(toy, "periods.csv", 4, None, "expected 2 fields, found 3")


def test_every_problem_is_listed_at_once(toy: Path, edit: CsvEdit):
    edit.set("regions.csv", 2, "lat", "-100")
    edit.set("links.csv", 3, "src", "nowhere")
    edit.set("demand.csv", 2, "quantity", "-1")
    (toy / "periods.csv").unlink()
    found = {(p.file, p.row, p.column) for p in problems_of(toy)}
    assert {
        ("regions.csv", 2, "lat"),
        ("links.csv", 3, "src"),
        ("demand.csv", 2, "quantity"),
        ("periods.csv", None, None),
    } <= found


def test_data_dictionary_is_current():
    """docs/data.md is generated from the schemas; regenerate it when they change."""
    assert (ROOT / "docs" / "data.md").read_text() == render(), (
        "run: python -m twin.data.dictionary > docs/data.md"
    )


def test_model_formulation_page_is_current():
    """docs/model.md is generated from the model's docstrings; regenerate it when they change."""
    from twin.model.docs import render as render_model

    assert (ROOT / "docs" / "model.md").read_text() == render_model(), (
        "run: python -m twin.model.docs > docs/model.md"
    )
