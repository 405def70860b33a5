"""Dataset tables: schemas, loading and validation."""

from twin.data.loader import Dataset, load_dataset
from twin.data.problems import DatasetError, Problem
from twin.data.rows import rows

__all__ = ["Dataset", "DatasetError", "Problem", "load_dataset", "rows"]
