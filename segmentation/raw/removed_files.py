"""The guard against removed and shrunk files: a landing refuses (unless the source says
``allow_removed_files: true``) when a file that was landed before is no longer matched by the
source's path, or now yields fewer rows than were landed and quarantined from it before. Either
would silently delete rows from the landed table and rewrite history."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

import duckdb

from segmentation.raw.settings import SourceName
from segmentation.sql_files import read_sql, render_sql
from segmentation.warehouse import table_exists

# files listed by name in a message; the rest are counted
_FILES_NAMED = 10


class RemovedFilesError(RuntimeError):
    """Files landed before are gone from the source, or hold fewer rows; nothing was written."""


def previous_rows(con: duckdb.DuckDBPyConnection, source: SourceName) -> dict[str, int]:
    """Rows per source file that the landed table and the quarantine hold for ``source``: what
    the previous landings took from each file."""
    rows: Counter[str] = Counter()
    landed = f"raw.{source}"
    if table_exists(con, landed):
        sql = render_sql("raw/landed_rows_per_file.sql", landed=landed)
        rows.update(dict(con.execute(sql).fetchall()))
    if table_exists(con, "quality.rejected_rows"):
        sql = read_sql("raw/rejected_rows_per_file.sql")
        rows.update(dict(con.execute(sql, {"source": source}).fetchall()))
    return {name: int(rows[name]) for name in sorted(rows)}


def removed_files(
    before: Mapping[str, int], files: Iterable[Path | str]
) -> dict[str, tuple[int, int]]:
    """The files landed before (``before``: rows per file) that are not among the source's
    ``files`` now, as (rows before, 0)."""
    current = {str(path) for path in files}
    return {name: (rows, 0) for name, rows in before.items() if name not in current}


def shrunk_files(
    before: Mapping[str, int],
    files: list[Path],
    counts: Iterable[tuple[int, str | None, int]],
) -> dict[str, tuple[int, int]]:
    """The staged ``files`` that yield fewer source rows than were landed and quarantined from
    them before, as (rows before, rows now); ``counts``: the staged rows' counts
    (``landing_counts.sql``)."""
    return {
        name: (before[name], rows)
        for name, rows in _rows_by_file(files, counts).items()
        if name in before and rows < before[name]
    }


def _named(files: Mapping[str, tuple[int, int]], now: bool) -> str:
    listed = [
        f"{name} ({before:,} rows before" + (f", {after:,} now)" if now else ")")
        for name, (before, after) in list(files.items())[:_FILES_NAMED]
    ]
    more = len(files) - _FILES_NAMED
    return ", ".join(listed) + (f" and {more:,} more" if more > 0 else "")


def refuse_removed(
    source: SourceName,
    removed: Mapping[str, tuple[int, int]],
    shrunk: Mapping[str, tuple[int, int]],
) -> None:
    """Raise :class:`RemovedFilesError` naming the ``removed`` files and the ``shrunk`` ones, as
    (rows before, rows now) per file."""
    parts = []
    if removed:
        parts.append(
            f"{len(removed):,} file(s) landed before no longer match sources.{source}.path: "
            f"{_named(removed, now=False)}"
        )
    if shrunk:
        parts.append(f"{len(shrunk):,} file(s) now hold fewer rows: {_named(shrunk, now=True)}")
    raise RemovedFilesError(
        f"{source}: {'; '.join(parts)}. Nothing was written: landing now would delete their "
        f"rows from raw.{source} and change the history built on them. If the removal is "
        f"intended, set sources.{source}.allow_removed_files: true for this run."
    )


def _rows_by_file(
    files: list[Path], counts: Iterable[tuple[int, str | None, int]]
) -> dict[str, int]:
    """Source rows (landed or rejected) per file of this landing, 0 for a file without rows."""
    rows = dict.fromkeys((str(path) for path in files), 0)
    for file_seq, _, count in counts:
        rows[str(files[file_seq])] += count
    return rows
