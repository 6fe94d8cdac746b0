"""Checked rules evaluated with DuckDB over a polars frame.

Rules are evaluated in their canonical form (see :mod:`segmentation.segments.sql_rules`) on an
in-memory DuckDB connection with external access disabled. A condition that is NULL for a row
counts as not matched. A rule that still fails at run time raises
:class:`~segmentation.segments.rule_types.RuleEvaluationError` naming the rule (its ``label``)
and its text, with the values of the failing row masked out of DuckDB's message (they may be
personal data).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

import duckdb
import polars as pl

from segmentation.segments.rule_types import CheckedExpression, RuleEvaluationError, connect
from segmentation.sql_files import compose_sql

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"(?<![A-Za-z0-9_])[-+]?\d[\d.:eE+\-]*")


def masked_error(error: BaseException) -> str:
    """The first line of a DuckDB error with quoted text and numbers masked: DuckDB quotes the
    value that failed, which may be a customer's personal data."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return _NUMBER.sub("…", _QUOTED.sub("'…'", first))


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
        result = con.execute(compose_sql("segments/rule_values.sql", rule_values=sql_items)).pl()
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
        row = con.execute(compose_sql("segments/rule_constant_value.sql", rule=sql)).fetchone()
    finally:
        con.close()
    return bool(row and row[0])
