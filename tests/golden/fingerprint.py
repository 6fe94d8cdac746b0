"""Fingerprints of every table a run writes, to prove a change leaves the outputs byte-identical.

A table's fingerprint is the SHA-256 of its rows as DuckDB renders them as text (doubles in their
shortest round-trip form, so any change in any bit of a value changes it), sorted, plus its
column names and types; tables with a ``snapshot_date`` column also get one per snapshot, which
says where a difference is. What depends on where or when a run happened is left out: the
directory of ``source_file`` (its file name stays) and ``rejected_at``.

``python -m tests.golden.fingerprint WAREHOUSE [--out FILE]`` prints or writes the fingerprints
of a warehouse as JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import duckdb

SCHEMAS = ("raw", "quality", "features", "marts")
# columns whose values say where or when the run happened, not what it computed
_RUN_COLUMNS = {"rejected_at"}
_PATH_COLUMNS = {"source_file"}


def _row_text(columns: list[str]) -> str:
    parts = []
    for name in columns:
        value = f'"{name}"'
        if name in _PATH_COLUMNS:
            value = f"regexp_replace({value}, '^.*[/\\\\]', '')"
        parts.append(f"coalesce(CAST({value} AS VARCHAR), '\\N')")
    return " || chr(31) || ".join(parts) if parts else "''"


def _digest(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    hasher = hashlib.sha256()
    for (line,) in con.execute(sql).fetchall():
        hasher.update(line.encode())
        hasher.update(b"\n")
    return hasher.hexdigest()


def table_fingerprint(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    recorded: list[str] | None = None,
) -> dict[str, Any]:
    """Rows, columns and content hashes (whole table and per snapshot) of one table.

    With ``recorded`` (the ``columns`` of an earlier fingerprint), the hashes cover those columns
    only, in their recorded order, so a column added since leaves them as they were: outputs
    change only by adding. The added columns are listed under ``added_columns``.
    """
    described = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        "WHERE schema_name = ? AND table_name = ? AND database_name = current_database() "
        "ORDER BY column_index",
        [schema, table],
    ).fetchall()
    columns = [name for name, _ in described if name not in _RUN_COLUMNS]
    typed = [f"{column} {kind}" for column, kind in described if column in columns]
    added: list[str] = []
    if recorded is not None:
        added = [entry for entry in typed if entry not in recorded]
        present = [entry for entry in recorded if entry in typed]
        # a recorded column gone or retyped shows as a difference in ``columns``
        typed = present
        columns = [entry.split(" ", 1)[0] for entry in present]
    name = f'"{schema}"."{table}"'
    text = _row_text(columns)
    (rows,) = con.execute(f"SELECT count(*) FROM {name}").fetchone()
    result: dict[str, Any] = {
        "rows": rows,
        "columns": typed,
        "sha256": _digest(con, f"SELECT {text} AS line FROM {name} ORDER BY line"),
    }
    if added:
        result["added_columns"] = added
    if "snapshot_date" in columns:
        snapshots = {}
        for (snapshot,) in con.execute(
            f"SELECT DISTINCT snapshot_date FROM {name} ORDER BY 1"
        ).fetchall():
            snapshots[str(snapshot)] = _digest(
                con,
                f"SELECT {text} AS line FROM {name} WHERE snapshot_date = ? ORDER BY line".replace(
                    "?", f"DATE '{snapshot}'"
                ),
            )
        result["snapshots"] = snapshots
    return result


def warehouse_fingerprints(path: Path, recorded: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fingerprints of every table of the warehouse's raw, quality, features and marts schemas;
    with ``recorded`` (earlier fingerprints), each recorded table's over its recorded columns."""
    recorded = recorded or {}
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            "WHERE database_name = current_database() AND schema_name IN "
            f"({', '.join(repr(s) for s in SCHEMAS)}) ORDER BY 1, 2"
        ).fetchall()
        return {
            f"{schema}.{table}": table_fingerprint(
                con, schema, table, recorded.get(f"{schema}.{table}", {}).get("columns")
            )
            for schema, table in tables
        }


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Where two sets of fingerprints differ, in words (empty: byte-identical). Tables and
    columns added since the recording are not differences (see :func:`additions`)."""
    found = [f"{t}: missing" for t in sorted(set(expected) - set(actual))]
    for table in sorted(set(expected) & set(actual)):
        want, got = expected[table], actual[table]
        if want["columns"] != got["columns"]:
            found.append(f"{table}: columns {got['columns']} != {want['columns']}")
        if want["rows"] != got["rows"]:
            found.append(f"{table}: {got['rows']} rows != {want['rows']}")
        if want["sha256"] != got["sha256"]:
            snapshots = want.get("snapshots", {})
            changed = [s for s in snapshots if got.get("snapshots", {}).get(s) != snapshots[s]]
            where = f" (snapshots {', '.join(changed)})" if changed else ""
            found.append(f"{table}: content differs{where}")
    return found


def additions(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """The tables and columns ``actual`` has beyond the recording, in words."""
    found = [f"{t}: new table" for t in sorted(set(actual) - set(expected))]
    for table in sorted(set(expected) & set(actual)):
        found += [f"{table}: new column {c}" for c in actual[table].get("added_columns", [])]
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    text = json.dumps(warehouse_fingerprints(args.warehouse), indent=1, sort_keys=True) + "\n"
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
