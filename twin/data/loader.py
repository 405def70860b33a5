"""Load a dataset directory into typed tables, or fail listing every problem.

Reading goes file by file: read (regular files only, bounded: `twin.data.files`), decode
(UTF-8), parse (CSV, one header per column), check the columns (pandera schemas of
`twin.data.schemas`), then the cross-table rules (`twin.data.checks`). Problems are
collected, never raised one at a time, so a planner fixes a dataset in one pass; what is
only suspicious (an unknown column or file, ignored) becomes a warning on the Dataset.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pandera.errors
import yaml

from twin.data.checks import cross_table_problems
from twin.data.files import UnreadableFile, read_bytes
from twin.data.problems import PROBLEMS_PER_FILE, DatasetError, Problem, ProblemLog, csv_row
from twin.data.schemas import DATASET_YAML_KEYS, FINITE, TABLES, TableSpec

META_FILE = "dataset.yaml"


@dataclass
class Dataset:
    """A validated dataset: one typed DataFrame per table, plus its metadata."""

    path: Path
    meta: dict
    tables: dict[str, pd.DataFrame]
    data_hash: str
    warnings: list[Problem] = field(default_factory=list)  # ignored columns and files

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

    def blocs(self) -> dict[str, set[str]]:
        """Each bloc named in regions.blocs (';'-separated) and its member regions."""
        members: dict[str, set[str]] = {}
        for region, cell in zip(self.regions["region_id"], self.regions["blocs"], strict=True):
            for bloc in ("" if pd.isna(cell) else cell).split(";"):
                if bloc.strip():
                    members.setdefault(bloc.strip(), set()).add(region)
        return members


def load_dataset(path: str | Path) -> Dataset:
    """Read and validate the dataset at `path`; raise DatasetError listing every problem."""
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(str(path), [Problem(str(path), None, None, "not a directory")])
    problems = ProblemLog()
    warnings = _unknown_files(root)
    meta = _read_meta(root, problems)
    tables: dict[str, pd.DataFrame] = {}
    parsed: dict[str, pd.DataFrame] = {}
    for spec in TABLES:
        raw = _parse_table(root, spec, problems, warnings)
        if raw is None:
            continue
        parsed[spec.name] = raw
        typed = _validate_table(spec, raw, problems)
        if typed is not None:
            tables[spec.name] = typed
    problems.extend(cross_table_problems(tables, parsed))
    if problems:
        raise DatasetError(str(path), problems.problems(), problems.more)
    for spec in TABLES:
        tables.setdefault(spec.name, _empty_table(spec))
    return Dataset(root, meta, tables, data_hash(root), sorted(warnings))


def data_hash(root: Path) -> str:
    """Content hash of the dataset's files (names and bytes), stable across machines; only
    the files the format reads (a CSV it ignores changes nothing)."""
    digest = hashlib.sha256()
    names = sorted([META_FILE, *(spec.file for spec in TABLES)])
    for file in (root / name for name in names):
        if file.is_file():
            digest.update(file.name.encode())
            with file.open("rb") as stream:
                for chunk in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()[:16]


def read_meta(path: str | Path) -> dict:
    """The dataset's description (dataset.yaml: name, currency, price year...) without
    reading its tables; raise DatasetError if it is missing or incomplete."""
    if not Path(path).is_dir():
        raise DatasetError(str(path), [Problem(str(path), None, None, "not a directory")])
    problems = ProblemLog()
    meta = _read_meta(Path(path), problems)
    if problems:
        raise DatasetError(str(path), problems.problems(), problems.more)
    return meta


def _unknown_files(root: Path) -> list[Problem]:
    """CSV files that are no table of the format: ignored, and said so (a misspelt name
    would otherwise drop a table without a word)."""
    known = {spec.file for spec in TABLES}
    reason = f"unknown file, ignored (the tables are {', '.join(sorted(known))})"
    return [
        Problem(file.name, None, None, reason)
        for file in sorted(root.glob("*.csv"))
        if file.name not in known
    ]


def _read(root: Path, name: str, problems: ProblemLog) -> bytes | None:
    """The bytes of a dataset file; None (with a problem recorded) if it is missing or
    cannot be read safely (a directory, a device, a FIFO, too large)."""
    file = root / name
    if not file.exists() and not file.is_symlink():
        return None
    try:
        return read_bytes(file)
    except UnreadableFile as error:
        problems.append(Problem(name, None, None, str(error)))
        return None


def _read_meta(root: Path, problems: ProblemLog) -> dict:
    if not (root / META_FILE).exists():
        problems.append(Problem(META_FILE, None, None, "missing file"))
        return {}
    raw = _read(root, META_FILE, problems)
    if raw is None:
        return {}
    try:
        meta = yaml.safe_load(raw.decode("utf-8"))
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


def _parse_table(
    root: Path, spec: TableSpec, problems: ProblemLog, warnings: list[Problem]
) -> pd.DataFrame | None:
    """Decode and parse one table as text; None (with problems recorded) if it fails."""
    if not (root / spec.file).exists() and not (root / spec.file).is_symlink():
        if spec.required:
            problems.append(Problem(spec.file, None, None, "missing file"))
        return None
    raw = _read(root, spec.file, problems)
    if raw is None:
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        bad = raw[error.start : error.start + 1].hex()
        problems.append(Problem(spec.file, line, None, f"not UTF-8 text (byte 0x{bad})"))
        return None
    if not _header_fits(spec, text, problems, warnings):
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


def _header_fits(spec: TableSpec, text: str, problems: ProblemLog, warnings: list[Problem]) -> bool:
    """False (with a problem) if a column header repeats: pandas would rename the copy and
    the first would be used without a word. Unknown columns are warnings: they are ignored."""
    header = [name.strip() for name in next(csv.reader(io.StringIO(text)), [])]
    seen: dict[str, int] = {}
    fits = True
    for position, name in enumerate(header, start=1):
        if name and name in seen:
            reason = f"duplicate column header (also column {seen[name]} of the header)"
            problems.append(Problem(spec.file, 1, name, reason))
            fits = False
        seen.setdefault(name, position)
    known = spec.schema.columns
    for name in seen:
        if name and name not in known:
            reason = f"unknown column, ignored (the columns are {', '.join(known)})"
            warnings.append(Problem(spec.file, 1, name, reason))
    return fits


def _validate_table(
    spec: TableSpec, frame: pd.DataFrame, problems: ProblemLog
) -> pd.DataFrame | None:
    """Column rules of one table; the typed table, or None (with problems recorded)."""
    try:
        typed = spec.schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        listed, unlisted = _schema_problems(spec, frame, errors.failure_cases)
        problems.extend(listed)
        problems.count_more(spec.file, unlisted)
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


def _schema_problems(
    spec: TableSpec, frame: pd.DataFrame, cases: pd.DataFrame
) -> tuple[list[Problem], int]:
    """Turn pandera's failure cases into problems a planner can act on: the first
    `PROBLEMS_PER_FILE` by row, and the count of the others (found by whole columns, so a
    file of a million bad rows costs no more than reading it)."""
    checks = cases["check"].astype(str)
    coerce_failed = checks.str.startswith("coerce_dtype").any()
    whole_column = cases["index"].isna()
    repeats = checks.str.startswith("dtype(") | (whole_column & coerce_failed)
    cases = cases[~repeats].assign(line=pd.to_numeric(cases["index"], errors="coerce"))
    cases = cases.sort_values("line", na_position="first", kind="stable")
    shown = cases.head(PROBLEMS_PER_FILE)
    problems = []
    for case in shown.itertuples(index=False):
        check, value = str(case.check), case.failure_case
        column = None if pd.isna(case.column) else str(case.column)
        row = None if pd.isna(case.line) else csv_row(case.line)
        if check == "column_in_dataframe":
            problems.append(Problem(spec.file, None, str(value), "missing column"))
            continue
        if case.schema_context == "DataFrameSchema" and check != "multiple_fields_uniqueness":
            problems.append(Problem(spec.file, row, None, check))  # a rule across columns
            continue
        if check == "multiple_fields_uniqueness":
            key = ", ".join(spec.key)
            values = ", ".join(str(frame.iloc[int(case.line)][k]) for k in spec.key)
            problems.append(Problem(spec.file, row, key, f"duplicate key ({values})"))
            continue
        text = None if row is None or column is None else frame.iloc[int(case.line)][column]
        problems.append(Problem(spec.file, row, column, _reason(column, check, value, text)))
    return problems, len(cases) - len(shown)


def _reason(column: str | None, check: str, value: object, text: object) -> str:
    """Why a cell fails `check`; `value` is the cell as pandera coerced it, `text` as
    written in the file."""
    if check.startswith("coerce_dtype"):
        kind = "a whole number" if "Int" in check else "a number"
        return f"expected {kind}, got {value!r}"
    if check == "not_nullable":
        if isinstance(text, str):  # written, but read as no number: nan, NaN, ...
            return f"expected a number, got {text!r} (not a number)"
        return "value required (cell is empty)"
    if check == FINITE:
        return f"{FINITE}, got {text!r}"
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
