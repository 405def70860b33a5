"""Load a dataset directory into typed tables, or fail listing every problem.

Reading goes file by file: decode (UTF-8), parse (CSV), check the columns (pandera schemas
of `twin.data.schemas`), then the cross-table rules (`twin.data.checks`). Problems are
collected, never raised one at a time, so a planner fixes a dataset in one pass.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pandera.errors
import yaml

from twin.data.checks import cross_table_problems
from twin.data.problems import DatasetError, Problem, csv_row
from twin.data.schemas import DATASET_YAML_KEYS, TABLES, TableSpec

META_FILE = "dataset.yaml"


@dataclass
class Dataset:
    """A validated dataset: one typed DataFrame per table, plus its metadata."""

    path: Path
    meta: dict
    tables: dict[str, pd.DataFrame]
    data_hash: str

    def __getattr__(self, name: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(name)

    @property
    def name(self) -> str:
        return str(self.meta["name"])

    @property
    def currency(self) -> str:
        return str(self.meta["currency"])


def load_dataset(path: str | Path) -> Dataset:
    """Read and validate the dataset at `path`; raise DatasetError listing every problem."""
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(str(path), [Problem(str(path), None, None, "not a directory")])
    problems: list[Problem] = []
    meta = _read_meta(root, problems)
    tables: dict[str, pd.DataFrame] = {}
    parsed: dict[str, pd.DataFrame] = {}
    for spec in TABLES:
        raw = _parse_table(root, spec, problems)
        if raw is None:
            continue
        parsed[spec.name] = raw
        typed = _validate_table(spec, raw, problems)
        if typed is not None:
            tables[spec.name] = typed
    problems += cross_table_problems(tables, parsed)
    if problems:
        raise DatasetError(str(path), problems)
    for spec in TABLES:
        tables.setdefault(spec.name, _empty_table(spec))
    return Dataset(path=root, meta=meta, tables=tables, data_hash=data_hash(root))


def data_hash(root: Path) -> str:
    """Content hash of the dataset's files (names and bytes), stable across machines."""
    digest = hashlib.sha256()
    for file in sorted(root.iterdir()):
        if file.is_file() and (file.suffix == ".csv" or file.name == META_FILE):
            digest.update(file.name.encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def read_meta(path: str | Path) -> dict:
    """The dataset's description (dataset.yaml: name, currency, price year...) without
    reading its tables; raise DatasetError if it is missing or incomplete."""
    if not Path(path).is_dir():
        raise DatasetError(str(path), [Problem(str(path), None, None, "not a directory")])
    problems: list[Problem] = []
    meta = _read_meta(Path(path), problems)
    if problems:
        raise DatasetError(str(path), problems)
    return meta


def _read_meta(root: Path, problems: list[Problem]) -> dict:
    file = root / META_FILE
    if not file.exists():
        problems.append(Problem(META_FILE, None, None, "missing file"))
        return {}
    try:
        meta = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        problems.append(Problem(META_FILE, None, None, f"not readable YAML: {error}"))
        return {}
    if not isinstance(meta, dict):
        problems.append(Problem(META_FILE, None, None, "must be a mapping of keys to values"))
        return {}
    problems.extend(
        Problem(META_FILE, None, key, "missing key") for key in DATASET_YAML_KEYS if key not in meta
    )
    return meta


def _parse_table(root: Path, spec: TableSpec, problems: list[Problem]) -> pd.DataFrame | None:
    """Decode and parse one table as text; None (with problems recorded) if it fails."""
    file = root / spec.file
    if not file.exists():
        if spec.required:
            problems.append(Problem(spec.file, None, None, "missing file"))
        return None
    raw = file.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        bad = raw[error.start : error.start + 1].hex()
        problems.append(Problem(spec.file, line, None, f"not UTF-8 text (byte 0x{bad})"))
        return None
    try:
        frame = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""], comment=None
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        problems.append(Problem(spec.file, _parser_line(error), None, _parser_reason(error)))
        return None
    frame = frame.apply(lambda column: column.str.strip()).replace("", pd.NA)
    if frame.empty:
        problems.append(Problem(spec.file, None, None, "table is empty (no data rows)"))
        return None
    return frame


def _validate_table(
    spec: TableSpec, frame: pd.DataFrame, problems: list[Problem]
) -> pd.DataFrame | None:
    """Column rules of one table; the typed table, or None (with problems recorded)."""
    try:
        typed = spec.schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        problems.extend(_schema_problems(spec, frame, errors.failure_cases))
        return None
    for column in spec.bool_columns:
        typed[column] = typed[column].str.lower().isin(("true", "1"))
    return typed


def _empty_table(spec: TableSpec) -> pd.DataFrame:
    """An absent optional table: no rows, but its columns and their dtypes."""
    columns = {
        name: pd.Series(dtype=bool if name in spec.bool_columns else column.dtype.type)
        for name, column in spec.schema.columns.items()
    }
    return pd.DataFrame(columns)


def _parser_line(error: Exception) -> int | None:
    match = re.search(r"line (\d+)", str(error))
    return int(match.group(1)) if match else None


def _parser_reason(error: Exception) -> str:
    if isinstance(error, pd.errors.EmptyDataError):
        return "file is empty (no header)"
    match = re.search(r"Expected (\d+) fields in line \d+, saw (\d+)", str(error))
    if match:
        return f"expected {match.group(1)} fields, found {match.group(2)}"
    return f"not readable as CSV: {error}"


_COMPARISONS = {
    "greater_than_or_equal_to": "must be >= {}",
    "greater_than": "must be > {}",
    "less_than_or_equal_to": "must be <= {}",
    "less_than": "must be < {}",
    "not_equal_to": "must not be {}",
}


def _schema_problems(spec: TableSpec, frame: pd.DataFrame, cases: pd.DataFrame) -> list[Problem]:
    """Turn pandera's failure cases into problems a planner can act on."""
    coerce_failed = cases["check"].astype(str).str.startswith("coerce_dtype").any()
    problems = []
    for case in cases.itertuples(index=False):
        check, value = str(case.check), case.failure_case
        column = None if pd.isna(case.column) else str(case.column)
        row = None if case.index is None or pd.isna(case.index) else csv_row(case.index)
        if check == "column_in_dataframe":
            problems.append(Problem(spec.file, None, str(value), "missing column"))
            continue
        if check.startswith("dtype(") or (row is None and coerce_failed):
            continue  # repeats a coercion failure already reported for that cell
        if case.schema_context == "DataFrameSchema" and check != "multiple_fields_uniqueness":
            problems.append(Problem(spec.file, row, None, check))  # a rule across columns
            continue
        if check == "multiple_fields_uniqueness":
            key = ", ".join(spec.key)
            values = ", ".join(str(frame.iloc[int(case.index)][k]) for k in spec.key)
            problems.append(Problem(spec.file, row, key, f"duplicate key ({values})"))
            continue
        problems.append(Problem(spec.file, row, column, _reason(spec, column, check, value)))
    return problems


def _reason(spec: TableSpec, column: str | None, check: str, value: object) -> str:
    if check.startswith("coerce_dtype"):
        kind = "a whole number" if "Int" in check else "a number"
        return f"expected {kind}, got {value!r}"
    if check == "not_nullable":
        return "value required (cell is empty)"
    if check == "field_uniqueness":
        return f"duplicate {column} {value!r}"
    match = re.fullmatch(r"(\w+)\((.*)\)", check)
    if match and match.group(1) in _COMPARISONS:
        bound = match.group(2).removesuffix(".0")
        return f"{_COMPARISONS[match.group(1)].format(bound)}, got {_show(value)}"
    if check.startswith("in_range"):
        return f"out of range, got {_show(value)}"
    if value is None or column is None:
        return check
    return f"{check}, got {_show(value)}"


def _show(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)
