"""Monthly assets write month by month: a contract violation fails the step naming the table and
the snapshot, the earlier months of the run stay written, the failing month keeps what it held,
and a re-run replaces everything it covers."""

from datetime import date

import dagster as dg
import duckdb
import polars as pl
import pytest

import assets.segments.assets as segment_assets
import assets.strategies.assets as strategy_assets
from pipelines.build_definitions import build_definitions
from segmentation.config import SegmentationConfig, load_config
from tests.conftest import config_mapping, write_config_file

RANGE = ("2011-02", "2011-03")
FEB, MAR = date(2011, 2, 28), date(2011, 3, 31)
ASSIGNMENTS = dg.AssetKey(["marts", "strategy_assignments"])
SEGMENTS = dg.AssetKey(["marts", "customer_segments"])
SUMMARY = dg.AssetKey(["marts", "segment_summary"])


def _run(
    config: SegmentationConfig, selection: list[dg.AssetKey] | None = None
) -> dg.ExecuteInProcessResult:
    defs = build_definitions(config)
    return dg.materialize(
        defs.assets,
        resources=defs.resources,
        selection=selection,
        tags={
            "dagster/asset_partition_range_start": RANGE[0],
            "dagster/asset_partition_range_end": RANGE[-1],
        },
        raise_on_error=False,
    )


def _assignments(config: SegmentationConfig) -> pl.DataFrame:
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        return con.execute(
            "SELECT * FROM marts.strategy_assignments ORDER BY snapshot_date, customer_id"
        ).pl()


@pytest.fixture(scope="module")
def landed(tmp_path_factory) -> SegmentationConfig:
    """The sample landed and its two months materialized (k-means off: not under test)."""
    raw = config_mapping(
        snapshots={"start": "2010-12", "end": RANGE[-1]},
        segments={"clusters": {"enabled": False}},
    )
    config = load_config(write_config_file(tmp_path_factory.mktemp("monthly"), raw))
    assert _run(config).success
    return config


def test_a_contract_violation_fails_its_month_and_keeps_the_earlier_ones(
    landed: SegmentationConfig, monkeypatch
) -> None:
    before = _assignments(landed)
    assert set(before.get_column("snapshot_date")) == {FEB, MAR}
    compute = strategy_assets.strategy_assignments_month

    def broken(segments: pl.DataFrame, playbook, columns=None) -> pl.DataFrame:
        month = compute(segments, playbook, columns)
        if month.get_column("snapshot_date")[0] == FEB:
            # valid, and visibly different from what the warehouse holds
            return month.with_columns(pl.col("budget") + 1000.0)
        return month.with_columns(pl.lit(0, dtype=pl.Int64).alias("priority"))  # priority >= 1

    monkeypatch.setattr(strategy_assets, "strategy_assignments_month", broken)
    result = _run(landed, [ASSIGNMENTS])

    assert not result.success
    [failure] = [event for event in result.all_events if event.is_step_failure]
    message = failure.step_failure_data.user_failure_data.description
    assert message.startswith(
        "marts.strategy_assignments for snapshot 2011-03-31 breaks StrategyAssignmentsContract"
    )
    assert "priority" in message
    assert not result.get_asset_materialization_events()
    after = _assignments(landed)
    # February was written in its own transaction before March failed
    expected_feb = before.filter(pl.col("snapshot_date") == FEB).with_columns(
        pl.col("budget") + 1000.0
    )
    assert after.filter(pl.col("snapshot_date") == FEB).equals(expected_feb)
    # March keeps exactly what it held: nothing of the failing month was written
    assert after.filter(pl.col("snapshot_date") == MAR).equals(
        before.filter(pl.col("snapshot_date") == MAR)
    )

    monkeypatch.undo()
    assert _run(landed, [ASSIGNMENTS]).success
    assert _assignments(landed).equals(before)


def _february_segments(config: SegmentationConfig) -> tuple:
    """Row count and a fingerprint of February's segments."""
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        return con.execute(
            "SELECT count(*), sum(hash(customer_id, frequency)) FROM marts.customer_segments "
            "WHERE snapshot_date = ?",
            [FEB],
        ).fetchone()


def test_a_multi_output_month_is_written_whole_or_not_at_all(
    landed: SegmentationConfig, monkeypatch
) -> None:
    """Segments and their summary of a month commit together: a broken summary keeps both."""
    segments_before = _february_segments(landed)
    compute = segment_assets.customer_segments_month

    def broken(features: pl.DataFrame, settings, *catalogue) -> tuple[pl.DataFrame, pl.DataFrame]:
        segments, summary = compute(features, settings, *catalogue)
        # a changed segments table, and a summary whose shares break the contract
        return (
            segments.with_columns(pl.col("frequency") + 1),
            summary.with_columns(pl.lit(-1.0).alias("share")),
        )

    monkeypatch.setattr(segment_assets, "customer_segments_month", broken)
    result = _run(landed, [SEGMENTS, SUMMARY])
    assert not result.success
    [failure] = [event for event in result.all_events if event.is_step_failure]
    assert failure.step_failure_data.user_failure_data.description.startswith(
        "marts.segment_summary for snapshot 2011-02-28 breaks SegmentSummaryContract"
    )
    segments_after = _february_segments(landed)
    assert segments_after == segments_before
