"""The uncatalogued transactions of ``features.customer_categories``' metadata on Spark: per
snapshot, the transactions of the category window whose product the catalogue does not list.

Each task runs the DuckDB engine's per-day query (``features/uncatalogued_per_day.sql``) on
its own partition of the lake's transactions, with the whole catalogue beside them: a map step
without a shuffle. Rows of disjoint transactions can be put side by side, so the driver
receives every task's rows (a few per day and uncatalogued product) and finishes them with the
DuckDB engine's own query (:func:`segmentation.features.categories.uncatalogued_of_days`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

import duckdb
import polars as pl
import pyarrow as pa

from segmentation.config import SegmentationConfig
from segmentation.engines.spark.lake import read_table
from segmentation.features.categories import (
    UNCATALOGUED_SCHEMA,
    products_configured,
    uncatalogued_of_days,
)
from segmentation.sql_files import read_sql, render_sql

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# what the per-day query reads of raw.transactions
TRANSACTION_COLUMNS = ("order_ts", "amount", "product_id", "is_return")
# the per-day query's rows, as every task returns them
PER_DAY = pa.schema(
    [
        ("day", pa.date32()),
        ("uncatalogued", pa.bool_()),
        ("product_id", pa.string()),
        ("rows", pa.int64()),
        ("purchases", pa.decimal128(38, 10)),
    ]
)
_SOURCES = {"raw.transactions": "_task_transactions", "raw.products": "_task_catalogue"}


@dataclass(frozen=True)
class UncataloguedPerDay:
    """The ``mapInArrow`` function: a task's transactions grouped per day and uncatalogued
    product by the DuckDB engine's query, with ``catalogue`` (``raw.products``) beside them."""

    snapshots: tuple[date, ...]
    window_days: int
    catalogue: pa.Table

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        held = list(batches)
        if not held:
            return
        with duckdb.connect(config={"threads": 1}) as con:
            con.execute(render_sql("warehouse/create_schema.sql", schema="raw"))
            tables = {
                "raw.transactions": pa.Table.from_batches(held),
                "raw.products": self.catalogue,
            }
            for view, table in tables.items():
                con.register(_SOURCES[view], table)
                con.execute(
                    render_sql("spark/create_bucket_view.sql", view=view, source=_SOURCES[view])
                )
            rows = con.execute(
                read_sql("features/uncatalogued_per_day.sql"),
                {"snapshot_dates": list(self.snapshots), "window_days": self.window_days},
            ).to_arrow_table()
        yield from rows.cast(PER_DAY).to_batches()


def uncatalogued_transactions(
    spark: SparkSession, lake: str, snapshots: Sequence[date], config: SegmentationConfig
) -> pl.DataFrame:
    """Per snapshot of ``snapshots``, the uncatalogued transactions of the lake's
    ``raw.transactions`` (rows, distinct product ids, share of the purchase amount): the
    DuckDB engine's ``uncatalogued_transactions`` of the same tables. Empty without a products
    source (nothing is read)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    dates = tuple(sorted(set(snapshots)))
    if not products_configured(config.sources) or not dates:
        return pl.DataFrame(schema=UNCATALOGUED_SCHEMA)
    from pyspark.sql import functions as F

    window = config.features.categories.window_days
    catalogue = read_table(spark, lake, "raw.products").toArrow()
    # the windows' days only (the query filters them again): Parquet skips the rest
    first = datetime.combine(dates[0] - timedelta(days=window - 1), time())
    end = datetime.combine(dates[-1] + timedelta(days=1), time())
    transactions = (
        read_table(spark, lake, "raw.transactions")
        .where((F.col("order_ts") >= F.lit(first)) & (F.col("order_ts") < F.lit(end)))
        .select(*TRANSACTION_COLUMNS)
    )
    per_day = transactions.mapInArrow(
        UncataloguedPerDay(dates, window, catalogue), from_arrow_schema(PER_DAY)
    ).toArrow()
    with duckdb.connect() as con:
        con.register("_per_day", per_day.cast(PER_DAY))
        return uncatalogued_of_days(con, "SELECT * FROM _per_day", dates, window)
