"""Fingerprints of every table a run writes, to prove a change leaves the outputs byte-identical.

A table's fingerprint is the SHA-256 of its rows as DuckDB renders them as text (doubles in their
shortest round-trip form, so any change in any bit of a value changes it), sorted, plus its
column names and types; tables with a ``snapshot_date`` column also get one per snapshot, which
says where a difference is. What depends on where or when a run happened is left out: the
directory of ``source_file`` (its file name stays) and ``rejected_at``.

Bit for bit holds on one kind of machine, not across them: the CLV fit's doubles depend on the
CPU's vector instructions (NumPy's ``exp`` and ``log`` and OpenBLAS pick their kernels by CPU)
by up to a few parts in 10^10, and the BG/NBD's ``a`` and ``b``, which the likelihood does not
identify when ``b`` reaches its bound, by orders of magnitude. So each recording names its
machine's float platform (:func:`float_platform`), and each table also gets a portable
fingerprint: the hashes of its other columns, exact, and the sum of each double column per
snapshot, compared to a relative 1e-6 (:func:`portable_differences`). A recording may hold
the exact fingerprints of further platforms too (``also``, added by
``python -m tests.golden.runs --also``, which refuses a run that differs portably): a run on one
of those is compared bit for bit as well (:func:`exact_fingerprints`), a run on any other
portably.

``python -m tests.golden.fingerprint WAREHOUSE [--out FILE]`` prints or writes the fingerprints
of a warehouse, and the float platform they were taken on, as JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

SCHEMAS = ("raw", "quality", "features", "marts")
FLOAT_TYPES = ("DOUBLE", "FLOAT")
# how far a double column's per-snapshot sum may move between float platforms
PORTABLE_TOLERANCE = 1e-6
# columns no portable comparison holds: the BG/NBD's a and b are not identified on every
# snapshot (a CPU's last-bit differences move them 100-fold while every prediction moves by
# less than 1e-9); the predictions made with them (features.customer_clv) are compared
NOT_PORTABLE = {"marts.clv_model_params": ("value",)}
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
    kinds = dict(entry.split(" ", 1) for entry in typed)
    (rows,) = con.execute(f"SELECT count(*) FROM {name}").fetchone()
    snapshots = None
    if "snapshot_date" in columns:
        snapshots = [
            str(snapshot)
            for (snapshot,) in con.execute(
                f"SELECT DISTINCT snapshot_date FROM {name} ORDER BY 1"
            ).fetchall()
        ]
    result: dict[str, Any] = {"rows": rows, "columns": typed}
    result |= _hashes(con, name, _row_text(columns), snapshots)
    if added:
        result["added_columns"] = added
    result["portable"] = _portable(con, f"{schema}.{table}", name, columns, kinds, snapshots)
    return result


def _hashes(
    con: duckdb.DuckDBPyConnection, name: str, text: str, snapshots: list[str] | None
) -> dict[str, Any]:
    """The hash of the table's rows as ``text`` renders them (``sha256``) and, when it has
    ``snapshots``, one per snapshot (``snapshots``)."""
    hashes: dict[str, Any] = {
        "sha256": _digest(con, f"SELECT {text} AS line FROM {name} ORDER BY line")
    }
    if snapshots is not None:
        hashes["snapshots"] = {
            snapshot: _digest(
                con,
                f"SELECT {text} AS line FROM {name} "
                f"WHERE snapshot_date = DATE '{snapshot}' ORDER BY line",
            )
            for snapshot in snapshots
        }
    return hashes


def _portable(
    con: duckdb.DuckDBPyConnection,
    table: str,
    name: str,
    columns: list[str],
    kinds: dict[str, str],
    snapshots: list[str] | None,
) -> dict[str, Any]:
    """The table's fingerprint that holds on every float platform: the hash of its columns that
    are not doubles (whole and per snapshot) and each double column's sum per snapshot (``*``:
    the whole table's when it has no snapshots)."""
    skipped = NOT_PORTABLE.get(table, ())
    floats = [c for c in columns if kinds[c] in FLOAT_TYPES and c not in skipped]
    exact = [c for c in columns if kinds[c] not in FLOAT_TYPES]
    portable = _hashes(con, name, _row_text(exact), snapshots)
    group = "'*'" if snapshots is None else "CAST(snapshot_date AS VARCHAR)"
    if floats:
        # fsum: a compensated sum, the same whatever order DuckDB's threads add the rows in
        sums = ", ".join(f'fsum("{c}")' for c in floats)
        rows = con.execute(f"SELECT {group}, {sums} FROM {name} GROUP BY 1 ORDER BY 1").fetchall()
        portable["sums"] = {
            str(key): dict(zip(floats, values, strict=True)) for key, *values in rows
        }
    return portable


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


def float_platform() -> dict[str, Any]:
    """What the bits of this machine's doubles depend on: the CPU architecture, the vector
    instruction sets NumPy dispatches to, and the BLAS kernels OpenBLAS chose."""
    import platform

    # SciPy's OpenBLAS is loaded by its linear algebra: loaded here, the list is the same
    # whatever the process imported before
    import scipy.linalg  # noqa: F401
    import threadpoolctl
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    # BLAS libraries only: an OpenMP runtime (scikit-learn's, once imported) has no kernels
    blas = {
        str(lib.get("architecture"))
        for lib in threadpoolctl.threadpool_info()
        if lib.get("user_api") == "blas"
    }
    return {
        "machine": platform.machine(),
        "numpy_simd": [name for name in __cpu_dispatch__ if __cpu_features__.get(name)],
        "blas": sorted(blas),
    }


def portable_differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Where two sets of fingerprints differ beyond what another float platform explains
    (empty: equal but for the last bits of doubles): columns, rows, every column but the
    doubles exactly, each double column's per-snapshot sum to :data:`PORTABLE_TOLERANCE`."""

    def content(table: str, want: dict[str, Any], got: dict[str, Any]) -> list[str]:
        want, got = want["portable"], got["portable"]
        found = _hash_difference(table, want, got, "content of its columns other than doubles")
        for key, sums in want.get("sums", {}).items():
            for column, value in sums.items():
                other = got.get("sums", {}).get(key, {}).get(column)
                if not _close(value, other):
                    found.append(f"{table}: sum of {column} ({key}) {other} != {value}")
        return found

    return _table_differences(expected, actual, content)


def _close(want: float | None, got: float | None) -> bool:
    if want is None or got is None:
        return want is got
    if math.isnan(want) or math.isnan(got):
        return math.isnan(want) and math.isnan(got)
    return math.isclose(want, got, rel_tol=PORTABLE_TOLERANCE, abs_tol=PORTABLE_TOLERANCE)


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Where two sets of fingerprints differ, in words (empty: byte-identical). Tables and
    columns added since the recording are not differences (see :func:`additions`)."""
    return _table_differences(
        expected, actual, lambda table, want, got: _hash_difference(table, want, got, "content")
    )


def _table_differences(
    expected: dict[str, Any],
    actual: dict[str, Any],
    content: Callable[[str, dict[str, Any], dict[str, Any]], list[str]],
) -> list[str]:
    """Missing tables, changed columns and row counts, then ``content``'s differences of each
    table both hold."""
    found = [f"{t}: missing" for t in sorted(set(expected) - set(actual))]
    for table in sorted(set(expected) & set(actual)):
        want, got = expected[table], actual[table]
        if want["columns"] != got["columns"]:
            found.append(f"{table}: columns {got['columns']} != {want['columns']}")
        if want["rows"] != got["rows"]:
            found.append(f"{table}: {got['rows']} rows != {want['rows']}")
        found += content(table, want, got)
    return found


def _hash_difference(table: str, want: dict[str, Any], got: dict[str, Any], what: str) -> list[str]:
    """``what`` differs, and in which snapshots, when the two hashes differ."""
    if want["sha256"] == got["sha256"]:
        return []
    snapshots = want.get("snapshots", {})
    changed = [s for s in snapshots if got.get("snapshots", {}).get(s) != snapshots[s]]
    where = f" (snapshots {', '.join(changed)})" if changed else ""
    return [f"{table}: {what} differs{where}"]


def additions(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """The tables and columns ``actual`` has beyond the recording, in words."""
    found = [f"{t}: new table" for t in sorted(set(actual) - set(expected))]
    for table in sorted(set(expected) & set(actual)):
        found += [f"{table}: new column {c}" for c in actual[table].get("added_columns", [])]
    return found


def recording(path: Path) -> dict[str, Any]:
    """What tests/golden/ keeps of a run's warehouse: this machine's float platform and the
    fingerprints of every table."""
    return {"platform": float_platform(), "tables": warehouse_fingerprints(path)}


def _exact_part(fingerprint: dict[str, Any]) -> dict[str, Any]:
    return {key: fingerprint[key] for key in ("sha256", "snapshots") if key in fingerprint}


def exact_fingerprints(recorded: dict[str, Any], platform: dict[str, Any]) -> dict[str, Any] | None:
    """The fingerprints to compare a run on ``platform`` with bit for bit: the recording's own on
    the platform it names, its tables with the exact hashes of a platform it holds ``also``;
    None on any other platform (compared portably only)."""
    if recorded["platform"] == platform:
        return recorded["tables"]
    for other in recorded.get("also", []):
        if other["platform"] == platform:
            return {
                table: fingerprint | other["tables"].get(table, {})
                for table, fingerprint in recorded["tables"].items()
            }
    return None


def also_on_this_platform(recorded: dict[str, Any], path: Path) -> dict[str, Any]:
    """``recorded`` with the exact fingerprints of the warehouse at ``path``, a run of the same
    reference on this machine's float platform, held ``also``.

    Raises:
        ValueError: The run differs from the recording portably (its outputs changed, not only
            the last bits of doubles), or this platform's fingerprints are recorded already.
    """
    here = float_platform()
    if exact_fingerprints(recorded, here) is not None:
        raise ValueError(f"the recording holds this platform already: {here}")
    actual = warehouse_fingerprints(path, recorded["tables"])
    problems = portable_differences(recorded["tables"], actual)
    if problems:
        raise ValueError("the run differs from the recording:\n  " + "\n  ".join(problems))
    tables = {table: _exact_part(actual[table]) for table in recorded["tables"]}
    also = [*recorded.get("also", []), {"platform": here, "tables": tables}]
    return recorded | {"also": also}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    text = json.dumps(recording(args.warehouse), indent=1, sort_keys=True) + "\n"
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
