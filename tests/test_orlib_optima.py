"""The model core reproduces the published optima of OR-Library's capacitated facility
location instances (Beasley 1988), solved through the same build and solve path as a plan."""

from __future__ import annotations

import csv

import pytest

from twin.orlib import OPTIMA_CSV, ORLIB_DIR, solve_instance

with OPTIMA_CSV.open() as handle:
    SMALL = [
        (row["instance"], float(row["optimum"]))
        for row in csv.DictReader(handle)
        if row["instance"].startswith("cap") and "_" not in row["instance"]
    ]


def test_all_37_small_instances_are_listed():
    assert len(SMALL) == 37


@pytest.mark.slow
@pytest.mark.parametrize(("name", "optimum"), SMALL, ids=[n for n, _ in SMALL])
def test_published_optimum_is_reproduced(name: str, optimum: float):
    summary = solve_instance(ORLIB_DIR / f"{name}.txt", time_limit=120)
    assert summary["status"] == "optimal"
    assert summary["objective"] == pytest.approx(optimum, rel=1e-6)
