"""Dataset tables: schemas, loading and validation."""

from twin.data.loader import Dataset, load_dataset, read_meta
from twin.data.problems import DatasetError, Problem, capped
from twin.data.rows import columns, rows

__all__ = [
    "Dataset",
    "DatasetError",
    "Problem",
    "capped",
    "columns",
    "load_dataset",
    "read_meta",
    "rows",
]
