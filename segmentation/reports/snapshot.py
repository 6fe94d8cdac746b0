"""What the segment report shows, read from the marts: the newest snapshot's segments, its
segment summaries, the latest RFM migration and the strategy assignments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import polars as pl

from segmentation.features.contracts import LIFECYCLE_STAGES, VALUE_TIERS
from segmentation.segments.rfm import RFM_SEGMENT_LABELS
from segmentation.sql_files import read_sql
from segmentation.warehouse import table_exists

# the dimensions the report summarises: dimension -> (table title, label order)
SUMMARY_DIMENSIONS = {
    "rfm_segment": ("RFM segments", RFM_SEGMENT_LABELS),
    "lifecycle_stage": ("Lifecycle stages", LIFECYCLE_STAGES),
    "value_tier": ("Value tiers", VALUE_TIERS),
}


class NoSnapshotError(LookupError):
    """The marts hold no snapshot to report on."""


@dataclass(frozen=True)
class ReportSnapshot:
    """The rows the report is made of.

    Attributes:
        latest: The newest snapshot date of ``marts.customer_segments``.
        previous: The one before it, if any.
        segments: The newest snapshot's customers: segment labels, RFM scores and CLV.
        summary: Its ``marts.segment_summary`` rows of the :data:`SUMMARY_DIMENSIONS`.
        migration: The RFM migration into the latest snapshot of ``marts.segment_migration``
            (empty without that table).
        strategies: Customers, control group and budget per strategy and channel at the newest
            snapshot (empty without ``marts.strategy_assignments``).
    """

    latest: date
    previous: date | None
    segments: pl.DataFrame
    summary: pl.DataFrame
    migration: pl.DataFrame
    strategies: pl.DataFrame


def read_report_snapshot(con: duckdb.DuckDBPyConnection) -> ReportSnapshot:
    """The newest snapshot of the marts, as the segment report shows it.

    Raises:
        NoSnapshotError: If ``marts.customer_segments`` is missing or empty.
    """
    snapshots = []
    if table_exists(con, "marts.customer_segments"):
        rows = con.execute(read_sql("reports/report_snapshots.sql"), {"count": 2}).fetchall()
        snapshots = [row[0] for row in rows]
    if not snapshots:
        raise NoSnapshotError(
            "marts.customer_segments holds no snapshot: materialize a month first"
        )
    latest = snapshots[0]
    segments = con.execute(read_sql("reports/report_segments.sql"), {"snapshot_date": latest}).pl()
    summary = con.execute(
        read_sql("reports/report_summary.sql"),
        {"snapshot_date": latest, "dimensions": list(SUMMARY_DIMENSIONS)},
    ).pl()
    migration = pl.DataFrame()
    if table_exists(con, "marts.segment_migration"):
        migration = con.execute(read_sql("reports/report_rfm_migration.sql")).pl()
    strategies = pl.DataFrame()
    if table_exists(con, "marts.strategy_assignments"):
        strategies = con.execute(
            read_sql("reports/report_strategies.sql"), {"snapshot_date": latest}
        ).pl()
    return ReportSnapshot(
        latest,
        snapshots[1] if len(snapshots) > 1 else None,
        segments,
        summary,
        migration,
        strategies,
    )
