"""What a serving copy holds, and the marker that says this pipeline published it.

A serving copy this pipeline published carries a marker: a macro ``_segmentation.serving_copy()``
returning JSON with this pipeline's name, a format version and the content fingerprint (a macro,
not a table: BI tools list tables and views, and ``marts`` holds exactly the marts). A copy
published before the marker existed is recognised by its content instead: nothing but ``marts``
tables of this pipeline, each commented with its contract's description.

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

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from segmentation.sql_files import compose_sql, read_sql
from segmentation.warehouse import qualified, sql_text

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
# changes listed by name in a message; the rest are counted
_LISTED = 10


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


def current_database(con: duckdb.DuckDBPyConnection) -> str:
    """The name of the database ``con`` opened."""
    return con.execute(read_sql("serving/current_database.sql")).fetchone()[0]


def catalog_objects(con: duckdb.DuckDBPyConnection, database: str) -> tuple[str, ...]:
    """Every user object of ``database`` on ``con`` as sorted texts (comments as digests)."""
    objects = []
    marker = f"function {MARKER_SCHEMA}.{MARKER_NAME} "
    query = read_sql("serving/catalog_objects.sql")
    for name, comment in con.execute(query, {"database": database}).fetchall():
        if name.startswith(marker):
            continue
        if comment:
            name += " comment " + hashlib.sha256(str(comment).encode()).hexdigest()[:16]
        objects.append(name)
    return tuple(sorted(objects))


def _user_tables(con: duckdb.DuckDBPyConnection, database: str) -> list[tuple[str, str]]:
    return con.execute(read_sql("serving/user_tables.sql"), {"database": database}).fetchall()


def fingerprint(
    con: duckdb.DuckDBPyConnection, database: str, with_hashes: bool = True
) -> Fingerprint:
    """The fingerprint of ``database`` as ``con`` sees it (its own transaction included).

    The marker macro is left out (it holds the fingerprint); its schema is not.
    """
    tables: dict[str, tuple[int, str]] = {}
    for schema, table in _user_tables(con, database):
        # any table of the file, named as its owner liked: quoted part by part
        source = qualified(database, schema, table)
        if with_hashes:
            query = compose_sql("serving/table_content.sql", table=source)
            rows, content = con.execute(query).fetchone()
            tables[f"{schema}.{table}"] = (int(rows), str(content or "0"))
        else:
            (rows,) = con.execute(compose_sql("serving/count_rows.sql", table=source)).fetchone()
            tables[f"{schema}.{table}"] = (int(rows), "")
    return Fingerprint(catalog_objects(con, database), tables)


def write_marker(con: duckdb.DuckDBPyConnection, database: str) -> Marker:
    """Mark ``database`` as this pipeline's serving copy, recording its fingerprint.

    The marker is a macro, ``_segmentation.serving_copy()``, returning the marker as JSON: BI
    tools list tables and views, so it stays out of their way, yet anyone can query it. Call it
    last: the fingerprint covers everything written before.
    """
    con.execute(compose_sql("serving/create_schema.sql", schema=qualified(database, MARKER_SCHEMA)))
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
    statements = compose_sql(
        "serving/create_marker.sql",
        macro=qualified(database, MARKER_SCHEMA, MARKER_NAME),
        marker=sql_text(text),
        comment=sql_text(MARKER_COMMENT),
    )
    con.execute(statements)
    return marker


def read_marker(con: duckdb.DuckDBPyConnection) -> Marker | None:
    """The marker of the database ``con`` opened, or ``None`` when it has none of ours.

    The macro's text is parsed, never run: the file may be anyone's.
    """
    rows = con.execute(
        read_sql("serving/marker_definition.sql"), {"schema": MARKER_SCHEMA, "name": MARKER_NAME}
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

    database = current_database(con)
    tables = con.execute(read_sql("serving/table_comments.sql"), {"database": database}).fetchall()
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


def differences(recorded: Fingerprint, found: Fingerprint, hashes: bool) -> list[str]:
    """What changed from the ``recorded`` fingerprint to the ``found`` one, one text per kind
    of change (objects added, objects changed or removed, rows changed); row hashes are
    compared only when ``hashes``."""
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
