"""OR-Library CFLP importer: token-stream parsing, published optima and the exact encoding of
an instance as a twin dataset (checked by hand on a 2-warehouse, 3-customer instance)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from twin.data import load_dataset
from twin.orlib import (
    ORLIB_DIR,
    OrlibError,
    instance_name,
    published_optimum,
    read_cflp,
    to_dataset,
    unmet_penalty,
    write_dataset,
)

# 2 warehouses, 3 customers; Fortran-style numbers and arbitrary wrapping, as in the originals.
TINY = """\
2 3
 10 100.
 20
 .5E2
4 8. 12.
5 10
 .00000
   2 3 4
"""
# Hand-checked: capacities 10, 20; fixed costs 100, 50; demands 4, 5, 2;
# costs[i, j] (warehouse i, customer j) below. Optimum: open warehouse 2 only (capacity 20
# covers the total demand 11; warehouse 1 alone cannot): 50 + 12 + 0 + 4 = 66.
TINY_COSTS = [[8.0, 10.0, 3.0], [12.0, 0.0, 4.0]]


def write(tmp_path: Path, text: str, name: str = "tiny.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="ascii")
    return path


def rows(directory: Path, table: str) -> list[dict[str, str]]:
    with (directory / f"{table}.csv").open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def test_token_stream_with_fortran_numbers_and_wrapping(tmp_path: Path) -> None:
    instance = read_cflp(write(tmp_path, TINY))
    assert instance.name == "tiny"
    assert (instance.m, instance.n) == (2, 3)
    assert instance.capacities.tolist() == [10.0, 20.0]
    assert instance.fixed_costs.tolist() == [100.0, 50.0]
    assert instance.demands.tolist() == [4.0, 5.0, 2.0]
    assert instance.costs.tolist() == TINY_COSTS
    assert instance.total_demand == 11.0
    with pytest.raises(ValueError):
        instance.costs[0, 0] = 1.0  # read-only: instances can be shared


def test_capacity_word_needs_a_capacity(tmp_path: Path) -> None:
    path = write(tmp_path, "2 1\ncapacity 7500.\n capacity\n0.\n3 1. 2.\n", "capx.txt")
    with pytest.raises(OrlibError, match=r"capx\.txt.*token 3.*capacity"):
        read_cflp(path)
    instance = read_cflp(path, capacity=8000)
    assert instance.name == "capx_8000" == instance_name(path, 8000.0)
    assert instance.capacities.tolist() == [8000.0, 8000.0]
    assert instance.fixed_costs.tolist() == [7500.0, 0.0]


def test_capacity_overrides_a_numeric_file(tmp_path: Path) -> None:
    instance = read_cflp(write(tmp_path, TINY), capacity=6.5)
    assert instance.name == "tiny_6.5"
    assert instance.capacities.tolist() == [6.5, 6.5]
    with pytest.raises(OrlibError, match="positive"):
        read_cflp(tmp_path / "tiny.txt", capacity=0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (TINY.rsplit(" ", 1)[0], r"broken\.txt: truncated: expected cost of customer 3 .* 15"),
        (TINY.replace("12.", "1,2"), r"broken\.txt: token 9 \(line 5, .*\) is not a number"),
        (TINY.replace("12.", "nan"), r"broken\.txt: token 9 .* not a number: 'nan'"),
        (TINY.replace("12.", "-12."), r"broken\.txt: token 9 .* non-negative"),
        (TINY + "7\n", r"broken\.txt: 1 token\(s\) left over from token 16 \(line 9"),
        ("2.5 3\n", r"broken\.txt: token 1 .* positive whole number"),
        ("", r"broken\.txt: truncated"),
    ],
)
def test_errors_name_the_file_and_token(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(OrlibError, match=message):
        read_cflp(write(tmp_path, text, "broken.txt"))


def test_data_live_in_the_repository() -> None:
    repository = Path(__file__).resolve().parents[1]
    assert repository / "data" / "orlib_cflp" == ORLIB_DIR
    assert (ORLIB_DIR / "README.md").is_file()


def test_cap41_and_capa() -> None:
    cap41 = read_cflp(ORLIB_DIR / "cap41.txt")
    assert (cap41.m, cap41.n, cap41.total_demand) == (16, 50, 58268.0)
    assert set(cap41.capacities) == {5000.0}
    capa = read_cflp(ORLIB_DIR / "capa.txt", capacity=8000)
    assert (capa.name, capa.m, capa.n) == ("capa_8000", 100, 1000)
    assert capa.costs.shape == (100, 1000)


def test_published_optima() -> None:
    assert published_optimum("cap41") == 1040444.375
    with (ORLIB_DIR / "optima.csv").open(encoding="utf-8") as file:
        optima = {row["instance"]: float(row["optimum"]) for row in csv.DictReader(file)}
    assert published_optimum("capa_8000") == optima["capa_8000"] == 19240822.449
    assert published_optimum("capa") is None
    assert len(optima) == 37 + 12


def test_cap41_dataset_loads(tmp_path: Path) -> None:
    dataset = to_dataset(read_cflp(ORLIB_DIR / "cap41.txt"), tmp_path / "cap41")
    assert dataset.name == "cap41"
    assert len(dataset.sites) == 16
    assert len(dataset.links) == 16 * 50
    assert dataset.demand["quantity"].sum() == 58268.0
    assert not (tmp_path / "cap41" / "corridors.csv").exists()


def test_tiny_instance_is_encoded_exactly(tmp_path: Path) -> None:
    instance = read_cflp(write(tmp_path, TINY))
    root = write_dataset(instance, tmp_path / "tiny")
    load_dataset(root)  # valid
    links = {row["link_id"]: row for row in rows(root, "links")}
    demands = [4.0, 5.0, 2.0]
    for i in range(2):
        for j in range(3):
            link = links[f"l{i + 1}_{j + 1}"]
            assert (link["src"], link["dst"]) == (f"w{i + 1}", f"c{j + 1}")
            assert float(link["distance_km"]) == 1.0
            assert float(link["cost_per_unit_km"]) == TINY_COSTS[i][j] / demands[j]
            assert float(link["capacity"]) == demands[j]
            assert float(link["max_expansions"]) == 0
    technologies = {row["technology_id"]: row for row in rows(root, "technologies")}
    assert [float(technologies[f"wh{i}"]["module_size"]) for i in (1, 2)] == [10.0, 20.0]
    assert [float(technologies[f"wh{i}"]["capex_per_module"]) for i in (1, 2)] == [100.0, 50.0]
    assert {row["lifetime_years"] for row in technologies.values()} == {"1"}
    sites = rows(root, "sites")
    assert [(s["region_id"], s["max_modules"], s["opening_cost"]) for s in sites] == [
        ("w1", "1", "0"),
        ("w2", "1", "0"),
    ]
    assert rows(root, "periods") == [{"period": "2025", "years": "1"}]
    demand = rows(root, "demand")
    assert [float(d["quantity"]) for d in demand] == demands
    # 2 * (max c_ij/d_j + f_max/cap_min + f_max/gcd) = 2 * (12/4 + 100/10 + 100/1)
    assert {float(d["unmet_penalty"]) for d in demand} == {226.0} == {unmet_penalty(instance)}


def test_zero_demand_customers_get_no_links(tmp_path: Path) -> None:
    instance = read_cflp(write(tmp_path, TINY.replace("5 10", "0 10")))
    root = write_dataset(instance, tmp_path / "tiny")
    load_dataset(root)
    assert [d["region_id"] for d in rows(root, "demand")] == ["c1", "c3"]
    assert not any(row["dst"] == "c2" for row in rows(root, "links"))


def test_penalty_uses_the_decimal_gcd(tmp_path: Path) -> None:
    # demands 0.5 and 0.75, capacities 10 and 20: gcd 0.25
    instance = read_cflp(write(tmp_path, "2 2\n10 4 20 2\n0.5 1 1\n0.75 3 3\n"))
    assert unmet_penalty(instance) == 2 * (4.0 + 4 / 10 + 4 / 0.25)
    assert np.isfinite(unmet_penalty(instance))
