"""The value columns of features.customer_features computed by Spark on local[2] (value counts
per partition on the executors, exact cut points and cumulative shares from the merged counts
on the driver, each customer's labels on the executors) equal the DuckDB engine's: the same
labels, the numbers bit for bit (the contract asks for 1e-9 relative)."""

from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from segmentation.config import SegmentationConfig
from segmentation.engines.compare import frame_differences
from segmentation.engines.spark.value import customer_value
from segmentation.features.value import value_columns
from segmentation.keys import BEHAVIOUR_TABLE, KEY_COLUMNS
from tests.spark.chain_lake import ChainLakes
from tests.spark.reference import behaviour_months
from tests.spark.test_behaviour import GENERATED_SNAPSHOTS, RETAIL_SNAPSHOTS

pytestmark = pytest.mark.spark


def _duckdb_engine(
    con: duckdb.DuckDBPyConnection, snapshots: list[date], config: SegmentationConfig
) -> pl.DataFrame:
    """The value columns as the DuckDB engine's features month computes them."""
    months = [
        month.select(KEY_COLUMNS).hstack(value_columns(month, config.features.value))
        for month in behaviour_months(con, snapshots, config)
    ]
    return pl.concat(months)


def _spark_engine(spark, chain_lakes, con, snapshots, config):
    """The value columns from the behaviour in the process's shared lake (``chain_lakes``)."""
    lake = chain_lakes.lake(con, snapshots, config, BEHAVIOUR_TABLE)
    result = customer_value(spark, lake, snapshots, config)
    customers = pl.from_arrow(result.customers.toArrow())
    assert isinstance(customers, pl.DataFrame)
    return result, customers


def _assert_equal(actual: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert frame_differences(actual, expected) == []
    # bit for bit, not only within the tolerance
    assert actual.sort(KEY_COLUMNS).equals(expected.sort(KEY_COLUMNS))


def test_the_value_columns_do_not_depend_on_the_sessions_parallelism(
    spark, retail, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bucket counts follow the session's parallelism (a Spark Connect session's comes from
    its configuration, not the cluster's cores): with 5 rather than the tests' 2 (customer
    buckets of the behaviour, revenue buckets of the labels) the columns are still the DuckDB
    engine's, bit for bit."""
    cores = 5
    import segmentation.engines.spark.behaviour as behaviour
    import segmentation.engines.spark.value as value

    monkeypatch.setattr(behaviour, "parallelism", lambda spark: cores)
    monkeypatch.setattr(value, "parallelism", lambda spark: cores)
    config, con = retail
    snapshots = RETAIL_SNAPSHOTS[-2:]
    expected = _duckdb_engine(con, snapshots, config)
    # a lake of its own: the shared one's behaviour was bucketed with the tests' parallelism
    _, actual = _spark_engine(spark, ChainLakes(spark, lambda: tmp_path), con, snapshots, config)
    assert expected.height > 3_000
    _assert_equal(actual, expected)


def test_spark_value_columns_equal_duckdb_on_the_real_sample_for_every_month(
    spark, chain_lakes, retail
) -> None:
    config, con = retail
    expected = _duckdb_engine(con, RETAIL_SNAPSHOTS, config)
    result, actual = _spark_engine(spark, chain_lakes, con, RETAIL_SNAPSHOTS, config)
    assert expected.height > 20_000
    assert set(expected.get_column("value_tier")) == {"high", "mid", "low"}
    assert set(expected.get_column("abc_class")) == {"A", "B", "C"}
    _assert_equal(actual, expected)
    # the reduce step's input: at most one row per customer-month, fewer where they share a
    # revenue within a partition
    assert 0 < result.reduce_rows <= expected.height


def test_spark_value_columns_equal_duckdb_on_generated_customers(
    spark, chain_lakes, generated
) -> None:
    config, con = generated
    expected = _duckdb_engine(con, GENERATED_SNAPSHOTS, config)
    result, actual = _spark_engine(spark, chain_lakes, con, GENERATED_SNAPSHOTS, config)
    # customers who never bought, and customers tied on a positive revenue, are compared
    assert (expected.get_column("revenue_share") == 0).any()
    assert result.ranking.values.filter(pl.col("customers") > 1).height > 0
    _assert_equal(actual, expected)


def test_no_snapshot_is_refused(spark, retail, tmp_path: Path) -> None:
    config, _ = retail
    with pytest.raises(ValueError, match="no snapshot dates"):
        customer_value(spark, str(tmp_path / "lake"), [], config)
