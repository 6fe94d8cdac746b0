"""``features.customer_features`` as the DuckDB engine computes it, month by month, and the same
table written into a lake: the input of the Spark engine's segments and strategies tests."""

from datetime import date

import duckdb
import polars as pl

from segmentation.config import SegmentationConfig
from segmentation.engines.spark.lake import write_months
from segmentation.keys import FEATURES_TABLE
from tests.spark.reference import features_months


def duckdb_features(
    con: duckdb.DuckDBPyConnection, snapshots: list[date], config: SegmentationConfig
) -> dict[date, pl.DataFrame]:
    """Each month's ``features.customer_features`` computed by the DuckDB engine's functions
    from the landed warehouse ``con`` (the behaviour is put into it while the engagement is
    computed, then dropped); computed once per process (``reference.features_months``)."""
    return features_months(con, snapshots, config)


def write_features(spark, lake: str, features: dict[date, pl.DataFrame]) -> None:
    """The months of ``features`` written into the lake's ``features.customer_features``."""
    table = pl.concat(features.values()).to_arrow()
    write_months(spark.createDataFrame(table), lake, FEATURES_TABLE)
