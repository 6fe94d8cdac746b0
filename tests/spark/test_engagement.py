"""features.customer_engagement computed by Spark on local[2] (the lake's events, feedback,
purchases and behaviour keys shuffled by customer bucket, the DuckDB engine's own code run on
each bucket inside the tasks) equals the DuckDB engine's table: same rows, same columns and
types, numbers equal to 1e-9 relative (here: bit for bit)."""

from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from segmentation.config import SegmentationConfig
from segmentation.engines.compare import frame_differences
from segmentation.engines.spark.behaviour import customer_behaviour
from segmentation.engines.spark.engagement import customer_engagement
from segmentation.engines.spark.lake import export_raw, write_months
from segmentation.keys import BEHAVIOUR_TABLE
from tests.spark.equality import assert_same_table
from tests.spark.reference import engagement_months
from tests.spark.test_behaviour import GENERATED_SNAPSHOTS, RETAIL_SNAPSHOTS

pytestmark = pytest.mark.spark


def _duckdb_engine(
    con: duckdb.DuckDBPyConnection, snapshots: list[date], config: SegmentationConfig
) -> pl.DataFrame:
    return pl.concat(engagement_months(con, snapshots, config))


def _spark_engine(spark, chain_lakes, con, snapshots, config, buckets=None) -> pl.DataFrame:
    """The Spark engine's chain: the raw tables exported, the behaviour computed and written
    into the lake (the process's shared lake, ``chain_lakes``), the engagement computed from
    it."""
    lake = chain_lakes.lake(con, snapshots, config, BEHAVIOUR_TABLE)
    engagement = customer_engagement(spark, lake, snapshots, config, buckets=buckets)
    frame = pl.from_arrow(engagement.toArrow())
    assert isinstance(frame, pl.DataFrame)
    return frame


def test_spark_engagement_equals_duckdb_on_the_real_sample_for_every_month(
    spark, chain_lakes, retail
) -> None:
    # the sample has no events or feedback: every customer of every month, columns null
    config, con = retail
    expected = _duckdb_engine(con, RETAIL_SNAPSHOTS, config)
    actual = _spark_engine(spark, chain_lakes, con, RETAIL_SNAPSHOTS, config)
    assert expected.height > 20_000
    assert_same_table(actual, expected)


def test_spark_engagement_equals_duckdb_on_generated_events_and_feedback(
    spark, chain_lakes, generated
) -> None:
    config, con = generated
    expected = _duckdb_engine(con, GENERATED_SNAPSHOTS, config)
    # 7 buckets on 2 cores, four tables per bucket (the tagged union)
    actual = _spark_engine(spark, chain_lakes, con, GENERATED_SNAPSHOTS, config, buckets=7)
    # the data exercise what the measures count: events, carts, NPS answers, complaints
    for column in ("visits_90d", "abandoned_carts_90d", "latest_nps", "complaints_90d"):
        assert expected.get_column(column).drop_nulls().gt(0).any(), column
    assert_same_table(actual, expected)


def test_a_changed_event_changes_the_spark_result(spark, generated, tmp_path: Path) -> None:
    """The comparison above can fail: Spark reads the lake, so events the DuckDB engine
    did not see give another table."""
    config, con = generated
    snapshots = GENERATED_SNAPSHOTS[-1:]
    expected = _duckdb_engine(con, snapshots, config)
    lake = str(tmp_path / "lake")
    export_raw(con, lake, config)
    events = Path(lake) / "raw" / "events" / "part-00000.parquet"
    table = pq.read_table(events)
    pq.write_table(table.slice(0, table.num_rows // 2), events)
    write_months(customer_behaviour(spark, lake, snapshots, config), lake, BEHAVIOUR_TABLE)
    actual = pl.from_arrow(customer_engagement(spark, lake, snapshots, config).toArrow())
    assert isinstance(actual, pl.DataFrame)
    assert actual.height == expected.height
    assert frame_differences(actual, expected)


def test_the_export_leaves_out_descriptive_columns_declared_personal(
    generated, tmp_path: Path
) -> None:
    config, con = generated
    folders = export_raw(con, str(tmp_path / "lake"), config)
    feedback = pq.read_table(folders["raw.feedback"]).to_pydict()
    (landed, topics) = con.execute("SELECT count(*), count(topic) FROM raw.feedback").fetchone()
    assert landed == len(feedback["customer_id"]) and topics > 0
    assert set(feedback["topic"]) == {None}
    # the events' descriptive columns are not declared personal: exported as landed
    events = pq.read_table(folders["raw.events"]).to_pydict()
    (channels,) = con.execute("SELECT count(channel) FROM raw.events").fetchone()
    assert channels > 0
    assert sum(value is not None for value in events["channel"]) == channels


def test_sources_never_landed_are_exported_empty_with_their_columns(retail, tmp_path: Path) -> None:
    config, con = retail
    folders = export_raw(con, str(tmp_path / "lake"), config)
    for table in ("raw.events", "raw.feedback", "raw.customer_attributes"):
        exported = pq.read_table(folders[table])
        assert exported.num_rows == 0
        assert "customer_id" in exported.column_names and "source_row" in exported.column_names
    catalogue = pq.read_table(folders["raw.products"])
    assert catalogue.num_rows == 0
    assert {"product_id", "category", "risk_level"} <= set(catalogue.column_names)
