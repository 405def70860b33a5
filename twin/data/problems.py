"""Problems found in a dataset and the error that carries them all."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the input: where it is and why it is wrong.

    `row` is the line of the CSV file (the header is line 1), or None when the problem is
    about the whole file or column.
    """

    file: str
    row: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.reason}"


class DatasetError(Exception):
    """A dataset failed validation; `problems` lists every problem found."""

    def __init__(self, path: str, problems: list[Problem]):
        self.path = path
        self.problems = sorted(set(problems), key=_sort_key)
        lines = [f"dataset {path}: {len(self.problems)} problem(s)"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


def _sort_key(p: Problem) -> tuple:
    return (p.file, p.row if p.row is not None else -1, p.column or "", p.reason)


def csv_row(index: int) -> int:
    """Line of a CSV file holding the DataFrame row with this 0-based position."""
    return int(index) + 2
