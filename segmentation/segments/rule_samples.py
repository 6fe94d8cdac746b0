"""Sample rows a rule is test-evaluated on when it is checked.

A rule that would fail on real data in the middle of a run (``CAST(region AS INTEGER)`` on a
region such as 'North East', ``ln(x)`` of zero) is refused when the configuration loads: every
column takes typed values it may hold, plain text that does not convert to a number, date or
boolean, zero and negative numbers where the column may hold them, dates at both ends of the
usual range, and nulls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime

import polars as pl

from segmentation.segments.rule_types import ColumnRange

# Sample values by kind: plain text that does not convert to a number, date or boolean, zero
# and negative numbers (logarithms, square roots), and dates at both ends of the usual range.
_SAMPLE_TEXT: tuple[object, ...] = ("abc", "", "1", "2011-03-05", "North East", " x ")
_SAMPLE_INTEGERS: tuple[int, ...] = (0, 1, -1, 2, 30, 365, 100_000)
_SAMPLE_FLOATS: tuple[float, ...] = (0.0, 1.0, -1.0, 0.5, 2.5, -2.5, 1_000_000.0)
_SAMPLE_DATES: tuple[object, ...] = (date(1970, 1, 1), date(2000, 2, 29), date(2011, 12, 31))
# lists of text: empty, one item, several, and an item that is not a word
_SAMPLE_LISTS: tuple[object, ...] = ([], ["abc"], ["fund", "deposit", "1"], [""])


def _in_range(values: Sequence[float], bounds: ColumnRange) -> list[float]:
    low = float("-inf") if bounds.minimum is None else bounds.minimum
    high = float("inf") if bounds.maximum is None else bounds.maximum
    kept = [value for value in values if low <= value <= high]
    # a bounded column's own ends are its most telling values
    ends = [bound for bound in (bounds.minimum, bounds.maximum) if bound is not None]
    return kept + [end for end in ends if end not in kept]


def sample_values(dtype: pl.DataType, bounds: ColumnRange | None = None) -> list[object]:
    """Typed values a column of ``dtype`` may hold (``None`` first), within ``bounds``."""
    bounds = bounds or ColumnRange()
    if isinstance(dtype, type):  # contracts give dtype classes, not instances
        dtype = dtype()
    if bounds.allowed is not None:
        return [None, *bounds.allowed]
    if dtype.is_integer():
        values = _in_range(_SAMPLE_INTEGERS, bounds)
        return [None, *(int(value) for value in values)]
    if dtype.is_float():
        return [None, *(float(value) for value in _in_range(_SAMPLE_FLOATS, bounds))]
    if isinstance(dtype, pl.String | pl.Categorical):
        return [None, *_SAMPLE_TEXT]
    if isinstance(dtype, pl.Boolean):
        return [None, True, False]
    if isinstance(dtype, pl.Date):
        return [None, *_SAMPLE_DATES]
    if isinstance(dtype, pl.Datetime):
        return [None, datetime(1970, 1, 1), datetime(2011, 12, 31, 23, 59, 59)]
    if isinstance(dtype, pl.List):
        return [None, *_SAMPLE_LISTS]
    return [None]


def sample_frame(
    columns: Mapping[str, pl.DataType], ranges: Mapping[str, ColumnRange] | None = None
) -> pl.DataFrame:
    """Rows in which every column takes each of its :func:`sample_values` at least once."""
    ranges = ranges or {}
    values = {name: sample_values(dtype, ranges.get(name)) for name, dtype in columns.items()}
    height = max((len(column) for column in values.values()), default=1)
    # shifted per column, so columns do not always pair their n-th values
    data = {
        name: [column[(row + offset) % len(column)] for row in range(height)]
        for offset, (name, column) in enumerate(values.items())
    }
    return pl.DataFrame(data, schema=dict(columns))
