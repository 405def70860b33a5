"""Render the data dictionary (docs/data.md) from the table schemas.

Run `python -m twin.data.dictionary > docs/data.md`; a test keeps the file in step.
"""

from __future__ import annotations

from twin.data.files import MAX_FILE_BYTES
from twin.data.problems import PROBLEMS_PER_FILE
from twin.data.schemas import DATASET_YAML_KEYS, TABLES

INTRO = f"""# Data dictionary

A dataset is a directory of CSV files (UTF-8, comma-separated, header on line 1) plus
`dataset.yaml`. Money columns are in the dataset's `currency` at its `price_year`. Every
figure of a reference dataset has its source and year in the dataset's `SOURCES.md`.

This page is generated from `twin/data/schemas.py` by `python -m twin.data.dictionary`;
edit the schemas, not this page.

## Validation

`twin validate PATH` (or `twin.data.load_dataset(PATH)`) checks every column rule below and
the cross-table rules, and lists the problems as `file, row N, column C: reason`, where
row N is line N of the file (the header is line 1): the first {PROBLEMS_PER_FILE} of each
file by row, and how many more. Every number must be finite (`inf`, `1e400` and `nan` are
refused); a column header may appear once; a table must be a regular file (not a directory,
device or FIFO) of at most {MAX_FILE_BYTES // 1024**2} MB. Unknown columns and unknown CSV
files are ignored, with a warning. Cross-table rules: every id a table names exists in its
table (regions, commodities, technologies, links, crossings, periods); every technology has
a recipe with at least one output; every link carries at least one commodity, all of one
unit; a link belongs to at most one corridor and a corridor's crossing joins the countries
of the link's ends; the links of one crossing carry one unit; agglomeration breakpoints
start at 0 modules with non-increasing factors. Then the multi-echelon graph
checks that every demand can be reached from some supply through links and recipes.

## dataset.yaml

| key | meaning |
|---|---|
"""


def _type_name(column) -> str:
    if column.metadata.get("bool"):
        return "bool"
    return {"float64": "number", "Int64": "integer"}.get(str(column.dtype), "text")


def render() -> str:
    """The whole data dictionary as Markdown."""
    lines = [INTRO.rstrip("\n")]
    lines += [f"| `{key}` | {meaning} |" for key, meaning in DATASET_YAML_KEYS.items()]
    for spec in TABLES:
        optional = "" if spec.required else " (optional)"
        lines += ["", f"## {spec.file}{optional}", "", spec.description, ""]
        lines.append(f"Key: {', '.join(spec.key)}.")
        lines += ["", "| column | type | unit | required | meaning |", "|---|---|---|---|---|"]
        for name, column in spec.schema.columns.items():
            kind = _type_name(column)
            required = "no (may be empty)" if column.nullable else "yes"
            unit = column.metadata.get("unit", "")
            lines.append(f"| `{name}` | {kind} | {unit} | {required} | {column.description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
