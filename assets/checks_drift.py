"""Monitoring checks on the snapshots: drift against the previous snapshot, and freshness.

They warn (severity WARN, non-blocking): a shift in the customer base or in the segment mix
is something to look at, not a reason to stop the run. The blocking checks are the contracts.
The checks read the newest snapshots from the warehouse rather than the run's partitions:
partitioned asset checks are a preview in Dagster 1.13, and the runs of the schedule and the
sensor always write the newest month.
"""

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg
import duckdb
import polars as pl

from assets.engine import on_engine
from assets.metadata import preview
from assets.resources import Warehouse
from segmentation.config import SegmentationConfig, month_end
from segmentation.quality.drift import customer_counts, latest_snapshots, segment_share_shifts

# more than 20% more or fewer customers than the previous snapshot is worth a look
MAX_CUSTOMER_CHANGE = 0.20
# a segment whose share of customers moves by more than 10 percentage points
MAX_SHARE_SHIFT = 0.10

FEATURES_KEY = dg.AssetKey(["features", "customer_features"])
SEGMENTS_KEY = dg.AssetKey(["marts", "customer_segments"])


def customer_count_drift(
    con: duckdb.DuckDBPyConnection, max_change: float = MAX_CUSTOMER_CHANGE
) -> dg.AssetCheckResult:
    """Customers in the newest snapshot of features.customer_features against the one before."""
    snapshots = latest_snapshots(con, "features.customer_features")
    counts = customer_counts(con, *snapshots) if len(snapshots) == 2 else {}
    return count_drift_result(snapshots, counts, max_change)


def count_drift_result(
    snapshots: list[date], counts: dict[date, int], max_change: float = MAX_CUSTOMER_CHANGE
) -> dg.AssetCheckResult:
    """The count drift check's result from the newest snapshots (newest first) and their
    customers, however they were counted."""
    if len(snapshots) < 2:
        return dg.AssetCheckResult(
            passed=True, metadata={"note": "fewer than two snapshots: nothing to compare"}
        )
    latest, previous = snapshots
    change = counts[latest] / counts[previous] - 1.0
    passed = abs(change) <= max_change
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=None
        if passed
        else f"customers changed by {change:+.1%} from {previous} to {latest} "
        f"(limit ±{max_change:.0%})",
        metadata={
            "latest_snapshot": str(latest),
            "previous_snapshot": str(previous),
            "customers": counts[latest],
            "previous_customers": counts[previous],
            "change": round(change, 6),
            "max_change": max_change,
        },
    )


def segment_share_drift(
    con: duckdb.DuckDBPyConnection, max_shift: float = MAX_SHARE_SHIFT
) -> dg.AssetCheckResult:
    """Segment shares of rfm_segment, lifecycle_stage and value_tier, newest vs previous."""
    snapshots, shifts = segment_share_shifts(con)
    return share_drift_result(snapshots, shifts, max_shift)


def share_drift_result(
    snapshots: list[date], shifts: pl.DataFrame, max_shift: float = MAX_SHARE_SHIFT
) -> dg.AssetCheckResult:
    """The share drift check's result from the newest snapshots (newest first) and the shifts
    (dimension, segment, previous_share, share, shift; largest first)."""
    if len(snapshots) < 2:
        return dg.AssetCheckResult(
            passed=True, metadata={"note": "fewer than two snapshots: nothing to compare"}
        )
    latest, previous = snapshots
    drifted = shifts.filter(pl.col("shift").abs() > max_shift)
    largest = shifts.row(0, named=True)
    rounded = shifts.with_columns(pl.col("previous_share", "share", "shift").round(4))
    return dg.AssetCheckResult(
        passed=drifted.is_empty(),
        severity=dg.AssetCheckSeverity.WARN,
        description=None
        if drifted.is_empty()
        else f"{drifted.height} segment(s) moved by more than {max_shift:.0%} points from "
        f"{previous} to {latest}, largest: {largest['dimension']} {largest['segment']!r} "
        f"{largest['shift']:+.1%}",
        metadata={
            "latest_snapshot": str(latest),
            "previous_snapshot": str(previous),
            "max_shift": max_shift,
            "largest_shift": round(abs(largest["shift"]), 6),
            "segments_over_limit": drifted.height,
            "shifts": preview(rounded, rows=15),
        },
    )


def latest_snapshot_freshness(
    con: duckdb.DuckDBPyConnection, expected_partition: str | None
) -> dg.AssetCheckResult:
    """The newest snapshot of marts.customer_segments is at least the expected month."""
    snapshots = latest_snapshots(con, "marts.customer_segments", count=1)
    return freshness_result(snapshots, expected_partition)


def freshness_result(snapshots: list[date], expected_partition: str | None) -> dg.AssetCheckResult:
    """The freshness check's result from the newest snapshot of the segments (none or one)."""
    if expected_partition is None:
        return dg.AssetCheckResult(passed=True, metadata={"note": "no complete month expected"})
    expected = month_end(expected_partition)
    if not snapshots:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"marts.customer_segments holds no snapshot; expected {expected}",
            metadata={"expected_snapshot": str(expected)},
        )
    latest = snapshots[0]
    months_behind = (expected.year - latest.year) * 12 + expected.month - latest.month
    passed = latest >= expected
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=None
        if passed
        else f"the newest snapshot is {latest}, {months_behind} month(s) behind {expected}",
        metadata={
            "latest_snapshot": str(latest),
            "expected_snapshot": str(expected),
            "months_behind": max(months_behind, 0),
        },
    )


def _given(settings: SegmentationConfig | None) -> SegmentationConfig:
    """The settings resource the Spark path asks for (``on_engine``'s ``spark_only``)."""
    assert settings is not None
    return settings


def build_monitoring_checks(
    partitions_def: dg.TimeWindowPartitionsDefinition,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    engine: str = "duckdb",
) -> list[dg.AssetChecksDefinition]:
    """The drift and freshness checks (WARN, non-blocking) for the configured snapshots.

    Args:
        partitions_def: The monthly snapshots; their last partition at check time (the last
            complete month, or the configured ``snapshots.end``) is the expected snapshot.
        clock: The current time (tests pass a fixed one).
        engine: Which engine wrote the tables: on Spark the checks aggregate the lake's.
    """

    @dg.asset_check(
        asset=FEATURES_KEY,
        name="customer_count_drift",
        blocking=False,
        description=f"The newest snapshot has within ±{MAX_CUSTOMER_CHANGE:.0%} of the "
        "customers of the previous snapshot (WARN).",
    )
    @on_engine(engine, spark_only=("settings",))
    def customer_count_drift_check(
        warehouse: Warehouse,
        settings: dg.ResourceParam[SegmentationConfig | None] = None,
        spark: Any = None,
    ) -> dg.AssetCheckResult:
        """Warn when the customer count jumps or drops between the newest two snapshots."""
        if spark is not None:
            from assets import spark_stages  # imports PySpark: the Spark path only

            snapshots, counts = spark_stages.customer_counts(spark, _given(settings))
            return count_drift_result(snapshots, counts)
        with warehouse.connect() as con:
            return customer_count_drift(con)

    @dg.asset_check(
        asset=SEGMENTS_KEY,
        name="segment_share_drift",
        blocking=False,
        description="No segment of rfm_segment, lifecycle_stage or value_tier changes its share "
        f"of customers by more than {MAX_SHARE_SHIFT:.0%} points from the previous snapshot to "
        "the newest (WARN).",
    )
    @on_engine(engine, spark_only=("settings",))
    def segment_share_drift_check(
        warehouse: Warehouse,
        settings: dg.ResourceParam[SegmentationConfig | None] = None,
        spark: Any = None,
    ) -> dg.AssetCheckResult:
        """Warn when the segment mix shifts between the newest two snapshots."""
        if spark is not None:
            from assets import spark_stages  # imports PySpark: the Spark path only

            return share_drift_result(*spark_stages.share_shifts(spark, _given(settings)))
        with warehouse.connect() as con:
            return segment_share_drift(con)

    @dg.asset_check(
        asset=SEGMENTS_KEY,
        name="latest_snapshot_fresh",
        blocking=False,
        description="The newest snapshot is not older than the last complete month (or the "
        "configured snapshots.end) (WARN).",
    )
    @on_engine(engine, spark_only=("settings",))
    def latest_snapshot_fresh_check(
        warehouse: Warehouse,
        settings: dg.ResourceParam[SegmentationConfig | None] = None,
        spark: Any = None,
    ) -> dg.AssetCheckResult:
        """Warn when the newest snapshot lags behind the last complete month."""
        keys = partitions_def.get_partition_keys(current_time=clock())
        expected = keys[-1] if keys else None
        if spark is not None:
            from assets import spark_stages  # imports PySpark: the Spark path only

            newest = spark_stages.newest_snapshots(
                spark, _given(settings), "marts.customer_segments", 1
            )
            return freshness_result(newest, expected)
        with warehouse.connect() as con:
            return latest_snapshot_freshness(con, expected)

    return [customer_count_drift_check, segment_share_drift_check, latest_snapshot_fresh_check]
