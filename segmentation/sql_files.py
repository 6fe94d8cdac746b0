"""SQL lives in ``sql/<layer>/<purpose>.sql``, one purpose per file, loaded by path.

Values are bound as ``$parameters`` wherever DuckDB takes them. Identifiers that vary at run
time (a table or column name, which DuckDB cannot bind) are written into a statement by
:func:`render_sql`, always quoted. SQL the program builds itself (checked rule expressions,
another file's query, and the quoted literals of the few statements DuckDB takes no parameters
in: ATTACH's path, COMMENT ON texts) goes in by :func:`compose_sql`. No placeholder may sit in a
``--`` comment, and no identifier may hold a control character, so nothing put in can end a
comment and become SQL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache

from segmentation.bundled import bundled_path

# the repository's sql/ folder, or its copy inside an installed wheel
SQL_ROOT = bundled_path("sql")
# a placeholder for an identifier: ``{name}``
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@cache
def read_sql(relative_path: str) -> str:
    """The text of ``sql/<relative_path>``; a missing file fails with its full path."""
    path = SQL_ROOT / relative_path
    if not path.is_file():
        raise FileNotFoundError(f"SQL file not found: {path}")
    return path.read_text()


def quote_identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier (a ``"`` inside doubled): never read as SQL.

    Control characters are refused: no table or column of ours has one, and a line break would
    end a ``--`` comment, the one place where a quoted name could still turn into SQL.
    """
    if not name:
        raise ValueError("an SQL identifier cannot be empty")
    if _CONTROL.search(name):
        raise ValueError(f"an SQL identifier cannot hold a control character: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def _quoted(value: str | Sequence[str]) -> str:
    if isinstance(value, str):
        # a qualified name: schema.table, table.column
        return ".".join(quote_identifier(part) for part in value.split("."))
    if not value:
        raise ValueError("an SQL identifier list cannot be empty")
    return ", ".join(_quoted(name) for name in value)


def _template(relative_path: str, given: Mapping[str, object]) -> str:
    """The file's text, once its placeholders are known to be exactly ``given`` and none sits
    in a ``--`` comment (what is put into a comment must not be able to end it)."""
    text = read_sql(relative_path)
    for number, line in enumerate(text.splitlines(), start=1):
        comment = line.find("--")
        if comment >= 0 and _PLACEHOLDER.search(line, comment):
            raise ValueError(f"{relative_path}:{number}: a placeholder inside a -- comment")
    placeholders = set(_PLACEHOLDER.findall(text))
    if placeholders != set(given):
        raise KeyError(
            f"{relative_path} has the placeholders {sorted(placeholders)}, given {sorted(given)}"
        )
    return text


def render_sql(relative_path: str, **identifiers: str | Sequence[str]) -> str:
    """The text of ``sql/<relative_path>`` with each ``{name}`` placeholder replaced by the
    identifier given for it, quoted.

    A string is one name, qualified by dots (``"raw.customers"`` becomes
    ``"raw"."customers"``); a sequence of strings becomes a comma-separated list of such names.
    The placeholders of the file and the names given must be the same, so a typo fails here
    rather than as an SQL error.
    """
    text = _template(relative_path, identifiers)
    return _PLACEHOLDER.sub(lambda match: _quoted(identifiers[match.group(1)]), text)


def compose_sql(relative_path: str, **fragments: str) -> str:
    """The text of ``sql/<relative_path>`` with each ``{name}`` placeholder replaced by a piece
    of SQL the program builds itself, as is: a rule expression that passed every check of
    :mod:`segmentation.segments.sql_rules` (or an expression generated from such rules), the
    text of another SQL file, or a literal already quoted by ``segmentation.warehouse.sql_text``
    for a statement that takes no parameters. Never user text as written.

    The placeholders of the file and the names given must be the same. One pass: SQL put in
    is not searched for placeholders again, so a ``{`` inside a rule's text constant stays.
    """
    text = _template(relative_path, fragments)
    return _PLACEHOLDER.sub(lambda match: fragments[match.group(1)], text)
