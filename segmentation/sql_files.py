"""SQL lives in ``sql/<layer>/<purpose>.sql``, one purpose per file, loaded by path.

Values are always bound as ``$parameters``. Only identifiers that vary at run time (a table or
column name, which DuckDB cannot bind) are written into a statement, by :func:`render_sql`, and
always quoted. SQL the program builds itself (checked rule expressions, another file's query)
goes into a statement by :func:`compose_sql`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

from segmentation.bundled import bundled_path

# the repository's sql/ folder, or its copy inside an installed wheel
SQL_ROOT = bundled_path("sql")
# a placeholder for an identifier: ``{name}``
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@cache
def read_sql(relative_path: str) -> str:
    """The text of ``sql/<relative_path>``; a missing file fails with its full path."""
    path = SQL_ROOT / relative_path
    if not path.is_file():
        raise FileNotFoundError(f"SQL file not found: {path}")
    return path.read_text()


def quote_identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier (a ``"`` inside doubled): never read as SQL."""
    if not name:
        raise ValueError("an SQL identifier cannot be empty")
    return '"' + name.replace('"', '""') + '"'


def _quoted(value: str | Sequence[str]) -> str:
    if isinstance(value, str):
        # a qualified name: schema.table, table.column
        return ".".join(quote_identifier(part) for part in value.split("."))
    if not value:
        raise ValueError("an SQL identifier list cannot be empty")
    return ", ".join(_quoted(name) for name in value)


def render_sql(relative_path: str, **identifiers: str | Sequence[str]) -> str:
    """The text of ``sql/<relative_path>`` with each ``{name}`` placeholder replaced by the
    identifier given for it, quoted.

    A string is one name, qualified by dots (``"raw.customers"`` becomes
    ``"raw"."customers"``); a sequence of strings becomes a comma-separated list of such names.
    The placeholders of the file and the names given must be the same, so a typo fails here
    rather than as an SQL error.
    """
    text = read_sql(relative_path)
    placeholders = set(_PLACEHOLDER.findall(text))
    if placeholders != set(identifiers):
        raise KeyError(
            f"{relative_path} has the placeholders {sorted(placeholders)}, "
            f"given {sorted(identifiers)}"
        )
    return _PLACEHOLDER.sub(lambda match: _quoted(identifiers[match.group(1)]), text)


def compose_sql(relative_path: str, **fragments: str) -> str:
    """The text of ``sql/<relative_path>`` with each ``{name}`` placeholder replaced by a piece
    of SQL the program builds itself, as is: a rule expression that passed every check of
    :mod:`segmentation.segments.sql_rules` (or an expression generated from such rules), or the
    text of another SQL file. Never user text as written, never a value.

    The placeholders of the file and the names given must be the same. One pass: SQL put in
    is not searched for placeholders again, so a ``{`` inside a rule's text constant stays.
    """
    text = read_sql(relative_path)
    placeholders = set(_PLACEHOLDER.findall(text))
    if placeholders != set(fragments):
        raise KeyError(
            f"{relative_path} has the placeholders {sorted(placeholders)}, "
            f"given {sorted(fragments)}"
        )
    return _PLACEHOLDER.sub(lambda match: fragments[match.group(1)], text)
