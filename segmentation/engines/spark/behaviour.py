"""``features.customer_behaviour`` on Spark: the DuckDB engine's own computation
(:func:`segmentation.features.behaviour.behaviour_by_snapshot`) run on each customer bucket's
transactions and customers inside the Spark tasks.

Every behaviour measure is per customer, so this is a map step alone: no reduce on the driver.
With an attribute history (``raw.customer_attributes``), a customer's history rows go to the
customer's bucket too, and the task reads each snapshot's attributes from them as the DuckDB
engine does (:mod:`segmentation.features.attributes_as_of`).
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
from segmentation.engines.spark.connect import parallelism
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
    history: bool = False

    def __call__(self, con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
        months = behaviour_by_snapshot(
            con,
            self.snapshots,
            self.lost_recency_days,
            self.dominant_channel_share,
            self.custom,
            history=self.history,
        )
        return pl.concat(list(months), how="vertical")

    @classmethod
    def of(cls, snapshots: Sequence[date], config: SegmentationConfig) -> BehaviourOfBucket:
        """The computation for ``snapshots`` with the settings of ``config`` (with an
        attribute-history source, the attributes that held on each snapshot)."""
        features = config.features
        return cls(
            tuple(sorted(set(snapshots))),
            features.lifecycle.lost_recency_days,
            features.dominant_channel_share,
            tuple(custom_attributes(config)),
            history=config.sources.customer_attributes is not None,
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
        lake: The lake holding raw.transactions, raw.customers and, with an attribute-history
            source, raw.customer_attributes.
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
        buckets = bucket_count(transactions.count(), parallelism(spark))
    compute = BehaviourOfBucket.of(snapshots, config)
    tables = {"raw.transactions": transactions, "raw.customers": customers}
    if compute.history:
        tables["raw.customer_attributes"] = read_table(spark, lake, "raw.customer_attributes")
    return map_buckets(compute, tables, buckets)
