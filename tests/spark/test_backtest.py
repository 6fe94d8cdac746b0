"""marts.clv_backtest computed by Spark on local[2] from the lake's features.customer_clv and
raw.transactions (each bucket's customers' predicted and actual purchase days on the
executors, the DuckDB engine's aggregation on the driver) equals the DuckDB engine's table bit
for bit."""

from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from segmentation.config import SegmentationConfig
from segmentation.engines.spark.backtest import clv_backtest
from segmentation.engines.spark.lake import export_raw, write_months
from segmentation.evaluation.evaluate import compute_clv_backtest, coverage_last_day
from segmentation.keys import CLV_TABLE
from tests.spark.reference import clv_months
from tests.spark.test_behaviour import GENERATED_SNAPSHOTS, RETAIL_SNAPSHOTS

pytestmark = pytest.mark.spark


def _duckdb_clv(
    con: duckdb.DuckDBPyConnection, snapshots: list[date], config: SegmentationConfig
) -> pl.DataFrame:
    """The DuckDB engine's features.customer_clv of ``snapshots``, month by month."""
    return pl.concat(month.customers for month in clv_months(con, snapshots, config))


def _duckdb_backtest(con: duckdb.DuckDBPyConnection, clv: pl.DataFrame) -> pl.DataFrame:
    """The DuckDB engine's backtest of the landed warehouse with ``clv`` as its CLV table,
    dropped afterwards (the landed warehouse is shared by the session's tests)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS features")
    con.register("_clv", clv.to_arrow())
    try:
        con.execute(f"CREATE OR REPLACE TABLE {CLV_TABLE} AS SELECT * FROM _clv")
        return compute_clv_backtest(con)
    finally:
        con.unregister("_clv")
        con.execute(f"DROP TABLE IF EXISTS {CLV_TABLE}")


def _both(spark, con, snapshots, config, lake: str):
    clv = _duckdb_clv(con, snapshots, config)
    expected = _duckdb_backtest(con, clv)
    export_raw(con, lake, config)
    write_months(spark.createDataFrame(clv.to_arrow()), lake, CLV_TABLE)
    return clv, expected, clv_backtest(spark, lake)


def test_spark_backtest_equals_duckdb_bit_for_bit_on_the_real_sample(
    spark, retail, tmp_path: Path
) -> None:
    config, con = retail
    clv, expected, actual = _both(spark, con, RETAIL_SNAPSHOTS, config, str(tmp_path / "lake"))
    # the months whose 90 days the sample covers, the model's among them
    assert expected.height >= 18
    assert (expected.get_column("clv_method") == "bgnbd_gamma_gamma").any()
    assert expected.get_column("correlation").is_not_null().all()
    assert actual.last_day == coverage_last_day(con)
    assert actual.backtest.schema == expected.schema
    assert actual.backtest.equals(expected)
    # the driver receives one row per scored customer of a covered snapshot
    assert actual.reduce_rows == expected.get_column("customers").sum()
    assert actual.reduce_rows < clv.height
    assert actual.buckets >= 2


def test_spark_backtest_equals_duckdb_bit_for_bit_on_generated_data(
    spark, generated, tmp_path: Path
) -> None:
    config, con = generated
    _, expected, actual = _both(spark, con, GENERATED_SNAPSHOTS, config, str(tmp_path / "lake"))
    assert expected.height >= 1
    assert actual.backtest.equals(expected)


def test_any_number_of_buckets_gives_the_same_bits(spark, generated, tmp_path: Path) -> None:
    """The driver's aggregation takes the rows in customer order: one bucket or five, the
    same table."""
    config, con = generated
    lake = str(tmp_path / "lake")
    _, expected, _ = _both(spark, con, GENERATED_SNAPSHOTS, config, lake)
    for buckets in (1, 5):
        result = clv_backtest(spark, lake, buckets=buckets)
        assert result.buckets == buckets
        assert result.backtest.equals(expected)


def test_a_lake_without_the_clv_is_refused_naming_it(spark, generated, tmp_path: Path) -> None:
    config, con = generated
    lake = str(tmp_path / "lake")
    export_raw(con, lake, config)
    with pytest.raises(ValueError, match="holds no features.customer_clv: write the CLV"):
        clv_backtest(spark, lake)
