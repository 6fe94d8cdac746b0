"""What writing one snapshot's tables costs DuckDB alone: the ``writes`` stage group.

Every table the ``pipeline`` group left in its warehouse (the raw tables, the quarantine, the
features and the marts of one snapshot) is copied by DuckDB, table by table, into a fresh
database, three ways (``benchmarks.measure.WRITE_COPIES``):

- ``file``: into a fresh file in the pipeline's storage format, with DuckDB's compression,
  each table checkpointed into the file before the next;
- ``uncompressed``: the same with every column's compression turned off (DuckDB's
  ``force_compression``, a setting for testing, not one the pipeline could ship: the file is
  several times larger);
- ``memory``: into an in-memory database, no file: reading the source tables and building the
  rows. Beyond DuckDB's ``memory_limit`` an in-memory table spills to the temp directory; the
  bytes it spilled are recorded (``<table> spilled bytes``), as that copy then wrote a file
  after all.

``file`` minus ``memory`` estimates what writing these tables into a compressed DuckDB file
costs, whatever computes them; ``uncompressed`` minus ``memory`` the same uncompressed.
``benchmarks.run`` sets that estimate against the issue's targets.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import duckdb

from assets.resources import WAREHOUSE_STORAGE_VERSION
from benchmarks.measure import WRITE_COPIES
from segmentation.warehouse import qualified, quote_table, sql_text

MODES = tuple(WRITE_COPIES)


def source_tables(warehouse: Path) -> list[str]:
    """``schema.table`` of every table in the warehouse file, sorted."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() ORDER BY 1"
        ).fetchall()
    return [row[0] for row in rows]


def _spilled_bytes(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT coalesce(sum(size), 0) FROM duckdb_temporary_files()").fetchone()[0]


def copy_tables(
    warehouse: Path, target: Path | None, mode: str, settings: dict[str, Any]
) -> dict[str, Any]:
    """Copy every table of ``warehouse`` into ``target`` (a new file; None: in memory) the way
    ``mode`` says, under the DuckDB ``settings`` (memory_limit, temp_directory, threads).
    Returns, per table, its seconds (a file copy's checkpoint included), its rows and, in
    memory, the bytes it spilled; and the file's bytes. The target file is removed afterwards,
    whatever happened."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if (target is None) != (mode == "memory"):
        raise ValueError("the memory copy has no target file; the file copies need one")
    config = dict(settings)
    if target is not None:
        config["storage_compatibility_version"] = WAREHOUSE_STORAGE_VERSION
    if mode == "uncompressed":
        config["force_compression"] = "uncompressed"
    tables = source_tables(warehouse)
    info: dict[str, Any] = {}
    leftovers = [] if target is None else [target, Path(f"{target}.wal")]
    try:
        for path in leftovers:
            path.unlink(missing_ok=True)
        con = duckdb.connect(":memory:" if target is None else str(target), config=config)
        try:
            con.execute(f"ATTACH {sql_text(str(warehouse))} AS source (READ_ONLY)")
            for table in tables:
                name = quote_table(table)
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {qualified(table.split('.')[0])}")
                start = time.perf_counter()
                con.execute(f"CREATE TABLE {name} AS SELECT * FROM source.{name}")
                if target is not None:
                    # each table's own checkpoint in its own time, not the last table's
                    con.execute("CHECKPOINT")
                info[f"{table} seconds"] = round(time.perf_counter() - start, 3)
                info[f"{table} rows"] = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
                if target is None:
                    info[f"{table} spilled bytes"] = _spilled_bytes(con)
                    # one table at a time, so that a table spills only if it alone exceeds
                    # the memory limit
                    con.execute(f"DROP TABLE {name}")
        finally:
            con.close()
        if target is not None:
            info["file bytes"] = os.path.getsize(target)
    finally:
        for path in leftovers:
            path.unlink(missing_ok=True)
    return info
