"""Publish the marts to the serving file: copied whole, commented, swapped in atomically.

DuckDB allows one read-write process or many readers of a file, never both, so BI tools read a
separate file. It is built next to its final place under a temporary name and moved over the old
one with ``os.replace``: a reader that has the old file open keeps reading that snapshot, a new
connection opens the new one, and an error anywhere before the move leaves the old file as it was
and removes the temporary one.

Before it writes, a publish removes the temporary files a killed publish left, and checks the file
it will replace (:mod:`segmentation.serving.guard`): only a serving copy this pipeline
published, open read-write by no other process, and without changes someone else made since
(unless the configuration accepts discarding them). The new copy carries the marker and
fingerprint the next publish checks.

Customer ids can be replaced by keyed pseudonyms: HMAC-SHA256 (RFC 2104) of the UTF-8 id under a
secret key, hex, truncated to :data:`PSEUDONYM_LENGTH` characters. DuckDB has ``sha256`` but no
``hmac``; HMAC is two nested hashes over the key padded and XOR-ed with two constants, so the
padded keys are derived here once and the hashes run vectorised in SQL, once per distinct id
(not per snapshot row), with no Python loop; the tables then join to that mapping. It is the real
HMAC, not ``sha256(secret || id)``: same cost, and no length-extension caveat to explain.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from segmentation.serving import guard
from segmentation.serving.dictionary import (
    MARTS_SCHEMA,
    UNDESCRIBED_COLUMN,
    column_description,
    table_description,
)
from segmentation.serving.marker import Marker, write_marker
from segmentation.sql_files import compose_sql, read_sql, render_sql
from segmentation.warehouse import qualified, sql_text, transaction

# Files written with this storage format open in DuckDB 1.4 and every newer release; without
# it the format would follow whatever the pipeline's DuckDB defaults to.
STORAGE_VERSION = "v1.4.0"
SERVING_ALIAS = "serving_tmp"
ID_COLUMN = "customer_id"
# id -> pseudonym, one row per distinct id (a temporary table of the warehouse connection)
_PSEUDONYMS = "_serving_pseudonyms"
# 24 hex characters = 96 bits: collisions stay negligible for billions of customers.
PSEUDONYM_LENGTH = 24
PSEUDONYM_NOTE = (
    "In the serving copy: a pseudonym, HMAC-SHA256 of the id under a secret key (first "
    f"{PSEUDONYM_LENGTH} hex characters); with the same key the same id has the same pseudonym "
    "in every table and run, so joins work."
)

_HMAC_BLOCK = 64  # SHA-256 block size in bytes


@dataclass(frozen=True)
class PublishedTable:
    """One table of the serving file."""

    name: str
    rows: int
    columns: int
    undescribed_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class PublishResult:
    """What a publish wrote."""

    path: Path
    size_bytes: int
    tables: tuple[PublishedTable, ...]
    published_at: datetime
    pseudonymized: bool
    seconds: float
    fingerprint: str = ""
    discarded_changes: tuple[str, ...] = ()
    removed_temporaries: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def pseudonym(secret: bytes, customer_id: str) -> str:
    """The pseudonym of one id, computed with Python's ``hmac`` (the reference for the SQL)."""
    digest = hmac.new(secret, customer_id.encode(), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_LENGTH]


def hmac_pad_keys(secret: bytes) -> tuple[bytes, bytes]:
    """The inner and outer padded keys of HMAC-SHA256 (RFC 2104) for ``secret``."""
    key = hashlib.sha256(secret).digest() if len(secret) > _HMAC_BLOCK else secret
    key = key.ljust(_HMAC_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def pseudonym_sql(column: str) -> str:
    """The SQL expression for the pseudonym of ``column``; binds ``$inner_key`` and
    ``$outer_key`` (:func:`hmac_pad_keys`)."""
    return compose_sql(
        "serving/pseudonym.sql", column=qualified(column), length=str(PSEUDONYM_LENGTH)
    )


def temporary_path(target: Path) -> Path:
    """A fresh hidden file name next to ``target``: same folder, so the move is a rename."""
    return target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")


def install(temporary: Path, target: Path) -> None:
    """Move the finished file into place atomically (a rename within one file system)."""
    os.replace(temporary, target)


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    _wal(path).unlink(missing_ok=True)


def warehouse_tables(con: duckdb.DuckDBPyConnection, schema: str = MARTS_SCHEMA) -> list[str]:
    """The tables of one schema of the connection's own database (not of attached ones)."""
    rows = con.execute(read_sql("serving/schema_tables.sql"), {"schema": schema}).fetchall()
    return [row[0] for row in rows]


def publishable(con: duckdb.DuckDBPyConnection, schema: str = MARTS_SCHEMA) -> list[str]:
    """The tables and views of one schema of the connection's own database: what a publish can
    copy (views present tables kept elsewhere, such as the Spark engine's lake)."""
    rows = con.execute(read_sql("serving/schema_relations.sql"), {"schema": schema}).fetchall()
    return [row[0] for row in rows]


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = con.execute(
        read_sql("serving/table_columns.sql"), {"schema": MARTS_SCHEMA, "table": table}
    ).fetchall()
    return [row[0] for row in rows]


def _create_pseudonyms(
    con: duckdb.DuckDBPyConnection, tables: Sequence[str], secret: bytes
) -> None:
    """The temporary id -> pseudonym table over the distinct ids of ``tables``."""
    ids = [
        render_sql("serving/customer_ids.sql", id=ID_COLUMN, table=f"{MARTS_SCHEMA}.{table}")
        for table in tables
        if ID_COLUMN in _columns(con, table)
    ]
    if not ids:
        return
    inner, outer = hmac_pad_keys(secret)
    statement = compose_sql(
        "serving/create_pseudonyms.sql",
        pseudonyms=qualified(_PSEUDONYMS),
        id=qualified(ID_COLUMN),
        pseudonym=pseudonym_sql(ID_COLUMN),
        ids=" UNION ".join(ids),
    )
    con.execute(statement, {"inner_key": inner, "outer_key": outer})


def _copy_table(con: duckdb.DuckDBPyConnection, table: str, pseudonymize: bool) -> PublishedTable:
    columns = _columns(con, table)
    hidden = pseudonymize and ID_COLUMN in columns
    source = qualified(MARTS_SCHEMA, table)
    target = qualified(SERVING_ALIAS, MARTS_SCHEMA, table)
    if hidden:
        copy = compose_sql(
            "serving/copy_mart_pseudonymized.sql",
            copy=target,
            mart=source,
            id=qualified(ID_COLUMN),
            pseudonyms=qualified(_PSEUDONYMS),
        )
    else:
        copy = compose_sql("serving/copy_mart.sql", copy=target, mart=source)
    con.execute(copy)
    description = sql_text(table_description(table))
    con.execute(compose_sql("serving/comment_on_table.sql", table=target, text=description))
    undescribed = []
    for column in columns:
        text = column_description(table, column)
        if text is None:
            undescribed.append(column)
            text = UNDESCRIBED_COLUMN
        if hidden and column == ID_COLUMN:
            text = f"{text} {PSEUDONYM_NOTE}"
        comment = compose_sql(
            "serving/comment_on_column.sql",
            table=target,
            column=qualified(column),
            text=sql_text(text),
        )
        con.execute(comment)
    (copied,) = con.execute(compose_sql("serving/count_rows.sql", table=target)).fetchone()
    (rows,) = con.execute(compose_sql("serving/count_rows.sql", table=source)).fetchone()
    if copied != rows:
        raise RuntimeError(f"{table}: copied {copied} rows of {rows}")
    return PublishedTable(table, int(copied), len(columns), tuple(undescribed))


def _inspect(target: Path, overwrite_foreign_changes: bool) -> guard.TargetState | None:
    """The state of the file the publish will replace (``None``: there is none yet).

    Raises:
        ServingFileError: It is not a serving copy of this pipeline, it is open read-write
            elsewhere, or someone changed it and ``overwrite_foreign_changes`` is false.
    """
    if not (target.exists() or target.is_symlink()):
        return None
    state = guard.inspect_target(target)
    if state.foreign_changes and not overwrite_foreign_changes:
        raise guard.refusal(target, state.foreign_changes)
    return state


def _still_as_inspected(target: Path, state: guard.TargetState | None) -> None:
    if state is not None and not guard.unchanged_since(target, state):
        raise guard.ServingFileError(
            f"the serving copy {target} changed while it was being replaced (another process "
            "wrote to it); nothing was replaced: run again"
        )


def publish_marts(
    con: duckdb.DuckDBPyConnection,
    target: Path,
    tables: Sequence[str],
    secret: bytes | None = None,
    overwrite_foreign_changes: bool = False,
) -> PublishResult:
    """Copy ``marts.<table>`` for each of ``tables`` to the DuckDB file ``target``, atomically.

    Before anything is written, temporary files a killed publish left beside ``target`` are
    removed, and the file at ``target`` is checked (:mod:`segmentation.serving.guard`): it must be a
    serving copy this pipeline published, no other process may have it open read-write, and
    changes someone made to it since are only discarded when ``overwrite_foreign_changes``. A
    shared lock on it, held until the new file is in place, keeps writers out meanwhile.

    Args:
        con: A read-write connection to the warehouse (or to a database whose ``marts`` views
            present the lake's tables: :mod:`segmentation.engines.spark.lake_serving`).
        target: The serving file; replaced only once the new one is complete.
        tables: The marts tables to publish (all must exist).
        secret: When given, ``customer_id`` columns hold pseudonyms keyed by it.
        overwrite_foreign_changes: Discard changes others made to the serving copy.

    Returns:
        The path, size, tables with row counts and the time of the publish, and the changes
        it discarded.

    Raises:
        ValueError: A table is missing from the warehouse; nothing is written.
        ServingFileError: The file at ``target`` may not be replaced; nothing is written.
    """
    started = time.perf_counter()
    missing = sorted(set(tables) - set(publishable(con)))
    if missing:
        raise ValueError(
            f"cannot publish: {', '.join(f'{MARTS_SCHEMA}.{t}' for t in missing)} missing from "
            f"the warehouse (materialize the marts first)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    removed = guard.remove_stale_temporaries(target)
    state = _inspect(target, overwrite_foreign_changes)
    with guard.shared_lock(target) if state is not None else contextlib.nullcontext():
        _still_as_inspected(target, state)
        published, marker = _write_and_install(con, target, tables, secret, state)
    return PublishResult(
        path=target,
        size_bytes=target.stat().st_size,
        tables=published,
        published_at=datetime.now(UTC),
        pseudonymized=secret is not None,
        seconds=time.perf_counter() - started,
        fingerprint=marker.fingerprint.digest(),
        discarded_changes=state.foreign_changes if state is not None else (),
        removed_temporaries=tuple(path.name for path in removed),
        notes=state.notes if state is not None else (),
    )


def _write_and_install(
    con: duckdb.DuckDBPyConnection,
    target: Path,
    tables: Sequence[str],
    secret: bytes | None,
    state: guard.TargetState | None,
) -> tuple[tuple[PublishedTable, ...], Marker]:
    """Build the new copy under a temporary name and move it over ``target``."""
    temporary = temporary_path(target)
    alias = qualified(SERVING_ALIAS)
    detach = compose_sql("serving/detach_copy.sql", alias=alias)
    attached = False
    try:
        # ATTACH takes no parameter for the path: a literal
        attach = compose_sql("serving/attach_copy.sql", path=sql_text(str(temporary)), alias=alias)
        con.execute(attach, {"storage_version": STORAGE_VERSION})
        attached = True
        # one transaction: every table comes from the same state of the warehouse
        with transaction(con):
            schema = qualified(SERVING_ALIAS, MARTS_SCHEMA)
            con.execute(compose_sql("serving/create_schema.sql", schema=schema))
            if secret is not None:
                _create_pseudonyms(con, tables, secret)
            published = tuple(_copy_table(con, t, secret is not None) for t in tables)
            marker = write_marker(con, SERVING_ALIAS)
        # everything into the main file: the move must not leave data behind in a WAL
        con.execute(compose_sql("serving/checkpoint_copy.sql", alias=alias))
        con.execute(detach)
        attached = False
        if _wal(temporary).exists():
            raise RuntimeError(f"{temporary} still has a write-ahead log after checkpointing")
        _still_as_inspected(target, state)
        # a log beside the target would be replayed on the new file (and break it): it is a
        # client's, whose changes were accepted for discarding, or an orphan without its file
        _wal(target).unlink(missing_ok=True)
        install(temporary, target)
    except BaseException:
        if attached:
            with contextlib.suppress(duckdb.Error):  # keep the original error
                con.execute(detach)
        _remove(temporary)
        raise
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute(
                compose_sql("serving/drop_pseudonyms.sql", pseudonyms=qualified(_PSEUDONYMS))
            )
    return published, marker
