"""Build the Dagster definitions for one loaded configuration (no config is read here)."""

import dagster as dg

from assets.checks_drift import build_monitoring_checks
from assets.evaluation.assets import build_evaluation_assets
from assets.features.assets import build_feature_assets
from assets.partitions import monthly_snapshots
from assets.raw.assets import build_raw_assets
from assets.raw.checks import build_raw_checks
from assets.reports.assets import build_report_assets
from assets.resources import WarehouseIOManager, warehouse_for
from assets.segments.assets import build_segment_assets
from assets.serving.assets import build_serving_assets
from assets.strategies.assets import build_strategy_assets
from pipelines.jobs import build_snapshot_job
from pipelines.schedules import build_monthly_schedule
from pipelines.sensors import build_landing_sensor
from segmentation.config import SegmentationConfig
from segmentation.raw.settings import AnySource


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

    ``engine: spark`` gives the same assets, checks, job, schedule and sensor: each asset
    computes on Spark (the ``spark`` resource, started once per run after the engine's
    preflight) and writes the lake (``spark.lake``); the serving copy is published from the
    lake into the same file. Their kinds add ``spark``.
    """
    engine = config.engine
    warehouse = warehouse_for(config)
    snapshots = monthly_snapshots(config)
    snapshot_job = build_snapshot_job()
    resources: dict[str, object] = {
        "warehouse": warehouse,
        "settings": config,
        "io_manager": WarehouseIOManager(warehouse=warehouse),
    }
    if engine == "spark":
        from assets.spark import spark_resources  # imports PySpark: the Spark path only

        resources |= spark_resources(config)
    return dg.Definitions(
        assets=[
            *build_raw_assets(engine),
            *build_feature_assets(snapshots, engine),
            *build_segment_assets(snapshots, engine),
            *build_strategy_assets(snapshots, engine),
            *build_evaluation_assets(engine),
            *build_report_assets(engine),
            *build_serving_assets(engine),
        ],
        asset_checks=[
            *build_raw_checks(engine),
            *build_monitoring_checks(snapshots, engine=engine),
        ],
        jobs=[snapshot_job],
        schedules=[build_monthly_schedule(snapshot_job, snapshots)],
        sensors=[build_landing_sensor(snapshot_job, snapshots, _watched_sources(config))],
        resources=resources,
        # DuckDB allows one writer per file, and a Spark run holds one session: steps of a run
        # execute one after another.
        executor=dg.in_process_executor,
    )
