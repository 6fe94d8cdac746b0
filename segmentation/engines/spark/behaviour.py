"""``features.customer_behaviour`` on Spark: the DuckDB engine's own computation
(:func:`segmentation.features.behaviour.behaviour_by_snapshot`) run on each customer bucket's
transactions and customers inside the Spark tasks.

Every behaviour measure is per customer, so this is a map step alone: no reduce on the driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from segmentation.config import SegmentationConfig, custom_attributes
from segmentation.engines.spark.buckets import bucket_count, map_buckets
from segmentation.engines.spark.lake import read_table
from segmentation.features.behaviour import behaviour_by_snapshot

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# what the behaviour SQL reads of raw.transactions (features/customer_activity_increments.sql):
# only these columns are shuffled
TRANSACTION_COLUMNS = (
    "customer_id",
    "order_id",
    "order_ts",
    "amount",
    "product_id",
    "channel",
    "is_return",
)


@dataclass(frozen=True)
class BehaviourOfBucket:
    """The behaviour of one bucket's customers at every snapshot: what the DuckDB engine
    computes for all customers, computed on the bucket's raw tables (a picklable function of
    the task's connection)."""

    snapshots: tuple[date, ...]
    lost_recency_days: int
    dominant_channel_share: float
    custom: tuple[str, ...] = ()

    def __call__(self, con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
        months = behaviour_by_snapshot(
            con,
            self.snapshots,
            self.lost_recency_days,
            self.dominant_channel_share,
            self.custom,
        )
        return pl.concat(list(months), how="vertical")

    @classmethod
    def of(cls, snapshots: Sequence[date], config: SegmentationConfig) -> BehaviourOfBucket:
        """The computation for ``snapshots`` with the settings of ``config``.

        Raises:
            ValueError: With an attribute-history source: its point-in-time attributes are
                not exported to the lake yet, so the result would differ from the DuckDB
                engine's.
        """
        if config.sources.customer_attributes is not None:
            raise ValueError(
                "the Spark engine does not read sources.customer_attributes yet: its "
                "point-in-time attributes would be missing; use engine: duckdb for this config"
            )
        features = config.features
        return cls(
            tuple(sorted(set(snapshots))),
            features.lifecycle.lost_recency_days,
            features.dominant_channel_share,
            tuple(custom_attributes(config)),
        )


def customer_behaviour(
    spark: SparkSession,
    lake: str,
    snapshots: Sequence[date],
    config: SegmentationConfig,
    buckets: int | None = None,
) -> DataFrame:
    """``features.customer_behaviour`` at each of ``snapshots`` from the lake's raw tables:
    the same rows and values as the DuckDB engine's, in no particular order.

    Args:
        spark: The engine's session.
        lake: The lake holding raw.transactions and raw.customers.
        snapshots: The snapshot dates (month ends), any order.
        config: The pipeline configuration (features settings, custom attributes).
        buckets: How many customer buckets; default :func:`bucket_count` of the
            transactions and the session's parallelism.
    """
    if not snapshots:
        raise ValueError("no snapshot dates: nothing to compute")
    transactions = read_table(spark, lake, "raw.transactions").select(*TRANSACTION_COLUMNS)
    customers = read_table(spark, lake, "raw.customers")
    if buckets is None:
        buckets = bucket_count(transactions.count(), spark.sparkContext.defaultParallelism)
    return map_buckets(
        BehaviourOfBucket.of(snapshots, config),
        {"raw.transactions": transactions, "raw.customers": customers},
        buckets,
    )
