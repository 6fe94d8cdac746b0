"""``marts.clv_backtest`` on Spark: each snapshot's predicted purchase days in the next 90 days
against what happened, by the DuckDB engine's own SQL (:mod:`segmentation.evaluation.evaluate`).

1. The coverage day: the last day of the lake's ``raw.transactions`` (Spark's ``max``), the one
   input that depends on every customer.
2. Map, per customer bucket: the bucket's ``features.customer_clv`` and ``raw.transactions``
   go to one task, which runs
   :func:`~segmentation.evaluation.evaluate.backtest_customers` with the coverage day: per
   snapshot and scored customer, the predicted and the actual purchase days.
3. Reduce, on the driver:
   :func:`~segmentation.evaluation.evaluate.backtest_of_customers`, the DuckDB engine's
   aggregation, on the buckets' rows together. Its float aggregates take the rows in customer
   order, so the result equals the DuckDB engine's bit for bit, whatever the buckets.

The driver receives one row per scored customer and snapshot (a date, the customer id, the
method, a double and a count). Mergeable moments per bucket would send a few rows per bucket
instead, but their sums would be added in another order than the DuckDB engine's: equal to
rounding, not bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from segmentation.engines.spark.buckets import bucket_count, map_buckets
from segmentation.engines.spark.connect import parallelism
from segmentation.engines.spark.evaluation import require_tables
from segmentation.engines.spark.lake import read_table
from segmentation.evaluation.evaluate import backtest_customers, backtest_of_customers
from segmentation.keys import CLV_TABLE

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

TRANSACTIONS = "raw.transactions"


@dataclass(frozen=True)
class SparkBacktest:
    """The Spark engine's ``marts.clv_backtest`` (on the driver) and what the driver received.

    Attributes:
        backtest: ``marts.clv_backtest``.
        last_day: The last day the transactions cover (None without transactions).
        reduce_rows: Rows the driver received: one per scored customer and covered snapshot.
        buckets: How many customer buckets the map ran on.
    """

    backtest: pl.DataFrame
    last_day: date | None
    reduce_rows: int
    buckets: int


@dataclass(frozen=True)
class _BacktestBucket:
    """The computation of one customer bucket: its customers' predicted and actual purchase
    days."""

    last_day: date | None

    def __call__(self, con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
        return backtest_customers(con, self.last_day)


def clv_backtest(spark: SparkSession, lake: str, buckets: int | None = None) -> SparkBacktest:
    """``marts.clv_backtest`` of the lake's ``features.customer_clv`` and ``raw.transactions``:
    the DuckDB engine's rows, bit for bit.

    Args:
        spark: The engine's session.
        lake: The lake.
        buckets: How many customer buckets; default :func:`bucket_count` of the transactions
            and the session's parallelism.

    Raises:
        ValueError: The lake lacks the CLV or the transactions.
    """
    from pyspark.sql import functions as F

    require_tables(spark, lake, (CLV_TABLE, TRANSACTIONS), "the CLV and the raw transactions")
    transactions = read_table(spark, lake, TRANSACTIONS)
    latest = transactions.agg(F.max("order_ts")).first()
    last = latest[0] if latest is not None else None
    # max(order_ts)::DATE, as the DuckDB engine's coverage_last_day
    last_day = last.date() if isinstance(last, datetime) else last
    tables = {
        CLV_TABLE: read_table(spark, lake, CLV_TABLE).select(
            "snapshot_date", "customer_id", "expected_purchases_90d", "clv_method"
        ),
        TRANSACTIONS: transactions.select("customer_id", "order_ts", "is_return"),
    }
    if buckets is None:
        buckets = bucket_count(transactions.count(), parallelism(spark))
    rows = pl.from_arrow(map_buckets(_BacktestBucket(last_day), tables, buckets).toArrow())
    assert isinstance(rows, pl.DataFrame)
    return SparkBacktest(backtest_of_customers(rows), last_day, rows.height, buckets)
