"""What the last run put in the warehouse: rows landed and quarantined (events, feedback, the
attribute history and the product catalogue too, when they have rows), and the latest
snapshot's customers per lifecycle stage, value tier, RFM segment and strategy.

With attribute dimensions (``attr_<dimension>`` columns of ``marts.customer_segments``) it
shows, per dimension, the latest snapshot's customers per value and the moves between values
from the previous snapshot (``marts.segment_migration``); with next best products, the
customers per product and how many of them the cross-sell rules of the playbook assigned.
Without those the summary is as before.

The queries live in ``sql/reports/summary_*.sql``; ``python -m pipelines.summary`` prints the
sections as tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from segmentation.segments.columns import ATTRIBUTE_COLUMN_PREFIX
from segmentation.sql_files import read_sql, render_sql
from segmentation.warehouse import table_columns


@dataclass(frozen=True)
class SummarySection:
    """One section of the summary: a titled table of rows, in query order, and a note shown
    under it (empty: none)."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    note: str = ""


# (title, query file, columns), in the order they are shown
SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Rows landed", "reports/summary_rows_landed.sql", ("table", "rows")),
    (
        "Rows quarantined (quality.rejected_rows) by reason",
        "reports/summary_rejected_rows.sql",
        ("source", "reason", "rows"),
    ),
    (
        "Latest snapshot: customers per lifecycle stage",
        "reports/summary_lifecycle_stages.sql",
        ("snapshot", "lifecycle stage", "customers"),
    ),
    (
        "Latest snapshot: customers per value tier",
        "reports/summary_value_tiers.sql",
        ("value tier", "customers", "net revenue", "avg CLV 12m"),
    ),
    (
        "Latest snapshot: customers per RFM segment",
        "reports/summary_rfm_segments.sql",
        ("RFM segment", "customers"),
    ),
    (
        "Latest snapshot: customers per intent class and engagement level",
        "reports/summary_intent_classes.sql",
        ("intent class", "engagement level", "customers"),
    ),
    (
        "Latest snapshot: customers per satisfaction class",
        "reports/summary_satisfaction_classes.sql",
        ("satisfaction class", "customers", "promoters", "detractors", "complained"),
    ),
    (
        "Latest snapshot: customers per strategy",
        "reports/summary_strategies.sql",
        ("strategy", "customers", "of which control"),
    ),
)


# section query -> queries whose rows, if any, follow its rows: the optional sources' tables,
# which add a row only when they hold rows (without those sources the summary is as before)
MORE_ROWS: dict[str, tuple[str, ...]] = {
    "reports/summary_rows_landed.sql": (
        "reports/summary_rows_landed_events.sql",
        "reports/summary_rows_landed_feedback.sql",
        "reports/summary_rows_landed_customer_attributes.sql",
        "reports/summary_rows_landed_products.sql",
    ),
}


# sections over the optional sources' labels: left out when they have no rows (the source is
# not configured) or the warehouse was written before the labels existed
OPTIONAL_SECTIONS = frozenset(
    {"reports/summary_intent_classes.sql", "reports/summary_satisfaction_classes.sql"}
)


# the attribute dimensions' sections go before this one, the next best products' after it
STRATEGY_QUERY = "reports/summary_strategies.sql"
# a section over one dimension's values shows at most this many rows, the last one standing for
# the rest: a passthrough dimension (`column:`) may have many values
MAX_VALUE_ROWS = 20


def summary_sections(
    con: duckdb.DuckDBPyConnection, cross_sell_rules: Sequence[str] | None = None
) -> list[SummarySection]:
    """Every section of the summary whose tables exist on ``con``, in order.

    A section over a table the pipeline has not written yet (an earlier step failed, or only
    some assets ran) is left out rather than failing the summary.

    Args:
        con: The warehouse.
        cross_sell_rules: The playbook rules that offer the next best product
            (:func:`~segmentation.strategies.settings.rules_using` ``next_best_product``); the
            next best products' section counts the customers they assigned. ``None``: unknown,
            the section shows the customers per product only.
    """
    sections = []
    for title, query, columns in SECTIONS:
        if query == STRATEGY_QUERY:
            sections += attribute_sections(con)
        section = _fixed_section(con, title, query, columns)
        if section is not None:
            sections.append(section)
        if query == STRATEGY_QUERY:
            sections += next_best_product_sections(con, cross_sell_rules)
    return sections


def _fixed_section(
    con: duckdb.DuckDBPyConnection, title: str, query: str, columns: tuple[str, ...]
) -> SummarySection | None:
    try:
        rows = con.execute(read_sql(query)).fetchall()
    except duckdb.CatalogException:
        return None
    except duckdb.BinderException:
        if query in OPTIONAL_SECTIONS:
            return None
        raise
    if not rows and query in OPTIONAL_SECTIONS:
        return None
    for more in MORE_ROWS.get(query, ()):
        try:
            rows += con.execute(read_sql(more)).fetchall()
        except duckdb.CatalogException:
            # a warehouse written before the table existed
            continue
    return SummarySection(title, columns, rows)


def _capped(rows: list[tuple[Any, ...]], what: str) -> list[tuple[Any, ...]]:
    """At most :data:`MAX_VALUE_ROWS` rows: the first ones, then one row adding up the counts
    of the rest."""
    if len(rows) <= MAX_VALUE_ROWS:
        return rows
    kept, rest = rows[: MAX_VALUE_ROWS - 1], rows[MAX_VALUE_ROWS - 1 :]
    totals = [
        sum(values) if all(isinstance(v, int) for v in values) else ""
        for values in list(zip(*rest, strict=True))[1:]
    ]
    return [*kept, (f"({len(rest)} more {what})", *totals)]


def attribute_sections(con: duckdb.DuckDBPyConnection) -> list[SummarySection]:
    """Per attribute dimension of ``marts.customer_segments`` (its ``attr_<dimension>``
    columns, in table order): the latest snapshot's customers per value, and the customers
    per (from, to) value from the previous snapshot to the latest one
    (``marts.segment_migration``): the moves as rows, how many moved and how many kept their
    value in the note. None without attribute dimensions; no moves section when the
    migration does not reach the latest snapshot."""
    sections = []
    columns = [
        name
        for name in table_columns(con, "marts.customer_segments")
        if name.startswith(ATTRIBUTE_COLUMN_PREFIX)
    ]
    for column in columns:
        dimension = column.removeprefix(ATTRIBUTE_COLUMN_PREFIX)
        values = con.execute(render_sql("reports/summary_attribute_values.sql", column=column))
        rows = values.fetchall()
        if not rows:
            continue
        sections.append(
            SummarySection(
                f"Latest snapshot: customers per {dimension}",
                (dimension, "customers"),
                _capped(rows, "values"),
            )
        )
        try:
            pairs = con.execute(
                read_sql("reports/summary_attribute_moves.sql"), {"dimension": column}
            ).fetchall()
        except duckdb.CatalogException:
            # the evaluation has not run on this warehouse
            continue
        if not pairs:
            continue
        moves = [(start, end, n) for _, _, start, end, n in pairs if start != end]
        moved = sum(n for *_, n in moves)
        kept = sum(n for _, _, start, end, n in pairs if start == end)
        sections.append(
            SummarySection(
                f"Moves between {dimension} values, {pairs[0][0]} to {pairs[0][1]}",
                (f"from {dimension}", f"to {dimension}", "customers"),
                _capped(moves, "moves"),
                note=f"{moved:,} customers moved, {kept:,} kept their {dimension}",
            )
        )
    return sections


def next_best_product_sections(
    con: duckdb.DuckDBPyConnection, cross_sell_rules: Sequence[str] | None
) -> list[SummarySection]:
    """The latest snapshot's customers per next best product and, with ``cross_sell_rules``,
    how many of them those rules assigned and how many of those are the control group. None
    when no customer of the latest snapshot has a next best product."""
    try:
        rows = con.execute(
            read_sql("reports/summary_next_best_products.sql"),
            {"rules": list(cross_sell_rules or ())},
        ).fetchall()
    except (duckdb.CatalogException, duckdb.BinderException):
        # the strategies have not run, or the warehouse predates next best products
        return []
    if not rows:
        return []
    title = "Latest snapshot: customers per next best product"
    if cross_sell_rules is None:
        counts = [row[:2] for row in rows]
        columns = ("next best product", "customers")
        return [SummarySection(title, columns, _capped(counts, "products"))]
    columns = ("next best product", "customers", "cross-sell assigned", "of which control")
    note = (
        f"cross-sell: the playbook rule(s) {', '.join(cross_sell_rules)}"
        if cross_sell_rules
        else "no playbook rule uses next_best_product"
    )
    return [SummarySection(title, columns, _capped(rows, "products"), note=note)]


def warehouse_summary(
    warehouse: Path, cross_sell_rules: Sequence[str] | None = None
) -> list[SummarySection] | None:
    """:func:`summary_sections` of the warehouse file, opened read-only; ``None`` when the
    file does not exist yet."""
    if not warehouse.exists():
        return None
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return summary_sections(con, cross_sell_rules)
