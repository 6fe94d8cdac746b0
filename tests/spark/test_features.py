"""features.customer_features computed by Spark on local[2] (behaviour, CLV and engagement from
the lake, the value columns from merged value counts, each partition of their join finished by
the DuckDB engine's own function) equals the DuckDB engine's table: the same rows, columns and
types, numbers equal to 1e-9 relative (here: bit for bit)."""

from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from segmentation.config import SegmentationConfig
from segmentation.engines.spark.behaviour import customer_behaviour
from segmentation.engines.spark.clv import customer_clv
from segmentation.engines.spark.engagement import customer_engagement
from segmentation.engines.spark.features import customer_features
from segmentation.engines.spark.lake import export_raw, write_months
from segmentation.keys import BEHAVIOUR_TABLE, CLV_TABLE, ENGAGEMENT_TABLE, KEY_COLUMNS
from segmentation.monthly import customer_features_month
from tests.spark.equality import assert_same_table
from tests.spark.reference import behaviour_months, clv_months, engagement_months
from tests.spark.test_behaviour import GENERATED_SNAPSHOTS, RETAIL_SNAPSHOTS

pytestmark = pytest.mark.spark


def _duckdb_engine(
    con: duckdb.DuckDBPyConnection, snapshots: list[date], config: SegmentationConfig
) -> pl.DataFrame:
    """The DuckDB engine's features, month by month, from its behaviour, CLV and engagement
    months (the engagement read from a behaviour table, as the asset's is)."""
    behaviour = behaviour_months(con, snapshots, config)
    engaged = config.sources.events is not None or config.sources.feedback is not None
    engagement: list[pl.DataFrame | None] = (
        engagement_months(con, snapshots, config) if engaged else [None] * len(behaviour)
    )
    months = []
    for month, fitted, engaged_month in zip(
        behaviour, clv_months(con, snapshots, config), engagement, strict=True
    ):
        clv = fitted.customers
        if not month.is_empty():
            # as read_behaviour_with_clv: one CLV row per behaviour row, in the same order
            assert clv.get_column("customer_id").equals(month.get_column("customer_id"))
        with_clv = month.hstack(clv.drop(KEY_COLUMNS).get_columns())
        months.append(customer_features_month(with_clv, config, engaged_month))
    return pl.concat(months)


def _spark_engine(spark, chain_lakes, con, snapshots, config) -> pl.DataFrame:
    """The Spark engine's chain: raw export; behaviour, CLV and engagement written into the
    lake (the process's shared lake, ``chain_lakes``); the features from the lake."""
    tables = [BEHAVIOUR_TABLE, CLV_TABLE]
    if config.sources.events is not None or config.sources.feedback is not None:
        tables.append(ENGAGEMENT_TABLE)
    lake = chain_lakes.lake(con, snapshots, config, *tables)
    frame = pl.from_arrow(customer_features(spark, lake, snapshots, config).toArrow())
    assert isinstance(frame, pl.DataFrame)
    return frame


def test_spark_features_equal_duckdb_on_the_real_sample_for_every_month(
    spark, chain_lakes, retail
) -> None:
    config, con = retail
    expected = _duckdb_engine(con, RETAIL_SNAPSHOTS, config)
    actual = _spark_engine(spark, chain_lakes, con, RETAIL_SNAPSHOTS, config)
    assert expected.height > 20_000
    assert expected.get_column("lifecycle_stage").n_unique() >= 5
    assert expected.get_column("p_alive").is_not_null().any()
    assert_same_table(actual, expected)


def test_spark_features_equal_duckdb_on_generated_customers_with_engagement(
    spark, chain_lakes, generated
) -> None:
    config, con = generated
    expected = _duckdb_engine(con, GENERATED_SNAPSHOTS, config)
    actual = _spark_engine(spark, chain_lakes, con, GENERATED_SNAPSHOTS, config)
    # engagement columns, custom attributes and customers who never bought reach the table
    assert expected.get_column("visits_90d").drop_nulls().gt(0).any()
    assert "lifestyle" in expected.columns
    assert (expected.get_column("lifecycle_stage") == "potential").any()
    assert_same_table(actual, expected)


def test_features_without_the_customers_engagement_fail_clearly(
    spark, generated, tmp_path: Path
) -> None:
    """Engagement written for one month only: the features of another month stop with the
    DuckDB engine's message instead of null engagement columns."""
    config, con = generated
    lake = str(tmp_path / "lake")
    export_raw(con, lake, config)
    months = GENERATED_SNAPSHOTS[:2]
    write_months(customer_behaviour(spark, lake, months, config), lake, BEHAVIOUR_TABLE)
    write_months(customer_clv(spark, lake, months, config).customers, lake, CLV_TABLE)
    write_months(customer_engagement(spark, lake, months[:1], config), lake, ENGAGEMENT_TABLE)
    with pytest.raises(Exception, match="does not hold the customers of"):
        customer_features(spark, lake, months, config).toArrow()
