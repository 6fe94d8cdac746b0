"""Named SQL boolean rules: the grammar, checked with DuckDB's own parser.

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
tree), so comments or trailing text in the source cannot change the evaluated SQL.

This module holds the grammar and :class:`RuleChecker`; the cost limits are in
:mod:`segmentation.segments.rule_limits`, the sample rows in
:mod:`segmentation.segments.rule_samples`, and evaluation over a frame in
:mod:`segmentation.segments.rule_evaluation`.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import duckdb
import polars as pl

from segmentation.segments.rule_limits import MAX_RULE_CHARACTERS, MAX_RULE_DEPTH, check_cost
from segmentation.segments.rule_samples import sample_frame
from segmentation.segments.rule_types import CheckedExpression, ColumnRange, RuleProblem, connect
from segmentation.sql_files import compose_sql, read_sql

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
        # lists of text (custom attributes of type list, e.g. products held)
        "list_contains", "list_has", "array_contains", "array_has", "list_has_any",
        "array_has_any", "list_has_all", "array_has_all", "len", "array_length",
        "list_position", "list_value",
    }
)  # fmt: skip
# functions DuckDB's parser itself qualifies: a list literal ``['a', 'b']`` is main.list_value
_PARSER_QUALIFIED = frozenset({("", "main", "list_value")})

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


def _ranges_key(ranges: Mapping[str, ColumnRange]) -> object:
    return tuple(sorted((name, repr(bounds)) for name, bounds in ranges.items()))


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


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
                read_sql("segments/rule_syntax_tree.sql"), {"statement": f"SELECT {expression}\n"}
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
        parts = (node.get("catalog") or "", node.get("schema") or "", name.lower())
        if qualified and parts not in _PARSER_QUALIFIED:
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
                compose_sql("segments/rule_result_type.sql", rule=expression)
            ).fetchall()
        except duckdb.Error as error:
            first_line = str(error).strip().splitlines()[0]
            raise RuleProblem(f"cannot be evaluated on the known columns: {first_line}") from None
        return str(described[0][1])

    def _try_on_samples(self, expression: str, referenced: Sequence[str]) -> None:
        """Evaluate the rule on the sample rows; refuse it naming the row that fails."""
        query = compose_sql("segments/rule_on_sample_rows.sql", rule=expression)
        try:
            self._con.execute(query, {"rows": "sample_rows"}).fetchall()
            return
        except duckdb.Error as error:
            problem, values = _first_line(error), "the sample rows"
        # find the failing row, so the message can show the values that broke the rule
        samples = self._con.execute(read_sql("segments/rule_sample_rows.sql")).pl()
        for row in samples.iter_slices(1):
            self._con.register("sample_row", row)
            try:
                self._con.execute(query, {"rows": "sample_row"}).fetchall()
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
            read_sql("segments/rule_canonical_sql.sql"), {"tree": json.dumps(tree)}
        ).fetchone()
        sql = str(row[0]) if row else ""
        prefix = "SELECT "
        if not sql.upper().startswith(prefix):
            raise RuleProblem("cannot be turned back into SQL")
        return sql[len(prefix) :]
