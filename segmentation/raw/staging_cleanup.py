"""Staging directories: each landing names its process in its own (:func:`claim`), so that the
next landing can delete the directories that landings killed mid-way left behind (their process
is gone)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

import duckdb

from segmentation.sql_files import read_sql

# the prefix of staging directories, and the file in each that names the process using it
STAGING_PREFIX = "landing-"
STAGING_OWNER = "owner.json"
# a staging directory without an owner file is left alone this long: its landing may have
# created it an instant ago and not yet written the file
_UNOWNED_GRACE_SECONDS = 3600


def remove_stale_staging(con: duckdb.DuckDBPyConnection) -> int:
    """Delete the staging directories that landings killed mid-way left under this warehouse's
    scratch space (their process is gone); returns how many."""
    base = _scratch_base(con)
    if not base.is_dir():
        return 0
    removed = 0
    for directory in base.glob(f"{STAGING_PREFIX}*"):
        if directory.is_dir() and _abandoned(directory):
            shutil.rmtree(directory, ignore_errors=True)
            removed += not directory.exists()
    return removed


def claim(directory: Path) -> None:
    """Name this process as the staging directory's user, so a later landing can tell a
    directory left by a killed landing from one in use."""
    owner = {"pid": os.getpid(), "host": socket.gethostname()}
    (directory / STAGING_OWNER).write_text(json.dumps(owner))


def _abandoned(directory: Path) -> bool:
    """A directory whose process is gone, on this machine; or one never claimed, and old."""
    try:
        owner = json.loads((directory / STAGING_OWNER).read_text())
        pid, host = int(owner["pid"]), str(owner["host"])
    except (OSError, ValueError, KeyError, TypeError):
        try:
            age = time.time() - directory.stat().st_mtime
        except OSError:
            return False
        return age > _UNOWNED_GRACE_SECONDS
    if host != socket.gethostname():
        return False  # another machine's process: nothing here can tell whether it runs
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def _scratch_base(con: duckdb.DuckDBPyConnection) -> Path:
    """Where ``scratch_directory`` puts staging directories for this connection."""
    in_memory, temp_directory = con.execute(read_sql("raw/scratch_location.sql")).fetchone()
    if in_memory:
        return Path(tempfile.gettempdir())
    return Path(temp_directory)
