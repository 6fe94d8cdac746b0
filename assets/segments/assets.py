"""Segment assets: who is in which segment, per snapshot, and how big each segment is."""

import dagster as dg
import polars as pl

from assets.metadata import column_counts_table, column_schema, contract_type, preview
from assets.segments.build import build_customer_segments, summarize_segments
from assets.segments.contracts import CustomerSegmentsContract, SegmentSummaryContract
from pipelines.config import SegmentationConfig


def _latest(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("snapshot_date") == pl.col("snapshot_date").max())


def build_segment_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """The segment assets for the configured monthly partitions."""

    @dg.multi_asset(
        outs={
            "customer_segments": dg.AssetOut(
                key=["marts", "customer_segments"],
                dagster_type=contract_type(CustomerSegmentsContract),
                kinds={"duckdb", "polars", "scikit-learn"},
                description="One row per snapshot and customer with every segment label: RFM "
                "scores (1-5) and the named RFM segment, value tier, ABC class, lifecycle "
                "stage, loyalty, churn risk, the configured attribute segments (attr_*), the "
                "k-means cluster, and the key features.",
            ),
            "segment_summary": dg.AssetOut(
                key=["marts", "segment_summary"],
                dagster_type=contract_type(SegmentSummaryContract),
                kinds={"duckdb", "polars"},
                description="Per snapshot, dimension and segment: customers, share, revenue, "
                "revenue share and average CLV.",
            ),
        },
        ins={"customer_features": dg.AssetIn(key=["features", "customer_features"])},
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="segments",
    )
    def customer_segments(
        context: dg.AssetExecutionContext,
        customer_features: pl.DataFrame,
        settings: dg.ResourceParam[SegmentationConfig],
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Label every customer of every snapshot exactly once per segment dimension."""
        segments = build_customer_segments(customer_features, settings.segments)
        summary = summarize_segments(segments, customer_features)
        latest = _latest(segments)
        context.add_output_metadata(
            {
                "dagster/row_count": segments.height,
                "dagster/column_schema": column_schema(CustomerSegmentsContract),
                "latest_rfm_segments": column_counts_table(latest, "rfm_segment"),
                "latest_clusters": column_counts_table(latest, "cluster"),
                "preview": preview(segments),
            },
            output_name="customer_segments",
        )
        context.add_output_metadata(
            {
                "dagster/row_count": summary.height,
                "dagster/column_schema": column_schema(SegmentSummaryContract),
                "preview": preview(_latest(summary), rows=30),
            },
            output_name="segment_summary",
        )
        return segments, summary

    return [customer_segments]
