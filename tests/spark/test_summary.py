"""marts.segment_summary computed by Spark on local[2] from the lake's marts.customer_segments
(each partition's sums per segment on the executors, their totals finished on the driver)
equals the DuckDB engine's table: the same rows, customers and shares exactly, revenue and mean
CLV to 1e-9 relative (float sums in another order)."""

from pathlib import Path

import polars as pl
import pytest

from segmentation.engines.compare import frame_differences
from segmentation.engines.spark.lake import read_table
from segmentation.engines.spark.summary import (
    segment_summary,
    snapshot_dimensions,
    total_sums,
)
from segmentation.keys import SEGMENTS_TABLE
from segmentation.segments.build import segment_sums, summary_of_sums
from tests.spark.marts_lake import duckdb_marts
from tests.spark.test_behaviour import GENERATED_SNAPSHOTS, RETAIL_SNAPSHOTS

pytestmark = pytest.mark.spark

SUMMARY_KEYS = ["snapshot_date", "dimension", "segment"]
EXACT = ["snapshot_date", "dimension", "segment", "customers", "share"]


def _assert_equal(actual: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert frame_differences(actual, expected, keys=SUMMARY_KEYS) == []
    # counts and customer shares are exact; the sums' rows come in the same order
    assert actual.select(EXACT).equals(expected.select(EXACT))


def test_spark_summary_equals_duckdb_on_the_real_sample_for_every_month(
    spark, marts_lakes, retail
) -> None:
    config, con = retail
    lake = marts_lakes.lake(con, RETAIL_SNAPSHOTS, config)
    marts = duckdb_marts(con, RETAIL_SNAPSHOTS, config)
    result = segment_summary(spark, lake, RETAIL_SNAPSHOTS)
    expected = marts.summary
    # every month with customers (the day before the first transaction has none)
    assert expected.get_column("snapshot_date").n_unique() == len(RETAIL_SNAPSHOTS) - 1
    _assert_equal(result.summary, expected)
    # the driver receives sums per partition and segment, not customers
    assert expected.height <= result.reduce_rows < marts.segments.height / 10


def test_spark_summary_equals_duckdb_on_generated_customers(spark, marts_lakes, generated) -> None:
    """Attribute dimensions and the event and feedback labels (intent, engagement, NPS and
    satisfaction classes) are dimensions of every month."""
    config, con = generated
    lake = marts_lakes.lake(con, GENERATED_SNAPSHOTS, config)
    marts = duckdb_marts(con, GENERATED_SNAPSHOTS, config)
    expected = marts.summary
    dimensions = set(expected.get_column("dimension").to_list())
    assert {"intent_class", "nps_class", "satisfaction_class"} <= dimensions
    assert any(name.startswith("attr_") for name in dimensions)
    found = snapshot_dimensions(read_table(spark, lake, SEGMENTS_TABLE))
    assert found.feedback == frozenset(GENERATED_SNAPSHOTS)
    _assert_equal(segment_summary(spark, lake, GENERATED_SNAPSHOTS).summary, expected)


def test_parts_sums_give_the_summary_of_the_whole(retail) -> None:
    """Any split of a month's customers sums to the month's summary; a part alone does not."""
    config, con = retail
    marts = duckdb_marts(con, RETAIL_SNAPSHOTS, config)
    month = marts.segments.filter(pl.col("snapshot_date") == RETAIL_SNAPSHOTS[-1])
    expected = marts.summary.filter(pl.col("snapshot_date") == RETAIL_SNAPSHOTS[-1])
    dimensions = expected.get_column("dimension").unique(maintain_order=True).to_list()
    parts = [month.gather_every(3, offset) for offset in range(3)]
    sums = pl.concat(segment_sums(part, part, dimensions) for part in parts)
    _assert_equal(summary_of_sums(total_sums(sums)), expected)
    alone = summary_of_sums(segment_sums(parts[0], parts[0], dimensions))
    assert frame_differences(alone, expected, keys=SUMMARY_KEYS) != []


def test_no_snapshot_dates_is_refused(spark, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no snapshot dates"):
        segment_summary(spark, str(tmp_path / "lake"), [])
