"""The evaluation marts computed by Spark on local[2] from the lake's segments, strategy
assignments, transactions and feedback (counts per customer bucket or partition on the
executors, their totals finished on the driver) equal the DuckDB engine's tables: the same
rows, counts, rates and intervals of counts exactly, revenue, CSAT and what derives from them
to 1e-9 relative."""

from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from segmentation.config import SegmentationConfig
from segmentation.engines.compare import frame_differences
from segmentation.engines.spark.evaluation import RevenueMoments, SparkEvaluation, evaluate_segments
from segmentation.engines.spark.lake import export_raw, write_months
from segmentation.evaluation import evaluate
from segmentation.evaluation.strategy_effect import welch_interval, welch_of_moments
from segmentation.keys import SEGMENTS_TABLE
from tests.spark.marts_lake import duckdb_marts, with_marts
from tests.spark.test_behaviour import GENERATED_SNAPSHOTS, RETAIL_SNAPSHOTS

pytestmark = pytest.mark.spark

MIGRATION_KEYS = ["from_snapshot", "to_snapshot", "dimension", "from_segment", "to_segment"]
SEGMENT_KEYS = ["snapshot_date", "dimension", "segment"]
EFFECT_KEYS = ["snapshot_date", "strategy"]
# what derives from counts alone: exact in any split of the customers
EXACT_OUTCOMES = [
    "customers",
    "repurchasers",
    "repurchase_rate",
    "active_customers",
    "churned_customers",
    "churn_rate",
    "next_nps_respondents",
    "next_nps",
    "next_nps_ci_low",
    "next_nps_ci_high",
    "next_complaint_rate",
]
EXACT_EFFECTS = [
    "treated_customers",
    "control_customers",
    "repurchase_rate_diff",
    "repurchase_rate_diff_ci_low",
    "repurchase_rate_p_value",
    "note",
    "nps_diff",
    "nps_p_value",
    "complaint_rate_diff_ci_high",
    "satisfaction_note",
]


def _duckdb_evaluation(
    con: duckdb.DuckDBPyConnection, snapshots, config: SegmentationConfig
) -> tuple[evaluate.SegmentEvaluation, pl.DataFrame]:
    marts = duckdb_marts(con, snapshots, config)
    with with_marts(con, marts):
        return (
            evaluate.evaluate_segments(con, config.features.feedback),
            evaluate.evaluate_satisfaction(con),
        )


def _spark_evaluation(
    spark, marts_lakes, con: duckdb.DuckDBPyConnection, snapshots, config: SegmentationConfig
) -> SparkEvaluation:
    """The Spark engine's evaluation marts of the raw tables and the DuckDB engine's marts in
    the process's shared lake (``marts_lakes``)."""
    lake = marts_lakes.lake(con, snapshots, config)
    return evaluate_segments(spark, lake, config.features.feedback)


def _assert_equal(
    actual: SparkEvaluation, expected: evaluate.SegmentEvaluation, satisfaction: pl.DataFrame
) -> None:
    assert frame_differences(actual.migration, expected.migration, MIGRATION_KEYS) == []
    # counts: bit for bit, in the same order
    assert actual.migration.equals(expected.migration)
    assert frame_differences(actual.outcomes, expected.outcomes, SEGMENT_KEYS) == []
    assert actual.outcomes.select(SEGMENT_KEYS, *EXACT_OUTCOMES).equals(
        expected.outcomes.select(SEGMENT_KEYS, *EXACT_OUTCOMES)
    )
    assert frame_differences(actual.effects, expected.effects, EFFECT_KEYS) == []
    assert actual.effects.select(EFFECT_KEYS, *EXACT_EFFECTS).equals(
        expected.effects.select(EFFECT_KEYS, *EXACT_EFFECTS)
    )
    assert frame_differences(actual.satisfaction, satisfaction, SEGMENT_KEYS) == []


def test_spark_evaluation_equals_duckdb_on_the_real_sample_for_every_month(
    spark, marts_lakes, retail
) -> None:
    """No feedback source: the satisfaction columns are null, the summary empty."""
    config, con = retail
    expected, satisfaction = _duckdb_evaluation(con, RETAIL_SNAPSHOTS, config)
    actual = _spark_evaluation(spark, marts_lakes, con, RETAIL_SNAPSHOTS, config)
    assert expected.pairs == len(RETAIL_SNAPSHOTS) - 2  # the first snapshot has no customers
    assert expected.effects.get_column("revenue_per_customer_p_value").is_not_null().any()
    assert satisfaction.is_empty() and actual.satisfaction.is_empty()
    _assert_equal(actual, expected, satisfaction)
    # the driver receives counts per bucket and row of the tables (treated and control apart),
    # not customers
    assert actual.buckets >= 2
    rows = actual.reduce_rows
    assert expected.migration.height <= rows["migration"] <= expected.migration.height * 2
    assert expected.outcomes.height <= rows["outcomes"] <= expected.outcomes.height * 2
    assert rows["effect"] <= expected.effects.height * 2 * 2


def test_spark_evaluation_equals_duckdb_on_generated_feedback(
    spark, marts_lakes, generated
) -> None:
    """Feedback in every month: next-period NPS and complaints per segment and strategy
    group, and the satisfaction summary."""
    config, con = generated
    expected, satisfaction = _duckdb_evaluation(con, GENERATED_SNAPSHOTS, config)
    assert expected.outcomes.get_column("next_nps").is_not_null().any()
    assert expected.effects.get_column("control_nps_respondents").sum() > 0
    assert satisfaction.get_column("avg_csat").is_not_null().any()
    actual = _spark_evaluation(spark, marts_lakes, con, GENERATED_SNAPSHOTS, config)
    _assert_equal(actual, expected, satisfaction)


def test_a_lake_without_the_assignments_is_refused_naming_them(
    spark, generated, tmp_path: Path
) -> None:
    config, con = generated
    lake = str(tmp_path / "lake")
    export_raw(con, lake, config)
    marts = duckdb_marts(con, GENERATED_SNAPSHOTS, config)
    write_months(spark.createDataFrame(marts.segments.to_arrow()), lake, SEGMENTS_TABLE)
    with pytest.raises(ValueError, match="holds no marts.strategy_assignments: write"):
        evaluate_segments(spark, lake, config.features.feedback)


def test_merged_revenue_moments_give_the_whole_groups_welch_interval() -> None:
    """The driver merges each bucket's count, mean and squared deviations: the merge of any
    split gives the whole group's mean, variance and Welch interval (to rounding); a part alone
    does not."""
    rng = np.random.default_rng(5)
    treated, control = rng.gamma(0.6, 80.0, 400), rng.gamma(0.5, 80.0, 300)

    def moments(values: np.ndarray) -> RevenueMoments:
        mean = float(values.mean())
        return RevenueMoments(values.size, mean, float(((values - mean) ** 2).sum()))

    def merged(values: np.ndarray) -> tuple[int, float, float]:
        parts = [moments(part) for part in np.array_split(values, 3)]
        whole = parts[0].merged(parts[1]).merged(parts[2])
        return whole.count, whole.mean, whole.m2 / (whole.count - 1)

    expected = welch_interval(treated, control)
    actual = welch_of_moments(merged(treated), merged(control))
    assert expected is not None and actual is not None
    assert np.allclose(actual, expected, rtol=1e-12, atol=0)
    part = treated[:100]
    alone = welch_of_moments(
        (part.size, float(part.mean()), float(part.var(ddof=1))), merged(control)
    )
    assert alone is not None and not np.allclose(alone, expected, rtol=1e-3, atol=0)
