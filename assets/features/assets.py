"""Feature assets: point-in-time monthly snapshots, one row per customer.

Partition ``2011-03`` is the state as of 2011-03-31 23:59:59.999999, computed only from
transactions, events, feedback and attribute-history rows timestamped on or before that
instant. A backfill of many months runs as one run (single-run backfill policy) and computes
each month from its own as-of instant, one month at a time: each month is read, computed,
checked against its contract and written in a transaction of its own (see
``assets.monthly``).
"""

from contextlib import closing
from typing import Any

import dagster as dg
import polars as pl

from assets.engine import engine_kinds, on_engine
from assets.features.metadata import category_counts
from assets.metadata import column_counts_table, preview
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
from segmentation.features.categories import (
    products_configured,
    uncatalogued_transactions,
)
from segmentation.features.contracts import (
    ClvModelParamsContract,
    CustomerBehaviourContract,
    CustomerCategoriesContract,
    CustomerClvContract,
    CustomerEngagementContract,
    CustomerFeaturesContract,
)
from segmentation.keys import (
    BEHAVIOUR_TABLE,
    CATEGORIES_TABLE,
    CLV_PARAMS_TABLE,
    CLV_TABLE,
    ENGAGEMENT_TABLE,
    FEATURES_TABLE,
)
from segmentation.monthly import (
    customer_behaviour_months,
    customer_categories_months,
    customer_clv_month,
    customer_engagement_months,
    customer_features_month,
    read_behaviour_with_clv,
    read_categories,
    read_engagement,
    read_month,
)
from segmentation.warehouse import release_cached_blocks

FEATURE_KINDS = {"duckdb", "polars"}


def build_feature_assets(
    partitions_def: dg.PartitionsDefinition, engine: str = "duckdb"
) -> list[dg.AssetsDefinition]:
    """The feature assets for the configured monthly partitions, computed by ``engine``."""
    partitioning = {
        "partitions_def": partitions_def,
        "backfill_policy": dg.BackfillPolicy.single_run(),
    }

    @dg.asset(
        key=asset_key(BEHAVIOUR_TABLE),
        deps=[["raw", "transactions"], ["raw", "customers"], ["raw", "customer_attributes"]],
        kinds=engine_kinds(FEATURE_KINDS, engine),
        group_name="features",
        metadata=table_metadata(BEHAVIOUR_TABLE, CustomerBehaviourContract),
        **partitioning,
    )
    @on_engine(engine)
    def customer_behaviour(
        context: dg.AssetExecutionContext,
        warehouse: Warehouse,
        settings: dg.ResourceParam[SegmentationConfig],
        spark: Any = None,
    ) -> dg.MaterializeResult:
        """Behaviour of every known customer as of each snapshot: recency, frequency (purchase
        days, orders), monetary (gross and net revenue, average order value), trailing 30/90/365
        days, tenure, days between purchases, trend, return rate, channel mix and dominant
        channel, product breadth, active months, and the BTYD inputs (frequency, recency, age).
        The customer attributes (standard and custom) are those that held on the snapshot date:
        with an attribute history, each customer's latest history row by then."""
        [behaviour] = report_months_to(
            context,
            MonthlyTable(
                BEHAVIOUR_TABLE,
                CustomerBehaviourContract,
                lambda month: {
                    "customers_by_dominant_channel": column_counts_table(month, "dominant_channel")
                },
                Privacy.of(settings),
            ),
        )
        snapshots = sorted(snapshot_dates(context))
        if spark is not None:
            from assets import spark_stages  # imports PySpark: the Spark path only

            spark_stages.behaviour(spark, settings, behaviour, snapshots)
            return dg.MaterializeResult(metadata=behaviour.metadata())
        # every month of a backfill from one scan of the transactions, handed over month by month
        with (
            monthly_connection(warehouse) as con,
            closing(
                customer_behaviour_months(con, snapshots, settings, warehouse.memory_limit)
            ) as months,
        ):
            for snapshot, month in zip(snapshots, months, strict=True):
                write_month(con, snapshot, (behaviour, month))
        return dg.MaterializeResult(metadata=behaviour.metadata())

    @dg.asset(
        key=asset_key(ENGAGEMENT_TABLE),
        deps=[
            asset_key(BEHAVIOUR_TABLE),
            ["raw", "events"],
            ["raw", "feedback"],
            ["raw", "transactions"],
        ],
        kinds=engine_kinds(FEATURE_KINDS, engine),
        group_name="features",
        metadata=table_metadata(ENGAGEMENT_TABLE, CustomerEngagementContract),
        **partitioning,
    )
    @on_engine(engine)
    def customer_engagement(
        context: dg.AssetExecutionContext,
        warehouse: Warehouse,
        settings: dg.ResourceParam[SegmentationConfig],
        spark: Any = None,
    ) -> dg.MaterializeResult:
        """Engagement and voice of the customer of every customer of customer_behaviour as of
        each snapshot: visits, product views, cart adds, e-mail sends, opens and clicks and their
        rates in the last 90 days, days since the last engagement, abandoned carts,
        unsubscribed; latest NPS and its class, average CSAT over 180 days, complaints in 90
        days, days since the last feedback. Null where the source is not configured."""
        [engagement] = report_months_to(
            context,
            MonthlyTable(
                ENGAGEMENT_TABLE,
                CustomerEngagementContract,
                lambda month: {
                    "nps_classes": column_counts_table(
                        month.select(pl.col("nps_class").fill_null("(no NPS)")), "nps_class"
                    )
                },
                Privacy.of(settings),
            ),
        )
        snapshots = sorted(snapshot_dates(context))
        if spark is not None:
            from assets import spark_stages  # imports PySpark: the Spark path only

            spark_stages.engagement(spark, settings, engagement, snapshots)
            return dg.MaterializeResult(metadata=engagement.metadata())
        # every month of a backfill from one scan of the events and the feedback
        with (
            monthly_connection(warehouse) as con,
            closing(customer_engagement_months(con, snapshots, settings)) as months,
        ):
            for snapshot, month in zip(snapshots, months, strict=True):
                write_month(con, snapshot, (engagement, month))
        return dg.MaterializeResult(metadata=engagement.metadata())

    @dg.asset(
        key=asset_key(CATEGORIES_TABLE),
        deps=[["raw", "transactions"], ["raw", "products"]],
        kinds=engine_kinds(FEATURE_KINDS, engine),
        group_name="features",
        metadata=table_metadata(CATEGORIES_TABLE, CustomerCategoriesContract),
        **partitioning,
    )
    @on_engine(engine)
    def customer_categories(
        context: dg.AssetExecutionContext,
        warehouse: Warehouse,
        settings: dg.ResourceParam[SegmentationConfig],
        spark: Any = None,
    ) -> dg.MaterializeResult:
        """The category mix as of each snapshot: per customer and catalogue category (the
        products source), net spend, orders and share of spend in the category window (default
        365 days), with the spend on core and basic items; 'unknown' for products the catalogue
        does not list, whose rows, ids and amount share the metadata counts. Empty without a
        products source."""
        snapshots = sorted(snapshot_dates(context))
        configured = products_configured(settings.sources)
        if spark is not None:
            from assets import spark_stages  # imports PySpark: the Spark path only

            [categories] = report_months_to(
                context,
                MonthlyTable(
                    CATEGORIES_TABLE, CustomerCategoriesContract, privacy=Privacy.of(settings)
                ),
            )
            uncatalogued = spark_stages.categories(spark, settings, categories, snapshots)
            return dg.MaterializeResult(
                metadata=categories.metadata()
                | {"uncatalogued_transactions": preview(uncatalogued, rows=50)}
            )
        with monthly_connection(warehouse) as con:
            uncatalogued = uncatalogued_transactions(
                con, snapshots, settings.features.categories, products_configured=configured
            )
            by_month = {row["snapshot_date"]: row for row in uncatalogued.iter_rows(named=True)}

            def month_metadata(month: pl.DataFrame) -> dict[str, object]:
                if month.is_empty():
                    return category_counts(0, 0, {})
                return category_counts(
                    month.get_column("customer_id").n_unique(),
                    month.get_column("category").n_unique(),
                    by_month.get(month.get_column("snapshot_date")[0], {}),
                )

            [categories] = report_months_to(
                context,
                MonthlyTable(
                    CATEGORIES_TABLE,
                    CustomerCategoriesContract,
                    month_metadata,
                    Privacy.of(settings),
                ),
            )
            # every month of a backfill from one scan of the transactions
            with closing(customer_categories_months(con, snapshots, settings)) as months:
                for snapshot, month in zip(snapshots, months, strict=True):
                    write_month(con, snapshot, (categories, month))
        if not configured:
            context.log.info("no products source configured: features.customer_categories empty")
        return dg.MaterializeResult(
            metadata=categories.metadata()
            | {"uncatalogued_transactions": preview(uncatalogued, rows=50)}
        )

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                key=asset_key(CLV_TABLE),
                deps=[asset_key(BEHAVIOUR_TABLE)],
                kinds=engine_kinds(FEATURE_KINDS | {"scipy"}, engine),
                group_name="features",
                description="Per customer and snapshot: probability alive, expected purchases "
                "in the next 30/90/365 days, expected spend per purchase and 12-month CLV "
                "(BG/NBD + Gamma-Gamma, or the simple fallback on degenerate snapshots).",
                metadata=table_metadata(CLV_TABLE, CustomerClvContract),
            ),
            dg.AssetSpec(
                key=asset_key(CLV_PARAMS_TABLE),
                deps=[asset_key(BEHAVIOUR_TABLE)],
                kinds=engine_kinds({"duckdb", "scipy"}, engine),
                group_name="marts",
                description="Every fitted BTYD parameter per snapshot and model (bgnbd, "
                "pareto_nbd, gamma_gamma), with log-likelihood, customers used, converged flag "
                "and time unit.",
                metadata=table_metadata(CLV_PARAMS_TABLE, ClvModelParamsContract),
            ),
        ],
        **partitioning,
    )
    @on_engine(engine)
    def customer_clv(
        context: dg.AssetExecutionContext,
        warehouse: Warehouse,
        settings: dg.ResourceParam[SegmentationConfig],
        spark: Any = None,
    ) -> tuple[dg.MaterializeResult, dg.MaterializeResult]:
        """Fit BG/NBD (and Pareto/NBD) and Gamma-Gamma by maximum likelihood per snapshot."""
        privacy = Privacy.of(settings)
        clv, params = report_months_to(
            context,
            MonthlyTable(CLV_TABLE, CustomerClvContract, privacy=privacy),
            MonthlyTable(CLV_PARAMS_TABLE, ClvModelParamsContract, privacy=privacy),
        )
        if spark is not None:
            from assets import spark_stages  # imports PySpark: the Spark path only

            snapshots = sorted(snapshot_dates(context))
            fits = spark_stages.clv(context, spark, settings, (clv, params), snapshots)
        else:
            fits = _clv_on_duckdb(context, warehouse, settings, clv, params)
        return (
            dg.MaterializeResult(
                asset_key=asset_key(CLV_TABLE),
                metadata=clv.metadata() | {"fits": preview(pl.DataFrame(fits), rows=50)},
            ),
            dg.MaterializeResult(asset_key=asset_key(CLV_PARAMS_TABLE), metadata=params.metadata()),
        )

    def _clv_on_duckdb(
        context: dg.AssetExecutionContext,
        warehouse: Warehouse,
        settings: SegmentationConfig,
        clv: MonthlyTable,
        params: MonthlyTable,
    ) -> list[dict[str, Any]]:
        fits = []
        with monthly_connection(warehouse) as con:
            for snapshot in sorted(snapshot_dates(context)):
                behaviour = read_month(con, BEHAVIOUR_TABLE, snapshot)
                release_cached_blocks(con, warehouse.memory_limit)
                result = customer_clv_month(behaviour, snapshot, settings.features.clv)
                if result.degenerate_reason:
                    context.log.warning(f"{snapshot}: {result.degenerate_reason}; simple CLV used")
                if result.summary:
                    fits.append(result.summary)
                write_month(con, snapshot, (clv, result.customers), (params, result.params))
        return fits

    @dg.asset(
        key=asset_key(FEATURES_TABLE),
        deps=[
            asset_key(BEHAVIOUR_TABLE),
            asset_key(CLV_TABLE),
            asset_key(ENGAGEMENT_TABLE),
            asset_key(CATEGORIES_TABLE),
        ],
        kinds=engine_kinds(FEATURE_KINDS, engine),
        group_name="features",
        metadata=table_metadata(FEATURES_TABLE, CustomerFeaturesContract),
        **partitioning,
    )
    @on_engine(engine)
    def customer_features(
        context: dg.AssetExecutionContext,
        warehouse: Warehouse,
        settings: dg.ResourceParam[SegmentationConfig],
        spark: Any = None,
    ) -> dg.MaterializeResult:
        """Everything a segment or a strategy needs, one row per snapshot and customer:
        behaviour, CLV, value tier (high / mid / low by revenue quantile), ABC class by Pareto
        share, the lifecycle stage, the engagement and feedback columns, and the category mix
        (top category and its share, breadth, core spend share; null without a products
        source)."""
        [features] = report_months_to(
            context,
            MonthlyTable(
                FEATURES_TABLE,
                CustomerFeaturesContract,
                lambda month: {
                    "lifecycle_stages": column_counts_table(month, "lifecycle_stage"),
                    "value_tiers": column_counts_table(month, "value_tier"),
                },
                Privacy.of(settings),
            ),
        )
        if spark is not None:
            from assets import spark_stages  # imports PySpark: the Spark path only

            spark_stages.features(spark, settings, features, sorted(snapshot_dates(context)))
            return dg.MaterializeResult(metadata=features.metadata())
        with monthly_connection(warehouse) as con:
            for snapshot in sorted(snapshot_dates(context)):
                behaviour_with_clv = read_behaviour_with_clv(con, snapshot)
                engagement = read_engagement(con, snapshot, settings)
                categories = read_categories(con, snapshot, settings)
                release_cached_blocks(con, warehouse.memory_limit)
                month = customer_features_month(
                    behaviour_with_clv, settings, engagement, categories
                )
                write_month(con, snapshot, (features, month))
        return dg.MaterializeResult(metadata=features.metadata())

    return [
        customer_behaviour,
        customer_engagement,
        customer_categories,
        customer_clv,
        customer_features,
    ]
