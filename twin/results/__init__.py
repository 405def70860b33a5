"""Results: extraction of the results.md tables from a solved model."""

from twin.results.extract import Results, extract_results
from twin.results.schema import TABLES

__all__ = ["TABLES", "Results", "extract_results"]
