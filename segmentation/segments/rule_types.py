"""What the rule checker and the rule evaluator share: their errors, a checked expression, the
value ranges of columns, and the sandboxed DuckDB connection both run on."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from segmentation.sql_files import read_sql


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
    con.execute(read_sql("segments/rule_connection_settings.sql"))
    return con
