"""The evaluation marts on Spark: ``marts.segment_migration``, ``marts.segment_outcomes``,
``marts.strategy_effect`` and ``marts.satisfaction_summary``. Counts and sums per customer
bucket or partition on the executors, their totals finished on the driver, each step by the
DuckDB engine's own functions (:mod:`segmentation.evaluation`).

1. The segment dimensions and feedback of every snapshot, from every partition's answer
   (:func:`~segmentation.engines.spark.summary.snapshot_dimensions`).
2. Map, per customer bucket: the bucket's segments (every snapshot), strategy assignments,
   transactions and feedback go to one task. It runs the DuckDB engine's SQL of the next
   period's activity and feedback on them, with the whole table's snapshot dates (a bucket
   may lack a snapshot), then per pair of consecutive snapshots:
   :func:`~segmentation.evaluation.migration.segment_migration` (customers per move),
   :func:`~segmentation.evaluation.outcomes.outcome_counts` (customers, repurchasers, revenue,
   active and churned customers, NPS classes and complainers per segment) and, per strategy
   and group (treated or control), the customers, repurchasers, NPS classes, complainers and
   the moments of their next-period revenue (count, mean and sum of squared deviations).
3. Reduce, on the driver, in bucket order: the counts added up, the revenue moments merged
   (Chan et al.'s pairwise update), and the library finishing them:
   :func:`~segmentation.evaluation.migration.migration_of_counts`,
   :func:`~segmentation.evaluation.outcomes.outcomes_of_counts` (rates, NPS interval) and
   :func:`~segmentation.evaluation.strategy_effect.effect_of_groups` (Newcombe's and Welch's
   intervals, p-values, notes).
4. ``marts.satisfaction_summary`` reads one snapshot's customers at a time: each partition of
   the segments sums its counts and CSAT
   (:func:`~segmentation.evaluation.satisfaction.satisfaction_sums`), without a shuffle; the
   driver adds them up and finishes them
   (:func:`~segmentation.evaluation.satisfaction.satisfaction_of_sums`).

Counts, and the rates and intervals of counts alone, are exact. The float sums (next-period
revenue, CSAT) and the revenue's mean and variance are added in another order than the DuckDB
engine's, so what derives from them equals its values to rounding (the engines' contract:
1e-9 relative). A strategy group without any next-period revenue has a variance of exactly
0 in both engines, so the same groups get no revenue interval.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import duckdb
import polars as pl
import pyarrow as pa

from segmentation.engines.spark.buckets import bucket_count, map_buckets, partition_frames
from segmentation.engines.spark.connect import parallelism
from segmentation.engines.spark.lake import read_table, table_location
from segmentation.engines.spark.lake_commit import lake_files
from segmentation.engines.spark.summary import SnapshotDimensions, snapshot_dimensions
from segmentation.evaluation.migration import (
    MIGRATION_SCHEMA,
    migration_of_counts,
    segment_migration,
)
from segmentation.evaluation.outcomes import (
    OUTCOME_COUNT_SCHEMA,
    outcome_counts,
    outcomes_of_counts,
    with_next_period_activity,
)
from segmentation.evaluation.satisfaction import (
    SATISFACTION_SUMS_SCHEMA,
    satisfaction_of_sums,
    satisfaction_sums,
)
from segmentation.evaluation.satisfaction_outcomes import (
    satisfaction_counts,
    with_next_period_feedback,
)
from segmentation.evaluation.strategy_effect import GroupOutcomes, effect_of_groups
from segmentation.features.settings import FeedbackSettings
from segmentation.keys import ASSIGNMENTS_TABLE, SEGMENTS_TABLE, SNAPSHOT_COLUMN
from segmentation.sql_files import compose_sql, read_sql, render_sql
from segmentation.warehouse import frame_of, quote_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# the bucket's own rows of the marts, under names of their own: the evaluation SQL reads the
# whole table's snapshot dates as marts.customer_segments (see _EvaluateBucket)
BUCKET_SEGMENTS = "bucket.customer_segments"
BUCKET_ASSIGNMENTS = "bucket.strategy_assignments"
TRANSACTIONS, FEEDBACK = "raw.transactions", "raw.feedback"

# a strategy group's counts and next-period revenue moments, per snapshot, strategy and group
EFFECT_PART_SCHEMA = {
    "snapshot_date": pl.Date,
    "strategy": pl.String,
    "is_control": pl.Boolean,
    "customers": pl.Int64,
    "repurchasers": pl.Int64,
    "revenue_mean": pl.Float64,
    "revenue_m2": pl.Float64,
    "next_nps_respondents": pl.Int64,
    "next_promoters": pl.Int64,
    "next_detractors": pl.Int64,
    "next_complainers": pl.Int64,
}
PART_COLUMN = "part"
_PARTS = {
    "migration": MIGRATION_SCHEMA,
    "outcomes": OUTCOME_COUNT_SCHEMA,
    "effect": EFFECT_PART_SCHEMA,
}


def _stacked_schema() -> dict[str, pl.DataType]:
    """Every part's columns side by side, after the part's name: a bucket's result holds the
    three parts as rows of one frame (one shuffle for all three), nulls in the others'
    columns."""
    schema: dict[str, pl.DataType] = {PART_COLUMN: pl.String()}
    for columns in _PARTS.values():
        schema |= columns
    return schema


def _stacked(part: str, frame: pl.DataFrame) -> pl.DataFrame:
    empty = pl.DataFrame(schema=_stacked_schema())
    tagged = frame.with_columns(pl.lit(part).alias(PART_COLUMN))
    return pl.concat([empty, tagged], how="diagonal_relaxed").select(list(empty.columns))


def _unstacked(stacked: pl.DataFrame, part: str) -> pl.DataFrame:
    schema = _PARTS[part]
    rows = stacked.filter(pl.col(PART_COLUMN) == part).select(list(schema))
    return rows.cast(schema)


def _effect_parts(joined: pl.DataFrame, feedback: bool) -> pl.DataFrame:
    """Per snapshot, strategy and group of ``joined`` (assignments with the next period's
    activity, and feedback with ``feedback``), the counts and revenue moments."""
    revenue = pl.col("next_revenue").cast(pl.Float64)
    counts = satisfaction_counts("next_") if feedback else []
    parts = joined.group_by("snapshot_date", "strategy", "is_control", maintain_order=True).agg(
        pl.len().cast(pl.Int64).alias("customers"),
        (pl.col("next_orders") >= 1).sum().cast(pl.Int64).alias("repurchasers"),
        revenue.mean().alias("revenue_mean"),
        ((revenue - revenue.mean()) ** 2).sum().alias("revenue_m2"),
        *counts,
    )
    return pl.concat([pl.DataFrame(schema=EFFECT_PART_SCHEMA), parts], how="diagonal_relaxed")


def _read(con: duckdb.DuckDBPyConnection, table: str) -> pl.DataFrame:
    return frame_of(con.execute(compose_sql("warehouse/read_table.sql", table=quote_table(table))))


@dataclass(frozen=True)
class _EvaluateBucket:
    """The computation of one customer bucket (see the module): its migration counts, outcome
    counts and strategy groups' parts, stacked."""

    snapshots: tuple[date, ...]
    found: SnapshotDimensions
    feedback_settings: FeedbackSettings

    def __call__(self, con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
        # the periods run from each snapshot of the whole table to the next one
        con.execute(render_sql("warehouse/create_schema.sql", schema="marts"))
        con.register("_snapshots", pl.DataFrame({SNAPSHOT_COLUMN: self.snapshots}).to_arrow())
        con.execute(
            render_sql("spark/create_bucket_view.sql", view=SEGMENTS_TABLE, source="_snapshots")
        )
        activity = con.execute(read_sql("evaluation/next_period_activity.sql")).pl()
        feedback = None
        if self.found.feedback:
            feedback = con.execute(
                read_sql("evaluation/next_period_feedback.sql"),
                {
                    "nps_promoter_min": self.feedback_settings.nps_promoter_min,
                    "nps_passive_min": self.feedback_settings.nps_passive_min,
                },
            ).pl()
        segments = _read(con, BUCKET_SEGMENTS)
        assignments = _read(con, BUCKET_ASSIGNMENTS)
        parts = [pl.DataFrame(schema=_stacked_schema())]
        for earlier, later in zip(self.snapshots, self.snapshots[1:], strict=False):
            first = segments.filter(pl.col(SNAPSHOT_COLUMN) == earlier)
            if first.is_empty():
                continue
            second = segments.filter(pl.col(SNAPSHOT_COLUMN) == later)
            dimensions = self.found.dimensions.get(earlier, [])
            parts.append(_stacked("migration", segment_migration(first, second, dimensions)))
            period = activity.filter(pl.col(SNAPSHOT_COLUMN) == earlier)
            said = (
                feedback.filter(pl.col(SNAPSHOT_COLUMN) == earlier)
                if feedback is not None and earlier in self.found.feedback
                else None
            )
            pairs = pl.DataFrame(
                {SNAPSHOT_COLUMN: [earlier], "next_snapshot_date": [later]},
                schema={SNAPSHOT_COLUMN: pl.Date, "next_snapshot_date": pl.Date},
            )
            counts = outcome_counts(
                pl.concat([first, second]),
                period,
                self.found.of_pair(earlier, later),
                said,
                pairs,
            )
            parts.append(_stacked("outcomes", counts))
            joined = with_next_period_activity(
                assignments.filter(pl.col(SNAPSHOT_COLUMN) == earlier).select(
                    "snapshot_date", "customer_id", "strategy", "is_control"
                ),
                period,
            )
            if said is not None:
                joined = with_next_period_feedback(joined, said)
            parts.append(_stacked("effect", _effect_parts(joined, said is not None)))
        return pl.concat(parts)


def _summed(frame: pl.DataFrame, keys: list[str], columns: Sequence[str]) -> pl.DataFrame:
    """``columns`` added up per ``keys`` in the rows' order; null where every part's is (the
    satisfaction counts without feedback)."""
    return frame.group_by(keys, maintain_order=True).agg(
        pl.when(pl.col(column).is_null().all())
        .then(None)
        .otherwise(pl.col(column).sum())
        .cast(frame.schema[column])
        .alias(column)
        for column in columns
    )


@dataclass(frozen=True)
class RevenueMoments:
    """A group's next-period revenue as the merge needs it: count, mean and the sum of
    squared deviations from the mean."""

    count: int
    mean: float
    m2: float

    def merged(self, other: RevenueMoments) -> RevenueMoments:
        """The moments of both groups' values together (Chan, Golub and LeVeque's update)."""
        count = self.count + other.count
        delta = other.mean - self.mean
        return RevenueMoments(
            count,
            self.mean + delta * other.count / count,
            self.m2 + other.m2 + delta * delta * self.count * other.count / count,
        )


_COUNT_COLUMNS = (
    "customers",
    "repurchasers",
    "next_nps_respondents",
    "next_promoters",
    "next_detractors",
    "next_complainers",
)


def merged_groups(
    parts: pl.DataFrame, feedback: frozenset[date] = frozenset()
) -> list[tuple[date, str, GroupOutcomes, GroupOutcomes]]:
    """Each snapshot's and strategy's treated and control :class:`GroupOutcomes` from the
    buckets' parts (``EFFECT_PART_SCHEMA``): counts added up, revenue moments merged, in the
    parts' order (the same parts give the same floats). A group without customers has no
    parts: it is empty, with zero NPS answers and complainers at the ``feedback``
    snapshots."""
    keys = ["snapshot_date", "strategy", "is_control"]
    moments: dict[tuple, RevenueMoments] = {}
    for row in parts.iter_rows(named=True):
        key = tuple(row[name] for name in keys)
        part = RevenueMoments(row["customers"], row["revenue_mean"], row["revenue_m2"])
        moments[key] = moments[key].merged(part) if key in moments else part
    groups: dict[tuple[date, str], dict[bool, GroupOutcomes]] = {}
    for row in _summed(parts, keys, _COUNT_COLUMNS).iter_rows(named=True):
        key = tuple(row[name] for name in keys)
        revenue = moments[key]
        nps = None
        if row["next_nps_respondents"] is not None:
            nps = (row["next_promoters"], row["next_detractors"], row["next_nps_respondents"])
        groups.setdefault(key[:2], {})[row["is_control"]] = GroupOutcomes(
            customers=row["customers"],
            repurchasers=row["repurchasers"],
            revenue_mean=revenue.mean,
            revenue_variance=revenue.m2 / (revenue.count - 1) if revenue.count >= 2 else None,
            nps=nps,
            complainers=row["next_complainers"],
        )
    feedback = parts.get_column("next_nps_respondents").null_count() < parts.height
    empty = GroupOutcomes(
        0, 0, None, None, (0, 0, 0) if feedback else None, 0 if feedback else None
    )
    return [
        (snapshot, strategy, sides.get(False, empty), sides.get(True, empty))
        for (snapshot, strategy), sides in groups.items()
    ]


@dataclass(frozen=True)
class SparkEvaluation:
    """The Spark engine's evaluation marts (on the driver) and what the driver received.

    Attributes:
        migration: ``marts.segment_migration``.
        outcomes: ``marts.segment_outcomes``.
        effects: ``marts.strategy_effect``.
        satisfaction: ``marts.satisfaction_summary``.
        reduce_rows: Rows the driver received per part: ``migration``, ``outcomes`` and
            ``effect`` (one per bucket and row of its counts), ``satisfaction`` (one per
            partition, snapshot and segment).
        buckets: How many customer buckets the evaluation ran on.
    """

    migration: pl.DataFrame
    outcomes: pl.DataFrame
    effects: pl.DataFrame
    satisfaction: pl.DataFrame
    reduce_rows: dict[str, int]
    buckets: int


@dataclass(frozen=True)
class _SatisfactionOfPartition:
    """The mapInArrow function of the satisfaction sums of a partition's snapshots with
    feedback."""

    found: SnapshotDimensions

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        schema = pl.DataFrame(schema=SATISFACTION_SUMS_SCHEMA).to_arrow().schema
        for snapshot, rows in partition_frames(batches):
            if snapshot in self.found.feedback:
                sums = satisfaction_sums(rows, self.found.dimensions.get(snapshot, []))
                yield from sums.to_arrow().cast(schema).to_batches()


def _satisfaction(segments: DataFrame, found: SnapshotDimensions) -> tuple[pl.DataFrame, int]:
    from pyspark.sql.pandas.types import from_arrow_schema

    schema = pl.DataFrame(schema=SATISFACTION_SUMS_SCHEMA).to_arrow().schema
    parts = pl.from_arrow(
        segments.mapInArrow(_SatisfactionOfPartition(found), from_arrow_schema(schema)).toArrow()
    )
    assert isinstance(parts, pl.DataFrame)
    keys = ["snapshot_date", "dimension", "segment"]
    sums = _summed(parts, keys, [name for name in SATISFACTION_SUMS_SCHEMA if name not in keys])
    return satisfaction_of_sums(sums), parts.height


def _effects(
    groups: list[tuple[date, str, GroupOutcomes, GroupOutcomes]], feedback: frozenset[date]
) -> pl.DataFrame:
    """The effects of the snapshots with feedback (satisfaction compared) and without."""
    said = [group for group in groups if group[0] in feedback]
    unsaid = [group for group in groups if group[0] not in feedback]
    return pl.concat([effect_of_groups(said, True), effect_of_groups(unsaid, False)]).sort(
        "snapshot_date", "strategy"
    )


def require_tables(
    spark: SparkSession,
    lake: str,
    tables: Sequence[str],
    inputs: str = "the segments, the strategy assignments and the raw tables",
) -> None:
    """Stop before any job when the lake lacks an input table, naming it (Spark's own error
    names only a path) and the ``inputs`` to write into the lake first."""
    missing = [
        table
        for table in tables
        if not lake_files(spark, table_location(lake, table)).exists(table_location(lake, table))
    ]
    if missing:
        raise ValueError(
            f"the lake {lake} holds no {' and no '.join(missing)}: write {inputs} into it "
            f"before the evaluation"
        )


def satisfaction_summary(spark: SparkSession, lake: str) -> pl.DataFrame:
    """``marts.satisfaction_summary`` of every snapshot of the lake's
    ``marts.customer_segments`` alone (the part of :func:`evaluate_segments` that reads
    nothing else): the DuckDB engine's rows, counts exactly, means to rounding.

    Raises:
        ValueError: The lake lacks the segments.
    """
    require_tables(spark, lake, (SEGMENTS_TABLE,), "the segments")
    segments = read_table(spark, lake, SEGMENTS_TABLE)
    satisfaction, _ = _satisfaction(segments, snapshot_dimensions(segments))
    return satisfaction


def evaluate_segments(
    spark: SparkSession,
    lake: str,
    feedback_settings: FeedbackSettings | None = None,
    buckets: int | None = None,
) -> SparkEvaluation:
    """The evaluation marts of every snapshot of the lake's ``marts.customer_segments`` (with
    ``marts.strategy_assignments``, ``raw.transactions`` and, when a snapshot has a feedback
    source, ``raw.feedback``): the DuckDB engine's rows, counts exactly, sums, means and what
    derives from them to rounding.

    Args:
        spark: The engine's session.
        lake: The lake.
        feedback_settings: The NPS classes of next-period answers (``features.feedback``);
            default: the documented defaults.
        buckets: How many customer buckets; default :func:`bucket_count` of the transactions
            and the session's parallelism.

    Raises:
        ValueError: The lake lacks the segments, the assignments or the transactions.
    """
    feedback_settings = feedback_settings or FeedbackSettings()
    require_tables(spark, lake, (SEGMENTS_TABLE, ASSIGNMENTS_TABLE, TRANSACTIONS))
    segments = read_table(spark, lake, SEGMENTS_TABLE)
    found = snapshot_dimensions(segments)
    satisfaction, satisfaction_rows = _satisfaction(segments, found)
    snapshots = tuple(sorted(found.dimensions))
    candidates = list(dict.fromkeys(name for names in found.dimensions.values() for name in names))
    evidence = [name for name in ("complaints_90d",) if name in segments.columns]
    tables = {
        BUCKET_SEGMENTS: segments.select(
            *dict.fromkeys(
                [SNAPSHOT_COLUMN, "customer_id", "lifecycle_stage", *candidates, *evidence]
            )
        ),
        BUCKET_ASSIGNMENTS: read_table(spark, lake, ASSIGNMENTS_TABLE).select(
            SNAPSHOT_COLUMN, "customer_id", "strategy", "is_control"
        ),
        TRANSACTIONS: read_table(spark, lake, TRANSACTIONS),
    }
    if found.feedback:
        tables[FEEDBACK] = read_table(spark, lake, FEEDBACK)
    if buckets is None:
        buckets = bucket_count(tables[TRANSACTIONS].count(), parallelism(spark))
    compute = _EvaluateBucket(snapshots, found, feedback_settings)
    # collected in partition order: the same buckets give the same float sums
    stacked = pl.from_arrow(map_buckets(compute, tables, buckets).toArrow())
    assert isinstance(stacked, pl.DataFrame)
    migration = _unstacked(stacked, "migration")
    outcomes = _unstacked(stacked, "outcomes")
    effect = _unstacked(stacked, "effect")
    outcome_keys = ["snapshot_date", "next_snapshot_date", "dimension", "segment"]
    outcome_sums = _summed(
        outcomes, outcome_keys, [name for name in OUTCOME_COUNT_SCHEMA if name not in outcome_keys]
    )
    return SparkEvaluation(
        migration=migration_of_counts(migration),
        outcomes=outcomes_of_counts(outcome_sums),
        effects=_effects(merged_groups(effect, found.feedback), found.feedback),
        satisfaction=satisfaction,
        reduce_rows={
            "migration": migration.height,
            "outcomes": outcomes.height,
            "effect": effect.height,
            "satisfaction": satisfaction_rows,
        },
        buckets=buckets,
    )
