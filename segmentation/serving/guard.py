"""Which file a publish may replace, and whether anyone changed the serving copy since.

The publish replaces the file named by the config key ``serving``. Pointed at the wrong file (the
warehouse, a source, anyone else's database) that would destroy it, so a file is replaced only
when it is a serving copy this pipeline published: one carrying its marker, or an older copy
recognised by its content (:mod:`segmentation.serving.marker`).

The serving copy is read-only for BI tools. A client that opens it read-write anyway and writes
(a table of its own, changed rows, a write-ahead log beside the file) would lose those writes at
the next publish, so the publish first looks for them, comparing the copy with the fingerprint
its marker recorded, and refuses to discard them unless the configuration says so
(``serving_overwrite_foreign_changes: true``).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import duckdb

from segmentation.serving.marker import (
    MARKER,
    current_database,
    differences,
    fingerprint,
    is_legacy_copy,
    read_marker,
)

try:  # POSIX record locks, the kind DuckDB takes on its files
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: the lock checks are skipped
    fcntl = None  # type: ignore[assignment]

OVERWRITE_KEY = "serving_overwrite_foreign_changes"
# where a DuckDB file says what it is: bytes 8..11 of its main header
_DUCKDB_MAGIC = b"DUCK"
_MAGIC_OFFSET = 8
_NO_MARKER = f"is a DuckDB database without this pipeline's marker {MARKER}"


class ServingFileError(ValueError):
    """The serving path holds a file the publish must not replace; the message says what to do."""


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
            found = fingerprint(con, current_database(con), with_hashes=same_version)
            changes += differences(marker.fingerprint, found, same_version)
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
