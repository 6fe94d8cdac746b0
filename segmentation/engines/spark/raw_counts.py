"""What the raw assets report of a landed table on Spark, counted by Spark aggregates: the
DuckDB landing's counts (:mod:`segmentation.raw.landing`) of the lake's tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from segmentation.engines.spark.lake import read_table
from segmentation.raw.landing import HistoryCounts

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def attribute_history_counts(spark: SparkSession, lake: str) -> HistoryCounts:
    """The counts of the lake's ``raw.customer_attributes`` as ``raw/attribute_history_counts.sql``
    counts the warehouse's: rows, customers, rows per customer (mean, median, most) and the span
    of ``valid_from``.

    Spark counts each customer's rows, then the customers per number of rows; the driver
    receives one row per distinct number of rows (a few), never a customer, and takes the
    mean and the median (DuckDB's: halfway between the two middle values) from them.
    """
    from pyspark.sql import functions as F

    per_customer = (
        read_table(spark, lake, "raw.customer_attributes")
        .groupBy("customer_id")
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.min("valid_from").alias("first"),
            F.max("valid_from").alias("last"),
        )
    )
    spread = sorted(
        per_customer.groupBy("rows")
        .agg(F.count(F.lit(1)).alias("customers"), F.min("first"), F.max("last"))
        .collect()
    )
    customers = sum(int(row[1]) for row in spread)
    if not customers:
        return HistoryCounts(0, 0, 0.0, 0.0, 0, None, None)
    history_rows = sum(int(rows) * int(n) for rows, n, _, _ in spread)

    def nth(place: int) -> int:
        # the place-th smallest number of rows per customer, counted from 0
        for rows, n, _, _ in spread:
            if place < n:
                return int(rows)
            place -= n
        raise IndexError(place)

    middle = (customers - 1) / 2
    low, high = nth(int(middle)), nth(int(middle) + (customers % 2 == 0))
    return HistoryCounts(
        history_rows=history_rows,
        customers=customers,
        rows_per_customer_mean=history_rows / customers,
        rows_per_customer_median=low + (high - low) * (middle - int(middle)),
        rows_per_customer_max=int(spread[-1][0]),
        first_valid_from=min(row[2] for row in spread),
        last_valid_from=max(row[3] for row in spread),
    )
