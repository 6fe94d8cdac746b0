"""Atomic, idempotent writes to the DuckDB warehouse, matching columns by name.

Every write runs in one transaction: a failure leaves the previous table as it was, and a re-run
replaces exactly what the previous run of the same asset (or partition) wrote.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from segmentation.keys import KEY_COLUMNS, ordered_by

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def quote_table(table: str) -> str:
    """``schema.table`` quoted for SQL; anything but plain identifiers is refused."""
    parts = table.split(".")
    if len(parts) != 2 or not all(_IDENTIFIER.match(part) for part in parts):
        raise ValueError(f"expected a table name as schema.table, got {table!r}")
    return ".".join(f'"{part}"' for part in parts)


def sql_text(value: str) -> str:
    """``value`` as a SQL string literal, for the statements that take no parameters (ATTACH,
    COMMENT ON, CREATE VIEW)."""
    return "'" + value.replace("'", "''") + "'"


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = table.split(".")
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchone()
    return bool(found and found[0])


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    schema, name = table.split(".")
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, name],
    ).fetchall()
    return [row[0] for row in rows]


def _add_missing_columns(
    con: duckdb.DuckDBPyConnection, table: str, frame_view: str, existing: Sequence[str]
) -> None:
    """New columns in the code's output are added to an existing table, never dropped."""
    described = con.execute(f"DESCRIBE SELECT * FROM {frame_view}").fetchall()
    for column, column_type, *_ in described:
        if column not in existing:
            con.execute(f'ALTER TABLE {quote_table(table)} ADD COLUMN "{column}" {column_type}')


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All statements inside commit together or not at all (rolled back on any error)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


@contextmanager
def scratch_directory(con: duckdb.DuckDBPyConnection, prefix: str) -> Iterator[Path]:
    """A fresh directory for files one computation writes for DuckDB to read back, deleted
    afterwards (after a failure too): under the warehouse's ``temp_directory`` (where DuckDB
    spills as well), or the system's temporary directory for an in-memory warehouse.

    The ``temp_directory`` itself is created if missing and left in place: DuckDB may have
    started spilling into it meanwhile, and it does not create it again for its next spill.
    """
    in_memory = con.execute(
        "SELECT path IS NULL FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()[0]
    base = None
    if not in_memory:
        base = Path(con.execute("SELECT current_setting('temp_directory')").fetchone()[0])
        base.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# DuckDB's row group size. DuckDB scans an Arrow table one record batch per thread, and a polars
# frame is usually one chunk: one batch, scanned on one thread. Cut into batches of this many
# rows, a 725,000-row, 55-column month is inserted in 1.5-1.8 s instead of 2.5-3.9 s (2 cores).
SCAN_BATCH_ROWS = 122_880


@contextmanager
def registered(
    con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame
) -> Iterator[duckdb.DuckDBPyConnection]:
    """``frame`` is queryable as the view ``name`` inside the block, as an Arrow table of
    ``SCAN_BATCH_ROWS``-row batches (zero-copy) that DuckDB scans in parallel."""
    table = frame.to_arrow()
    con.register(name, pa.Table.from_batches(table.to_batches(SCAN_BATCH_ROWS), table.schema))
    try:
        yield con
    finally:
        con.unregister(name)


def replace_table(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> int:
    """Replace ``table`` with ``frame`` in one transaction; returns the rows written."""
    schema = table.split(".")[0]
    with registered(con, "_replacement", frame), transaction(con):
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        con.execute(f"CREATE OR REPLACE TABLE {quote_table(table)} AS SELECT * FROM _replacement")
    return frame.height


def replace_partitions(
    con: duckdb.DuckDBPyConnection,
    table: str,
    frame: pl.DataFrame,
    partition_column: str,
    partition_values: Sequence[date | str | Any],
) -> int:
    """Delete the given partitions of ``table`` and insert ``frame`` by name, in one transaction.

    Rows of ``frame`` outside ``partition_values`` are refused: a partition's run must only touch
    its own partitions.
    """
    return replace_partitions_together(con, {table: frame}, partition_column, partition_values)


def replace_partitions_together(
    con: duckdb.DuckDBPyConnection,
    frames: Mapping[str, pl.DataFrame],
    partition_column: str,
    partition_values: Sequence[date | str | Any],
) -> int:
    """``replace_partitions`` for several tables (table -> frame) in one transaction: all of them
    are replaced or none is. Returns the rows written."""
    values = list(partition_values)
    for table, frame in frames.items():
        _refuse_rows_outside(table, frame, partition_column, values)
    with ExitStack() as views:
        sources = {}
        for number, (table, frame) in enumerate(frames.items()):
            sources[table] = f"_replacement_{number}"
            views.enter_context(registered(con, sources[table], frame))
        with transaction(con):
            for table, frame in frames.items():
                _replace_in_transaction(con, table, sources[table], frame, partition_column, values)
    return sum(frame.height for frame in frames.values())


def _refuse_rows_outside(
    table: str, frame: pl.DataFrame, partition_column: str, values: list[Any]
) -> None:
    if partition_column not in frame.columns:
        raise ValueError(f"{table}: the output has no partition column {partition_column!r}")
    outside = frame.filter(~pl.col(partition_column).is_in(values))
    if outside.height:
        raise ValueError(
            f"{table}: {outside.height} rows fall outside the partitions being written "
            f"({values[0]}..{values[-1]})"
        )


def _replace_in_transaction(
    con: duckdb.DuckDBPyConnection,
    table: str,
    source: str,
    frame: pl.DataFrame,
    partition_column: str,
    values: list[Any],
) -> None:
    schema = table.split(".")[0]
    quoted = quote_table(table)
    con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    if table_exists(con, table):
        _add_missing_columns(con, table, source, table_columns(con, table))
        con.execute(
            f'DELETE FROM {quoted} WHERE "{partition_column}" IN '
            f"(SELECT UNNEST(?::{_sql_type(frame, partition_column)}[]))",
            [values],
        )
        con.execute(f"INSERT INTO {quoted} BY NAME SELECT * FROM {source}")
    else:
        con.execute(f"CREATE TABLE {quoted} AS SELECT * FROM {source}")


def _sql_type(frame: pl.DataFrame, column: str) -> str:
    dtype = frame.schema[column]
    if dtype == pl.Date:
        return "DATE"
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMP"
    if dtype.is_integer():
        return "BIGINT"
    return "VARCHAR"


# Rows per Arrow batch when a result becomes a polars frame: every column one chunk. DuckDB's
# default (1M rows) cut a 7.25M-row month into 8 chunks per column, and the first with_columns
# adding a one-chunk column copied the whole frame (+2.8 GiB and 5 s at 100M).
_ONE_CHUNK = 1 << 30


def frame_of(result: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The result of an executed query as a polars frame with one chunk per column."""
    frame = pl.from_arrow(result.to_arrow_table(_ONE_CHUNK))
    assert isinstance(frame, pl.DataFrame)
    return frame


# DuckDB keeps the table blocks a query read cached up to its memory_limit, and has no statement
# that drops them; a memory_limit this low for a moment evicts every block not in use.
_EVICTING_MEMORY_LIMIT = "16MB"


@cache
def _default_memory_limit() -> str:
    """DuckDB's own memory_limit on this machine (80% of its memory), as DuckDB reports it."""
    with duckdb.connect() as con:
        return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def release_cached_blocks(con: duckdb.DuckDBPyConnection, memory_limit: str | None) -> None:
    """Give back the memory of the table blocks DuckDB cached while reading, once what was read
    is a polars frame: held on to, they sit on top of the frame and of everything computed from
    it (a 7.25M-customer month at 100M: ~1.2 GiB).

    ``memory_limit`` is the connection's configured limit, set again afterwards; None: DuckDB's
    default, as DuckDB reports it (rounded down to 0.1 GiB). Not ``RESET memory_limit``: in
    DuckDB 1.5.6 that resets the setting but leaves the buffer pool at the low limit. Not the
    limit read back before lowering it either: DuckDB reports it rounded ('3.7 GiB' for '4GB'),
    and setting the rounded value again lowers it a little every month. Blocks still pinned may
    leave DuckDB above the low limit, which it reports as out of memory: nothing more to give
    back then, and the limit is set again all the same. Months committed but not yet
    checkpointed (``CHECKPOINT_THRESHOLD`` in ``assets.monthly``) are moved to the spill files
    by the low limit too: a write to disk that the checkpoint would make anyway.
    """
    try:
        con.execute(f"SET memory_limit = {sql_text(_EVICTING_MEMORY_LIMIT)}")
    except duckdb.OutOfMemoryException:
        pass
    finally:
        restored = memory_limit or _default_memory_limit()
        con.execute(f"SET memory_limit = {sql_text(restored)}")


def read_partitions(
    con: duckdb.DuckDBPyConnection,
    table: str,
    partition_column: str | None = None,
    partition_values: Sequence[date] | None = None,
) -> pl.DataFrame:
    """Read a table, or only the given partitions of it, as a polars frame.

    Rows come sorted by snapshot date and customer id where the table has them: the same data
    gives the same frame, so order-sensitive float sums downstream are reproducible. The tables
    are written in that order and a plain scan returns rows in the order they were written, so
    the order is checked in polars and a sort runs only when it does not hold: with an
    ``ORDER BY`` the 7.25M-row behaviour month at 100M read in 7.3 s with a 5.8 GiB peak,
    scanned in 5.5 s and 4.1 GiB.
    """
    quoted = quote_table(table)
    keys = [column for column in KEY_COLUMNS if column in table_columns(con, table)]
    if partition_column is None or partition_values is None:
        frame = frame_of(con.execute(f"SELECT * FROM {quoted}"))
    else:
        # a list of constants: a filter that keeps the scan's order (IN over a subquery is a
        # join, which does not) and skips other partitions' row groups
        values = list(partition_values)
        placeholders = ", ".join("?::DATE" for _ in values) or "NULL"
        where = f'"{partition_column}" IN ({placeholders})'
        frame = frame_of(con.execute(f"SELECT * FROM {quoted} WHERE {where}", values))
    # nulls last, as DuckDB's ORDER BY
    return frame if ordered_by(frame, keys) else frame.sort(keys, nulls_last=True)
