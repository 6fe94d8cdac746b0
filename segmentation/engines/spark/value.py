"""The value columns of ``features.customer_features`` on Spark (value tier, ABC class, revenue
share, cumulative revenue share, Pareto top): a map step, a reduce step on the driver, a map
step again, each running :mod:`segmentation.features.value`'s own functions.

1. Map: each partition of ``features.customer_behaviour`` counts its customers of every
   snapshot per distinct (net revenue, purchased) (:func:`~segmentation.features.value.
   revenue_counts`). A behaviour row is one customer at one snapshot, so the table's own
   partitions are a split of the customers: no shuffle.
2. Reduce, on the driver: the merged counts give each snapshot's exact cut points, total, and
   the share and cumulative shares of every distinct positive revenue
   (:func:`~segmentation.features.value.revenue_ranking`): the same polars expressions the
   DuckDB engine evaluates, on the same revenue list, so the same bits. Ties stay exact: equal
   revenues are counted, not approximated.
3. Map: each customer's labels (:func:`~segmentation.features.value.value_labels`). Customers
   with positive revenue need their place among the customers of the same revenue (ties are
   ranked by customer id), so their rows and the reduce step's rows of their revenue meet in
   one task: both are grouped by snapshot and a hash of the revenue. Every other customer's
   cumulative share is the snapshot's last one, so those rows are labelled where they are.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from segmentation.engines.spark.buckets import bucket_count
from segmentation.engines.spark.connect import parallelism
from segmentation.engines.spark.lake import read_table
from segmentation.features.settings import ValueSettings
from segmentation.features.value import (
    REVENUE_COUNT_SCHEMA,
    RevenueRanking,
    revenue_counts,
    revenue_ranking,
    value_labels,
)
from segmentation.keys import BEHAVIOUR_TABLE, KEY_COLUMNS, SNAPSHOT_COLUMN

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from segmentation.config import SegmentationConfig

# what the value columns read of features.customer_behaviour
VALUE_INPUT_COLUMNS = (*KEY_COLUMNS, "net_revenue", "purchase_days")
# the column grouping a revenue's customers with the reduce step's row of that revenue
_REVENUE_BUCKET = "_revenue_bucket"
_SNAPSHOT_COLUMNS = ("high_cut", "mid_cut", "last_cumulative", "last_share")


def _frame(batches: Iterator[pa.RecordBatch]) -> pl.DataFrame | None:
    """A partition's batches as one frame; None when there are no rows."""
    table = pa.Table.from_batches(list(batches))
    if table.num_rows == 0:
        return None
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _counts_of_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The mapInArrow function of the first map step: a partition's value counts."""
    frame = _frame(batches)
    if frame is not None:
        yield from revenue_counts(frame).select(list(REVENUE_COUNT_SCHEMA)).to_arrow().to_batches()


def _labels_schema() -> pa.Schema:
    """The Arrow schema of the labels: the library's own, from no customers."""
    empty = pl.DataFrame(
        schema={
            SNAPSHOT_COLUMN: pl.Date,
            "customer_id": pl.Utf8,
            "net_revenue": pl.Float64,
            "purchase_days": pl.Int64,
            **dict.fromkeys(("high_cut", "mid_cut", "share", "cumulative"), pl.Float64),
        }
    )
    return value_labels(empty, ValueSettings()).to_arrow().schema


@dataclass(frozen=True)
class _LabelOthers:
    """The mapInArrow function labelling customers without positive revenue: their share and
    cumulative share are the snapshot's last ones."""

    snapshots: pl.DataFrame
    settings: ValueSettings
    schema: pa.Schema

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        frame = _frame(batches)
        if frame is None:
            return
        rows = frame.join(self.snapshots, on=SNAPSHOT_COLUMN, how="left").rename(
            {"last_share": "share", "last_cumulative": "cumulative"}
        )
        yield from value_labels(rows, self.settings).to_arrow().cast(self.schema).to_batches()


@dataclass(frozen=True)
class _LabelPositive:
    """The applyInArrow function labelling the customers with positive revenue of one group:
    their rows and the reduce step's rows of their revenues. Each customer takes the
    cumulative share of its place among the customers of its revenue, in customer id order."""

    snapshots: pl.DataFrame
    settings: ValueSettings
    schema: pa.Schema

    def __call__(self, customers: pa.Table, values: pa.Table) -> pa.Table:
        rows = pl.from_arrow(customers.drop_columns([_REVENUE_BUCKET]))
        ranking = pl.from_arrow(values.drop_columns([_REVENUE_BUCKET]))
        assert isinstance(rows, pl.DataFrame) and isinstance(ranking, pl.DataFrame)
        if rows.is_empty():
            return pa.Table.from_batches([], self.schema)
        place = pl.int_range(pl.len()).over(SNAPSHOT_COLUMN, "net_revenue")
        ranked = (
            rows.sort([SNAPSHOT_COLUMN, "net_revenue", "customer_id"])
            .join(
                ranking.select(SNAPSHOT_COLUMN, "net_revenue", "share", "cumulatives"),
                on=[SNAPSHOT_COLUMN, "net_revenue"],
                how="left",
                maintain_order="left",
            )
            .join(self.snapshots, on=SNAPSHOT_COLUMN, how="left", maintain_order="left")
            .with_columns(pl.col("cumulatives").list.get(place).alias("cumulative"))
        )
        return value_labels(ranked, self.settings).to_arrow().cast(self.schema)


@dataclass(frozen=True)
class SparkValue:
    """The Spark engine's value columns of some snapshots.

    Attributes:
        customers: snapshot_date, customer_id and the value columns (a Spark frame: the labels
            are computed when it is read or written).
        ranking: What the driver computed of the whole population per snapshot.
        reduce_rows: How many rows of value counts the driver received (one per partition,
            snapshot and distinct (net revenue, purchased)).
    """

    customers: DataFrame
    ranking: RevenueRanking
    reduce_rows: int


def customer_value(
    spark: SparkSession,
    lake: str,
    snapshots: Sequence[date],
    config: SegmentationConfig,
    behaviour: DataFrame | None = None,
) -> SparkValue:
    """The value columns (:data:`~segmentation.features.value.VALUE_COLUMNS`) of every
    customer of ``features.customer_behaviour`` at each of ``snapshots``: the same as the
    DuckDB engine's (:func:`~segmentation.features.value.value_columns`).

    Args:
        spark: The engine's session.
        lake: The lake holding ``features.customer_behaviour`` (read when ``behaviour`` is None).
        snapshots: The snapshot dates, any order.
        config: The pipeline configuration (``features.value``).
        behaviour: ``features.customer_behaviour`` holding the snapshots; default: the lake's.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

    if not snapshots:
        raise ValueError("no snapshot dates: nothing to compute")
    settings = config.features.value
    if behaviour is None:
        behaviour = read_table(spark, lake, BEHAVIOUR_TABLE)
    months = behaviour.where(F.col(SNAPSHOT_COLUMN).isin(*sorted(set(snapshots)))).select(
        *VALUE_INPUT_COLUMNS
    )

    # map, then reduce: only the value counts reach the driver
    counts = months.mapInArrow(
        _counts_of_partition, from_arrow_schema(pa.schema(_arrow_fields(REVENUE_COUNT_SCHEMA)))
    ).toArrow()
    counted = pl.from_arrow(counts)
    assert isinstance(counted, pl.DataFrame)
    ranking = revenue_ranking(counted, settings)

    spark_schema = from_arrow_schema(_labels_schema())
    # the Arrow types Spark expects back (plain strings, not polars' large ones)
    schema = to_arrow_schema(spark_schema)
    per_snapshot = ranking.snapshots.select(SNAPSHOT_COLUMN, *_SNAPSHOT_COLUMNS)
    positive = F.col("net_revenue") > 0
    others = months.where(~positive).mapInArrow(
        _LabelOthers(per_snapshot, settings, schema), spark_schema
    )
    buckets = bucket_count(
        int(ranking.values.get_column("customers").sum()),
        parallelism(spark),
    )

    def revenue_bucket(frame: DataFrame) -> DataFrame:
        return frame.withColumn(_REVENUE_BUCKET, F.pmod(F.hash("net_revenue"), F.lit(buckets)))

    values = spark.createDataFrame(
        ranking.values.select(SNAPSHOT_COLUMN, "net_revenue", "share", "cumulatives").to_arrow()
    )
    label = _LabelPositive(per_snapshot.drop("last_cumulative", "last_share"), settings, schema)

    # a function of exactly two arguments (see segmentation.engines.spark.buckets.map_buckets)
    def per_group(customers: pa.Table, rows: pa.Table) -> pa.Table:
        return label(customers, rows)

    labelled = (
        revenue_bucket(months.where(positive))
        .groupBy(SNAPSHOT_COLUMN, _REVENUE_BUCKET)
        .cogroup(revenue_bucket(values).groupBy(SNAPSHOT_COLUMN, _REVENUE_BUCKET))
        .applyInArrow(per_group, spark_schema)
    )
    return SparkValue(
        customers=labelled.unionByName(others), ranking=ranking, reduce_rows=counts.num_rows
    )


def _arrow_fields(schema: dict[str, pl.DataType]) -> list[pa.Field]:
    """A polars schema's columns as Arrow fields."""
    return list(pl.DataFrame(schema=schema).to_arrow().schema)
