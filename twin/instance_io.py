"""Benchmark instance files in, twin datasets out: what `twin.orlib` and `twin.mcnd` share.

Both read whitespace-separated numbers whose line breaks carry no meaning (`Tokens`), write
the instance as a dataset directory whose headers come from the schemas (`write_tables`),
and solve it with the model core into a JSON-ready summary (`solve_summary`).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable
from pathlib import Path

import yaml

from twin.data import Dataset
from twin.data.files import UnreadableFile, read_bytes
from twin.data.schemas import TABLES
from twin.model import build_model
from twin.scenario import Scenario
from twin.solve import solve

# Fortran-style reals as OR-Library writes them: `7500.`, `.00000`, `1.5D3`, plain integers.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eEdD][+-]?\d+)?")


class Tokens:
    """Whitespace-separated tokens of a file, consumed in order; errors (of the reader's
    class `error`) name the file, the 1-based token position and its line, so a broken file
    can be fixed by hand."""

    def __init__(self, path: Path, error: type[Exception]):
        self.path, self.error = path, error
        try:
            text = read_bytes(path).decode("ascii")
        except (UnreadableFile, UnicodeDecodeError) as problem:
            raise error(f"{path}: cannot read: {problem}") from problem
        self.tokens = [
            (token, line)
            for line, content in enumerate(text.splitlines(), start=1)
            for token in content.split()
        ]
        self.index = 0

    @property
    def position(self) -> int:
        """1-based position of the last token consumed."""
        return self.index

    def peek(self, what: str) -> str:
        if self.index >= len(self.tokens):
            raise self.error(
                f"{self.path}: truncated: expected {what} at token {self.index + 1}, "
                f"but the file ends after {len(self.tokens)} tokens"
            )
        return self.tokens[self.index][0]

    def skip(self) -> None:
        self.index += 1

    def number(self, what: str) -> float:
        """The next token as a non-negative finite real."""
        token = self.peek(what)
        line = self.tokens[self.index][1]
        self.index += 1
        if not _NUMBER.fullmatch(token):
            raise self.error(
                f"{self.path}: token {self.index} (line {line}, {what}) is not a number: {token!r}"
            )
        value = float(token.replace("D", "E").replace("d", "e"))
        if not math.isfinite(value) or value < 0:
            raise self.error(
                f"{self.path}: token {self.index} (line {line}, {what}) must be a finite "
                f"non-negative number, got {token!r}"
            )
        return value

    def count(self, what: str, minimum: int = 1) -> int:
        """The next token as a whole number of at least `minimum`."""
        value = self.number(what)
        if value < minimum or not value.is_integer():
            kind = "a positive whole number" if minimum == 1 else f"a whole number >= {minimum}"
            raise self.error(
                f"{self.path}: token {self.index} ({what}) must be {kind}, "
                f"got {self.tokens[self.index - 1][0]!r}"
            )
        return int(value)

    def word(self, expected: str) -> None:
        """The next token, which must be `expected` (a header word)."""
        token = self.peek(repr(expected))
        if token != expected:
            raise self.error(
                f"{self.path}: token {self.index + 1} should be {expected!r}, got {token!r}"
            )
        self.index += 1

    def end(self) -> None:
        if self.index < len(self.tokens):
            token, line = self.tokens[self.index]
            raise self.error(
                f"{self.path}: {len(self.tokens) - self.index} token(s) left over from token "
                f"{self.index + 1} (line {line}, {token!r}): the counts at its start do not "
                "match the data"
            )


def write_tables(root: Path, tables: dict[str, Iterable[dict]], meta: dict) -> None:
    """Write `tables` (name -> rows) and `meta` (dataset.yaml) into the directory `root`.
    Headers come from the dataset schemas, so the files follow the format as it evolves (a
    new required column fails validation loudly instead of shifting values)."""
    specs = {spec.name: spec for spec in TABLES}
    for name, rows in tables.items():
        with (root / specs[name].file).open("w", encoding="utf-8", newline="") as file:
            writer = csv.DictWriter(file, list(specs[name].schema.columns), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    (root / "dataset.yaml").write_text(yaml.safe_dump(meta, sort_keys=False), encoding="utf-8")


def plain_number(value: float) -> float | int:
    """A float for CSV: integers without `.0`, everything else at full repr precision (the
    optimum of the written dataset must be the instance's to 1e-6)."""
    value = float(value)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def plain_scenario(name: str, **changes) -> Scenario:
    """The plain objective of a benchmark problem: no discounting, no green rate, none of the
    hypercluster families it does not have (only capacity and transport)."""
    return Scenario(
        name=name, families=("capacity", "transport"), discount_rate=0.0, green_rate=0.0, **changes
    )


def solve_summary(name: str, dataset: Dataset, scenario: Scenario) -> dict:
    """Build and solve `dataset` under `scenario`: a JSON-ready summary."""
    built = build_model(dataset, scenario)
    solved, _ = solve(built.model, scenario.solver)
    return {
        "instance": name,
        "objective": solved.objective,
        "status": solved.status,
        "gap": solved.gap,
        "bound": solved.bound,
        "nodes": solved.nodes,
        "build_s": built.build_seconds,
        "solve_s": solved.handoff_seconds + solved.solve_seconds,
    }
