"""The Dagster code location: every asset, check, job, schedule and sensor of the pipeline.

``build_definitions(config)`` wires a loaded configuration; the module-level ``defs`` uses the
config named by ``$SEGMENTATION_CONFIG`` (default: the bundled demo config), so
``dagster dev`` and ``dagster asset materialize -m pipelines.definitions`` load it.
"""

from __future__ import annotations

import dagster as dg

from assets.raw.assets import raw_customers, raw_transactions
from assets.raw.checks import raw_checks
from pipelines.config import SegmentationConfig, load_config
from pipelines.resources import Warehouse, WarehouseIOManager


def build_definitions(config: SegmentationConfig) -> dg.Definitions:
    """All definitions for one configuration."""
    warehouse = Warehouse(path=str(config.warehouse))
    return dg.Definitions(
        assets=[raw_transactions, raw_customers],
        asset_checks=[*raw_checks],
        resources={
            "warehouse": warehouse,
            "settings": config,
            "io_manager": WarehouseIOManager(warehouse=warehouse),
        },
        # DuckDB allows one writer per file: steps of a run execute one after another.
        executor=dg.in_process_executor,
    )


defs = build_definitions(load_config())
