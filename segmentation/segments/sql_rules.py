"""Named SQL boolean rules: checked with DuckDB's own parser, evaluated with DuckDB over polars.

A rule is a single SQL boolean expression over known columns, such as
``age BETWEEN 18 AND 24`` or ``value_tier = 'high' AND churn_risk <> 'high'``. Configuration is
user input, so a rule is accepted only when all of these hold:

* it contains no ``;`` and parses as exactly one ``SELECT <expression>`` with a single
  select-list item and nothing else (no FROM, WHERE, GROUP BY, ORDER BY, LIMIT, set operation,
  CTE, alias);
* every node of its syntax tree (from ``json_serialize_sql``) is a column reference, a constant,
  a comparison, AND/OR/NOT, IN, BETWEEN, IS [NOT] NULL, COALESCE, CASE, CAST, or a call of a
  scalar function on the allow-list below (so no subquery, table function such as
  ``read_csv``/``glob``, aggregate, window, lambda, ``*`` or parameter);
* every column it names is one of the known columns (unqualified);
* it binds against an empty relation with the known column types and its type is BOOLEAN;
* its cost is bounded: at most :data:`MAX_RULE_CHARACTERS` characters, :data:`MAX_RULE_NODES`
  syntax-tree nodes nested at most :data:`MAX_RULE_DEPTH` deep, and no text value it computes
  may grow beyond :data:`MAX_TEXT_GROWTH` times the longest input text (nested ``replace``
  calls multiply a value's length: nine of them in 270 characters took 1.4 GB for four rows);
* it evaluates without error on sample rows of typed values that exercise casts and math
  domains (text such as ``'abc'``, zero, negative numbers where the column may hold them), so a
  ``CAST(region AS INTEGER)`` that would fail on real data in the middle of a run is refused
  when the configuration loads; ``TRY_CAST`` (NULL, so not matched, when a value does not
  convert) or a ``CASE`` guard are the fixes the message suggests.

Accepted rules are evaluated in their canonical form (``json_deserialize_sql`` of the checked
tree), so comments or trailing text in the source cannot change the evaluated SQL. Evaluation
runs on an in-memory DuckDB connection with external access disabled. A condition that is NULL
for a row counts as not matched. A rule that still fails at run time raises
:class:`RuleEvaluationError` naming the rule (its ``label``) and its text, with the values of
the failing row masked out of DuckDB's message (they may be personal data).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import duckdb
import polars as pl

ALLOWED_FUNCTIONS: frozenset[str] = frozenset(
    {
        # arithmetic, string and pattern operators as DuckDB names them
        "+", "-", "*", "/", "//", "%", "^", "**", "||",
        "~~", "!~~", "~~*", "!~~*", "regexp_full_match",
        # text
        "lower", "upper", "lcase", "ucase", "trim", "ltrim", "rtrim", "length", "strlen",
        "substring", "substr", "left", "right", "replace", "concat", "starts_with",
        "ends_with", "prefix", "suffix", "contains", "regexp_matches",
        # nulls
        "ifnull", "nullif",
        # numbers
        "abs", "round", "floor", "ceil", "ceiling", "sign", "sqrt", "ln", "log", "log10",
        "log2", "exp", "pow", "power", "least", "greatest", "trunc", "isnan", "isinf",
        "isfinite",
        # dates and intervals
        "date_diff", "datediff", "date_sub", "datesub", "date_part", "datepart",
        "date_trunc", "datetrunc", "year", "month", "day", "quarter", "dayofweek",
        "dayofyear", "week", "weekofyear", "isodow", "isoyear", "make_date", "last_day",
        "to_days", "to_weeks", "to_months", "to_years",
    }
)  # fmt: skip

_ALLOWED_OPERATORS = frozenset(
    {
        "OPERATOR_NOT",
        "OPERATOR_IS_NULL",
        "OPERATOR_IS_NOT_NULL",
        "COMPARE_IN",
        "COMPARE_NOT_IN",
        "OPERATOR_COALESCE",
    }
)
_ALLOWED_CLASSES = frozenset(
    {"COLUMN_REF", "CONSTANT", "COMPARISON", "CONJUNCTION", "BETWEEN", "CASE", "CAST"}
)
_CLASS_PROBLEMS = {
    "SUBQUERY": "a subquery is not allowed",
    "STAR": "`*` / COLUMNS(...) is not allowed",
    "PARAMETER": "a query parameter is not allowed",
    "WINDOW": "a window function is not allowed",
    "LAMBDA": "a lambda is not allowed",
}
_SELECT_CLAUSES = (
    ("where_clause", "WHERE"),
    ("having", "HAVING"),
    ("qualify", "QUALIFY"),
    ("sample", "USING SAMPLE"),
)


_STATEMENT_KEYWORDS = frozenset(
    {
        "alter", "analyze", "attach", "begin", "call", "checkpoint", "commit", "copy", "create",
        "deallocate", "delete", "describe", "detach", "drop", "execute", "explain", "export",
        "import", "insert", "install", "load", "merge", "pivot", "pragma", "prepare", "reset",
        "rollback", "select", "set", "show", "summarize", "truncate", "unpivot", "update", "use",
        "vacuum", "with", "from", "values", "table",
    }
)  # fmt: skip


# Cost limits of one rule (see the module docstring); generous for hand-written rules.
MAX_RULE_CHARACTERS = 4000
MAX_RULE_NODES = 1000
MAX_RULE_DEPTH = 32
MAX_TEXT_GROWTH = 100
# constant text a rule may build (e.g. by replacing a character with a long constant)
MAX_CONSTANT_TEXT = 100_000
_TEXT_GROWING = frozenset({"replace", "concat", "||"})


class RuleProblem(ValueError):
    """A rule expression that is rejected; the message says why (callers add the rule's name)."""


class RuleEvaluationError(RuntimeError):
    """A checked rule failed while it was evaluated; the message names the rule and its text."""


@dataclass(frozen=True)
class ColumnRange:
    """What values a column can hold, for the sample rows rules are test-evaluated on.

    Attributes:
        minimum: The smallest value of a numeric column (``None``: unbounded).
        maximum: The largest value of a numeric column (``None``: unbounded).
        allowed: The only values the column holds (e.g. the labels of a label column).
    """

    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[object, ...] | None = None


@dataclass(frozen=True)
class CheckedExpression:
    """A rule expression that passed every check.

    Attributes:
        source: The expression as written in the configuration.
        sql: Its canonical SQL, regenerated from the checked syntax tree; this is what runs.
        columns: The known columns it references, spelled as in the known-column mapping.
        label: Which rule it is (e.g. ``attribute dimension 'age_band', rule 'young'``), for
            run-time error messages; set by whoever owns the rule.
    """

    source: str
    sql: str
    columns: tuple[str, ...]
    label: str = field(default="", compare=False)

    def describe(self) -> str:
        """The rule's label (or ``rule``) and its text, for messages."""
        return f"{self.label or 'rule'} (`{self.source.strip()}`)"


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that cannot read or write files or the network."""
    con = duckdb.connect(":memory:", config={"enable_external_access": False})
    con.execute("SET enable_progress_bar = false")
    return con


def _empty_frame(columns: Mapping[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=dict(columns))


def _expression_nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every expression node (a dict with a ``class``) anywhere below ``node``."""
    if isinstance(node, dict):
        if "class" in node:
            yield node
        for value in node.values():
            yield from _expression_nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _expression_nodes(value)


# Checked expressions by (known columns, expression): a check is a pure function of the two,
# and the same rules are checked when the configuration loads and again on every evaluation
# (each snapshot of a backfill), each time costing a DuckDB connection and a few statements.
_CHECKED: dict[tuple[object, str], CheckedExpression] = {}
_CHECKED_LIMIT = 4096


def _columns_key(columns: Mapping[str, pl.DataType]) -> object:
    """A hashable key of the known columns; their order only matters when two names differ
    only in case (the later one wins the case-insensitive lookup), so then it is kept."""
    items = list(columns.items())
    if len({name.lower() for name, _ in items}) < len(items):
        return ("ordered", tuple(items))
    return ("sorted", tuple(sorted(items, key=lambda item: item[0])))


# Sample values by kind: plain text that does not convert to a number, date or boolean, zero
# and negative numbers (logarithms, square roots), and dates at both ends of the usual range.
_SAMPLE_TEXT: tuple[object, ...] = ("abc", "", "1", "2011-03-05", "North East", " x ")
_SAMPLE_INTEGERS: tuple[int, ...] = (0, 1, -1, 2, 30, 365, 100_000)
_SAMPLE_FLOATS: tuple[float, ...] = (0.0, 1.0, -1.0, 0.5, 2.5, -2.5, 1_000_000.0)
_SAMPLE_DATES: tuple[object, ...] = (date(1970, 1, 1), date(2000, 2, 29), date(2011, 12, 31))


def _in_range(values: Sequence[float], bounds: ColumnRange) -> list[float]:
    low = float("-inf") if bounds.minimum is None else bounds.minimum
    high = float("inf") if bounds.maximum is None else bounds.maximum
    kept = [value for value in values if low <= value <= high]
    # a bounded column's own ends are its most telling values
    ends = [bound for bound in (bounds.minimum, bounds.maximum) if bound is not None]
    return kept + [end for end in ends if end not in kept]


def sample_values(dtype: pl.DataType, bounds: ColumnRange | None = None) -> list[object]:
    """Typed values a column of ``dtype`` may hold (``None`` first), within ``bounds``."""
    bounds = bounds or ColumnRange()
    if isinstance(dtype, type):  # contracts give dtype classes, not instances
        dtype = dtype()
    if bounds.allowed is not None:
        return [None, *bounds.allowed]
    if dtype.is_integer():
        values = _in_range(_SAMPLE_INTEGERS, bounds)
        return [None, *(int(value) for value in values)]
    if dtype.is_float():
        return [None, *(float(value) for value in _in_range(_SAMPLE_FLOATS, bounds))]
    if isinstance(dtype, pl.String | pl.Categorical):
        return [None, *_SAMPLE_TEXT]
    if isinstance(dtype, pl.Boolean):
        return [None, True, False]
    if isinstance(dtype, pl.Date):
        return [None, *_SAMPLE_DATES]
    if isinstance(dtype, pl.Datetime):
        return [None, datetime(1970, 1, 1), datetime(2011, 12, 31, 23, 59, 59)]
    return [None]


def sample_frame(
    columns: Mapping[str, pl.DataType], ranges: Mapping[str, ColumnRange] | None = None
) -> pl.DataFrame:
    """Rows in which every column takes each of its :func:`sample_values` at least once."""
    ranges = ranges or {}
    values = {name: sample_values(dtype, ranges.get(name)) for name, dtype in columns.items()}
    height = max((len(column) for column in values.values()), default=1)
    # shifted per column, so columns do not always pair their n-th values
    data = {
        name: [column[(row + offset) % len(column)] for row in range(height)]
        for offset, (name, column) in enumerate(values.items())
    }
    return pl.DataFrame(data, schema=dict(columns))


def _ranges_key(ranges: Mapping[str, ColumnRange]) -> object:
    return tuple(sorted((name, repr(bounds)) for name, bounds in ranges.items()))


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"(?<![A-Za-z0-9_])[-+]?\d[\d.:eE+\-]*")


def masked_error(error: BaseException) -> str:
    """The first line of a DuckDB error with quoted text and numbers masked: DuckDB quotes the
    value that failed, which may be a customer's personal data."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return _NUMBER.sub("…", _QUOTED.sub("'…'", first))


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _depth_and_size(item: dict[str, Any]) -> tuple[int, int]:
    """The nesting depth and node count of an expression tree (iteratively: no recursion)."""
    deepest, count = 0, 0
    stack: list[tuple[Any, int]] = [(item, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if "class" in node:
                depth += 1
                count += 1
                deepest = max(deepest, depth)
            stack.extend((value, depth) for value in node.values())
        elif isinstance(node, list):
            stack.extend((value, depth) for value in node)
    return deepest, count


def _children(node: Any, top: bool = True) -> list[dict[str, Any]]:
    """The direct expression children of an expression node, in order."""
    if isinstance(node, dict):
        if "class" in node and not top:
            return [node]
        return [child for value in node.values() for child in _children(value, top=False)]
    if isinstance(node, list):
        return [child for value in node for child in _children(value, top=False)]
    return []


def _constant_text(node: dict[str, Any]) -> str | None:
    if node.get("class") != "CONSTANT":
        return None
    value = node.get("value") or {}
    return None if value.get("is_null") else str(value.get("value", ""))


def _text_size(node: dict[str, Any]) -> tuple[float, float]:
    """An upper bound of the length of a node's value as ``a * L + b`` (L: the longest input
    text); raises :class:`RuleProblem` when a value could grow beyond the limits."""
    node_class = node.get("class")
    if node_class == "COLUMN_REF":
        return (1.0, 0.0)
    if node_class == "CONSTANT":
        text = _constant_text(node)
        return (0.0, float(len(text or "")))
    sizes = [_text_size(child) for child in _children(node)]
    name = str(node.get("function_name", "")).lower() if node_class == "FUNCTION" else ""
    if name in {"concat", "||"}:
        size = (sum(a for a, _ in sizes), sum(b for _, b in sizes))
    elif name == "replace" and len(sizes) == 3:
        children = node.get("children") or []
        replacement = _constant_text(children[2])
        if replacement is None:
            raise RuleProblem(
                "replace() in a rule needs a constant replacement text (e.g. "
                "replace(region, '-', ' ')), so its cost stays bounded"
            )
        search = _constant_text(children[1])
        # a non-constant search text is at least one character long (empty: no change)
        factor = max(1.0, len(replacement) / max(1, len(search or "x")))
        size = (sizes[0][0] * factor, sizes[0][1] * factor)
    else:
        size = (max((a for a, _ in sizes), default=0.0), max((b for _, b in sizes), default=0.0))
    if size[0] > MAX_TEXT_GROWTH or size[1] > MAX_CONSTANT_TEXT:
        raise RuleProblem(
            f"a text value in it can grow to more than {MAX_TEXT_GROWTH} times its input "
            f"(or {MAX_CONSTANT_TEXT:,} characters), through {name or 'nested'}() calls: "
            "a rule's cost must stay bounded"
        )
    return size


def check_cost(item: dict[str, Any]) -> None:
    """Refuse an expression tree beyond the depth, size or text-growth limits."""
    depth, nodes = _depth_and_size(item)
    if depth > MAX_RULE_DEPTH:
        raise RuleProblem(
            f"nests {depth} levels deep; the limit is {MAX_RULE_DEPTH} (split it into simpler "
            "rules)"
        )
    if nodes > MAX_RULE_NODES:
        raise RuleProblem(
            f"has {nodes} expression nodes; the limit is {MAX_RULE_NODES} (split it into "
            "simpler rules)"
        )
    _text_size(item)


class RuleChecker:
    """Checks rule expressions against one set of known columns (one connection, reused).

    Args:
        columns: Known column name -> polars dtype. Rules may reference only these names.
        ranges: What some columns can hold (bounds, allowed labels), so the sample rows a rule
            is test-evaluated on stay realistic; other columns get every sample of their type.
    """

    def __init__(
        self,
        columns: Mapping[str, pl.DataType],
        ranges: Mapping[str, ColumnRange] | None = None,
    ) -> None:
        self._columns = dict(columns)
        self._ranges = dict(ranges or {})
        self._by_lower = {name.lower(): name for name in self._columns}
        self._key = (_columns_key(self._columns), _ranges_key(self._ranges))
        self._connection: duckdb.DuckDBPyConnection | None = None

    @property
    def _con(self) -> duckdb.DuckDBPyConnection:
        # opened on the first check that is not cached
        if self._connection is None:
            self._connection = connect()
            self._connection.register("known_columns", _empty_frame(self._columns))
            self._connection.register("sample_rows", sample_frame(self._columns, self._ranges))
        return self._connection

    def close(self) -> None:
        """Release the DuckDB connection."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> RuleChecker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def check(self, expression: str) -> CheckedExpression:
        """Check one expression; raise :class:`RuleProblem` naming the first problem found."""
        cached = _CHECKED.get((self._key, expression)) if isinstance(expression, str) else None
        if cached is not None:
            return cached
        checked = self._check(expression)
        if len(_CHECKED) >= _CHECKED_LIMIT:
            _CHECKED.clear()
        _CHECKED[(self._key, expression)] = checked
        return checked

    def _check(self, expression: str) -> CheckedExpression:
        if not isinstance(expression, str) or not expression.strip():
            raise RuleProblem("the expression is empty")
        if len(expression) > MAX_RULE_CHARACTERS:
            raise RuleProblem(
                f"is {len(expression):,} characters long; the limit is {MAX_RULE_CHARACTERS:,}"
            )
        if ";" in expression:
            raise RuleProblem("`;` is not allowed: a rule is a single expression, not statements")
        first_word = expression.strip().split(maxsplit=1)[0].lower()
        if first_word in _STATEMENT_KEYWORDS:
            raise RuleProblem(
                f"starts with {first_word.upper()}: a rule is a boolean expression, not a statement"
            )
        select = self._parse(expression)
        item = select["select_list"][0]
        check_cost(item)
        referenced = self._check_nodes(item)
        canonical = self._canonical_sql(select)
        result_type = self._result_type(canonical)
        if result_type != "BOOLEAN":
            raise RuleProblem(f"the expression is not boolean (its type is {result_type})")
        self._try_on_samples(canonical, sorted(referenced))
        return CheckedExpression(
            source=expression, sql=canonical, columns=tuple(sorted(referenced))
        )

    def _parse(self, expression: str) -> dict[str, Any]:
        try:
            serialized = self._con.execute(
                "SELECT json_serialize_sql(?)", [f"SELECT {expression}\n"]
            ).fetchone()
        except duckdb.Error as error:
            raise RuleProblem(f"cannot be parsed: {error}") from None
        try:
            tree = json.loads(serialized[0]) if serialized else {"error": True}
        except RecursionError:
            raise RuleProblem(f"nests more than {MAX_RULE_DEPTH} levels deep") from None
        if tree.get("error"):
            message = tree.get("error_message", "unknown parser error")
            raise RuleProblem(f"not a valid SQL expression: {message}")
        statements = tree.get("statements", [])
        if len(statements) != 1:
            raise RuleProblem("must be exactly one expression")
        node = statements[0]["node"]
        if node.get("type") != "SELECT_NODE":
            raise RuleProblem("must be a plain expression (UNION/INTERSECT/EXCEPT are not allowed)")
        if node.get("select_list") is None or len(node["select_list"]) != 1:
            count = len(node.get("select_list") or [])
            raise RuleProblem(f"must be exactly one expression, found {count} (comma-separated)")
        if (node.get("from_table") or {}).get("type", "EMPTY") != "EMPTY":
            raise RuleProblem("FROM is not allowed: a rule reads only the row's own columns")
        for key, clause in _SELECT_CLAUSES:
            if node.get(key) is not None:
                raise RuleProblem(f"{clause} is not allowed in a rule expression")
        if node.get("group_expressions") or node.get("group_sets"):
            raise RuleProblem("GROUP BY is not allowed in a rule expression")
        if node.get("modifiers"):
            raise RuleProblem("ORDER BY / LIMIT / OFFSET / DISTINCT are not allowed in a rule")
        if (node.get("cte_map") or {}).get("map"):
            raise RuleProblem("WITH (common table expressions) is not allowed in a rule")
        if node["select_list"][0].get("alias"):
            raise RuleProblem("an alias (AS ...) is not allowed in a rule expression")
        return node

    def _check_nodes(self, item: dict[str, Any]) -> set[str]:
        referenced: set[str] = set()
        for node in _expression_nodes(item):
            node_class = node["class"]
            if node_class in _CLASS_PROBLEMS:
                raise RuleProblem(_CLASS_PROBLEMS[node_class])
            if node_class == "COLUMN_REF":
                referenced.add(self._known_column(node.get("column_names") or []))
            elif node_class == "FUNCTION":
                self._check_function(node)
            elif node_class == "OPERATOR":
                if node.get("type") not in _ALLOWED_OPERATORS:
                    raise RuleProblem(f"the operator {node.get('type')} is not allowed in rules")
            elif node_class not in _ALLOWED_CLASSES:
                raise RuleProblem(f"a {node_class} expression is not allowed in rules")
        return referenced

    def _known_column(self, parts: list[str]) -> str:
        if len(parts) != 1:
            raise RuleProblem(f"qualified column names are not allowed: {'.'.join(parts)}")
        name = parts[0]
        known = self._by_lower.get(name.lower())
        if known is None:
            close = difflib.get_close_matches(name.lower(), list(self._by_lower), n=1)
            hint = f"; did you mean '{self._by_lower[close[0]]}'?" if close else ""
            raise RuleProblem(f"unknown column '{name}'{hint}")
        return known

    @staticmethod
    def _check_function(node: dict[str, Any]) -> None:
        name = str(node.get("function_name", ""))
        qualified = ".".join(part for part in (node.get("catalog"), node.get("schema")) if part)
        if qualified:
            raise RuleProblem(f"qualified function names are not allowed: {qualified}.{name}")
        if name.lower() not in ALLOWED_FUNCTIONS:
            raise RuleProblem(
                f"the function {name}() is not allowed in rules (only scalar functions on the "
                "allow-list: comparisons, arithmetic, text, null handling, rounding, dates)"
            )
        if node.get("distinct") or node.get("filter") is not None:
            raise RuleProblem(f"{name}() with DISTINCT or FILTER is not allowed in rules")
        if (node.get("order_bys") or {}).get("orders"):
            raise RuleProblem(f"{name}() with ORDER BY is not allowed in rules")

    def _result_type(self, expression: str) -> str:
        try:
            described = self._con.execute(
                f"DESCRIBE SELECT (\n{expression}\n) AS rule_value FROM known_columns"
            ).fetchall()
        except duckdb.Error as error:
            first_line = str(error).strip().splitlines()[0]
            raise RuleProblem(f"cannot be evaluated on the known columns: {first_line}") from None
        return str(described[0][1])

    def _try_on_samples(self, expression: str, referenced: Sequence[str]) -> None:
        """Evaluate the rule on the sample rows; refuse it naming the row that fails."""
        query = f"SELECT coalesce((\n{expression}\n), false) FROM {{rows}}"
        try:
            self._con.execute(query.format(rows="sample_rows")).fetchall()
            return
        except duckdb.Error as error:
            problem, values = _first_line(error), "the sample rows"
        # find the failing row, so the message can show the values that broke the rule
        for row in self._con.execute("SELECT * FROM sample_rows").pl().iter_slices(1):
            self._con.register("sample_row", row)
            try:
                self._con.execute(query.format(rows="sample_row")).fetchall()
            except duckdb.Error as error:
                problem = _first_line(error)
                values = ", ".join(f"{name} = {row.item(0, name)!r}" for name in referenced)
                break
            finally:
                self._con.unregister("sample_row")
        raise RuleProblem(
            f"fails on values its columns can hold ({values}): {problem}; use "
            "TRY_CAST(...) (NULL, so not matched, when a value does not convert) or guard it "
            "with CASE WHEN ... THEN ... END"
        )

    def _canonical_sql(self, select: dict[str, Any]) -> str:
        tree = {"error": False, "statements": [{"node": select, "named_param_map": []}]}
        row = self._con.execute(
            "SELECT json_deserialize_sql(?::JSON)", [json.dumps(tree)]
        ).fetchone()
        sql = str(row[0]) if row else ""
        prefix = "SELECT "
        if not sql.upper().startswith(prefix):
            raise RuleProblem("cannot be turned back into SQL")
        return sql[len(prefix) :]


def _require_columns(frame: pl.DataFrame, expressions: Sequence[CheckedExpression]) -> list[str]:
    needed = sorted({column for expression in expressions for column in expression.columns})
    missing = [column for column in needed if column not in frame.columns]
    if missing:
        raise KeyError(f"rules reference columns missing from the frame: {', '.join(missing)}")
    return needed


# Column types whose equal values are identical to a rule: rows with the same values of these
# can share one evaluation. Floats are left out (0.0 and -0.0 are equal but 1 / x tells them
# apart), so are nested types.
_DISTINCT_SAFE_TYPES = (
    pl.String,
    pl.Boolean,
    pl.Date,
    pl.Datetime,
    pl.Duration,
    pl.Time,
    pl.Categorical,
    pl.Enum,
)


def _distinct_safe(dtype: pl.DataType) -> bool:
    return dtype.is_integer() or isinstance(dtype, _DISTINCT_SAFE_TYPES)


def _evaluate(source: pl.DataFrame, selects: Sequence[str]) -> pl.DataFrame:
    """Evaluate ``selects`` on every row of ``source``; columns ``v0``.. in row order."""
    sql_items = ", ".join(f"{select} AS v{index}" for index, select in enumerate(selects))
    con = connect()
    try:
        con.register("rule_input", source.with_row_index("rule_row_index"))
        result = con.execute(
            f"SELECT rule_row_index, {sql_items} FROM rule_input ORDER BY rule_row_index"
        ).pl()
    finally:
        con.close()
    return result.drop("rule_row_index")


def _run_selects(
    frame: pl.DataFrame, needed: Sequence[str], selects: Sequence[str]
) -> pl.DataFrame:
    """Evaluate ``selects`` (SQL expressions) row by row; returns columns ``v0``.. in row order.

    A rule's value depends only on the row's values of the columns it references, and rules
    usually reference a few low-cardinality columns (labels, ages), so the rules run once per
    distinct combination of those values and the results are joined back to the rows.
    """
    if not selects:
        return pl.DataFrame()
    source = frame.select(needed)
    if not needed:
        # column-free rules have one value for every row
        constant = _evaluate(pl.DataFrame({"rule_constant": [0]}), selects)
        return constant.gather(pl.zeros(frame.height, dtype=pl.UInt32, eager=True))
    if not all(_distinct_safe(dtype) for dtype in source.dtypes):
        return _evaluate(source, selects)
    distinct = source.unique(maintain_order=True)
    if 2 * distinct.height > source.height:
        return _evaluate(source, selects)
    results = pl.concat([distinct, _evaluate(distinct, selects)], how="horizontal")
    return source.join(
        results, on=list(needed), how="left", nulls_equal=True, maintain_order="left"
    ).drop(needed)


def _run_named(
    frame: pl.DataFrame,
    needed: Sequence[str],
    selects: Sequence[str],
    rules: Sequence[CheckedExpression],
) -> pl.DataFrame:
    """:func:`_run_selects`, raising :class:`RuleEvaluationError` naming the rule that fails."""
    try:
        return _run_selects(frame, needed, selects)
    except duckdb.Error as error:
        failure = error
    source = frame.select(needed)
    # the rules one by one (only now, on the error path), to name the one that fails
    for rule in rules:
        try:
            _run_selects(source, needed, [f"coalesce(({rule.sql}), false)"])
        except duckdb.Error as error:
            raise RuleEvaluationError(
                f"{rule.describe()} failed at run time: {masked_error(error)}"
            ) from None
    names = "; ".join(rule.describe() for rule in rules)
    raise RuleEvaluationError(
        f"evaluating the rules failed at run time: {masked_error(failure)} (rules: {names})"
    ) from None


def first_match_indices(
    frame: pl.DataFrame, rule_sets: Mapping[str, Sequence[CheckedExpression]]
) -> pl.DataFrame:
    """For each rule set, the index of the first rule that is true on each row.

    Args:
        frame: The rows to label; must have every column the rules reference.
        rule_sets: Output column name -> the ordered rules of that set.

    Returns:
        One Int64 column per rule set, in ``frame``'s row order: the 0-based index of the first
        matching rule, or null when none matches.
    """
    every = [expression for rules in rule_sets.values() for expression in rules]
    needed = _require_columns(frame, every)
    selects = []
    for rules in rule_sets.values():
        if not rules:
            selects.append("CAST(NULL AS BIGINT)")
            continue
        branches = " ".join(f"WHEN ({rule.sql}) THEN {index}" for index, rule in enumerate(rules))
        selects.append(f"CAST(CASE {branches} ELSE NULL END AS BIGINT)")
    result = _run_named(frame, needed, selects, every)
    return result.rename(dict(zip(result.columns, rule_sets, strict=True))) if selects else result


def match_flags(frame: pl.DataFrame, rules: Sequence[CheckedExpression]) -> pl.DataFrame:
    """Whether each rule is true on each row (NULL counts as false).

    Returns:
        Boolean columns ``match_0`` .. ``match_{n-1}``, in ``frame``'s row order.
    """
    needed = _require_columns(frame, rules)
    selects = [f"coalesce(({rule.sql}), false)" for rule in rules]
    result = _run_named(frame, needed, selects, rules)
    return result.rename({f"v{index}": f"match_{index}" for index in range(len(rules))})


def is_constant_true(checked: CheckedExpression) -> bool:
    """Whether a column-free expression is TRUE (so a rule with it matches every row)."""
    return not checked.columns and _constant_is_true(checked.sql)


@lru_cache(maxsize=256)
def _constant_is_true(sql: str) -> bool:
    con = connect()
    try:
        row = con.execute(f"SELECT coalesce(({sql}), false)").fetchone()
    finally:
        con.close()
    return bool(row and row[0])
