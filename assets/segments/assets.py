"""Segment assets: who is in which segment, per snapshot, and how big each segment is.

Computed one month at a time; each month's segments and summary are checked against their
contracts and written together in one transaction (see ``assets.monthly``).
"""

from typing import Any

import dagster as dg

from assets.engine import engine_kinds, on_engine
from assets.metadata import column_counts_table
from assets.monthly import (
    MonthlyTable,
    Privacy,
    asset_key,
    monthly_connection,
    report_months_to,
    table_metadata,
    write_month,
)
from assets.partitions import snapshot_dates
from assets.resources import Warehouse
from segmentation.config import SegmentationConfig
from segmentation.keys import CATEGORIES_TABLE, FEATURES_TABLE, SEGMENTS_TABLE, SUMMARY_TABLE
from segmentation.monthly import (
    customer_segments_month,
    read_categories,
    read_products,
    read_segment_features,
)
from segmentation.segments.contracts import CustomerSegmentsContract, SegmentSummaryContract
from segmentation.warehouse import release_cached_blocks


def build_segment_assets(
    partitions_def: dg.PartitionsDefinition, engine: str = "duckdb"
) -> list[dg.AssetsDefinition]:
    """The segment assets for the configured monthly partitions, computed by ``engine``."""

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                key=asset_key(SEGMENTS_TABLE),
                deps=[
                    asset_key(FEATURES_TABLE),
                    asset_key(CATEGORIES_TABLE),
                    dg.AssetKey(["raw", "products"]),
                ],
                kinds=engine_kinds({"duckdb", "polars", "scikit-learn"}, engine),
                description="One row per snapshot and customer with every segment label: RFM "
                "scores (1-5) and the named RFM segment, value tier, ABC class, lifecycle "
                "stage, loyalty, churn risk, the configured attribute segments (attr_*), the "
                "k-means cluster, the key features, and the intent, engagement, NPS and "
                "satisfaction labels ('unknown' without the events / feedback source) with "
                "the source features the playbook acts on, and the needs and psychographic "
                "classes, next best category and product, and category features (products "
                "source, holdings, psychographic rules).",
                metadata=table_metadata(SEGMENTS_TABLE, CustomerSegmentsContract),
            ),
            dg.AssetSpec(
                key=asset_key(SUMMARY_TABLE),
                deps=[asset_key(FEATURES_TABLE)],
                kinds=engine_kinds({"duckdb", "polars"}, engine),
                description="Per snapshot, dimension and segment: customers, share, revenue, "
                "revenue share and average CLV. The intent/engagement and NPS/satisfaction "
                "labels are dimensions where their source is configured.",
                metadata=table_metadata(SUMMARY_TABLE, SegmentSummaryContract),
            ),
        ],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="segments",
    )
    @on_engine(engine)
    def customer_segments(
        context: dg.AssetExecutionContext,
        warehouse: Warehouse,
        settings: dg.ResourceParam[SegmentationConfig],
        spark: Any = None,
    ) -> tuple[dg.MaterializeResult, dg.MaterializeResult]:
        """Label every customer of every snapshot exactly once per segment dimension."""
        privacy = Privacy.of(settings)
        segments, summary = report_months_to(
            context,
            MonthlyTable(
                SEGMENTS_TABLE,
                CustomerSegmentsContract,
                lambda month: {
                    "rfm_segments": column_counts_table(month, "rfm_segment"),
                    "clusters": column_counts_table(month, "cluster"),
                    "intent_classes": column_counts_table(month, "intent_class"),
                    "satisfaction_classes": column_counts_table(month, "satisfaction_class"),
                    "needs_classes": column_counts_table(month, "needs_class"),
                    "psychographic_classes": column_counts_table(month, "psychographic_class"),
                },
                privacy,
            ),
            MonthlyTable(
                SUMMARY_TABLE,
                SegmentSummaryContract,
                lambda month: {"preview": privacy.preview(month, rows=30)},
                privacy,
            ),
        )
        if spark is not None:
            from assets import spark_stages  # imports PySpark: the Spark path only

            snapshots = sorted(snapshot_dates(context))
            spark_stages.segments(spark, settings, (segments, summary), snapshots)
        else:
            _segments_on_duckdb(context, warehouse, settings, segments, summary)
        return (
            dg.MaterializeResult(asset_key=asset_key(SEGMENTS_TABLE), metadata=segments.metadata()),
            dg.MaterializeResult(asset_key=asset_key(SUMMARY_TABLE), metadata=summary.metadata()),
        )

    def _segments_on_duckdb(
        context: dg.AssetExecutionContext,
        warehouse: Warehouse,
        settings: SegmentationConfig,
        segments: MonthlyTable,
        summary: MonthlyTable,
    ) -> None:
        with monthly_connection(warehouse) as con:
            products = read_products(con, settings)
            for snapshot in sorted(snapshot_dates(context)):
                features = read_segment_features(con, snapshot, settings.segments)
                categories = read_categories(con, snapshot, settings)
                release_cached_blocks(con, warehouse.memory_limit)
                month_segments, month_summary = customer_segments_month(
                    features, settings.segments, categories, products
                )
                write_month(con, snapshot, (segments, month_segments), (summary, month_summary))

    return [customer_segments]
