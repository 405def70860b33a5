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
    return map(row._make, columns(frame, *frame.columns))


def columns(frame: pd.DataFrame, *names: str) -> Iterator[tuple]:
    """Plain tuples of the named columns of `frame`, each column converted at once, as
    `rows` does (for keys and values of look-up dicts, where names are not needed)."""
    return zip(*(frame[name].tolist() for name in names), strict=True)
