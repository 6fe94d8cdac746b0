"""Which file a publish may replace, and whether anyone changed the serving copy since.

The publish replaces the file named by the config key ``serving``. Pointed at the wrong file (the
warehouse, a source, anyone else's database) that would destroy it, so a file is replaced only
when it is a serving copy this pipeline published: a DuckDB file holding the marker, a macro
``_segmentation.serving_copy()`` returning JSON with this pipeline's name, a format version and
the content fingerprint (a macro, not a table: BI tools list tables and views, and ``marts``
holds exactly the marts). A copy published before the marker existed is recognised by its
content instead: nothing but ``marts`` tables of this pipeline, each commented with its contract's
description.

The serving copy is read-only for BI tools. A client that opens it read-write anyway and writes
(a table of its own, changed rows, a write-ahead log beside the file) would lose those writes at
the next publish, so the publish first looks for them and refuses to discard them unless the
configuration says so (``serving_overwrite_foreign_changes: true``).

The content fingerprint recorded in the marker: every catalog object of the file (schemas,
tables, columns with types, views, macros, sequences, indexes, constraints, comments) and, per
table, its row count and the sum of DuckDB's ``hash`` of every row. Summing row hashes reads each
table once, in parallel, with no sort and no Python per row (17M rows of 15 columns: ~1.2 s on two
cores, a fraction of the publish that writes them); it is independent of row order and storage
layout (checkpoints and compaction move rows between blocks without changing it), and any
inserted, deleted or updated row changes it. File bytes or modification times would not do:
DuckDB rewrites blocks when it checkpoints, and a copy with the same content is still the same
copy. ``hash`` may change between DuckDB releases, so the marker records the DuckDB version and
a copy published by another version is compared on its catalog and row counts only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import duckdb

try:  # POSIX record locks, the kind DuckDB takes on its files
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: the lock checks are skipped
    fcntl = None  # type: ignore[assignment]

MARKER_SCHEMA = "_segmentation"
MARKER_NAME = "serving_copy"
MARKER = f"{MARKER_SCHEMA}.{MARKER_NAME}()"
PIPELINE_NAME = "customer-segmentation"
MARKER_FORMAT_VERSION = 1
MARKER_COMMENT = (
    "Written by the customer segmentation pipeline: marks this file as its serving copy and "
    "returns, as JSON, a fingerprint of its content. The copy is read-only; every publish "
    "replaces it."
)
OVERWRITE_KEY = "serving_overwrite_foreign_changes"
# where a DuckDB file says what it is: bytes 8..11 of its main header
_DUCKDB_MAGIC = b"DUCK"
_MAGIC_OFFSET = 8
_NO_MARKER = f"is a DuckDB database without this pipeline's marker {MARKER}"
# changes listed by name in a message; the rest are counted
_LISTED = 10


class ServingFileError(ValueError):
    """The serving path holds a file the publish must not replace; the message says what to do."""


@dataclass(frozen=True)
class Fingerprint:
    """What a serving copy holds: its catalog objects and each table's rows and row hashes.

    Attributes:
        objects: One text per catalog object (sorted), e.g. ``table marts.customer_segments``.
        tables: ``schema.table`` -> (row count, sum of row hashes as text).
    """

    objects: tuple[str, ...]
    tables: dict[str, tuple[int, str]]

    def digest(self) -> str:
        """A SHA-256 of the whole fingerprint, for one comparison and for display."""
        text = json.dumps([list(self.objects), sorted(self.tables.items())])
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Marker:
    """The marker row of a serving copy."""

    pipeline: str
    format_version: int
    duckdb_version: str
    fingerprint: Fingerprint


@dataclass(frozen=True)
class TargetState:
    """What the publish found at the serving path before replacing it.

    Attributes:
        foreign_changes: What someone else changed (empty: nothing), one text per change.
        notes: What could not be compared, for the log.
        stat: (inode, size, mtime_ns) of the file when it was inspected.
        wal: Whether a write-ahead log lay beside it.
    """

    foreign_changes: tuple[str, ...]
    notes: tuple[str, ...]
    stat: tuple[int, int, int]
    wal: bool


def wal_path(path: Path) -> Path:
    """DuckDB's write-ahead log of the database file ``path``."""
    return path.with_name(path.name + ".wal")


def is_duckdb_file(path: Path) -> bool:
    """Whether ``path`` starts like a DuckDB database file (read without opening it)."""
    with path.open("rb") as handle:
        header = handle.read(_MAGIC_OFFSET + len(_DUCKDB_MAGIC))
    return header[_MAGIC_OFFSET:] == _DUCKDB_MAGIC


def _stat(path: Path) -> tuple[int, int, int]:
    status = path.stat()
    return (status.st_ino, status.st_size, status.st_mtime_ns)


def held_for_writing(path: Path) -> bool:
    """Whether another process has ``path`` open read-write with DuckDB (its write lock)."""
    if fcntl is None:
        return False
    # only ever called while this process has no DuckDB connection to the file: closing this
    # descriptor drops every POSIX lock the process holds on it
    with path.open("rb") as handle:
        try:
            fcntl.lockf(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
    return False


@contextlib.contextmanager
def shared_lock(path: Path) -> Iterator[IO[bytes] | None]:
    """Hold a shared lock on ``path`` (as a DuckDB reader does): no process can open it
    read-write meanwhile, while read-only readers still can.

    Raises:
        ServingFileError: Another process has it open read-write.
    """
    if fcntl is None:
        yield None
        return
    with path.open("rb") as handle:
        try:
            fcntl.lockf(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            raise ServingFileError(_held_message(path)) from None
        yield handle


def _held_message(path: Path) -> str:
    return (
        f"the serving copy {path} is open read-write in another process (a BI client or a "
        f"script), so it cannot be replaced safely: its writes would land in a file the next "
        f"reader cannot open. The serving copy is read-only: close that connection and reopen "
        f"it with read_only (e.g. duckdb -readonly {path.name}), then run again."
    )


def catalog_objects(con: duckdb.DuckDBPyConnection, database: str) -> tuple[str, ...]:
    """Every user object of ``database`` on ``con`` as sorted texts (comments as digests)."""
    queries = [
        "SELECT 'schema ' || schema_name, comment FROM duckdb_schemas() "
        "WHERE database_name = $db AND NOT internal",
        "SELECT 'table ' || schema_name || '.' || table_name, comment FROM duckdb_tables() "
        "WHERE database_name = $db",
        "SELECT 'column ' || schema_name || '.' || table_name || '.' || column_name || ' #' || "
        "column_index || ' ' || data_type || CASE WHEN is_nullable THEN '' ELSE ' NOT NULL' END "
        "|| coalesce(' DEFAULT ' || column_default, ''), comment FROM duckdb_columns() "
        "WHERE database_name = $db",
        "SELECT 'view ' || schema_name || '.' || view_name || ' ' || sql, comment "
        "FROM duckdb_views() WHERE database_name = $db AND NOT internal",
        "SELECT 'function ' || schema_name || '.' || function_name || ' ' || function_type "
        "|| coalesce(' ' || macro_definition, ''), comment FROM duckdb_functions() "
        "WHERE database_name = $db AND NOT internal",
        "SELECT 'type ' || schema_name || '.' || type_name, comment FROM duckdb_types() "
        "WHERE database_name = $db AND NOT internal",
        "SELECT 'sequence ' || schema_name || '.' || sequence_name, comment "
        "FROM duckdb_sequences() WHERE database_name = $db",
        "SELECT 'index ' || schema_name || '.' || index_name || ' ' || coalesce(sql, ''), "
        "comment FROM duckdb_indexes() WHERE database_name = $db",
        "SELECT 'constraint ' || schema_name || '.' || table_name || ' ' || constraint_text, "
        "NULL FROM duckdb_constraints() WHERE database_name = $db",
    ]
    objects = []
    marker = f"function {MARKER_SCHEMA}.{MARKER_NAME} "
    for query in queries:
        for name, comment in con.execute(query, {"db": database}).fetchall():
            if name.startswith(marker):
                continue
            if comment:
                name += " comment " + hashlib.sha256(str(comment).encode()).hexdigest()[:16]
            objects.append(name)
    return tuple(sorted(objects))


def _user_tables(con: duckdb.DuckDBPyConnection, database: str) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? ORDER BY ALL",
        [database],
    ).fetchall()


def fingerprint(
    con: duckdb.DuckDBPyConnection, database: str, with_hashes: bool = True
) -> Fingerprint:
    """The fingerprint of ``database`` as ``con`` sees it (its own transaction included).

    The marker macro is left out (it holds the fingerprint); its schema is not.
    """
    tables: dict[str, tuple[int, str]] = {}
    for schema, table in _user_tables(con, database):
        source = f'"{database}"."{schema}"."{table}"'
        hashes = "sum(hash(t)::HUGEINT)::VARCHAR" if with_hashes else "NULL"
        rows, content = con.execute(f"SELECT count(*), {hashes} FROM {source} AS t").fetchone()
        tables[f"{schema}.{table}"] = (int(rows), str(content or "0") if with_hashes else "")
    return Fingerprint(catalog_objects(con, database), tables)


def write_marker(con: duckdb.DuckDBPyConnection, database: str) -> Marker:
    """Mark ``database`` as this pipeline's serving copy, recording its fingerprint.

    The marker is a macro, ``_segmentation.serving_copy()``, returning the marker as JSON: BI
    tools list tables and views, so it stays out of their way, yet anyone can query it. Call it
    last: the fingerprint covers everything written before.
    """
    con.execute(f'CREATE SCHEMA "{database}"."{MARKER_SCHEMA}"')
    taken = fingerprint(con, database)
    marker = Marker(PIPELINE_NAME, MARKER_FORMAT_VERSION, duckdb.__version__, taken)
    text = json.dumps(
        {
            "pipeline": marker.pipeline,
            "format_version": marker.format_version,
            "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "duckdb_version": marker.duckdb_version,
            "fingerprint": taken.digest(),
            "objects": list(taken.objects),
            "tables": {name: list(value) for name, value in taken.tables.items()},
        },
        sort_keys=True,
    )
    name = f'"{database}"."{MARKER_SCHEMA}"."{MARKER_NAME}"'
    con.execute(f"CREATE MACRO {name}() AS {_literal(text)}")
    con.execute(f"COMMENT ON MACRO {name} IS {_literal(MARKER_COMMENT)}")
    return marker


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def read_marker(con: duckdb.DuckDBPyConnection) -> Marker | None:
    """The marker of the database ``con`` opened, or ``None`` when it has none of ours.

    The macro's text is parsed, never run: the file may be anyone's.
    """
    rows = con.execute(
        "SELECT macro_definition FROM duckdb_functions() WHERE database_name = "
        "current_database() AND schema_name = ? AND function_name = ? AND function_type = "
        "'macro'",
        [MARKER_SCHEMA, MARKER_NAME],
    ).fetchall()
    if len(rows) != 1 or not isinstance(rows[0][0], str):
        return None
    definition = rows[0][0].strip()
    if len(definition) < 2 or definition[0] != "'" or definition[-1] != "'":
        return None
    try:
        content = json.loads(definition[1:-1].replace("''", "'"))
        marker = Marker(
            str(content["pipeline"]),
            int(content["format_version"]),
            str(content["duckdb_version"]),
            Fingerprint(
                tuple(str(item) for item in content["objects"]),
                {
                    str(name): (int(value[0]), str(value[1]))
                    for name, value in content["tables"].items()
                },
            ),
        )
    except (TypeError, ValueError, KeyError, IndexError, AttributeError):
        return None
    return marker if marker.pipeline == PIPELINE_NAME else None


def is_legacy_copy(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the database is a serving copy published before the marker existed: only
    ``marts`` tables of this pipeline, each with its contract's description as comment."""
    from segmentation.serving.dictionary import MART_CONTRACTS, MARTS_SCHEMA, table_description

    database = con.execute("SELECT current_database()").fetchone()[0]
    tables = con.execute(
        "SELECT schema_name, table_name, comment FROM duckdb_tables() WHERE database_name = ?",
        [database],
    ).fetchall()
    others = [
        name
        for name in catalog_objects(con, database)
        if not name.startswith(("table ", "column ", f"schema {MARTS_SCHEMA}"))
    ]
    return (
        bool(tables)
        and not others
        and all(
            schema == MARTS_SCHEMA and table in MART_CONTRACTS
            and comment == table_description(table)
            for schema, table, comment in tables
        )
    )  # fmt: skip


def _not_ours(path: Path, why: str) -> ServingFileError:
    return ServingFileError(
        f"serving: {path} {why}, so it is not a serving copy this pipeline published and a "
        f"publish would destroy it. Point `serving` to a new file (e.g. "
        f"{path.with_name('serving.duckdb')}), or move this file away if it is yours to discard."
    )


def check_replaceable(path: Path) -> None:
    """Refuse a serving path holding a file that is not a serving copy of this pipeline.

    Cheap enough to run whenever the configuration loads: reads the file's first bytes and,
    for a DuckDB file, its catalog and marker row. A file that is open read-write elsewhere,
    has a write-ahead log beside it or cannot be opened is left to the publish to judge.

    Raises:
        ServingFileError: A directory, a file that is not a DuckDB database, or a DuckDB
            database without this pipeline's marker.
    """
    if not path.exists():
        return
    if not path.is_file():
        raise _not_ours(path, "is not a file")
    if not is_duckdb_file(path):
        raise _not_ours(path, "is not a DuckDB database")
    if wal_path(path).exists() or held_for_writing(path):
        return
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return
    try:
        ours = read_marker(con) is not None or is_legacy_copy(con)
    finally:
        con.close()
    if not ours:
        raise _not_ours(path, _NO_MARKER)


def _listed(label: str, names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    more = f" and {len(names) - _LISTED} more" if len(names) > _LISTED else ""
    return f"{label}: {shown}{more}"


def _without_columns_of_listed_tables(objects: set[str]) -> list[str]:
    """The objects, minus the columns of tables or views that are themselves listed."""
    tables = {name.split()[1] for name in objects if name.startswith(("table ", "view "))}
    return sorted(
        name
        for name in objects
        if not (name.startswith("column ") and name.split()[1].rsplit(".", 1)[0] in tables)
    )


def _compare(recorded: Fingerprint, found: Fingerprint, hashes: bool) -> list[str]:
    changes = []
    added = _without_columns_of_listed_tables(set(found.objects) - set(recorded.objects))
    removed = _without_columns_of_listed_tables(set(recorded.objects) - set(found.objects))
    if added:
        changes.append(_listed("objects it did not write", added))
    if removed:
        changes.append(_listed("objects changed or removed", removed))
    changed = []
    for table, (rows, content) in sorted(found.tables.items()):
        before = recorded.tables.get(table)
        if before is None:
            continue  # a new table: listed with the objects
        if before[0] != rows:
            changed.append(f"{table} ({before[0]:,} -> {rows:,} rows)")
        elif hashes and before[1] != content:
            changed.append(f"{table} (rows updated)")
    if changed:
        changes.append(_listed("rows changed in", changed))
    return changes


def inspect_target(path: Path) -> TargetState:
    """What someone else changed in the serving copy at ``path`` since it was published.

    Raises:
        ServingFileError: The file is not a serving copy of this pipeline (whatever the
            overwrite switch says), or another process has it open read-write.
    """
    if not path.is_file():
        raise _not_ours(path, "is not a file")
    if not is_duckdb_file(path):
        raise _not_ours(path, "is not a DuckDB database")
    if held_for_writing(path):
        raise ServingFileError(_held_message(path))
    stat = _stat(path)
    wal = wal_path(path).exists()
    changes: list[str] = []
    notes: list[str] = []
    if wal:
        changes.append(
            f"a write-ahead log {wal_path(path).name} beside it (writes of a client that "
            "opened the copy read-write)"
        )
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        first = str(error).strip().splitlines()[0]
        changes.append(f"it cannot be opened ({first})")
        return TargetState(tuple(changes), tuple(notes), stat, wal)
    try:
        marker = read_marker(con)
        if marker is None:
            if not is_legacy_copy(con):
                raise _not_ours(path, _NO_MARKER)
            notes.append(f"{path.name} was published before copies carried a fingerprint")
        else:
            same_version = marker.duckdb_version == duckdb.__version__
            if not same_version:
                notes.append(
                    f"{path.name} was published with DuckDB {marker.duckdb_version}: compared on "
                    "its catalog and row counts only"
                )
            database = con.execute("SELECT current_database()").fetchone()[0]
            found = fingerprint(con, database, with_hashes=same_version)
            changes += _compare(marker.fingerprint, found, same_version)
    finally:
        con.close()
    return TargetState(tuple(changes), tuple(notes), stat, wal)


def refusal(path: Path, changes: tuple[str, ...]) -> ServingFileError:
    """The error of a publish that would discard someone else's changes."""
    listed = "\n".join(f"  - {change}" for change in changes)
    return ServingFileError(
        f"the serving copy {path} was changed since this pipeline published it:\n{listed}\n"
        f"The serving copy is read-only (open it with read_only) and a publish replaces it "
        f"whole, so these changes would be lost. Save what you need from it, then set "
        f"`{OVERWRITE_KEY}: true` in the configuration to let the next publish discard them "
        f"(or move the file away)."
    )


def unchanged_since(path: Path, state: TargetState) -> bool:
    """Whether the file and its write-ahead log are as they were when inspected."""
    try:
        return _stat(path) == state.stat and wal_path(path).exists() == state.wal
    except FileNotFoundError:
        return False


_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{32}\.tmp(\.wal)?$")


def stale_temporaries(target: Path) -> list[Path]:
    """Temporary files of earlier publishes of ``target`` that no process has open for
    writing (a killed run's): ``.<name>.<32 hex>.tmp`` and their write-ahead logs."""
    if not target.parent.is_dir():
        return []
    stale = []
    for candidate in sorted(target.parent.iterdir()):
        match = _TEMPORARY.match(candidate.name)
        if match is None or match["name"] != target.name or not candidate.is_file():
            continue
        database = candidate.with_name(candidate.name.removesuffix(".wal"))
        # a publish under way holds its temporary file's write lock
        if database.exists() and held_for_writing(database):
            continue
        stale.append(candidate)
    return stale


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Remove :func:`stale_temporaries`; returns what was removed."""
    removed = []
    for path in stale_temporaries(target):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def _ignores_case(folder: Path) -> bool:
    """Whether ``folder``'s file system ignores case (its name with swapped case is itself)."""
    swapped = folder.with_name(folder.name.swapcase())
    if swapped == folder:
        return False
    with contextlib.suppress(OSError):
        return swapped.exists() and os.path.samefile(folder, swapped)
    return False


def same_file(first: Path, second: Path) -> bool:
    """Whether two paths name the same file: equal once resolved (symlinks, ``..``), the same
    inode (hard links, or case variants of one name on a case-insensitive file system), or,
    for files not created yet, equal ignoring case in a folder whose file system ignores it."""
    real_first, real_second = Path(os.path.realpath(first)), Path(os.path.realpath(second))
    if real_first == real_second:
        return True
    with contextlib.suppress(OSError):
        if first.exists() and second.exists():
            return os.path.samefile(first, second)
    return (
        str(real_first).lower() == str(real_second).lower()
        and real_first.parent.is_dir()
        and _ignores_case(real_first.parent)
    )
