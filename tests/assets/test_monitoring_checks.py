"""Drift and freshness checks against hand-made snapshots in a temporary DuckDB."""

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from assets.checks_drift import (
    MAX_CUSTOMER_CHANGE,
    MAX_SHARE_SHIFT,
    build_monitoring_checks,
    customer_count_drift,
    latest_snapshot_freshness,
    segment_share_drift,
)
from assets.resources import Warehouse

FEB = date(2011, 2, 28)
MAR = date(2011, 3, 31)
SNAPSHOTS = dg.MonthlyPartitionsDefinition(start_date="2011-01", end_date="2011-04", fmt="%Y-%m")


def _segments(snapshot: date, mix: dict[str, int], **labels: str) -> pl.DataFrame:
    """Customers of one snapshot: ``mix`` gives customers per rfm_segment."""
    names = [name for name, count in mix.items() for _ in range(count)]
    return pl.DataFrame(
        {
            "snapshot_date": [snapshot] * len(names),
            "customer_id": [f"c{i}" for i in range(len(names))],
            "rfm_segment": names,
            "lifecycle_stage": [labels.get("lifecycle_stage", "mature")] * len(names),
            "value_tier": [labels.get("value_tier", "mid")] * len(names),
        }
    )


def _write(con: duckdb.DuckDBPyConnection, *frames: pl.DataFrame) -> None:
    frame = pl.concat(frames)
    con.execute("CREATE SCHEMA IF NOT EXISTS features")
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    con.register("frame", frame)
    con.execute("CREATE OR REPLACE TABLE marts.customer_segments AS SELECT * FROM frame")
    con.execute(
        "CREATE OR REPLACE TABLE features.customer_features AS "
        "SELECT snapshot_date, customer_id FROM frame"
    )
    con.unregister("frame")


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        yield connection


@pytest.mark.parametrize(
    ("before", "after", "passed"),
    [(100, 100, True), (100, 119, True), (100, 121, False), (100, 79, False), (100, 81, True)],
)
def test_customer_count_drift(con, before: int, after: int, passed: bool) -> None:
    _write(con, _segments(FEB, {"Champions": before}), _segments(MAR, {"Champions": after}))
    result = customer_count_drift(con)
    assert result.passed is passed
    assert result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["customers"].value == after
    assert result.metadata["previous_customers"].value == before
    assert result.metadata["max_change"].value == MAX_CUSTOMER_CHANGE
    if not passed:
        assert "2011-02-28" in result.description and "2011-03-31" in result.description


def test_drift_needs_two_snapshots(con) -> None:
    assert customer_count_drift(con).passed  # no table yet
    _write(con, _segments(MAR, {"Champions": 10}))
    assert customer_count_drift(con).passed
    assert segment_share_drift(con).passed
    assert "nothing to compare" in str(segment_share_drift(con).metadata["note"].value)


@pytest.mark.parametrize(
    ("after", "passed"),
    [
        ({"Champions": 50, "Lost": 50}, True),
        ({"Champions": 41, "Lost": 59}, True),  # 9 points
        ({"Champions": 35, "Lost": 65}, False),  # 15 points
        ({"Champions": 44, "Lost": 44, "New": 12}, False),  # a new segment at 12%
    ],
)
def test_segment_share_drift_rfm(con, after: dict[str, int], passed: bool) -> None:
    _write(con, _segments(FEB, {"Champions": 50, "Lost": 50}), _segments(MAR, after))
    result = segment_share_drift(con)
    assert result.passed is passed
    assert result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["max_shift"].value == MAX_SHARE_SHIFT
    if not passed:
        assert "rfm_segment" in result.description
        assert result.metadata["segments_over_limit"].value >= 1


def test_segment_share_drift_sees_every_dimension(con) -> None:
    mix = {"Champions": 50, "Lost": 50}
    _write(
        con,
        _segments(FEB, mix, lifecycle_stage="mature", value_tier="mid"),
        _segments(MAR, mix, lifecycle_stage="mature", value_tier="high"),
    )
    result = segment_share_drift(con)
    assert not result.passed
    assert "value_tier" in result.description
    assert result.metadata["largest_shift"].value == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("latest", "expected", "passed", "behind"),
    [(MAR, "2011-03", True, 0), (FEB, "2011-03", False, 1), (MAR, "2011-02", True, 0)],
)
def test_latest_snapshot_freshness(
    con, latest: date, expected: str, passed: bool, behind: int
) -> None:
    _write(con, _segments(latest, {"Champions": 3}))
    result = latest_snapshot_freshness(con, expected)
    assert result.passed is passed
    assert result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["months_behind"].value == behind


def test_freshness_without_any_snapshot_fails(con) -> None:
    result = latest_snapshot_freshness(con, "2011-03")
    assert not result.passed
    assert result.metadata["expected_snapshot"].value == "2011-03-31"


def _stub_assets(frames: list[pl.DataFrame]) -> list[dg.AssetsDefinition]:
    """Stand-ins for the real assets: they write the given snapshots to the warehouse."""

    @dg.asset(key=["features", "customer_features"])
    def features(warehouse: Warehouse) -> None:
        with warehouse.connect() as connection:
            _write(connection, *frames)

    @dg.asset(key=["marts", "customer_segments"], deps=[features])
    def segments() -> None:
        pass

    return [features, segments]


@pytest.mark.parametrize(
    ("after", "failed"),
    [
        ({"Champions": 50, "Lost": 50}, set()),
        (
            {"Champions": 100, "Lost": 50},
            {"customer_count_drift", "segment_share_drift"},
        ),
    ],
)
def test_checks_warn_through_materialize_without_failing_the_run(
    tmp_path: Path, after: dict[str, int], failed: set[str]
) -> None:
    frames = [_segments(FEB, {"Champions": 50, "Lost": 50}), _segments(MAR, after)]
    checks = build_monitoring_checks(SNAPSHOTS, clock=lambda: datetime(2011, 4, 2, tzinfo=UTC))
    result = dg.materialize(
        [*_stub_assets(frames), *checks],
        resources={"warehouse": Warehouse(path=str(tmp_path / "w.duckdb"))},
    )
    assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {
        "customer_count_drift",
        "segment_share_drift",
        "latest_snapshot_fresh",
    }
    assert {name for name, e in evaluations.items() if not e.passed} == failed
    assert all(e.severity == dg.AssetCheckSeverity.WARN for e in evaluations.values())


def test_freshness_through_materialize_uses_the_last_complete_month(tmp_path: Path) -> None:
    frames = [_segments(FEB, {"Champions": 5})]
    # the last complete month on 2011-04-02 is 2011-03; the newest snapshot is February
    checks = build_monitoring_checks(SNAPSHOTS, clock=lambda: datetime(2011, 4, 2, tzinfo=UTC))
    result = dg.materialize(
        [*_stub_assets(frames), *checks],
        resources={"warehouse": Warehouse(path=str(tmp_path / "w.duckdb"))},
    )
    fresh = next(
        e for e in result.get_asset_check_evaluations() if e.check_name == "latest_snapshot_fresh"
    )
    assert not fresh.passed
    assert fresh.metadata["expected_snapshot"].value == "2011-03-31"
    # a month earlier, February was the last complete month
    early = build_monitoring_checks(SNAPSHOTS, clock=lambda: datetime(2011, 3, 2, tzinfo=UTC))
    result = dg.materialize(
        [*_stub_assets(frames), *early],
        resources={"warehouse": Warehouse(path=str(tmp_path / "w.duckdb"))},
    )
    assert all(e.passed for e in result.get_asset_check_evaluations())
