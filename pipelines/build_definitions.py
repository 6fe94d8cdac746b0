"""Build the Dagster definitions for one loaded configuration (no config is read here)."""

import dagster as dg

from assets.checks_drift import build_monitoring_checks
from assets.evaluation.assets import clv_backtest, satisfaction_summary, segment_evaluation
from assets.features.assets import build_feature_assets
from assets.partitions import monthly_snapshots
from assets.raw.assets import (
    raw_customer_attributes,
    raw_customers,
    raw_events,
    raw_feedback,
    raw_products,
    raw_transactions,
)
from assets.raw.checks import raw_checks
from assets.reports.assets import segment_report
from assets.resources import WarehouseIOManager, warehouse_for
from assets.segments.assets import build_segment_assets
from assets.serving.assets import serving_marts
from assets.strategies.assets import build_strategy_assets
from pipelines.jobs import build_snapshot_job
from pipelines.schedules import build_monthly_schedule
from pipelines.sensors import build_landing_sensor
from segmentation.config import SegmentationConfig, print_config_errors_alone
from segmentation.raw.settings import AnySource
from segmentation.settings_base import ConfigError


def _watched_sources(config: SegmentationConfig) -> list[AnySource]:
    """The sources whose new files start a run: transactions, and events, feedback, the
    attribute history and the product catalogue when configured (the customers file is read
    again by every run; its edits start none, as before)."""
    sources = config.sources
    watched = (
        sources.transactions,
        sources.events,
        sources.feedback,
        sources.customer_attributes,
        sources.products,
    )
    return [source for source in watched if source]


def build_definitions(config: SegmentationConfig) -> dg.Definitions:
    """All definitions for one configuration.

    Raises:
        ConfigError: ``engine: spark``: the assets do not run on Spark yet (docs/spark.md); a
            run would otherwise compute on DuckDB while the config asks for Spark.
    """
    if config.engine == "spark":
        # on the command line the message alone, as for an error found while loading
        print_config_errors_alone()
        raise ConfigError(
            f"invalid configuration in {config.config_path}:\n"
            f"  engine: spark is in progress: the assets do not run on it yet (docs/spark.md "
            f"says what works now); use engine: duckdb"
        )
    warehouse = warehouse_for(config)
    snapshots = monthly_snapshots(config)
    snapshot_job = build_snapshot_job()
    return dg.Definitions(
        assets=[
            raw_transactions,
            raw_customers,
            raw_events,
            raw_feedback,
            raw_customer_attributes,
            raw_products,
            *build_feature_assets(snapshots),
            *build_segment_assets(snapshots),
            *build_strategy_assets(snapshots),
            segment_evaluation,
            satisfaction_summary,
            clv_backtest,
            segment_report,
            serving_marts,
        ],
        asset_checks=[*raw_checks, *build_monitoring_checks(snapshots)],
        jobs=[snapshot_job],
        schedules=[build_monthly_schedule(snapshot_job, snapshots)],
        sensors=[build_landing_sensor(snapshot_job, snapshots, _watched_sources(config))],
        resources={
            "warehouse": warehouse,
            "settings": config,
            "io_manager": WarehouseIOManager(warehouse=warehouse),
        },
        # DuckDB allows one writer per file: steps of a run execute one after another.
        executor=dg.in_process_executor,
    )
