"""Build the Dagster definitions for one loaded configuration (no config is read here)."""

import dagster as dg

from assets.evaluation.assets import clv_backtest, segment_evaluation
from assets.features.assets import build_feature_assets
from assets.raw.assets import raw_customers, raw_transactions
from assets.raw.checks import raw_checks
from assets.segments.assets import build_segment_assets
from assets.strategies.assets import build_strategy_assets
from pipelines.config import SegmentationConfig
from pipelines.partitions import monthly_snapshots
from pipelines.resources import Warehouse, WarehouseIOManager


def build_definitions(config: SegmentationConfig) -> dg.Definitions:
    """All definitions for one configuration."""
    warehouse = Warehouse(path=str(config.warehouse))
    snapshots = monthly_snapshots(config)
    return dg.Definitions(
        assets=[
            raw_transactions,
            raw_customers,
            *build_feature_assets(snapshots),
            *build_segment_assets(snapshots),
            *build_strategy_assets(snapshots),
            segment_evaluation,
            clv_backtest,
        ],
        asset_checks=[*raw_checks],
        resources={
            "warehouse": warehouse,
            "settings": config,
            "io_manager": WarehouseIOManager(warehouse=warehouse),
        },
        # DuckDB allows one writer per file: steps of a run execute one after another.
        executor=dg.in_process_executor,
    )
