"""What the last run put in the warehouse: rows landed and quarantined (events, feedback, the
attribute history and the product catalogue too, when they have rows), and the latest
snapshot's customers per lifecycle stage, value tier, RFM segment and strategy.

The queries live in ``sql/reports/summary_*.sql``; ``python -m pipelines.summary`` prints the
sections as tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from segmentation.sql_files import read_sql


@dataclass(frozen=True)
class SummarySection:
    """One section of the summary: a titled table of rows, in query order."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


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


def summary_sections(con: duckdb.DuckDBPyConnection) -> list[SummarySection]:
    """Every section of the summary whose tables exist on ``con``, in order.

    A section over a table the pipeline has not written yet (an earlier step failed, or only
    some assets ran) is left out rather than failing the summary.
    """
    sections = []
    for title, query, columns in SECTIONS:
        try:
            rows = con.execute(read_sql(query)).fetchall()
        except duckdb.CatalogException:
            continue
        except duckdb.BinderException:
            if query in OPTIONAL_SECTIONS:
                continue
            raise
        if not rows and query in OPTIONAL_SECTIONS:
            continue
        for more in MORE_ROWS.get(query, ()):
            try:
                rows += con.execute(read_sql(more)).fetchall()
            except duckdb.CatalogException:
                # a warehouse written before the table existed
                continue
        sections.append(SummarySection(title, columns, rows))
    return sections


def warehouse_summary(warehouse: Path) -> list[SummarySection] | None:
    """:func:`summary_sections` of the warehouse file, opened read-only; ``None`` when the
    file does not exist yet."""
    if not warehouse.exists():
        return None
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return summary_sections(con)
