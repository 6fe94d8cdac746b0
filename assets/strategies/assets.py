"""Strategy assets: one primary strategy per customer and snapshot, from the playbook."""

import dagster as dg
import polars as pl

from assets.metadata import column_schema, contract_type, preview
from assets.strategies.contracts import StrategyAssignmentsContract
from assets.strategies.playbook import assign_strategies
from pipelines.config import SegmentationConfig


def build_strategy_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """The strategy assets for the configured monthly partitions."""

    @dg.asset(
        key=["marts", "strategy_assignments"],
        ins={"customer_segments": dg.AssetIn(key=["marts", "customer_segments"])},
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="strategies",
        kinds={"duckdb", "polars"},
        dagster_type=contract_type(StrategyAssignmentsContract),
    )
    def strategy_assignments(
        context: dg.AssetExecutionContext,
        customer_segments: pl.DataFrame,
        settings: dg.ResourceParam[SegmentationConfig],
    ) -> pl.DataFrame:
        """Every customer of every snapshot gets exactly one primary strategy from the playbook
        (ordered rules, first match wins; capacity-limited rules go to the top customers by CLV
        and the rest fall through), the rule that chose it, and a stable control-group flag (a
        keyed hash of the customer id): control customers get no action, so effects can be
        measured."""
        if settings.playbook is None:
            raise dg.Failure("no playbook loaded: set strategies.playbook in the config")
        assignments = assign_strategies(customer_segments, settings.playbook)
        latest = assignments.filter(pl.col("snapshot_date") == pl.col("snapshot_date").max())
        by_strategy = (
            latest.group_by("strategy", "channel", "matched_rule")
            .agg(
                pl.len().alias("customers"),
                pl.col("is_control").sum().alias("control"),
                pl.col("budget").sum().round(2).alias("budget"),
            )
            .sort("customers", descending=True)
        )
        context.add_output_metadata(
            {
                "dagster/row_count": assignments.height,
                "dagster/column_schema": column_schema(StrategyAssignmentsContract),
                "latest_by_strategy": preview(by_strategy, rows=30),
                "control_share": round(float(assignments.get_column("is_control").mean()), 4),
                "preview": preview(assignments),
            }
        )
        return assignments

    return [strategy_assignments]
