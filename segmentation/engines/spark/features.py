"""``features.customer_features`` on Spark: the DuckDB engine's join of the behaviour, the CLV,
the value columns, the lifecycle stage, the engagement and the category mix.

The value columns need the whole snapshot (:mod:`segmentation.engines.spark.value`); everything
else is per customer. So the behaviour, CLV, value and engagement rows of a customer are joined
by key, and each partition of the join is finished by the DuckDB engine's own function
(:func:`segmentation.monthly.customer_features_of_valued`): the lifecycle stage, the engagement
columns (null without an events or feedback source), the contract's column order and the
custom attributes.

Not on Spark yet, and refused rather than computed differently: the category mix (a products
source) and point-in-time attributes (an attribute-history source).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from segmentation.config import SegmentationConfig, custom_attributes
from segmentation.engines.spark.lake import read_table
from segmentation.engines.spark.value import customer_value
from segmentation.features.categories import products_configured
from segmentation.features.engagement import ENGAGEMENT_FEATURE_COLUMNS
from segmentation.features.settings import FeatureSettings
from segmentation.keys import (
    BEHAVIOUR_TABLE,
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


def refuse_unsupported_sources(config: SegmentationConfig) -> None:
    """Stop before any work when the features would differ from the DuckDB engine's.

    Raises:
        ValueError: With a products source (the category mix is not computed on Spark yet)
            or an attribute-history source (its point-in-time attributes are not in the lake).
    """
    if products_configured(config.sources):
        raise ValueError(
            "the Spark engine does not compute features.customer_categories yet: the category "
            "columns of features.customer_features would be missing; use engine: duckdb for a "
            "config with sources.products"
        )
    if config.sources.customer_attributes is not None:
        raise ValueError(
            "the Spark engine does not read sources.customer_attributes yet: its "
            "point-in-time attributes would be missing; use engine: duckdb for this config"
        )


@dataclass(frozen=True)
class _FeaturesOfPartition:
    """The mapInArrow function: a partition's joined rows finished into features rows."""

    settings: FeatureSettings
    custom: tuple[str, ...]
    engaged: bool
    schema: pa.Schema

    def finish(self, joined: pl.DataFrame) -> pl.DataFrame:
        """The features of joined rows (behaviour, CLV, value columns and, when a source is
        configured, the engagement columns with :data:`_ENGAGED`)."""
        engagement = None
        if self.engaged:
            engagement = joined.filter(pl.col(_ENGAGED)).select(
                *KEY_COLUMNS, *ENGAGEMENT_FEATURE_COLUMNS
            )
            joined = joined.drop(_ENGAGED, *ENGAGEMENT_FEATURE_COLUMNS)
        return customer_features_of_valued(joined, self.settings, self.custom, engagement)

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

    Raises:
        ValueError: No snapshot date, or a source the engine does not support yet
            (:func:`refuse_unsupported_sources`).
    """
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

    if not snapshots:
        raise ValueError("no snapshot dates: nothing to compute")
    refuse_unsupported_sources(config)
    dates = sorted(set(snapshots))

    def months(frame: DataFrame | None, table: str) -> DataFrame:
        source = read_table(spark, lake, table) if frame is None else frame
        return source.where(F.col(SNAPSHOT_COLUMN).isin(*dates))

    behaviour = months(behaviour, BEHAVIOUR_TABLE)
    value = customer_value(spark, lake, dates, config, behaviour).customers
    joined = behaviour.join(months(clv, CLV_TABLE), on=list(KEY_COLUMNS), how="left").join(
        value, on=list(KEY_COLUMNS), how="inner"
    )
    engaged = config.sources.events is not None or config.sources.feedback is not None
    if engaged:
        engagement = months(engagement, ENGAGEMENT_TABLE).select(
            *KEY_COLUMNS, *ENGAGEMENT_FEATURE_COLUMNS, F.lit(True).alias(_ENGAGED)
        )
        joined = joined.join(engagement, on=list(KEY_COLUMNS), how="left").fillna(
            False, subset=[_ENGAGED]
        )

    finish = _FeaturesOfPartition(
        config.features, tuple(custom_attributes(config)), engaged, pa.schema([])
    )
    # the result's schema is the library's own: the function run on no joined rows
    empty = pl.from_arrow(pa.Table.from_batches([], to_arrow_schema(joined.schema)))
    assert isinstance(empty, pl.DataFrame)
    spark_schema = from_arrow_schema(finish.finish(empty).to_arrow().schema)
    task = _FeaturesOfPartition(
        finish.settings, finish.custom, engaged, to_arrow_schema(spark_schema)
    )
    return joined.mapInArrow(task, spark_schema)
