"""``features.customer_features`` on Spark: the DuckDB engine's join of the behaviour, the CLV,
the value columns, the lifecycle stage, the engagement and the category mix.

The value columns need the whole snapshot (:mod:`segmentation.engines.spark.value`); everything
else is per customer. So the behaviour, CLV, value and engagement rows of a customer are joined
by key, and each partition of the join is finished by the DuckDB engine's own function
(:func:`segmentation.monthly.customer_features_of_valued`): the lifecycle stage, the engagement
columns (null without an events or feedback source), the category columns (null without a
products source), the contract's column order and the custom attributes. With a products
source, a customer has several ``features.customer_categories`` rows: the joined rows and the
category rows are grouped by the same hash of the customer id and cogrouped, so a task holds
both for its customers.

With an attribute-history source, the custom attributes are the behaviour's: those that held
on each snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from segmentation.config import SegmentationConfig, custom_attributes
from segmentation.engines.spark.catalogue import GROUP_COLUMN, grouped_by_customer
from segmentation.engines.spark.lake import read_table
from segmentation.engines.spark.value import SparkValue, customer_value
from segmentation.features.categories import (
    CATEGORY_KEY_COLUMNS,
    empty_categories,
    products_configured,
)
from segmentation.features.engagement import ENGAGEMENT_FEATURE_COLUMNS
from segmentation.features.settings import FeatureSettings
from segmentation.keys import (
    BEHAVIOUR_TABLE,
    CATEGORIES_TABLE,
    CLV_TABLE,
    ENGAGEMENT_TABLE,
    KEY_COLUMNS,
    SNAPSHOT_COLUMN,
)
from segmentation.monthly import customer_features_of_valued

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# marks the joined rows that found their customer's engagement row
_ENGAGED = "_has_engagement"


@dataclass(frozen=True)
class _FeaturesOfPartition:
    """The mapInArrow function: a partition's joined rows finished into features rows."""

    settings: FeatureSettings
    custom: tuple[str, ...]
    engaged: bool
    schema: pa.Schema

    def finish(self, joined: pl.DataFrame, categories: pl.DataFrame | None = None) -> pl.DataFrame:
        """The features of joined rows (behaviour, CLV, value columns and, when a source is
        configured, the engagement columns with :data:`_ENGAGED`) and, with a products
        source, the category rows of their customers (others' rows are ignored)."""
        engagement = None
        if self.engaged:
            engagement = joined.filter(pl.col(_ENGAGED)).select(
                *KEY_COLUMNS, *ENGAGEMENT_FEATURE_COLUMNS
            )
            joined = joined.drop(_ENGAGED, *ENGAGEMENT_FEATURE_COLUMNS)
        if categories is not None:
            # the DuckDB engine reads a month sorted by customer and category; the category
            # mix sums a customer's rows in that order
            categories = categories.sort(CATEGORY_KEY_COLUMNS)
        return customer_features_of_valued(
            joined, self.settings, self.custom, engagement, categories
        )

    def cogrouped(self, joined: pa.Table, categories: pa.Table) -> pa.Table:
        """The applyInArrow function of the cogroup: one group's joined rows and category
        rows (both with :data:`GROUP_COLUMN`) in, its features rows out."""
        if joined.num_rows == 0:
            return self.schema.empty_table()
        rows = pl.from_arrow(joined.drop_columns([GROUP_COLUMN]))
        owned = pl.from_arrow(categories.drop_columns([GROUP_COLUMN]))
        assert isinstance(rows, pl.DataFrame) and isinstance(owned, pl.DataFrame)
        return self.finish(rows, owned).to_arrow().cast(self.schema)

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        table = pa.Table.from_batches(list(batches))
        if table.num_rows == 0:
            return
        joined = pl.from_arrow(table)
        assert isinstance(joined, pl.DataFrame)
        yield from self.finish(joined).to_arrow().cast(self.schema).to_batches()


def customer_features(
    spark: SparkSession,
    lake: str,
    snapshots: Sequence[date],
    config: SegmentationConfig,
    behaviour: DataFrame | None = None,
    clv: DataFrame | None = None,
    engagement: DataFrame | None = None,
    categories: DataFrame | None = None,
    value: SparkValue | None = None,
) -> DataFrame:
    """``features.customer_features`` at each of ``snapshots``: the same rows, columns and
    values as the DuckDB engine's, in no particular order.

    Args:
        spark: The engine's session.
        lake: The lake holding the tables not given.
        snapshots: The snapshot dates, any order.
        config: The pipeline configuration (features settings, sources, custom attributes).
        behaviour: ``features.customer_behaviour``; default: the lake's.
        clv: ``features.customer_clv``; default: the lake's.
        engagement: ``features.customer_engagement``; default: the lake's, read only with an
            events or feedback source (without one its columns are null).
        categories: ``features.customer_categories``; default: the lake's, read only with a
            products source (without one the category columns are null).
        value: The value columns of ``behaviour``'s snapshots
            (:func:`~segmentation.engines.spark.value.customer_value`), when the caller ran
            their reduce step already (to time it, or to read its sizes); default: computed
            here.

    Raises:
        ValueError: No snapshot date.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

    if not snapshots:
        raise ValueError("no snapshot dates: nothing to compute")
    dates = sorted(set(snapshots))

    def months(frame: DataFrame | None, table: str) -> DataFrame:
        source = read_table(spark, lake, table) if frame is None else frame
        return source.where(F.col(SNAPSHOT_COLUMN).isin(*dates))

    behaviour = months(behaviour, BEHAVIOUR_TABLE)
    if value is None:
        value = customer_value(spark, lake, dates, config, behaviour)
    joined = behaviour.join(months(clv, CLV_TABLE), on=list(KEY_COLUMNS), how="left").join(
        value.customers, on=list(KEY_COLUMNS), how="inner"
    )
    engaged = config.sources.events is not None or config.sources.feedback is not None
    if engaged:
        engagement = months(engagement, ENGAGEMENT_TABLE).select(
            *KEY_COLUMNS, *ENGAGEMENT_FEATURE_COLUMNS, F.lit(True).alias(_ENGAGED)
        )
        joined = joined.join(engagement, on=list(KEY_COLUMNS), how="left").fillna(
            False, subset=[_ENGAGED]
        )

    categorised = products_configured(config.sources)
    finish = _FeaturesOfPartition(
        config.features, tuple(custom_attributes(config)), engaged, pa.schema([])
    )
    # the result's schema is the library's own: the function run on no joined rows
    empty = pl.from_arrow(pa.Table.from_batches([], to_arrow_schema(joined.schema)))
    assert isinstance(empty, pl.DataFrame)
    no_categories = empty_categories() if categorised else None
    spark_schema = from_arrow_schema(finish.finish(empty, no_categories).to_arrow().schema)
    task = _FeaturesOfPartition(
        finish.settings, finish.custom, engaged, to_arrow_schema(spark_schema)
    )
    if not categorised:
        return joined.mapInArrow(task, spark_schema)

    # a function of exactly two arguments: PySpark passes the group's key as well to a
    # callable of three (which a callable object's bound method appears to be)
    def per_group(rows: pa.Table, owned: pa.Table) -> pa.Table:
        return task.cogrouped(rows, owned)

    owned = months(categories, CATEGORIES_TABLE)
    return (
        grouped_by_customer(spark, joined)
        .cogroup(grouped_by_customer(spark, owned))
        .applyInArrow(per_group, spark_schema)
    )
