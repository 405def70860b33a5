"""The model core reproduces the published optima of OR-Library's capacitated facility
location instances (Beasley 1988), solved through the same build and solve path as a plan."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

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


def test_warehouses_that_cannot_serve_all_demand_are_infeasible():
    """Every customer must be served, as the CFLP states: at a capacity of 100 per
    warehouse, cap41's 16 warehouses hold 1,600 against 58,268 of demand."""
    command = ["twin", "orlib", str(ORLIB_DIR / "cap41.txt"), "--capacity", "100", "--json"]
    result = subprocess.run(
        [sys.executable, "-m", *command],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["status"] == "infeasible"
