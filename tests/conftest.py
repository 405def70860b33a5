"""Shared fixtures: datasets copied to a temporary directory so tests can break them."""

from __future__ import annotations

import csv
import io
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from twin.model import build_model
from twin.orlib import ORLIB_DIR, ORLIB_SCENARIO, read_cflp, to_dataset

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


def twin_run(*overrides: str) -> subprocess.CompletedProcess:
    """`twin run` on the toy dataset in a fresh process, as a planner types it."""
    return subprocess.run(
        [sys.executable, "-m", "twin", "run", *overrides, "dataset=toy"],
        capture_output=True,
        text=True,
        check=False,
    )


def assert_ran(result: subprocess.CompletedProcess) -> None:
    """A run that exited 0; else its output's end, to say why."""
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


@pytest.fixture
def ctrl_c_as_in_a_terminal():
    """Python's own Ctrl-C handler, as in a terminal: a background job (`make test &`, some
    CI runners) starts with SIGINT ignored, and then twin leaves Ctrl-C alone."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="module")
def cap41(tmp_path_factory: pytest.TempPathFactory):
    """OR-Library cap41 (16 warehouses, 50 customers) as `twin orlib` builds it."""
    instance = read_cflp(ORLIB_DIR / "cap41.txt")
    dataset = to_dataset(instance, tmp_path_factory.mktemp("cap41") / instance.name)
    return build_model(dataset, ORLIB_SCENARIO).model


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    """A private copy of data/toy."""
    target = tmp_path / "toy"
    shutil.copytree(DATA / "toy", target)
    return target


class CsvEdit:
    """Small edits of a dataset's CSV files, addressed as a planner sees them."""

    def __init__(self, root: Path):
        self.root = root

    def rows(self, file: str) -> list[list[str]]:
        text = (self.root / file).read_text(encoding="utf-8")
        return list(csv.reader(io.StringIO(text)))

    def write(self, file: str, rows: list[list[str]]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        (self.root / file).write_text(buffer.getvalue(), encoding="utf-8")

    def set(self, file: str, line: int, column: str, value: str) -> None:
        """Set one cell: `line` is the file's line number (header = 1)."""
        rows = self.rows(file)
        rows[line - 1][rows[0].index(column)] = value
        self.write(file, rows)

    def append(self, file: str, values: dict[str, str]) -> int:
        """Append a row (missing columns empty); return its line number."""
        rows = self.rows(file)
        rows.append([values.get(column, "") for column in rows[0]])
        self.write(file, rows)
        return len(rows)

    def drop_column(self, file: str, column: str) -> None:
        rows = self.rows(file)
        index = rows[0].index(column)
        self.write(file, [row[:index] + row[index + 1 :] for row in rows])

    def delete_rows(self, file: str, keep) -> None:
        rows = self.rows(file)
        header = rows[0]
        kept = [row for row in rows[1:] if keep(dict(zip(header, row, strict=True)))]
        self.write(file, [header, *kept])


def edited_toy(
    cells: dict[tuple[str, int, str], object], copies: dict[tuple[str, int], str] | None = None
):
    """The toy dataset with some cells changed ((file, line, column) -> value) and some
    lines copied under a new id ((file, line) -> id in the first column; after the changes),
    loaded from a temporary copy: for property tests, which cannot take a function-scoped
    fixture."""
    from twin.data import load_dataset

    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory) / "toy"
        shutil.copytree(DATA / "toy", root)
        edit = CsvEdit(root)
        for (file, line, column), value in cells.items():
            edit.set(file, line, column, str(value))
        for (file, line), new_id in (copies or {}).items():
            header, *_ = rows = edit.rows(file)
            edit.append(file, dict(zip(header, [new_id, *rows[line - 1][1:]], strict=True)))
        return load_dataset(root)


@pytest.fixture
def edit(toy: Path) -> CsvEdit:
    return CsvEdit(toy)
