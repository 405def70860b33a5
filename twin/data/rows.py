"""Fast row iteration over dataset tables."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator

import pandas as pd


def rows(frame: pd.DataFrame) -> Iterator[tuple]:
    """The rows of `frame` as named tuples, like `itertuples(index=False)` but several times
    faster on the Arrow-backed string columns of a dataset: each column is converted to Python
    objects at once (`tolist`), not element by element. Missing values come back as None or
    NaN, which `pd.isna` tells apart from data as before."""
    row = namedtuple("Row", frame.columns, rename=True)
    return map(row._make, zip(*(frame[c].tolist() for c in frame.columns), strict=True))
