"""Strategy assets: one primary strategy per customer and snapshot, from the playbook.

Computed one month at a time; each month is checked against its contract and written in a
transaction of its own (see ``assets.monthly``).
"""

from typing import Any

import dagster as dg
import polars as pl

from assets.engine import engine_kinds, on_engine
from assets.metadata import preview
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
from segmentation.keys import ASSIGNMENTS_TABLE, SEGMENTS_TABLE
from segmentation.monthly import read_playbook_segments, strategy_assignments_month
from segmentation.segments.settings import SegmentSettings
from segmentation.strategies.contracts import StrategyAssignmentsContract
from segmentation.strategies.settings import Playbook
from segmentation.warehouse import release_cached_blocks


def _strategy_counts(assignments: pl.DataFrame) -> dict:
    """One month's customers, control group and budget per strategy, and its control share."""
    by_strategy = (
        assignments.group_by("strategy", "channel", "matched_rule")
        .agg(
            pl.len().alias("customers"),
            pl.col("is_control").sum().alias("control"),
            pl.col("budget").sum().round(2).alias("budget"),
        )
        .sort("customers", descending=True)
    )
    control = int(assignments.get_column("is_control").sum())
    return {
        "by_strategy": preview(by_strategy, rows=30),
        "control_share": round(control / assignments.height, 4) if assignments.height else 0.0,
    }


def build_strategy_assets(
    partitions_def: dg.PartitionsDefinition, engine: str = "duckdb"
) -> list[dg.AssetsDefinition]:
    """The strategy assets for the configured monthly partitions, computed by ``engine``."""

    @dg.asset(
        key=asset_key(ASSIGNMENTS_TABLE),
        deps=[asset_key(SEGMENTS_TABLE)],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="strategies",
        kinds=engine_kinds({"duckdb", "polars"}, engine),
        metadata=table_metadata(ASSIGNMENTS_TABLE, StrategyAssignmentsContract),
    )
    @on_engine(engine)
    def strategy_assignments(
        context: dg.AssetExecutionContext,
        warehouse: Warehouse,
        settings: dg.ResourceParam[SegmentationConfig],
        spark: Any = None,
    ) -> dg.MaterializeResult:
        """Every customer of every snapshot gets exactly one primary strategy from the playbook
        (ordered rules, first match wins; capacity-limited rules go to the top customers by CLV
        and the rest fall through), the rule that chose it, and a stable control-group flag (a
        keyed hash of the customer id): control customers get no action, so effects can be
        measured."""
        if settings.playbook is None:
            raise dg.Failure("no playbook loaded: set strategies.playbook in the config")
        [assignments] = report_months_to(
            context,
            MonthlyTable(
                ASSIGNMENTS_TABLE,
                StrategyAssignmentsContract,
                _strategy_counts,
                Privacy.of(settings),
            ),
        )
        if spark is not None:
            from assets import spark_stages  # imports PySpark: the Spark path only

            snapshots = sorted(snapshot_dates(context))
            control = spark_stages.assignments(spark, settings, assignments, snapshots)
        else:
            control = _assign_on_duckdb(
                context, warehouse, settings.playbook, settings.segments, assignments
            )
        rows = sum(assignments.rows.values())
        return dg.MaterializeResult(
            metadata=assignments.metadata()
            | {"control_share": round(control / rows, 4) if rows else 0.0}
        )

    def _assign_on_duckdb(
        context: dg.AssetExecutionContext,
        warehouse: Warehouse,
        playbook: Playbook,
        segment_settings: SegmentSettings,
        assignments: MonthlyTable,
    ) -> int:
        control = 0
        with monthly_connection(warehouse) as con:
            for snapshot in sorted(snapshot_dates(context)):
                segments, columns = read_playbook_segments(
                    con, snapshot, playbook, segment_settings
                )
                release_cached_blocks(con, warehouse.memory_limit)
                month = strategy_assignments_month(segments, playbook, columns)
                write_month(con, snapshot, (assignments, month))
                control += int(month.get_column("is_control").sum())
        return control

    return [strategy_assignments]
