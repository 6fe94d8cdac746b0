"""Report assets: charts of the newest snapshot in the UI and a static HTML segment report."""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from assets.checks_drift import latest_snapshots
from assets.metadata import value_counts
from assets.resources import Warehouse
from segmentation.config import SegmentationConfig
from segmentation.features.contracts import LIFECYCLE_STAGES, VALUE_TIERS
from segmentation.reports.charts import (
    clv_histogram_png,
    migration_png,
    rfm_grid_png,
    segment_sizes_png,
)
from segmentation.reports.html_report import (
    REPORT_FILENAME,
    Chart,
    SegmentReport,
    Table,
    png_data_uri,
    render_report,
    write_report,
)
from segmentation.segments.rfm import RFM_SEGMENT_LABELS, fm_score
from segmentation.warehouse import table_exists

SUMMARY_DIMENSIONS = {
    "rfm_segment": ("RFM segments", RFM_SEGMENT_LABELS),
    "lifecycle_stage": ("Lifecycle stages", LIFECYCLE_STAGES),
    "value_tier": ("Value tiers", VALUE_TIERS),
}


def report_path(config: SegmentationConfig) -> Path:
    """Where the HTML report goes: next to the serving copy."""
    return config.serving.parent / REPORT_FILENAME


@dataclass(frozen=True)
class _Snapshot:
    latest: date
    previous: date | None
    segments: pl.DataFrame
    summary: pl.DataFrame
    migration: pl.DataFrame
    strategies: pl.DataFrame


def _read_snapshot(con: duckdb.DuckDBPyConnection) -> _Snapshot:
    snapshots = latest_snapshots(con, "marts.customer_segments")
    if not snapshots:
        raise dg.Failure("marts.customer_segments holds no snapshot: materialize a month first")
    latest = snapshots[0]
    segments = con.execute(
        "SELECT rfm_segment, lifecycle_stage, r_score, f_score, m_score, clv_12m "
        "FROM marts.customer_segments WHERE snapshot_date = ?",
        [latest],
    ).pl()
    summary = con.execute(
        "SELECT dimension, segment, customers, share, revenue_share, avg_clv "
        "FROM marts.segment_summary WHERE snapshot_date = ? AND dimension IN (?, ?, ?)",
        [latest, *SUMMARY_DIMENSIONS],
    ).pl()
    migration = pl.DataFrame()
    if table_exists(con, "marts.segment_migration"):
        migration = con.execute(
            "SELECT * FROM marts.segment_migration WHERE dimension = 'rfm_segment' "
            "AND to_snapshot = (SELECT max(to_snapshot) FROM marts.segment_migration)"
        ).pl()
    strategies = pl.DataFrame()
    if table_exists(con, "marts.strategy_assignments"):
        strategies = con.execute(
            "SELECT strategy, channel, count(*) AS customers, "
            "count(*) FILTER (WHERE is_control) AS control, sum(budget) AS budget "
            "FROM marts.strategy_assignments WHERE snapshot_date = ? "
            "GROUP BY ALL ORDER BY customers DESC, strategy",
            [latest],
        ).pl()
    return _Snapshot(
        latest,
        snapshots[1] if len(snapshots) > 1 else None,
        segments,
        summary,
        migration,
        strategies,
    )


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


def build_charts(snapshot: _Snapshot) -> list[Chart]:
    """The four charts of the newest snapshot."""
    segments = snapshot.segments
    return [
        Chart(
            "Segment sizes",
            segment_sizes_png(
                value_counts(segments, "rfm_segment"),
                value_counts(segments, "lifecycle_stage"),
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


def build_tables(snapshot: _Snapshot) -> list[Table]:
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


def _headline(snapshot: _Snapshot) -> dict[str, str]:
    segments = snapshot.segments
    buyers = segments.filter(pl.col("r_score").is_not_null()).height
    return {
        "customers": f"{segments.height:,}",
        "buyers": f"{buyers:,}",
        "champions": f"{segments.filter(pl.col('rfm_segment') == 'Champions').height:,}",
        "predicted CLV, next 12 months": _money(segments.get_column("clv_12m").sum()),
    }


def _image_markdown(chart: Chart) -> dg.MarkdownMetadataValue:
    return dg.MetadataValue.md(f"![{chart.title}]({png_data_uri(chart.png)})")


@dg.asset(
    key=["reports", "segment_report"],
    deps=[
        ["marts", "customer_segments"],
        ["marts", "segment_summary"],
        ["marts", "segment_migration"],
        ["marts", "strategy_assignments"],
    ],
    group_name="reports",
    kinds={"matplotlib", "html"},
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def segment_report(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    settings: dg.ResourceParam[SegmentationConfig],
) -> dg.MaterializeResult:
    """Charts of the newest snapshot (segment sizes, the RFM grid, the RFM migration matrix of
    the latest snapshot pair, the CLV distribution), shown in this asset's metadata, and a
    static HTML report with the charts and the key tables, written next to the serving copy
    (``segment_report.html``)."""
    with warehouse.connect() as con:
        snapshot = _read_snapshot(con)
    charts = build_charts(snapshot)
    report = SegmentReport(
        snapshot=snapshot.latest,
        previous_snapshot=snapshot.previous,
        generated_at=datetime.now(UTC),
        headline=_headline(snapshot),
        charts=charts,
        tables=build_tables(snapshot),
    )
    path = write_report(report_path(settings), render_report(report))
    context.log.info(f"segment report for {snapshot.latest} written to {path}")
    return dg.MaterializeResult(
        metadata={
            "latest_snapshot": str(snapshot.latest),
            "report_path": dg.MetadataValue.path(str(path)),
            "report_bytes": path.stat().st_size,
            "segment_sizes": _image_markdown(charts[0]),
            "rfm_grid": _image_markdown(charts[1]),
            "migration_matrix": _image_markdown(charts[2]),
            "clv_distribution": _image_markdown(charts[3]),
        }
    )
