"""Dataset tables: schemas, loading and validation."""

from twin.data.loader import Dataset, load_dataset
from twin.data.problems import DatasetError, Problem

__all__ = ["Dataset", "DatasetError", "Problem", "load_dataset"]
