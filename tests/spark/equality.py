"""The equality the Spark engine's tests ask of a table: the contract's (same rows and columns,
numbers to 1e-9 relative), and bit for bit (sorted by the keys)."""

from pathlib import Path

import duckdb
import polars as pl

from segmentation.engines.compare import frame_differences
from segmentation.keys import KEY_COLUMNS
from segmentation.serving.dictionary import MART_CONTRACTS


def assert_same_table(actual: pl.DataFrame, expected: pl.DataFrame) -> None:
    """``actual`` equals ``expected`` within the contract and bit for bit, rows sorted by
    snapshot and customer."""
    assert frame_differences(actual, expected) == []
    assert actual.sort(KEY_COLUMNS).equals(expected.sort(KEY_COLUMNS))


def serving_tables(path: Path) -> dict[str, tuple[list[tuple], pl.DataFrame]]:
    """Each marts table of the serving copy at ``path``: its columns with their types
    (``DESCRIBE``), and its rows."""
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            table: (
                con.execute(f"DESCRIBE marts.{table}").fetchall(),
                con.execute(f"SELECT * FROM marts.{table}").pl(),
            )
            for table in MART_CONTRACTS
        }
