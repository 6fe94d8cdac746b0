"""The equality the Spark engine's tests ask of a table: the contract's (same rows and columns,
numbers to 1e-9 relative), and bit for bit (sorted by the keys)."""

import polars as pl

from segmentation.engines.compare import frame_differences
from segmentation.keys import KEY_COLUMNS


def assert_same_table(actual: pl.DataFrame, expected: pl.DataFrame) -> None:
    """``actual`` equals ``expected`` within the contract and bit for bit, rows sorted by
    snapshot and customer."""
    assert frame_differences(actual, expected) == []
    assert actual.sort(KEY_COLUMNS).equals(expected.sort(KEY_COLUMNS))
