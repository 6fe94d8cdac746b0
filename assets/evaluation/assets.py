"""Evaluation assets: did the segments and strategies work, and were the CLV predictions right?

They read every snapshot from the warehouse (one pair of consecutive snapshots at a time) and
are recomputed whole after each run: a month only becomes evaluable once the next one exists.
"""

from typing import Any

import dagster as dg
import polars as pl

from assets.engine import engine_kinds, on_engine, spark_lake
from assets.metadata import column_schema, contract_type, preview
from assets.resources import Warehouse
from segmentation.config import SegmentationConfig
from segmentation.evaluation.backtest_contract import ClvBacktestContract
from segmentation.evaluation.contracts import (
    SatisfactionSummaryContract,
    SegmentMigrationContract,
    SegmentOutcomesContract,
    StrategyEffectContract,
)
from segmentation.evaluation.evaluate import (
    compute_clv_backtest,
    evaluate_satisfaction,
    evaluate_segments,
)

_SINGLE_RUN = dg.BackfillPolicy.single_run()


def _table_metadata(frame: pl.DataFrame, contract: type) -> dict:
    return {
        "dagster/row_count": frame.height,
        "dagster/column_schema": column_schema(contract),
        "preview": preview(frame, rows=20),
    }


def build_evaluation_assets(engine: str = "duckdb") -> list[dg.AssetsDefinition]:
    """The evaluation assets, computed by ``engine``: on Spark their frames go to the lake
    (the Spark path's IO manager, ``assets.spark.LakeIOManager``)."""

    @dg.multi_asset(
        outs={
            "segment_migration": dg.AssetOut(
                key=["marts", "segment_migration"],
                dagster_type=contract_type(SegmentMigrationContract),
                kinds=engine_kinds({"duckdb", "polars"}, engine),
                description="For consecutive snapshots and each segment dimension, how many "
                "customers moved from which segment to which.",
            ),
            "segment_outcomes": dg.AssetOut(
                key=["marts", "segment_outcomes"],
                dagster_type=contract_type(SegmentOutcomesContract),
                kinds=engine_kinds({"duckdb", "polars"}, engine),
                description="Per snapshot, dimension and segment, what happened in the next "
                "period: repurchase rate, churn rate, revenue per customer.",
            ),
            "strategy_effect": dg.AssetOut(
                key=["marts", "strategy_effect"],
                dagster_type=contract_type(StrategyEffectContract),
                kinds=engine_kinds({"duckdb", "scipy"}, engine),
                description="Treated vs control outcome in the following period per snapshot and "
                "strategy, with 95% confidence intervals and p-values.",
            ),
        },
        deps=[
            ["marts", "customer_segments"],
            ["marts", "strategy_assignments"],
            ["raw", "transactions"],
            ["raw", "feedback"],
        ],
        group_name="evaluation",
        backfill_policy=_SINGLE_RUN,
    )
    @on_engine(engine)
    def segment_evaluation(
        context: dg.AssetExecutionContext,
        warehouse: Warehouse,
        settings: dg.ResourceParam[SegmentationConfig],
        spark: Any = None,
    ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """Migration between segments, next-period outcomes per segment (purchases, churn and, with
        a feedback source, NPS and complaints), and strategy effects against control groups."""
        if spark is not None:
            from segmentation.engines.spark.evaluation import evaluate_segments as on_spark

            evaluation: Any = on_spark(
                spark.spark_session, spark_lake(settings), settings.features.feedback
            )
            pairs = evaluation.migration.select("from_snapshot", "to_snapshot").unique().height
            context.log.info(
                f"evaluated {pairs} snapshot pairs on Spark in {evaluation.buckets} buckets"
            )
        else:
            with warehouse.connect() as con:
                evaluation = evaluate_segments(con, settings.features.feedback)
            context.log.info(
                f"evaluated {evaluation.pairs} snapshot pairs over {evaluation.dimensions} "
                f"dimensions"
            )
        tables = {
            "segment_migration": (evaluation.migration, SegmentMigrationContract),
            "segment_outcomes": (evaluation.outcomes, SegmentOutcomesContract),
            "strategy_effect": (evaluation.effects, StrategyEffectContract),
        }
        for output, (frame, contract) in tables.items():
            context.add_output_metadata(_table_metadata(frame, contract), output_name=output)
        return evaluation.migration, evaluation.outcomes, evaluation.effects

    @dg.asset(
        key=["marts", "satisfaction_summary"],
        deps=[["marts", "customer_segments"]],
        group_name="evaluation",
        kinds=engine_kinds({"duckdb", "polars"}, engine),
        dagster_type=contract_type(SatisfactionSummaryContract),
        backfill_policy=_SINGLE_RUN,
    )
    @on_engine(engine, spark_only=("settings",))
    def satisfaction_summary(
        context: dg.AssetExecutionContext,
        warehouse: Warehouse,
        settings: dg.ResourceParam[SegmentationConfig | None] = None,
        spark: Any = None,
    ) -> pl.DataFrame:
        """Per snapshot, dimension and segment: feedback respondents, NPS with its 95% interval,
        average CSAT and complaint rate (empty without a feedback source)."""
        if spark is not None:
            from segmentation.engines.spark.evaluation import satisfaction_summary as on_spark

            summary = on_spark(spark.spark_session, spark_lake(settings))
        else:
            with warehouse.connect() as con:
                summary = evaluate_satisfaction(con)
        metadata = _table_metadata(summary, SatisfactionSummaryContract)
        metadata["snapshots_with_feedback"] = summary.get_column("snapshot_date").n_unique()
        context.add_output_metadata(metadata)
        return summary

    @dg.asset(
        key=["marts", "clv_backtest"],
        deps=[["features", "customer_clv"], ["raw", "transactions"]],
        group_name="evaluation",
        kinds=engine_kinds({"duckdb"}, engine),
        dagster_type=contract_type(ClvBacktestContract),
        backfill_policy=_SINGLE_RUN,
    )
    @on_engine(engine, spark_only=("settings",))
    def clv_backtest(
        context: dg.AssetExecutionContext,
        warehouse: Warehouse,
        settings: dg.ResourceParam[SegmentationConfig | None] = None,
        spark: Any = None,
    ) -> pl.DataFrame:
        """Each snapshot's predicted purchases for the next 90 days against what happened (MAE,
        correlation, aggregate error), for every snapshot the landed transactions cover 90 days
        past."""
        if spark is not None:
            from segmentation.engines.spark.backtest import clv_backtest as on_spark

            backtest = on_spark(spark.spark_session, spark_lake(settings)).backtest
        else:
            with warehouse.connect() as con:
                backtest = compute_clv_backtest(con)
        metadata = _table_metadata(backtest, ClvBacktestContract)
        if backtest.height:
            model = backtest.filter(pl.col("clv_method") == "bgnbd_gamma_gamma")
            metadata |= {
                "snapshots_tested": backtest.height,
                "median_aggregate_error_model": float(model.get_column("aggregate_error").median())
                if model.height
                else float("nan"),
            }
        # one call: a directly invoked asset may add an output's metadata only once
        context.add_output_metadata(metadata)
        return backtest

    return [segment_evaluation, satisfaction_summary, clv_backtest]


segment_evaluation, satisfaction_summary, clv_backtest = build_evaluation_assets()
