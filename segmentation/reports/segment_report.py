"""The segment report of the newest snapshot: its charts, key tables and headline figures."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from segmentation.features.contracts import LIFECYCLE_STAGES
from segmentation.reports.charts import (
    clv_histogram_png,
    migration_png,
    rfm_grid_png,
    segment_sizes_png,
)
from segmentation.reports.html_report import REPORT_FILENAME, Chart, SegmentReport, Table
from segmentation.reports.snapshot import SUMMARY_DIMENSIONS, ReportSnapshot
from segmentation.segments.rfm import fm_score

if TYPE_CHECKING:
    from segmentation.config import SegmentationConfig


def report_path(config: SegmentationConfig) -> Path:
    """Where the HTML report goes: next to the serving copy."""
    return config.serving.parent / REPORT_FILENAME


def _value_counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    return dict(frame.get_column(column).value_counts().iter_rows())


def _rfm_cells(segments: pl.DataFrame) -> pl.DataFrame:
    scored = (
        segments.drop_nulls(["r_score", "f_score", "m_score"])
        .group_by("r_score", "f_score", "m_score")
        .agg(customers=pl.len())
    )
    # at most 125 score combinations: the grid's own FM rule, row by row
    return pl.DataFrame(
        [(r, fm_score(f, m), n) for r, f, m, n in scored.iter_rows()],
        schema={"r_score": pl.Int64, "fm_score": pl.Int64, "customers": pl.Int64},
        orient="row",
    )


def build_charts(snapshot: ReportSnapshot) -> list[Chart]:
    """The four charts of the newest snapshot: segment sizes, the RFM grid, the RFM migration
    matrix and the CLV distribution."""
    segments = snapshot.segments
    return [
        Chart(
            "Segment sizes",
            segment_sizes_png(
                _value_counts(segments, "rfm_segment"),
                _value_counts(segments, "lifecycle_stage"),
                snapshot.latest,
                LIFECYCLE_STAGES,
            ),
            "Customers per named RFM segment and per lifecycle stage.",
        ),
        Chart(
            "RFM grid",
            rfm_grid_png(_rfm_cells(segments), snapshot.latest),
            "Buyers by recency score (rows) and the average of frequency and monetary scores "
            "(columns); each cell is labelled with the RFM segment it belongs to.",
        ),
        Chart(
            "Migration matrix",
            migration_png(snapshot.migration),
            "Where the customers of each RFM segment were one snapshot later (colour: share "
            "of the row; numbers: customers present in both snapshots).",
        ),
        Chart(
            "CLV distribution",
            clv_histogram_png(segments.get_column("clv_12m"), snapshot.latest),
            "Predicted 12-month customer lifetime value (margin, discounted), log scale.",
        ),
    ]


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _money(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def build_tables(snapshot: ReportSnapshot) -> list[Table]:
    """The key tables: segment summaries per dimension and the strategy assignments."""
    tables = []
    for dimension, (title, order) in SUMMARY_DIMENSIONS.items():
        rows = snapshot.summary.filter(pl.col("dimension") == dimension)
        rank = {label: i for i, label in enumerate(order)}
        rows = rows.sort(pl.col("segment").replace_strict(rank, default=len(rank)), "segment")
        tables.append(
            Table(
                title,
                ["segment", "customers", "share", "revenue share", "average CLV (12 m)"],
                [
                    [segment, f"{customers:,}", _share(share), _share(revenue), _money(clv)]
                    for segment, customers, share, revenue, clv in rows.select(
                        "segment", "customers", "share", "revenue_share", "avg_clv"
                    ).iter_rows()
                ],
            )
        )
    if not snapshot.strategies.is_empty():
        tables.append(
            Table(
                "Strategies",
                ["strategy", "channel", "customers", "control group", "budget"],
                [
                    [strategy, channel, f"{customers:,}", f"{control:,}", _money(budget)]
                    for strategy, channel, customers, control, budget in (
                        snapshot.strategies.iter_rows()
                    )
                ],
                note="Control-group customers get no action (budget 0); they measure the effect.",
                numeric_from=2,
            )
        )
    return tables


def headline(snapshot: ReportSnapshot) -> dict[str, str]:
    """The figures at the top of the report: customers, buyers, champions, predicted CLV."""
    segments = snapshot.segments
    buyers = segments.filter(pl.col("r_score").is_not_null()).height
    return {
        "customers": f"{segments.height:,}",
        "buyers": f"{buyers:,}",
        "champions": f"{segments.filter(pl.col('rfm_segment') == 'Champions').height:,}",
        "predicted CLV, next 12 months": _money(segments.get_column("clv_12m").sum()),
    }


def build_report(snapshot: ReportSnapshot, generated_at: datetime) -> SegmentReport:
    """The segment report of ``snapshot``: headline, charts (in :func:`build_charts` order)
    and tables, ready for :func:`~segmentation.reports.html_report.render_report`."""
    return SegmentReport(
        snapshot=snapshot.latest,
        previous_snapshot=snapshot.previous,
        generated_at=generated_at,
        headline=headline(snapshot),
        charts=build_charts(snapshot),
        tables=build_tables(snapshot),
    )
