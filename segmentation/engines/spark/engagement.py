"""``features.customer_engagement`` on Spark: the DuckDB engine's own computation
(:func:`segmentation.features.engagement.engagement_by_snapshot`) run on each customer bucket's
events, feedback, purchases and behaviour keys inside the Spark tasks.

Every engagement measure is per customer, so this is a map step alone: no reduce on the driver.
As in the DuckDB engine, the customers of a snapshot are those of
``features.customer_behaviour`` (read from the lake), and a source that is not configured is
not read: its columns are null.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from segmentation.config import SegmentationConfig
from segmentation.engines.spark.buckets import bucket_count, map_buckets
from segmentation.engines.spark.connect import parallelism
from segmentation.engines.spark.lake import read_table
from segmentation.features.engagement import engagement_for_snapshots
from segmentation.features.settings import EngagementSettings, FeedbackSettings
from segmentation.keys import BEHAVIOUR_TABLE, KEY_COLUMNS, SNAPSHOT_COLUMN

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# what the engagement SQL reads of each raw table (features/event_increments.sql,
# feedback_increments.sql): only these columns are shuffled
EVENT_COLUMNS = ("customer_id", "event_ts", "event_type")
FEEDBACK_COLUMNS = ("customer_id", "feedback_ts", "kind", "score", "source_file", "source_row")
# the purchases after a cart add
TRANSACTION_COLUMNS = ("customer_id", "order_ts", "is_return")


@dataclass(frozen=True)
class EngagementOfBucket:
    """The engagement of one bucket's customers at every snapshot: what the DuckDB engine
    computes for all customers, computed on the bucket's tables (a picklable function of the
    task's connection)."""

    snapshots: tuple[date, ...]
    engagement: EngagementSettings
    feedback: FeedbackSettings
    events_configured: bool
    feedback_configured: bool

    def __call__(self, con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
        return engagement_for_snapshots(
            con,
            self.snapshots,
            BEHAVIOUR_TABLE,
            self.engagement,
            self.feedback,
            events_configured=self.events_configured,
            feedback_configured=self.feedback_configured,
        )

    @classmethod
    def of(cls, snapshots: Sequence[date], config: SegmentationConfig) -> EngagementOfBucket:
        """The computation for ``snapshots`` with the settings and sources of ``config``."""
        return cls(
            tuple(sorted(set(snapshots))),
            config.features.engagement,
            config.features.feedback,
            config.sources.events is not None,
            config.sources.feedback is not None,
        )

    def tables(self, spark: SparkSession, lake: str, behaviour: DataFrame) -> dict[str, DataFrame]:
        """The tables each bucket needs, by the names the library's SQL reads: the behaviour
        keys of the snapshots, and the raw tables of the configured sources."""
        from pyspark.sql import functions as F

        keys = behaviour.select(*KEY_COLUMNS).where(F.col(SNAPSHOT_COLUMN).isin(*self.snapshots))
        tables = {BEHAVIOUR_TABLE: keys}
        if self.events_configured:
            tables["raw.events"] = read_table(spark, lake, "raw.events").select(*EVENT_COLUMNS)
            tables["raw.transactions"] = read_table(spark, lake, "raw.transactions").select(
                *TRANSACTION_COLUMNS
            )
        if self.feedback_configured:
            tables["raw.feedback"] = read_table(spark, lake, "raw.feedback").select(
                *FEEDBACK_COLUMNS
            )
        return tables


def customer_engagement(
    spark: SparkSession,
    lake: str,
    snapshots: Sequence[date],
    config: SegmentationConfig,
    behaviour: DataFrame | None = None,
    buckets: int | None = None,
) -> DataFrame:
    """``features.customer_engagement`` at each of ``snapshots`` from the lake's raw tables:
    the same rows and values as the DuckDB engine's, in no particular order.

    Args:
        spark: The engine's session.
        lake: The lake holding the raw tables (:func:`~segmentation.engines.spark.lake.export_raw`).
        snapshots: The snapshot dates (month ends), any order.
        config: The pipeline configuration (engagement and feedback settings, sources).
        behaviour: ``features.customer_behaviour`` holding the snapshots (its keys are read);
            default: the lake's table.
        buckets: How many customer buckets; default :func:`bucket_count` of the events,
            feedback and transactions and the session's parallelism.
    """
    if not snapshots:
        raise ValueError("no snapshot dates: nothing to compute")
    compute = EngagementOfBucket.of(snapshots, config)
    if behaviour is None:
        behaviour = read_table(spark, lake, BEHAVIOUR_TABLE)
    tables = compute.tables(spark, lake, behaviour)
    if buckets is None:
        rows = sum(frame.count() for name, frame in tables.items() if name != BEHAVIOUR_TABLE)
        buckets = bucket_count(rows, parallelism(spark))
    return map_buckets(compute, tables, buckets)
