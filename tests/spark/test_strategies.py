"""marts.strategy_assignments computed by Spark on local[2] from the lake's
marts.customer_segments (rules and control draws per customer on the executors, the capacity
rules' ranking of the eligible customers on the driver) equals the DuckDB engine's table: the
same strategy, rule, budget and control flag for every customer."""

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from segmentation.config import SegmentationConfig
from segmentation.engines.compare import frame_differences
from segmentation.engines.spark.lake import read_table
from segmentation.engines.spark.segments import customer_segments
from segmentation.engines.spark.strategies import (
    SparkAssignments,
    first_rule_without_capacity,
    resolve_eligible,
    strategy_assignments,
)
from segmentation.keys import KEY_COLUMNS, SEGMENTS_TABLE
from segmentation.monthly import strategy_assignments_month
from segmentation.strategies.playbook import rule_matches
from segmentation.strategies.settings import Playbook
from tests.spark.equality import assert_same_table
from tests.spark.features_lake import duckdb_features, write_features
from tests.spark.reference import segments_months
from tests.spark.test_behaviour import GENERATED_SNAPSHOTS, RETAIL_SNAPSHOTS

pytestmark = pytest.mark.spark


def _duckdb_segments(con, snapshots: list[date], config: SegmentationConfig) -> pl.DataFrame:
    return pl.concat(segments for segments, _ in segments_months(con, snapshots, config).values())


def _duckdb_assignments(segments: pl.DataFrame, playbook: Playbook) -> pl.DataFrame:
    return pl.concat(
        strategy_assignments_month(month, playbook)
        for month in segments.partition_by("snapshot_date", maintain_order=True)
    )


def _spark_assignments(
    spark, lake: str, playbook: Playbook
) -> tuple[SparkAssignments, pl.DataFrame]:
    result = strategy_assignments(spark, read_table(spark, lake, SEGMENTS_TABLE), playbook)
    frame = pl.from_arrow(result.assignments.toArrow())
    assert isinstance(frame, pl.DataFrame)
    return result, frame


def _two_capacity_rules(playbook: Playbook) -> Playbook:
    """The playbook with a capacity on the win-back rule too: customers the VIP rule leaves
    out can reach a second ranking."""
    rules = [
        rule.model_copy(update={"capacity": 40}) if rule.name == "win_back_at_risk" else rule
        for rule in playbook.rules
    ]
    return playbook.model_copy(update={"rules": rules})


def _assert_capacity_binds(expected: pl.DataFrame, playbook: Playbook) -> None:
    for rule in playbook.rules:
        if rule.capacity is not None:
            treated = (
                expected.filter((pl.col("matched_rule") == rule.name) & ~pl.col("is_control"))
                .group_by("snapshot_date")
                .len()
            )
            assert treated.get_column("len").max() == rule.capacity, rule.name


def test_spark_assignments_equal_duckdb_on_the_real_sample_for_every_month(
    spark, marts_lakes, retail
) -> None:
    config, con = retail
    assert config.playbook is not None
    # the DuckDB engine's segments in the process's shared lake (the assignments beside them
    # are not read: the Spark engine's are computed from the segments)
    lake = marts_lakes.lake(con, RETAIL_SNAPSHOTS, config)
    segments = _duckdb_segments(con, RETAIL_SNAPSHOTS, config)
    for playbook in (config.playbook, _two_capacity_rules(config.playbook)):
        expected = _duckdb_assignments(segments, playbook)
        _assert_capacity_binds(expected, playbook)
        assert expected.get_column("is_control").any()
        result, actual = _spark_assignments(spark, lake, playbook)
        assert_same_table(actual, expected)
        # the driver ranks the customers whose first matching rule has a capacity
        assert 0 < result.reduce_rows["eligible"] < expected.height


def test_spark_chain_equals_duckdb_on_generated_customers(spark, generated, tmp_path: Path) -> None:
    """Features in the lake, segments and assignments on Spark (complaints and NPS answers
    reach the service-recovery rule)."""
    config, con = generated
    assert config.playbook is not None
    lake = str(tmp_path / "lake")
    write_features(spark, lake, duckdb_features(con, GENERATED_SNAPSHOTS, config))
    segments = _duckdb_segments(con, GENERATED_SNAPSHOTS, config)
    expected = _duckdb_assignments(segments, config.playbook)
    assert (expected.get_column("matched_rule") == "service_recovery").any()
    spark_segments = customer_segments(spark, lake, GENERATED_SNAPSHOTS, config).segments
    result = strategy_assignments(spark, spark_segments, config.playbook)
    actual = pl.from_arrow(result.assignments.toArrow())
    assert isinstance(actual, pl.DataFrame)
    assert frame_differences(actual, expected) == []


def test_the_ranking_needs_the_whole_eligible_set(retail) -> None:
    """The reduce step ranks a snapshot's eligible customers together: half of them alone give
    other customers the capacity than all of them do."""
    config, con = retail
    assert config.playbook is not None
    playbook = config.playbook
    segments = _duckdb_segments(con, [date(2011, 11, 30)], config)
    work = first_rule_without_capacity(rule_matches(segments, playbook), playbook)
    eligible = work.filter(pl.col("rule_index").is_null())
    whole = resolve_eligible(eligible, playbook)
    expected = _duckdb_assignments(segments, playbook)
    vip = expected.filter(pl.col("matched_rule") == "vip_account_management")
    chosen = whole.filter(pl.col("rule_index") == 1).select(KEY_COLUMNS)
    assert chosen.sort(KEY_COLUMNS).equals(vip.select(KEY_COLUMNS).sort(KEY_COLUMNS))
    half = resolve_eligible(eligible.gather_every(2), playbook)
    assert (
        not half.filter(pl.col("rule_index") == 1)
        .select(KEY_COLUMNS)
        .equals(chosen.gather_every(2))
    )
