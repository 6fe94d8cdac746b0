"""Validate a warehouse table with its pandera contract, every row, in bounded memory."""

from __future__ import annotations

import duckdb
import pandera.polars as pa
import polars as pl

from segmentation.phases import CHECKING, phase
from segmentation.sql_files import render_sql

# rows validated at a time
BATCH_ROWS = 1_000_000


def validate_table(
    con: duckdb.DuckDBPyConnection, table: str, contract: type[pa.DataFrameModel]
) -> tuple[int, pl.DataFrame | None]:
    """Validate a table batch by batch; returns (rows checked, failure cases or None).

    Uniqueness is checked over the whole table in SQL: a batch alone cannot see duplicates
    that fall into different batches. Duplicates found are the failure cases (the key and its
    ``copies``), with 0 rows checked.
    """
    with phase(CHECKING):
        return _validate_table(con, table, contract)


def _validate_table(
    con: duckdb.DuckDBPyConnection, table: str, contract: type[pa.DataFrameModel]
) -> tuple[int, pl.DataFrame | None]:
    for keys in unique_keys(contract):
        duplicates = duplicate_keys(con, table, keys)
        if duplicates.height:
            return 0, duplicates
    rows = 0
    reader = con.execute(render_sql("quality/scan_table.sql", table=table)).to_arrow_reader(
        BATCH_ROWS
    )
    for batch in reader:
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        rows += frame.height
        try:
            contract.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as error:
            return rows, error.failure_cases
    return rows, None


def unique_keys(contract: type[pa.DataFrameModel]) -> list[list[str]]:
    """The column sets the contract declares unique: single columns, then the combined key."""
    schema = contract.to_schema()
    keys = [[name] for name, column in schema.columns.items() if column.unique]
    if schema.unique:
        keys.append(list(schema.unique))
    return keys


def duplicate_keys(con: duckdb.DuckDBPyConnection, table: str, keys: list[str]) -> pl.DataFrame:
    """Up to 20 values of ``keys`` that more than one row of ``table`` has, most copies first."""
    return con.execute(render_sql("quality/duplicate_keys.sql", table=table, keys=keys)).pl()
