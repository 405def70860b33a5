"""Problems found in a dataset and the error that carries them all."""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# A planner fixes the first few problems of a file and runs again: more lines only bury
# them (a 50 MB file of bad rows has millions), so each file lists this many and counts
# the rest.
PROBLEMS_PER_FILE = 50


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


class ProblemLog:
    """Problems as they are found, in bounded memory: per file the first `PROBLEMS_PER_FILE`
    by row are kept and the others counted, so a file of a million bad rows costs no more
    memory than one of fifty."""

    def __init__(self) -> None:
        self._kept: dict[str, list] = defaultdict(list)  # file -> heap of (-key, problem)
        self.more: Counter[str] = Counter()

    def append(self, problem: Problem) -> None:
        heap, entry = self._kept[problem.file], (_Descending(_sort_key(problem)), problem)
        if len(heap) < PROBLEMS_PER_FILE:
            heapq.heappush(heap, entry)
        else:
            heapq.heappushpop(heap, entry)  # the last by row goes: counted, not kept
            self.more[problem.file] += 1

    def extend(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.append(problem)

    def count_more(self, file: str, count: int) -> None:
        """Problems of `file` found and counted without being made (`count` of them)."""
        if count > 0:
            self.more[file] += count

    def problems(self) -> list[Problem]:
        return sorted((p for heap in self._kept.values() for _, p in heap), key=_sort_key)

    def __bool__(self) -> bool:
        return any(self._kept.values()) or any(self.more.values())


class _Descending:
    """A sort key reversed, so that a min-heap holds the largest key at its top."""

    __slots__ = ("key",)

    def __init__(self, key: tuple):
        self.key = key

    def __lt__(self, other: _Descending) -> bool:
        return self.key > other.key


class DatasetError(Exception):
    """A dataset failed validation. `problems` lists the first `PROBLEMS_PER_FILE` problems
    of each file by row; `more` counts, per file, those not listed."""

    def __init__(
        self, path: str, problems: Iterable[Problem], more: Mapping[str, int] | None = None
    ):
        self.path = path
        self.more = Counter(more or {})
        self.problems = []
        per_file: Counter[str] = Counter()
        for problem in sorted(set(problems), key=_sort_key):
            if per_file[problem.file] < PROBLEMS_PER_FILE:
                self.problems.append(problem)
                per_file[problem.file] += 1
            else:
                self.more[problem.file] += 1
        super().__init__("\n".join([f"dataset {path}: {self.count} problem(s)", *self.lines()]))

    @property
    def count(self) -> int:
        return len(self.problems) + sum(self.more.values())

    def lines(self) -> list[str]:
        """Each listed problem, then a line per file whose problems were not all listed."""
        listed = [f"  - {p}" for p in self.problems]
        unlisted = [
            f"  - {file}: and {n:,} more problem(s) (the first {PROBLEMS_PER_FILE} by row are "
            "listed)"
            for file, n in sorted(self.more.items())
            if n
        ]
        return listed + unlisted


def capped(lines: list[str], limit: int = PROBLEMS_PER_FILE) -> list[str]:
    """The first `limit` lines, and one that counts the rest."""
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], f"... and {len(lines) - limit:,} more"]


def _sort_key(p: Problem) -> tuple:
    return (p.file, p.row if p.row is not None else -1, p.column or "", p.reason)


def csv_row(index: int) -> int:
    """Line of a CSV file holding the DataFrame row with this 0-based position."""
    return int(index) + 2
