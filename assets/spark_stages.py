"""The Spark path of every asset (``engine: spark``): the engine's functions compute, the lake
stores, and these functions only call them, check and write the months, and say what was
written. Each is what an asset calls when its ``spark`` resource is set; the DuckDB path is
the asset's own body.

Imported on the Spark path alone (it imports PySpark).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import dagster as dg
import duckdb
import pandera.polars as pa
import polars as pl

from assets.engine import spark_lake
from assets.features.metadata import category_counts
from assets.metadata import preview
from assets.monthly import MonthlyTable
from assets.spark_monthly import (
    collect,
    report_written,
    spark_frame,
    write_checked,
    write_checked_months,
    write_small_months,
)
from segmentation.config import (
    ATTRIBUTE_SOURCES,
    SegmentationConfig,
    custom_attributes,
    pii_source_columns,
)
from segmentation.engines.spark.lake import read_table
from segmentation.engines.spark.landing import land_nothing
from segmentation.engines.spark.landing import land_source as spark_land_source
from segmentation.keys import SNAPSHOT_COLUMN
from segmentation.raw.landing import HistoryCounts, LandingReport
from segmentation.raw.publishing import empty_source_table
from segmentation.raw.settings import SourceName
from segmentation.sql_files import render_sql

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from assets.spark import SparkEngine


def session_and_lake(spark: SparkEngine, settings: SegmentationConfig) -> tuple[SparkSession, str]:
    """The run's Spark session and the config's lake."""
    return spark.spark_session, spark_lake(settings)


# --- raw ---


def land(
    spark: SparkEngine, settings: SegmentationConfig, source: SourceName
) -> tuple[LandingReport, pl.DataFrame]:
    """Land ``source`` on Spark into the lake; the report and up to 10 landed rows."""
    session, lake = session_and_lake(spark, settings)
    config = getattr(settings.sources, source)
    now = datetime.now(UTC).replace(tzinfo=None)
    custom = custom_attributes(settings, source) if source in ATTRIBUTE_SOURCES else None
    masked = pii_source_columns(settings, source)
    report = spark_land_source(session, lake, source, config, now, custom, masked)
    sample = collect(read_table(session, lake, f"raw.{source}").limit(10))
    return report, sample


def write_empty_source(
    spark: SparkEngine, settings: SegmentationConfig, source: SourceName
) -> None:
    """An optional source that is not configured: ``raw.<source>`` in the lake with its landed
    columns and no rows (the engine's stages read it), and its quarantine rows gone, in one
    commit."""
    session, lake = session_and_lake(spark, settings)
    with duckdb.connect() as scratch:
        scratch.execute(render_sql("warehouse/create_schema.sql", schema="raw"))
        scratch.execute(render_sql("warehouse/create_schema.sql", schema="quality"))
        empty_source_table(scratch, source)
        empty = scratch.table(f"raw.{source}").pl()
    land_nothing(session, lake, source, spark_frame(session, empty))


def history_counts(spark: SparkEngine, settings: SegmentationConfig) -> HistoryCounts:
    """The lake's attribute history counted by Spark: customers and rows per customer."""
    from segmentation.engines.spark.raw_counts import attribute_history_counts

    session, lake = session_and_lake(spark, settings)
    return attribute_history_counts(session, lake)


def per_category(spark: SparkEngine, settings: SegmentationConfig) -> dict[str, int]:
    """Products per category of the lake's catalogue (a Spark count)."""
    session, lake = session_and_lake(spark, settings)
    rows = read_table(session, lake, "raw.products").groupBy("category").count().collect()
    return {str(category): int(n) for category, n in sorted(rows, key=lambda row: -row[1])}


# --- features ---


def behaviour(
    spark: SparkEngine, settings: SegmentationConfig, output: MonthlyTable, snapshots: list[date]
) -> None:
    """``features.customer_behaviour`` of ``snapshots`` on Spark, into the lake."""
    from segmentation.engines.spark.behaviour import customer_behaviour

    session, lake = session_and_lake(spark, settings)
    frame = customer_behaviour(session, lake, snapshots, settings)
    write_checked_months(session, lake, frame, output, snapshots, ["dominant_channel"])


def engagement(
    spark: SparkEngine, settings: SegmentationConfig, output: MonthlyTable, snapshots: list[date]
) -> None:
    """``features.customer_engagement`` of ``snapshots`` on Spark (the lake's behaviour)."""
    from segmentation.engines.spark.engagement import customer_engagement

    session, lake = session_and_lake(spark, settings)
    frame = customer_engagement(session, lake, snapshots, settings)
    write_checked_months(session, lake, frame, output, snapshots, ["nps_class"])


def categories(
    spark: SparkEngine, settings: SegmentationConfig, output: MonthlyTable, snapshots: list[date]
) -> pl.DataFrame:
    """``features.customer_categories`` of ``snapshots`` on Spark, with each month's customers,
    categories and uncatalogued transactions counted by Spark; returns the uncatalogued
    transactions per snapshot (the DuckDB path's ``uncatalogued_transactions``)."""
    from pyspark.sql import functions as F

    from segmentation.engines.spark.categories import customer_categories
    from segmentation.engines.spark.uncatalogued import uncatalogued_transactions

    session, lake = session_and_lake(spark, settings)
    frame = customer_categories(session, lake, snapshots, settings)
    written = write_checked(lake, frame, output, snapshots)
    months = read_table(session, lake, output.table).where(F.col(SNAPSHOT_COLUMN).isin(*snapshots))
    distinct = {
        day: (int(customers), int(kinds))
        for day, customers, kinds in months.groupBy(SNAPSHOT_COLUMN)
        .agg(F.countDistinct("customer_id"), F.countDistinct("category"))
        .collect()
    }
    uncatalogued = uncatalogued_transactions(session, lake, snapshots, settings)
    by_month = {row[SNAPSHOT_COLUMN]: row for row in uncatalogued.iter_rows(named=True)}
    extra = {
        day: category_counts(*distinct.get(day, (0, 0)), by_month.get(day, {})) for day in snapshots
    }
    report_written(output, snapshots, written, extra=extra)
    return uncatalogued


def clv(
    context: dg.AssetExecutionContext,
    spark: SparkEngine,
    settings: SegmentationConfig,
    outputs: tuple[MonthlyTable, MonthlyTable],
    snapshots: list[date],
) -> list[dict[str, Any]]:
    """``features.customer_clv`` and ``marts.clv_model_params`` on Spark (the lake's
    behaviour); returns the fit summaries (the ``fits`` metadata)."""
    from segmentation.engines.spark.clv import customer_clv

    session, lake = session_and_lake(spark, settings)
    customers, params = outputs
    result = customer_clv(session, lake, snapshots, settings)
    # the parameters first: checked on the driver, a violation stops before the customers
    write_small_months(session, lake, result.params, params, snapshots)
    write_checked_months(session, lake, result.customers, customers, snapshots)
    for summary in result.summaries:
        if summary["note"]:
            context.log.warning(f"{summary['snapshot_date']}: {summary['note']}; simple CLV used")
    return result.summaries


def features(
    spark: SparkEngine, settings: SegmentationConfig, output: MonthlyTable, snapshots: list[date]
) -> None:
    """``features.customer_features`` on Spark from the lake's behaviour, CLV, engagement and
    categories."""
    from segmentation.engines.spark.features import customer_features

    session, lake = session_and_lake(spark, settings)
    frame = customer_features(session, lake, snapshots, settings)
    write_checked_months(session, lake, frame, output, snapshots, ["lifecycle_stage", "value_tier"])


# --- marts ---

SEGMENT_COUNTS = (
    "rfm_segment",
    "cluster",
    "intent_class",
    "satisfaction_class",
    "needs_class",
    "psychographic_class",
)


def segments(
    spark: SparkEngine,
    settings: SegmentationConfig,
    outputs: tuple[MonthlyTable, MonthlyTable],
    snapshots: list[date],
) -> None:
    """``marts.customer_segments`` on Spark from the lake's features (and categories), then
    ``marts.segment_summary`` from the segments just written."""
    from segmentation.engines.spark.segments import customer_segments
    from segmentation.engines.spark.summary import segment_summary

    session, lake = session_and_lake(spark, settings)
    segmented, summary = outputs
    result = customer_segments(session, lake, snapshots, settings)
    counted = [name for name in SEGMENT_COUNTS if name in result.segments.columns]
    write_checked_months(session, lake, result.segments, segmented, snapshots, counted)
    summarised = segment_summary(session, lake, snapshots).summary
    write_small_months(session, lake, summarised, summary, snapshots)


def assignments(
    spark: SparkEngine, settings: SegmentationConfig, output: MonthlyTable, snapshots: list[date]
) -> int:
    """``marts.strategy_assignments`` on Spark from the lake's segments; each month's
    customers, control group and budget per strategy from a Spark aggregate. Returns the
    control group's customers of the run."""
    from pyspark.sql import functions as F

    from segmentation.engines.spark.strategies import strategy_assignments

    assert settings.playbook is not None
    session, lake = session_and_lake(spark, settings)
    segmented = read_table(session, lake, "marts.customer_segments").where(
        F.col(SNAPSHOT_COLUMN).isin(*snapshots)
    )
    frame = strategy_assignments(session, segmented, settings.playbook).assignments
    written = write_checked(lake, frame, output, snapshots)
    grouped = collect(
        read_table(session, lake, output.table)
        .where(F.col(SNAPSHOT_COLUMN).isin(*snapshots))
        .groupBy(SNAPSHOT_COLUMN, "strategy", "channel", "matched_rule")
        .agg(
            F.count(F.lit(1)).alias("customers"),
            F.sum(F.col("is_control").cast("long")).alias("control"),
            F.sum("budget").alias("budget"),
        )
    )
    extra = {}
    for snapshot in snapshots:
        month = grouped.filter(pl.col(SNAPSHOT_COLUMN) == snapshot)
        rows = int(month.get_column("customers").sum())
        control = int(month.get_column("control").sum())
        by_strategy = (
            month.drop(SNAPSHOT_COLUMN)
            .with_columns(pl.col("budget").round(2))
            .sort("customers", descending=True)
        )
        extra[snapshot] = {
            "by_strategy": preview(by_strategy, rows=30),
            "control_share": round(control / rows, 4) if rows else 0.0,
        }
    report_written(output, snapshots, written, extra=extra)
    return int(grouped.get_column("control").sum()) if grouped.height else 0


def report_tables(spark: SparkEngine, settings: SegmentationConfig) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB holding what the segment report reads of the lake's marts: the
    newest two snapshots of the segments (the report's columns), their summary, the RFM
    migration into the newest and its strategy assignments. All small but the segments' one
    month, which the report's charts draw per customer."""
    from pyspark.sql import functions as F

    session, lake = session_and_lake(spark, settings)
    segmented = read_table(session, lake, "marts.customer_segments")
    newest = [
        row[0]
        for row in segmented.select(SNAPSHOT_COLUMN)
        .distinct()
        .orderBy(F.col(SNAPSHOT_COLUMN).desc())
        .limit(2)
        .collect()
    ]
    chosen = F.col(SNAPSHOT_COLUMN).isin(*newest) if newest else F.lit(False)
    latest = F.col(SNAPSHOT_COLUMN) == (newest[0] if newest else None)
    columns = ["rfm_segment", "lifecycle_stage", "r_score", "f_score", "m_score", "clv_12m"]
    tables: dict[str, DataFrame] = {
        "marts.customer_segments": segmented.where(chosen).select(SNAPSHOT_COLUMN, *columns),
        "marts.segment_summary": read_table(session, lake, "marts.segment_summary").where(chosen),
        "marts.segment_migration": read_table(session, lake, "marts.segment_migration").where(
            F.col("dimension") == "rfm_segment"
        ),
        "marts.strategy_assignments": read_table(session, lake, "marts.strategy_assignments").where(
            latest
        ),
    }
    con = duckdb.connect()
    con.execute(render_sql("warehouse/create_schema.sql", schema="marts"))
    for number, (name, frame) in enumerate(tables.items()):
        # registered for the connection's life: the views read them
        source = f"_collected_{number}"
        con.register(source, frame.toArrow())
        con.execute(render_sql("spark/create_bucket_view.sql", view=name, source=source))
    return con


# --- checks: Spark aggregates of the lake's tables, the checks' small inputs ---


def newest_snapshots(
    spark: SparkEngine, settings: SegmentationConfig, table: str, count: int = 2
) -> list[date]:
    """The newest ``count`` snapshot dates of a lake table, newest first (none if unwritten)."""
    from pyspark.sql import functions as F

    from segmentation.engines.spark.evaluation import require_tables

    session, lake = session_and_lake(spark, settings)
    try:
        require_tables(session, lake, (table,))
    except ValueError:
        return []
    rows = (
        read_table(session, lake, table)
        .select(SNAPSHOT_COLUMN)
        .distinct()
        .orderBy(F.col(SNAPSHOT_COLUMN).desc())
        .limit(count)
        .collect()
    )
    return [row[0] for row in rows]


def customer_counts(
    spark: SparkEngine, settings: SegmentationConfig
) -> tuple[list[date], dict[date, int]]:
    """The newest two snapshots of the lake's ``features.customer_features`` and their
    customers (a Spark count)."""
    from pyspark.sql import functions as F

    snapshots = newest_snapshots(spark, settings, "features.customer_features")
    if len(snapshots) < 2:
        return snapshots, {}
    session, lake = session_and_lake(spark, settings)
    rows = (
        read_table(session, lake, "features.customer_features")
        .where(F.col(SNAPSHOT_COLUMN).isin(*snapshots))
        .groupBy(SNAPSHOT_COLUMN)
        .count()
        .collect()
    )
    return snapshots, {day: int(n) for day, n in rows}


def share_shifts(
    spark: SparkEngine, settings: SegmentationConfig
) -> tuple[list[date], pl.DataFrame]:
    """Per drift dimension and segment, the share of customers in the newest two snapshots of
    the lake's segments and the shift between them, largest first: as
    ``segmentation.quality.drift.segment_share_shifts`` on the warehouse, from Spark's counts
    per snapshot and segment."""
    from pyspark.sql import functions as F

    from segmentation.quality.drift import DRIFT_DIMENSIONS

    snapshots = newest_snapshots(spark, settings, "marts.customer_segments")
    if len(snapshots) < 2:
        return snapshots, pl.DataFrame()
    latest, previous = snapshots
    session, lake = session_and_lake(spark, settings)
    months = read_table(session, lake, "marts.customer_segments").where(
        F.col(SNAPSHOT_COLUMN).isin(*snapshots)
    )
    frames = []
    for dimension in DRIFT_DIMENSIONS:
        counts = collect(months.groupBy(SNAPSHOT_COLUMN, F.col(dimension).alias("segment")).count())
        shares = counts.with_columns(
            (pl.col("count") / pl.col("count").sum().over(SNAPSHOT_COLUMN)).alias("share")
        )

        def share_in(day: date, shares: pl.DataFrame = shares) -> pl.Expr:
            return pl.col("share").filter(pl.col(SNAPSHOT_COLUMN) == day).max().fill_null(0.0)

        frames.append(
            shares.group_by("segment")
            .agg(share_in(previous).alias("previous_share"), share_in(latest).alias("share"))
            .select(pl.lit(dimension).alias("dimension"), "segment", "previous_share", "share")
        )
    shifts = (
        pl.concat(frames)
        .with_columns(shift=pl.col("share") - pl.col("previous_share"))
        .sort(pl.col("shift").abs(), descending=True)
    )
    return snapshots, shifts


def contract_failures(
    spark: SparkEngine,
    settings: SegmentationConfig,
    table: str,
    contract: type[pa.DataFrameModel],
    hidden: frozenset[str],
) -> tuple[int, pl.DataFrame]:
    """The rows checked of a lake table and its contract's failures counted per column and
    check; no value leaves the tasks.

    As the DuckDB engine's ``validate_table``: the contract's unique columns first, over the
    whole table (a key repeated in two files is found), counted in the job that counts the
    rows; a repeated key is the failure, with 0 rows checked. Otherwise each task validates
    its rows."""
    from functools import reduce

    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    from assets.spark_monthly import (
        FAILURE_COUNTS,
        CountFailures,
        key_checks,
        key_failures,
        key_offenders,
    )

    session, lake = session_and_lake(spark, settings)
    frame = read_table(session, lake, table)
    checks = key_checks(contract)
    total = frame.agg(F.count(F.lit(1)).cast("long").alias("n")).select(
        F.lit("rows").alias("name"), "n"
    )
    counted = dict(
        reduce(lambda a, b: a.unionByName(b), key_offenders(frame, checks), total).collect()
    )
    duplicated = key_failures(checks, counted)
    if duplicated:
        return 0, pl.DataFrame(duplicated, schema=["column", "check", "failures"], orient="row")
    failures = collect(
        frame.mapInArrow(CountFailures(contract, hidden), from_arrow_schema(FAILURE_COUNTS))
        .groupBy("column", "check")
        .agg(F.sum("failures").alias("failures"))
        .orderBy(F.col("failures").desc(), "column", "check")
    )
    return int(counted["rows"]), failures
