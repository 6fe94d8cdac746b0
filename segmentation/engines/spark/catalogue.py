"""The catalogue columns of ``marts.customer_segments`` on Spark: the reduce steps they need of
each snapshot's whole population, run by :mod:`segmentation.engines.spark.segments`.

- Next best category (a products source): each group of customers (a hash of the customer id,
  so a customer's category rows are whole in one group) counts its category baskets'
  association rules with the library's SQL
  (:func:`~segmentation.segments.recommendations.association_counts`: n, n(a) and n(a, c)
  per snapshot). The counts are of customers, so Spark sums the groups' counts, and the driver
  receives at most 1 + items + items^2 rows per snapshot.
- Next best product (``segments.recommendations.products_held_column``): the same over the
  product baskets, per partition of the features (one row per customer).
- Psychographic clusters (a products source, clusters enabled, no rules): the driver receives
  every category row with positive catalogued spend and fits the snapshot's clusters with
  :func:`~segmentation.segments.psychographics.fit_share_clusters`: the same top categories,
  share vectors, seeded sample, k-means and names as the DuckDB engine.

The labelling map then gives each customer its pick from its own basket and the summed counts
(eligibility rule included) and assigns its own share vector to the fitted clusters
(:class:`~segmentation.segments.catalogue_labels.CataloguePopulation`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import duckdb
import polars as pl
import pyarrow as pa

from segmentation.engines.spark.lake import read_table
from segmentation.features.categories import products_configured
from segmentation.features.contracts import UNKNOWN_CATEGORY
from segmentation.keys import CATEGORIES_TABLE, SNAPSHOT_COLUMN
from segmentation.monthly import catalogue_for_rules
from segmentation.segments.catalogue_labels import CataloguePopulation
from segmentation.segments.psychographics import ShareClusters, fit_share_clusters
from segmentation.segments.recommendations import (
    COUNT_SCHEMA,
    association_counts,
    category_baskets,
    product_baskets,
)
from segmentation.segments.settings import SegmentSettings
from segmentation.sql_files import render_sql

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.group import GroupedData

    from segmentation.config import SegmentationConfig

# the association counts of a part of the customers (recommendations.COUNT_SCHEMA)
ASSOCIATION_COUNT_SCHEMA = pa.schema(
    [
        (SNAPSHOT_COLUMN, pa.date32()),
        ("antecedent", pa.string()),
        ("consequent", pa.string()),
        ("customers", pa.int64()),
    ]
)
_COUNT_KEYS = (SNAPSHOT_COLUMN, "antecedent", "consequent")
# the group of a features (or joined) row and of a category row: a hash of the customer id
GROUP_COLUMN = "_customer_group"


def no_population(population: dict[date, CataloguePopulation]) -> CataloguePopulation:
    """The population of a snapshot without baskets or share clusters: empty counts and no
    clusters where the others have them (never the rows at hand, which are a part)."""
    if not population:
        return CataloguePopulation()
    some = next(iter(population.values()))
    empty = pl.DataFrame(schema=COUNT_SCHEMA)
    return CataloguePopulation(
        category_counts=None if some.category_counts is None else empty,
        product_counts=None if some.product_counts is None else empty,
        share_clusters=None if some.share_clusters is None else {},
    )


@dataclass(frozen=True)
class _CountBaskets:
    """The function counting a part of the customers' baskets' association rules: the
    category baskets of a group's category rows (applyInArrow), or the product baskets of a
    partition's features rows (mapInArrow)."""

    held_column: str | None = None

    def counts(self, rows: pl.DataFrame) -> pa.Table:
        if self.held_column is None:
            baskets = category_baskets(rows)
        else:
            baskets = product_baskets(rows, self.held_column)
        return association_counts(baskets).to_arrow().cast(ASSOCIATION_COUNT_SCHEMA)

    def grouped(self, rows: pa.Table) -> pa.Table:
        frame = pl.from_arrow(rows.drop_columns([GROUP_COLUMN]))
        assert isinstance(frame, pl.DataFrame)
        return self.counts(frame)

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        table = pa.Table.from_batches(list(batches))
        if table.num_rows == 0:
            return
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        yield from self.counts(frame).to_batches()


def _summed_counts(parts: DataFrame) -> pl.DataFrame:
    """The parts' association counts summed per snapshot and rule, on the driver."""
    from pyspark.sql import functions as F

    summed = pl.from_arrow(
        parts.groupBy(*_COUNT_KEYS)
        .agg(F.sum("customers").cast("long").alias("customers"))
        .toArrow()
    )
    assert isinstance(summed, pl.DataFrame)
    return summed.cast(COUNT_SCHEMA).sort(*_COUNT_KEYS, nulls_last=False)  # type: ignore[arg-type]


def _per_snapshot(counts: pl.DataFrame) -> dict[date, pl.DataFrame]:
    return {
        snapshot: rows
        for (snapshot,), rows in counts.partition_by(SNAPSHOT_COLUMN, as_dict=True).items()
    }


def fit_share_clusters_of(
    bought: pl.DataFrame, settings: SegmentSettings
) -> dict[date, ShareClusters | None]:
    """The psychographic clusters of every snapshot of ``bought`` (the category rows with
    positive catalogued spend of every customer), fitted as the DuckDB engine fits them."""
    return {
        snapshot: fit_share_clusters(rows, settings.psychographics)
        for (snapshot,), rows in bought.partition_by(SNAPSHOT_COLUMN, as_dict=True).items()
    }


def rules_catalogue(catalogue: pa.Table) -> pl.DataFrame:
    """The catalogue columns the eligibility rule reads, from the lake's ``raw.products``, by
    the DuckDB engine's own query (:func:`segmentation.monthly.catalogue_for_rules`)."""
    with duckdb.connect(config={"threads": 1}) as con:
        con.execute(render_sql("warehouse/create_schema.sql", schema="raw"))
        con.register("_catalogue", catalogue)
        con.execute(
            render_sql("spark/create_bucket_view.sql", view="raw.products", source="_catalogue")
        )
        return catalogue_for_rules(con)


def grouped_by_customer(spark: SparkSession, frame: DataFrame) -> GroupedData:
    """``frame``'s rows grouped by a hash of their customer id (one group per shuffle
    partition): the features and category rows of a customer meet in one group."""
    from pyspark.sql import functions as F

    groups = int(spark.conf.get("spark.sql.shuffle.partitions") or 200)
    group = F.pmod(F.xxhash64(F.col("customer_id")), F.lit(groups))
    return frame.withColumn(GROUP_COLUMN, group).groupBy(GROUP_COLUMN)


def catalogue_population(
    spark: SparkSession,
    lake: str,
    dates: list[date],
    config: SegmentationConfig,
    months: DataFrame,
    categories: DataFrame | None,
) -> tuple[dict[date, CataloguePopulation], pl.DataFrame | None, DataFrame | None, dict[str, int]]:
    """The reduce steps of the catalogue columns: the summed association counts of the
    category baskets (with a products source) and of the product baskets (with held products),
    and the psychographic clusters fitted on every customer's category rows (with a products
    source, clusters enabled and no rules); the catalogue for the eligibility rule; the
    category rows of the snapshots (None without a products source); the rows the driver
    received."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    settings = config.segments
    categorised = products_configured(config.sources)
    held = settings.recommendations.products_held_column
    count_schema = from_arrow_schema(ASSOCIATION_COUNT_SCHEMA)
    received: dict[str, int] = {}
    category_counts: dict[date, pl.DataFrame] | None = None
    product_counts: dict[date, pl.DataFrame] | None = None
    share_clusters: dict[date, ShareClusters | None] | None = None
    owned = None
    products = None
    if categorised:
        if categories is None:
            categories = read_table(spark, lake, CATEGORIES_TABLE)
        owned = categories.where(F.col(SNAPSHOT_COLUMN).isin(*dates))
        counter = _CountBaskets()

        def count_group(rows: pa.Table) -> pa.Table:
            return counter.grouped(rows)

        summed = _summed_counts(
            grouped_by_customer(spark, owned).applyInArrow(count_group, count_schema)
        )
        received["category_counts"] = summed.height
        category_counts = _per_snapshot(summed)
        psychographics = settings.psychographics
        if psychographics.clusters.enabled and not psychographics.rules:
            bought = pl.from_arrow(
                owned.where((F.col("category") != UNKNOWN_CATEGORY) & (F.col("spend") > 0))
                .select(SNAPSHOT_COLUMN, "customer_id", "category", "spend")
                .toArrow()
            )
            assert isinstance(bought, pl.DataFrame)
            received["share_rows"] = bought.height
            share_clusters = fit_share_clusters_of(bought, settings)
        if settings.recommendations.eligibility is not None:
            products = rules_catalogue(read_table(spark, lake, "raw.products").toArrow())
    if held is not None:
        summed = _summed_counts(months.mapInArrow(_CountBaskets(held), count_schema))
        received["product_counts"] = summed.height
        product_counts = _per_snapshot(summed)
    empty = pl.DataFrame(schema=COUNT_SCHEMA)
    population = {
        snapshot: CataloguePopulation(
            category_counts=None
            if category_counts is None
            else category_counts.get(snapshot, empty),
            product_counts=None if product_counts is None else product_counts.get(snapshot, empty),
            share_clusters=share_clusters,
        )
        for snapshot in dates
    }
    return population, products, owned, received
