"""SQL lives in ``sql/<layer>/<purpose>.sql``, one purpose per file, loaded by path."""

from __future__ import annotations

from functools import cache
from pathlib import Path

SQL_ROOT = Path(__file__).resolve().parents[1] / "sql"


@cache
def read_sql(relative_path: str) -> str:
    """The text of ``sql/<relative_path>``; a missing file fails with its full path."""
    path = SQL_ROOT / relative_path
    if not path.is_file():
        raise FileNotFoundError(f"SQL file not found: {path}")
    return path.read_text()
