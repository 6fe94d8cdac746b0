"""``features.customer_categories`` on Spark: the DuckDB engine's own computation
(:func:`segmentation.features.categories.categories_by_snapshot`) run on each customer bucket's
transactions inside the Spark tasks, with the whole catalogue beside them.

A customer's category rows depend on that customer's transactions and the catalogue alone, so
this is a map step: no reduce on the driver. The catalogue (``raw.products``) is small: the
driver reads it once and broadcasts it, so each executor receives it once rather than with
every task. A Spark Connect session cannot broadcast (no ``SparkContext``): there the catalogue
travels inside the task's function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl
import pyarrow as pa

from segmentation.config import SegmentationConfig
from segmentation.engines.spark.buckets import bucket_count, map_buckets
from segmentation.engines.spark.connect import is_connect, parallelism
from segmentation.engines.spark.lake import read_table
from segmentation.features.categories import (
    categories_by_snapshot,
    empty_categories,
    products_configured,
)
from segmentation.features.settings import CategorySettings
from segmentation.segments.category_settings import NeedsSettings
from segmentation.sql_files import render_sql

if TYPE_CHECKING:
    from pyspark import Broadcast
    from pyspark.sql import DataFrame, SparkSession

# what the category SQL reads of raw.transactions (features/category_sums.sql,
# category_orders.sql): only these columns are shuffled
TRANSACTION_COLUMNS = ("customer_id", "order_id", "order_ts", "amount", "product_id", "is_return")
CATALOGUE_TABLE = "raw.products"
_CATALOGUE_SOURCE = "_bucket_catalogue"


@dataclass(frozen=True)
class CategoriesOfBucket:
    """The category rows of one bucket's customers at every snapshot: what the DuckDB engine
    computes for all customers, computed on the bucket's transactions and the whole catalogue
    (a picklable function of the task's connection).

    ``catalogue``: ``raw.products`` as an Arrow table, or a Spark broadcast of it.
    """

    snapshots: tuple[date, ...]
    settings: CategorySettings
    needs: NeedsSettings
    catalogue: pa.Table | Broadcast[Any]

    def __call__(self, con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
        catalogue = self.catalogue
        if not isinstance(catalogue, pa.Table):
            catalogue = catalogue.value
        con.register(_CATALOGUE_SOURCE, catalogue)
        con.execute(
            render_sql(
                "spark/create_bucket_view.sql", view=CATALOGUE_TABLE, source=_CATALOGUE_SOURCE
            )
        )
        months = categories_by_snapshot(
            con, self.snapshots, self.settings, self.needs, products_configured=True
        )
        return pl.concat([empty_categories(), *months], how="vertical")

    @classmethod
    def of(
        cls,
        snapshots: Sequence[date],
        config: SegmentationConfig,
        catalogue: pa.Table | Broadcast[Any],
    ) -> CategoriesOfBucket:
        """The computation for ``snapshots`` with the settings of ``config`` and
        ``catalogue`` (``raw.products``)."""
        return cls(
            tuple(sorted(set(snapshots))),
            config.features.categories,
            config.segments.needs,
            catalogue,
        )


def customer_categories(
    spark: SparkSession,
    lake: str,
    snapshots: Sequence[date],
    config: SegmentationConfig,
    buckets: int | None = None,
) -> DataFrame:
    """``features.customer_categories`` at each of ``snapshots`` from the lake's
    ``raw.transactions`` and ``raw.products``: the same rows and values as the DuckDB
    engine's, in no particular order.

    Args:
        spark: The engine's session.
        lake: The lake holding raw.transactions and raw.products.
        snapshots: The snapshot dates, any order.
        config: The pipeline configuration (``features.categories``, ``segments.needs``).
        buckets: How many customer buckets; default :func:`bucket_count` of the
            transactions and the session's parallelism.

    Raises:
        ValueError: No snapshot date, no products source (the DuckDB engine's table is empty
            then; nothing is read), or a catalogue holding a product id more than once (the
            DuckDB engine's message, on the driver before any task).
    """
    from pyspark.sql.pandas.types import from_arrow_schema

    if not snapshots:
        raise ValueError("no snapshot dates: nothing to compute")
    if not products_configured(config.sources):
        return spark.createDataFrame([], from_arrow_schema(empty_categories().to_arrow().schema))
    catalogue: pa.Table | Broadcast[Any] = read_table(spark, lake, CATALOGUE_TABLE).toArrow()
    if not is_connect(spark):
        # each executor receives it once; a Spark Connect session has no SparkContext to
        # broadcast with, so the catalogue (small) travels inside each task's function
        catalogue = spark.sparkContext.broadcast(catalogue)
    transactions = read_table(spark, lake, "raw.transactions").select(*TRANSACTION_COLUMNS)
    if buckets is None:
        buckets = bucket_count(transactions.count(), parallelism(spark))
    # map_buckets runs the computation on no rows on the driver first (the result's schema):
    # a catalogue with a repeated product id stops there, with the library's message
    return map_buckets(
        CategoriesOfBucket.of(snapshots, config, catalogue),
        {"raw.transactions": transactions},
        buckets,
    )
