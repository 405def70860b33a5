"""`twin validate` as a planner meets it: a summary, or every problem and exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import DATA, CsvEdit


def twin(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "twin", *args], capture_output=True, text=True, check=False
    )


def test_validate_prints_summary_and_exits_zero():
    result = twin("validate", str(DATA / "toy"))
    assert result.returncode == 0, result.stdout + result.stderr
    for expected in ("regions.csv", "border crossings", "Rail crossing", "CHN, KAZ", "valid"):
        assert expected in result.stdout


def test_validate_bad_dataset_lists_problems_without_traceback(toy: Path, edit: CsvEdit):
    edit.set("links.csv", 3, "capacity", "lots")
    edit.set("regions.csv", 2, "country", "Kazakhstan")
    result = twin("validate", str(toy))
    output = result.stdout + result.stderr
    assert result.returncode == 2
    assert "Traceback" not in output
    assert "links.csv, row 3, column capacity: expected a number, got 'lots'" in output
    assert "regions.csv, row 2, column country: must be an ISO 3166-1 alpha-3 code" in output


def test_validate_unreachable_demand_exits_two(toy: Path, edit: CsvEdit):
    edit.delete_rows("link_commodities.csv", keep=lambda row: row["commodity_id"] != "flour")
    edit.delete_rows("sites.csv", keep=lambda row: row["site_id"] != "mill_city")
    result = twin("validate", str(toy))
    assert result.returncode == 2
    assert "demand for flour in cn_city" in result.stdout


def test_validate_missing_directory_exits_two(tmp_path: Path):
    result = twin("validate", str(tmp_path / "absent"))
    assert result.returncode == 2
    assert "not a directory" in result.stdout


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch: pytest.MonkeyPatch, capsys):
    """Ctrl-C at any step of any command: a line that says what is safe, not a traceback."""
    from twin.cli import main

    def pressed(path: str):
        raise KeyboardInterrupt

    monkeypatch.setattr("twin.cli.load_dataset", pressed)
    assert main(["validate", str(DATA / "toy")]) == 130
    said = capsys.readouterr()
    assert "interrupted (Ctrl-C): nothing more was written" in said.err
    assert "Traceback" not in said.out + said.err
