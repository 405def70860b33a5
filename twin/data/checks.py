"""Cross-table rules of a dataset: what no single-table schema can see.

Each rule takes the tables that passed their column checks and yields problems, one at a
time (a table of a million bad rows must not make a million problems at once: the loader
keeps the first of each file, `twin.data.problems.ProblemLog`); a rule whose tables failed
is skipped (their problems are already reported).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from twin.data.problems import Problem, csv_row
from twin.data.schemas import TABLES

Tables = dict[str, pd.DataFrame]

# (table, column, referenced table, referenced column); empty cells are not checked.
FOREIGN_KEYS: tuple[tuple[str, str, str, str], ...] = (
    ("recipes", "technology_id", "technologies", "technology_id"),
    ("recipes", "commodity_id", "commodities", "commodity_id"),
    ("sites", "region_id", "regions", "region_id"),
    ("sites", "technology_id", "technologies", "technology_id"),
    ("sites", "earliest_period", "periods", "period"),
    ("links", "src", "regions", "region_id"),
    ("links", "dst", "regions", "region_id"),
    ("link_commodities", "link_id", "links", "link_id"),
    ("link_commodities", "commodity_id", "commodities", "commodity_id"),
    ("corridors", "link_id", "links", "link_id"),
    ("corridors", "border_crossing", "border_crossings", "crossing_id"),
    ("supply", "region_id", "regions", "region_id"),
    ("supply", "commodity_id", "commodities", "commodity_id"),
    ("supply", "period", "periods", "period"),
    ("demand", "region_id", "regions", "region_id"),
    ("demand", "commodity_id", "commodities", "commodity_id"),
    ("demand", "period", "periods", "period"),
)


CHUNK = 10_000  # rows converted to dicts at a time


def _rows(frame: pd.DataFrame, mask: pd.Series | None = None) -> Iterator[tuple[int, dict]]:
    """(CSV line, row as a dict) of the rows where `mask` holds (every row without one),
    a chunk at a time: rules may visit every row of a million-row table."""
    chosen = frame if mask is None else frame[np.asarray(mask, dtype=bool)]
    for start in range(0, len(chosen), CHUNK):
        part = chosen.iloc[start : start + CHUNK]
        yield from zip(map(csv_row, part.index), part.to_dict("records"), strict=True)


def _known(values: pd.Series, known: pd.Series) -> np.ndarray:
    """Where `values` is one of `known`, by a hash index (Series.isin on Arrow strings
    converts the known set element by element: seconds at a million ids)."""
    index = pd.Index(known.to_numpy(dtype=object)).unique()
    return index.get_indexer(values.to_numpy(dtype=object)) >= 0


def foreign_key_problems(tables: Tables, parsed: Tables) -> Iterator[Problem]:
    """Ids that name nothing. The referenced side may be a table that failed its own column
    checks: its ids are still known (as text), so broken references are reported too."""
    absent_optional = {t.name for t in TABLES if not t.required and t.name not in parsed}
    for table, column, target, target_column in FOREIGN_KEYS:
        if table not in tables:
            continue
        if target in absent_optional:
            known = pd.Series([], dtype=object)  # nothing is in a table that is not there
        elif target_column in parsed.get(target, {}):
            known = parsed[target][target_column].dropna().astype(str)
        else:
            continue
        frame = tables[table]
        unknown = frame[column].notna() & ~_known(frame[column].astype(str), known)
        for row, record in _rows(frame, unknown):
            reason = f"unknown {target_column} '{record[column]}' (not in {target}.csv)"
            yield Problem(f"{table}.csv", row, column, reason)


def technology_output_problems(tables: Tables) -> Iterator[Problem]:
    technologies, recipes = tables["technologies"], tables["recipes"]
    producing = recipes.loc[recipes["coefficient"] > 0, "technology_id"]
    missing = ~_known(technologies["technology_id"], producing)
    reason = "recipe has no output (no positive coefficient in recipes.csv)"
    for row, _ in _rows(technologies, missing):
        yield Problem("technologies.csv", row, "technology_id", reason)


def link_commodity_problems(tables: Tables) -> Iterator[Problem]:
    links, carried = tables["links"], tables["link_commodities"]
    empty = ~_known(links["link_id"], carried["link_id"])
    reason = "link carries no commodity (no row in link_commodities.csv)"
    for row, _ in _rows(links, empty):
        yield Problem("links.csv", row, "link_id", reason)


def _one_unit_problems(
    frame: pd.DataFrame, group: str, units: pd.Series, file: str, what: str
) -> Iterator[Problem]:
    """Rows whose commodity unit differs from the first unit seen in their group."""
    first_unit: dict[str, str] = {}
    for row, record in _rows(frame):
        unit = units.get(record["commodity_id"])
        if unit is None or pd.isna(record[group]):
            continue
        expected = first_unit.setdefault(record[group], unit)
        if unit != expected:
            reason = (
                f"{what} {record[group]!r} would carry {record['commodity_id']!r} in {unit} "
                f"besides {expected}: its commodities must share one unit"
            )
            yield Problem(file, row, "commodity_id", reason)


def link_unit_problems(tables: Tables) -> Iterator[Problem]:
    units = tables["commodities"].set_index("commodity_id")["unit"]
    return _one_unit_problems(
        tables["link_commodities"], "link_id", units, "link_commodities.csv", "link"
    )


def crossing_unit_problems(tables: Tables) -> Iterator[Problem]:
    units = tables["commodities"].set_index("commodity_id")["unit"]
    corridors = tables["corridors"].drop_duplicates("link_id")  # repeats reported elsewhere
    crossing_of = corridors.set_index("link_id")["border_crossing"]
    carried = tables["link_commodities"].copy()
    carried["crossing"] = carried["link_id"].map(crossing_of)
    return _one_unit_problems(carried, "crossing", units, "link_commodities.csv", "crossing")


def corridor_problems(tables: Tables) -> Iterator[Problem]:
    corridors = tables["corridors"]
    seen: dict[str, tuple[str, int]] = {}
    for row, record in _rows(corridors):
        link = record["link_id"]
        if link in seen:
            other, other_row = seen[link]
            reason = f"link {link!r} is already in corridor {other!r} (row {other_row})"
            yield Problem("corridors.csv", row, "link_id", reason)
        else:
            seen[link] = (record["corridor_id"], row)


def crossing_country_problems(tables: Tables) -> Iterator[Problem]:
    corridors, links = tables["corridors"], tables["links"].set_index("link_id")
    country = tables["regions"].set_index("region_id")["country"]
    crossings = tables["border_crossings"].set_index("crossing_id")
    for row, record in _rows(corridors):
        crossing, link = record["border_crossing"], record["link_id"]
        if pd.isna(crossing) or crossing not in crossings.index or link not in links.index:
            continue
        ends = {country.get(links.at[link, "src"]), country.get(links.at[link, "dst"])}
        sides = {crossings.at[crossing, "country_a"], crossings.at[crossing, "country_b"]}
        if ends != sides:
            reason = (
                f"crossing {crossing!r} joins {' and '.join(sorted(sides))} but link {link!r} "
                f"joins {' and '.join(sorted(str(c) for c in ends))}"
            )
            yield Problem("corridors.csv", row, "border_crossing", reason)


def agglomeration_problems(tables: Tables) -> Iterator[Problem]:
    for chain, group in tables["agglomeration"].groupby("chain"):
        group = group.sort_values("modules")
        first = group.index[0]
        if group.at[first, "modules"] != 0:
            reason = f"breakpoints of chain {chain!r} must start at 0 modules"
            yield Problem("agglomeration.csv", csv_row(first), "modules", reason)
        rising = group["capex_factor"].diff() > 0
        for row, record in _rows(group, rising):
            reason = (
                f"capex_factor rises to {record['capex_factor']} at {record['modules']} modules: "
                "agglomeration must not make modules dearer (non-increasing factors)"
            )
            yield Problem("agglomeration.csv", row, "capex_factor", reason)


RULES: tuple[tuple[tuple[str, ...], Callable[[Tables], Iterable[Problem]]], ...] = (
    (("technologies", "recipes"), technology_output_problems),
    (("links", "link_commodities"), link_commodity_problems),
    (("link_commodities", "commodities"), link_unit_problems),
    (("link_commodities", "commodities", "corridors"), crossing_unit_problems),
    (("corridors",), corridor_problems),
    (("corridors", "links", "regions", "border_crossings"), crossing_country_problems),
    (("agglomeration",), agglomeration_problems),
)


def cross_table_problems(tables: Tables, parsed: Tables) -> Iterator[Problem]:
    """Every cross-table problem among the tables that passed their column checks
    (`tables`), with `parsed` holding the raw text of those that did not."""
    ruled = (rule(tables) for needs, rule in RULES if all(name in tables for name in needs))
    return itertools.chain(foreign_key_problems(tables, parsed), *ruled)
