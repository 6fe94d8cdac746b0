"""marts.customer_segments computed by Spark on local[2] from the lake's
features.customer_features (the RFM value counts and the purchasers' cluster features reduced
on the driver, every customer labelled on the executors) equals the DuckDB engine's table:
the same rows, the same labels, scores and clusters, numbers equal to 1e-9 relative (here:
bit for bit)."""

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from segmentation.config import SegmentationConfig
from segmentation.engines.spark.segments import (
    SparkSegments,
    customer_segments,
    cut_points,
    scores_from_cut_points,
)
from segmentation.monthly import customer_segments_month
from segmentation.segments.rfm import ranked_values, score_sorted
from segmentation.segments.settings import ClusterSettings, RfmSettings, SegmentSettings
from tests.spark.equality import assert_same_table
from tests.spark.features_lake import duckdb_features, write_features
from tests.spark.reference import segments_months
from tests.spark.test_behaviour import GENERATED_SNAPSHOTS, RETAIL_SNAPSHOTS

pytestmark = pytest.mark.spark


def _duckdb_segments(
    features: dict[date, pl.DataFrame], config: SegmentationConfig
) -> pl.DataFrame:
    """The DuckDB engine's segments asset, month by month (no products source)."""
    months = [customer_segments_month(month, config.segments)[0] for month in features.values()]
    return pl.concat(months)


def _spark_segments(
    spark, lake: str, snapshots, config: SegmentationConfig
) -> tuple[SparkSegments, pl.DataFrame]:
    result = customer_segments(spark, lake, snapshots, config)
    frame = pl.from_arrow(result.segments.toArrow())
    assert isinstance(frame, pl.DataFrame)
    return result, frame


def _with_segments(config: SegmentationConfig, **changes: object) -> SegmentationConfig:
    return config.model_copy(update={"segments": config.segments.model_copy(update=changes)})


def test_spark_segments_equal_duckdb_on_the_real_sample_for_every_month(
    spark, retail, tmp_path: Path
) -> None:
    config, con = retail
    lake = str(tmp_path / "lake")
    write_features(spark, lake, duckdb_features(con, RETAIL_SNAPSHOTS, config))
    expected = pl.concat(
        segments for segments, _ in segments_months(con, RETAIL_SNAPSHOTS, config).values()
    )
    result, actual = _spark_segments(spark, lake, RETAIL_SNAPSHOTS, config)
    assert expected.height > 20_000
    # what the comparison covers: every score, clusters of several kinds, customers who
    # never bought (the real sample's first months have some)
    assert set(expected.get_column("r_score").drop_nulls()) == {1, 2, 3, 4, 5}
    assert expected.get_column("cluster").n_unique() >= 5
    assert_same_table(actual, expected)
    purchasers = expected.filter(pl.col("recency_days").is_not_null()).height
    assert result.reduce_rows["cluster_rows"] == purchasers
    # the value counts: at most one row per purchaser and score (fewer: equal values merge)
    assert 0 < result.reduce_rows["rfm_values"] <= 3 * purchasers


def test_spark_segments_equal_duckdb_on_generated_customers_with_a_sample(
    spark, generated, tmp_path: Path
) -> None:
    """Customer attributes and their dimensions, events and feedback labels, and k-means fitted
    on a seeded sample smaller than the purchasers: the driver draws the same sample."""
    config, con = generated
    config = _with_segments(
        config, clusters=ClusterSettings(sample_size=300, silhouette_sample_size=200)
    )
    lake = str(tmp_path / "lake")
    features = duckdb_features(con, GENERATED_SNAPSHOTS, config)
    write_features(spark, lake, features)
    expected = _duckdb_segments(features, config)
    result, actual = _spark_segments(spark, lake, GENERATED_SNAPSHOTS, config)
    purchasers = expected.filter(pl.col("recency_days").is_not_null())
    sizes = purchasers.group_by("snapshot_date").len().get_column("len")
    assert (sizes > 300).sum() >= 2  # months sampled, and months fitted on every purchaser
    assert (sizes < 300).any()
    for column in ("attr_region", "intent_class", "satisfaction_class"):
        assert expected.get_column(column).n_unique() > 1, column
    assert_same_table(actual, expected)
    sizes = result.profiles.select("snapshot_date", "cluster", "customers").sort(pl.all())
    counted = (
        actual.filter(pl.col("recency_days").is_not_null())
        .group_by("snapshot_date", "cluster")
        .agg(pl.len().cast(pl.Int64).alias("customers"))
        .sort(pl.all())
    )
    # the map step's assignments are the driver's fit's own labels
    assert sizes.equals(counted)


def test_merged_value_counts_give_the_scores_of_ranking_everyone(retail) -> None:
    """The cut points from value counts summed over any split of the customers give every
    customer the score of ranking the whole month, ties included; counts of a part alone give
    other scores."""
    config, con = retail
    [month] = duckdb_features(con, [date(2011, 6, 30)], config).values()
    settings = SegmentSettings(rfm=RfmSettings(frequency="purchase_days"))
    expected = score_sorted(month, settings.rfm)
    parts = [month.filter(pl.col("customer_id").hash(seed=3) % 3 == n) for n in range(3)]

    def counts(rows: pl.DataFrame) -> pl.DataFrame:
        values = rows.select(ranked_values(settings.rfm))
        return pl.concat(
            values.select(pl.col(name).cast(pl.Float64).alias("value"))
            .drop_nulls()
            .group_by("value")
            .len("count")
            .select(
                pl.lit(date(2011, 6, 30)).alias("snapshot_date"),
                pl.lit(name).alias("score"),
                "value",
                pl.col("count").cast(pl.Int64),
            )
            for name in ("r_score", "f_score", "m_score")
        )

    merged = (
        pl.concat(counts(part) for part in parts)
        .group_by("snapshot_date", "score", "value")
        .agg(pl.col("count").sum())
    )
    [cuts] = cut_points(merged).values()
    assert scores_from_cut_points(month, settings, cuts).equals(expected)
    [part_cuts] = cut_points(counts(parts[0])).values()
    assert not scores_from_cut_points(month, settings, part_cuts).equals(expected)
