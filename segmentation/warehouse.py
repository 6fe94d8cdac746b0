"""Atomic, idempotent writes to the DuckDB warehouse, matching columns by name.

Every write runs in one transaction: a failure leaves the previous table as it was, and a re-run
replaces exactly what the previous run of the same asset (or partition) wrote.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa

from segmentation.keys import KEY_COLUMNS, ordered_by
from segmentation.phases import READING, WRITING, phase
from segmentation.sql_files import compose_sql, quote_identifier, read_sql, render_sql

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
logger = logging.getLogger(__name__)


def quote_table(table: str) -> str:
    """``schema.table`` quoted for SQL; anything but plain identifiers is refused."""
    parts = table.split(".")
    if len(parts) != 2 or not all(_IDENTIFIER.match(part) for part in parts):
        raise ValueError(f"expected a table name as schema.table, got {table!r}")
    return ".".join(f'"{part}"' for part in parts)


def qualified(*parts: str) -> str:
    """A name of one or more parts (database, schema, table, column) quoted part by part and
    joined by dots; any text is allowed in a part, unlike :func:`quote_table`."""
    return ".".join(quote_identifier(part) for part in parts)


def sql_text(value: str) -> str:
    """``value`` as a SQL string literal, for the statements that take no parameters (ATTACH,
    COMMENT ON, CREATE VIEW)."""
    return "'" + value.replace("'", "''") + "'"


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether the table ``schema.table`` exists."""
    schema, name = table.split(".")
    found = con.execute(
        read_sql("warehouse/table_exists.sql"), {"schema": schema, "table": name}
    ).fetchone()
    return bool(found and found[0])


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The columns of the table ``schema.table``, in table order (none: it does not exist)."""
    schema, name = table.split(".")
    rows = con.execute(
        read_sql("warehouse/table_columns.sql"), {"schema": schema, "table": name}
    ).fetchall()
    return [row[0] for row in rows]


def _add_missing_columns(
    con: duckdb.DuckDBPyConnection, table: str, frame_view: str, existing: Sequence[str]
) -> None:
    """New columns in the code's output are added to an existing table, never dropped."""
    described = con.execute(
        render_sql("warehouse/describe_relation.sql", relation=frame_view)
    ).fetchall()
    for column, column_type, *_ in described:
        if column not in existing:
            # the type as DuckDB itself wrote it: SQL of DuckDB's own, not a value
            add = compose_sql(
                "warehouse/add_column.sql",
                table=quote_table(table),
                column=quote_identifier(column),
                column_type=column_type,
            )
            con.execute(add)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All statements inside commit together or not at all (rolled back on any error)."""
    con.begin()
    try:
        yield con
    except BaseException:
        con.rollback()
        raise
    con.commit()


@contextmanager
def scratch_directory(con: duckdb.DuckDBPyConnection, prefix: str) -> Iterator[Path]:
    """A fresh directory for files one computation writes for DuckDB to read back, deleted
    afterwards (after a failure too): under the warehouse's ``temp_directory`` (where DuckDB
    spills as well), or the system's temporary directory for an in-memory warehouse.

    The ``temp_directory`` itself is created if missing and left in place: DuckDB may have
    started spilling into it meanwhile, and it does not create it again for its next spill.
    """
    in_memory = con.execute(read_sql("warehouse/is_in_memory.sql")).fetchone()[0]
    base = None
    if not in_memory:
        base = Path(current_setting(con, "temp_directory"))
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
    con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame, copy_text: bool = True
) -> Iterator[duckdb.DuckDBPyConnection]:
    """``frame`` is queryable as the view ``name`` inside the block, as an Arrow table of
    ``SCAN_BATCH_ROWS``-row batches that DuckDB scans in parallel.

    ``copy_text=False`` is for a view that is only read whole, as a write reads it: the frame's
    columns go over without a copy (a column polars holds as one literal value is made whole),
    its text as Arrow string views, polars' own layout. Copied into Arrow's large strings
    (polars' default export) instead, a 7.25M-customer segments month took 2.1 GiB more to write
    than its frame, for the same values and DuckDB types. The default copies: DuckDB pushes the
    filters of a join or an ``IN`` into the Arrow scan, and Arrow has no kernels for string
    views to run them with."""
    table = frame.to_arrow() if copy_text else frame.to_arrow(compat_level=pl.CompatLevel.newest())
    con.register(name, pa.Table.from_batches(table.to_batches(SCAN_BATCH_ROWS), table.schema))
    try:
        yield con
    finally:
        con.unregister(name)


def replace_table(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> int:
    """Replace ``table`` with ``frame`` in one transaction; returns the rows written."""
    schema = table.split(".")[0]
    with phase(WRITING), registered(con, "_replacement", frame, copy_text=False), transaction(con):
        con.execute(render_sql("warehouse/create_schema.sql", schema=schema))
        con.execute(
            compose_sql(
                "warehouse/replace_table.sql",
                table=quote_table(table),
                source=quote_identifier("_replacement"),
            )
        )
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
    with phase(WRITING), ExitStack() as views:
        sources = {}
        for number, (table, frame) in enumerate(frames.items()):
            sources[table] = f"_replacement_{number}"
            views.enter_context(registered(con, sources[table], frame, copy_text=False))
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
    con.execute(render_sql("warehouse/create_schema.sql", schema=schema))
    if table_exists(con, table):
        _add_missing_columns(con, table, source, table_columns(con, table))
        delete = compose_sql(
            "warehouse/delete_partitions.sql",
            table=quoted,
            column=quote_identifier(partition_column),
            sql_type=_sql_type(frame, partition_column),
        )
        con.execute(delete, {"values": values})
        insert = compose_sql(
            "warehouse/insert_by_name.sql", table=quoted, source=quote_identifier(source)
        )
        con.execute(insert)
    else:
        create = compose_sql(
            "warehouse/create_table.sql", table=quoted, source=quote_identifier(source)
        )
        con.execute(create)


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


_MEMORY_UNITS = {"": 1, "b": 1, "bytes": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12}
_MEMORY_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def memory_limit_bytes(setting: str) -> float:
    """DuckDB's ``memory_limit`` as it reports it ('3.7 GiB', '512.0 MiB', '4GB') in bytes."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", setting)
    if match is None or match.group(2).lower() not in _MEMORY_UNITS:
        raise ValueError(f"cannot read DuckDB memory_limit {setting!r}")
    return float(match.group(1)) * _MEMORY_UNITS[match.group(2).lower()]


# DuckDB keeps the table blocks a query read cached up to its memory_limit, and has no statement
# that drops them; a memory_limit this low for a moment evicts every block not in use.
_EVICTING_MEMORY_LIMIT = "16MB"


@cache
def _default_memory_limit() -> str:
    """DuckDB's own memory_limit on this machine (80% of its memory), as DuckDB reports it."""
    with duckdb.connect() as con:
        return current_setting(con, "memory_limit")


def current_setting(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """The current value of the DuckDB setting ``name``, as DuckDB reports it."""
    return con.execute(read_sql("warehouse/current_setting.sql"), {"name": name}).fetchone()[0]


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
    set_limit = read_sql("warehouse/set_memory_limit.sql")
    try:
        con.execute(set_limit, {"memory_limit": _EVICTING_MEMORY_LIMIT})
    except duckdb.OutOfMemoryException:
        pass
    finally:
        restored = memory_limit or _default_memory_limit()
        con.execute(set_limit, {"memory_limit": restored})


# The share of the configured memory_limit a query runs under while its result becomes a large
# frame. What DuckDB used for the query (a join's hash table, a sort) stays with the process
# after it (its allocator keeps the freed pages), on top of the frame; under a lower limit the
# query spills sooner and leaves less behind. Measured in benchmarks/ (docs/benchmarks.md).
QUERY_MEMORY_SHARE = 0.25
# the least a lowered limit leaves DuckDB, however low the configured one
_LEAST_QUERY_MEMORY = 256 * 2**20


@contextmanager
def lowered_memory_limit(
    con: duckdb.DuckDBPyConnection, memory_limit: str, share: float = QUERY_MEMORY_SHARE
) -> Iterator[None]:
    """Run the block with DuckDB's memory_limit at ``share`` of ``memory_limit``, the limit
    ``con`` was opened with (at least 256 MiB, at most ``memory_limit``), and set
    ``memory_limit`` again afterwards, whatever the block raised: the configured value, not the
    one read back (see :func:`release_cached_blocks`). Lowering it moves the cached blocks not
    in use (temp tables included) to the spill files. Blocks still pinned may keep DuckDB above
    the lowered limit, which it reports as out of memory: the block then runs at the limit
    DuckDB is left with."""
    configured = memory_limit_bytes(memory_limit)
    lowered = min(max(int(configured * share), _LEAST_QUERY_MEMORY), int(configured))
    set_limit = read_sql("warehouse/set_memory_limit.sql")
    try:
        try:
            con.execute(set_limit, {"memory_limit": f"{lowered}B"})
        except duckdb.OutOfMemoryException as error:
            # DuckDB then reports the lowered limit all the same; only this says it did not hold
            logger.warning(
                "DuckDB could not lower its memory_limit to %d bytes: %s", lowered, error
            )
        yield
    finally:
        con.execute(set_limit, {"memory_limit": memory_limit})


def table_schema(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, pl.DataType]:
    """The columns of ``table`` in table order, with the polars types a read of it gives."""
    query = compose_sql("warehouse/table_schema.sql", table=quote_table(table))
    return dict(frame_of(con.execute(query)).schema)


def _date_markers(values: Sequence[date]) -> str:
    """One ``?::DATE`` parameter marker per date, for ``IN (...)`` (``NULL`` for none): DuckDB
    binds a list only as one value, and ``IN $list`` filters by list_contains, which reads every
    partition's row groups."""
    return ", ".join("?::DATE" for _ in values) or "NULL"


def columns_without_values(
    con: duckdb.DuckDBPyConnection,
    table: str,
    partition_column: str,
    partition_values: Sequence[date],
    columns: Collection[str],
) -> frozenset[str]:
    """Those of ``columns`` the table has that hold no value (only nulls, or no rows) in the
    given partitions: a reader that takes a missing column as null can leave them unread."""
    present = [name for name in table_columns(con, table) if name in columns]
    if not present:
        return frozenset()
    values = list(partition_values)
    query = compose_sql(
        "warehouse/columns_without_values.sql",
        table=quote_table(table),
        counts=", ".join(
            f"count({quote_identifier(name)}) > 0 AS {quote_identifier(name)}" for name in present
        ),
        column=quote_identifier(partition_column),
        markers=_date_markers(values),
    )
    with phase(READING):
        holds_values = con.execute(query, values).fetchone()
    return frozenset(name for name, holds in zip(present, holds_values, strict=True) if not holds)


def read_partitions(
    con: duckdb.DuckDBPyConnection,
    table: str,
    partition_column: str | None = None,
    partition_values: Sequence[date] | None = None,
    columns: Collection[str] | None = None,
) -> pl.DataFrame:
    """Read a table, or only the given partitions of it, as a polars frame.

    ``columns``: read only the table's columns among these, in the table's order (the keys
    always); None: every column. A month's columns that nothing downstream reads then never
    leave the file.

    Rows come sorted by snapshot date and customer id where the table has them: the same data
    gives the same frame, so order-sensitive float sums downstream are reproducible. The tables
    are written in that order and a plain scan returns rows in the order they were written, so
    the order is checked in polars and a sort runs only when it does not hold: with an
    ``ORDER BY`` the 7.25M-row behaviour month at 100M read in 7.3 s with a 5.8 GiB peak,
    scanned in 5.5 s and 4.1 GiB.
    """
    with phase(READING):
        return _read_partitions(con, table, partition_column, partition_values, columns)


def _read_partitions(
    con: duckdb.DuckDBPyConnection,
    table: str,
    partition_column: str | None,
    partition_values: Sequence[date] | None,
    columns: Collection[str] | None,
) -> pl.DataFrame:
    quoted = quote_table(table)
    present = table_columns(con, table)
    keys = [column for column in KEY_COLUMNS if column in present]
    if columns is not None:
        wanted = {*columns, *keys}
        selected = ", ".join(quote_identifier(name) for name in present if name in wanted)
        if not selected:
            raise ValueError(f"{table} has none of the columns {sorted(columns)}")
    else:
        selected = "*"
    if partition_column is None or partition_values is None:
        whole = compose_sql("warehouse/read_columns.sql", table=quoted, columns=selected)
        frame = frame_of(con.execute(whole))
    else:
        values = list(partition_values)
        query = compose_sql(
            "warehouse/read_partitions.sql",
            table=quoted,
            columns=selected,
            column=quote_identifier(partition_column),
            markers=_date_markers(values),
        )
        frame = frame_of(con.execute(query, values))
    # nulls last, as DuckDB's ORDER BY
    return frame if ordered_by(frame, keys) else frame.sort(keys, nulls_last=True)
