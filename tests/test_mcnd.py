"""Network design (Canad MCND): the reader, the exact encoding, and every proven optimum
reproduced by the model core through the same build and solve path as a plan."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from twin.mcnd import MCND_DIR, OPTIMA_CSV, McndError, read_mcnd, solve_instance, to_dataset

# 3 nodes; two routes from 1 to 3: direct (10 per unit, fixed 100, capacity 10) or via 2
# (1 + 1 per unit, fixed 30 + 30, capacity 4). Demand 5 from 1 to 3. Hand-solved: the direct
# arc alone costs 100 + 5 x 10 = 150; the route via 2 carries at most 4 (60 + 4 x 2 = 68)
# and then needs the direct arc for the fifth unit (+ 100 + 10 = 178). Optimum 150.
TINY = """MULTIGEN.DAT:
 3 3 1
 1 3 10 10 100 1 1
 1 2 1 4 30 1 2
 2 3 1 4 30 1 3
 1 3 5
"""

with OPTIMA_CSV.open() as handle:
    KNOWN = list(csv.DictReader(handle))
PROVEN = [(row["instance"], float(row["objective"])) for row in KNOWN if row["status"] == "optimal"]


def test_nineteen_of_the_twenty_instances_have_proven_optima():
    assert len(KNOWN) == 20 and len(PROVEN) == 19
    assert all((MCND_DIR / f"{name}.dow").exists() for name, _ in PROVEN)


def test_the_reader_takes_arcs_and_commodities(tmp_path: Path):
    path = tmp_path / "tiny.dow"
    path.write_text(TINY)
    instance = read_mcnd(path)
    assert instance.nodes == 3 and len(instance.arcs) == 3 and len(instance.commodities) == 1
    assert instance.arcs[1].tail == 1 and instance.arcs[1].head == 2
    assert instance.arcs[1].capacity == 4 and instance.arcs[1].fixed_cost == 30
    assert instance.commodities[0].demand == 5


def test_a_hand_solved_design_is_the_optimum(tmp_path: Path):
    path = tmp_path / "tiny.dow"
    path.write_text(TINY)
    summary = solve_instance(path, time_limit=30)
    assert summary["status"] == "optimal"
    assert summary["objective"] == pytest.approx(150.0)


def test_a_demand_no_design_can_carry_is_infeasible(tmp_path: Path):
    path = tmp_path / "tight.dow"
    path.write_text(TINY.replace(" 1 3 5\n", " 1 3 50\n"))  # 10 + 4 < 50
    assert solve_instance(path, time_limit=30)["status"] == "infeasible"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (TINY.replace("MULTIGEN.DAT:", "NOT.DAT:"), "should be 'MULTIGEN.DAT:'"),
        (TINY.replace(" 2 3 1 4 30 1 3\n", " 2 9 1 4 30 1 3\n"), "past N=3"),
        (TINY.replace(" 1 3 5\n", ""), "truncated"),
        (TINY + " 7\n", "left over"),
    ],
)
def test_a_broken_file_is_a_clear_error_naming_the_token(tmp_path: Path, text, message):
    path = tmp_path / "broken.dow"
    path.write_text(text)
    with pytest.raises(McndError, match=message):
        read_mcnd(path)


def test_the_encoding_writes_arcs_as_links_opened_by_one_expansion(tmp_path: Path):
    ds = to_dataset(read_mcnd(MCND_DIR / "r01.2.dow"), tmp_path / "r01.2")
    assert len(ds.links) == 35 and (ds.links["capacity"] == 0).all()
    assert (ds.links["max_expansions"] == 1).all() and (ds.links["lifetime_years"] == 1).all()
    assert len(ds.link_commodities) == 35 * 10
    assert ds.sites.empty and ds.technologies.empty


def test_the_cli_prints_one_json_object(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "twin", "mcnd", str(MCND_DIR / "r01.2.dow"), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert {"instance", "objective", "status", "gap", "build_s", "solve_s"} <= set(summary)
    assert summary["objective"] == pytest.approx(92403.0, rel=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "optimum"), PROVEN, ids=[n for n, _ in PROVEN])
def test_the_proven_optimum_is_reproduced(name: str, optimum: float):
    summary = solve_instance(MCND_DIR / f"{name}.dow", time_limit=300)
    assert summary["status"] == "optimal"
    assert summary["objective"] == pytest.approx(optimum, rel=1e-6)
