"""The monthly schedule and the landing sensor, evaluated with Dagster's test contexts."""

import os
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from assets.partitions import monthly_snapshots
from pipelines.build_definitions import build_definitions
from pipelines.jobs import SNAPSHOT_JOB_NAME, build_snapshot_job
from pipelines.schedules import MONTHLY_CRON, SCHEDULE_NAME, closed_month
from pipelines.sensors import SENSOR_NAME, build_landing_sensor, landing_folder
from segmentation.config import SegmentationConfig
from tests.conftest import GOOD, RETAIL_COLUMNS, RETAIL_HEADER, write_csv

NOW = datetime(2012, 3, 15, 12, 0, tzinfo=UTC).timestamp()
AN_HOUR_AGO = NOW - 3600


def _land(path: Path, rows: int = 1, mtime: float = AN_HOUR_AGO) -> Path:
    write_csv(path, RETAIL_HEADER, [GOOD] * rows)
    os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "landing"
    _land(folder / "2011-11.csv")
    return folder


@pytest.fixture
def config(write_config, landing: Path) -> SegmentationConfig:
    return write_config(
        {"path": str(landing / "*.csv"), "columns": RETAIL_COLUMNS},
        snapshots={"start": "2010-12", "end": "2011-12"},
    )


def _sensor(config: SegmentationConfig, settle_seconds: float = 60.0) -> dg.SensorDefinition:
    return build_landing_sensor(
        build_snapshot_job(),
        monthly_snapshots(config),
        config.sources.transactions,
        settle_seconds=settle_seconds,
        clock=lambda: NOW,
    )


def _tick(sensor: dg.SensorDefinition, cursor: str | None) -> dg.SensorResult:
    result = sensor(dg.build_sensor_context(cursor=cursor))
    assert isinstance(result, dg.SensorResult)
    return result


@pytest.mark.parametrize(
    ("tick", "expected"),
    [
        (datetime(2011, 4, 1, 3, tzinfo=UTC), "2011-03"),
        (datetime(2011, 1, 1, 3, tzinfo=UTC), "2010-12"),
        (datetime(2012, 1, 1, 3, tzinfo=UTC), "2011-12"),
        (datetime(2011, 3, 1, 0, 0, tzinfo=UTC), "2011-02"),
    ],
)
def test_closed_month_is_the_month_before_the_tick(tick: datetime, expected: str) -> None:
    assert closed_month(tick) == expected


@pytest.mark.parametrize(
    ("pattern", "folder"),
    [
        ("/data/tx/*.csv", "/data/tx"),
        ("/data/tx/**/*.parquet", "/data/tx"),
        ("/data/tx/2011-*/part.csv", "/data/tx"),
        ("/data/tx/online_retail.csv.gz", "/data/tx"),
    ],
)
def test_landing_folder_is_the_part_before_the_wildcard(pattern: str, folder: str) -> None:
    assert landing_folder(pattern) == Path(folder)


def test_schedule_requests_the_just_closed_month(config: SegmentationConfig) -> None:
    schedule = build_definitions(config).resolve_schedule_def(SCHEDULE_NAME)
    assert schedule.cron_schedule == MONTHLY_CRON
    assert schedule.job_name == SNAPSHOT_JOB_NAME
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2011, 4, 1, 3, tzinfo=UTC)
    )
    request = schedule(context)
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == "2011-03"
    assert request.run_key == "2011-03"
    assert request.tags["warehouse"] == "segmentation"


@pytest.mark.parametrize(
    "tick",
    [datetime(2010, 12, 1, 3, tzinfo=UTC), datetime(2012, 2, 1, 3, tzinfo=UTC)],
    ids=["before snapshots.start", "after snapshots.end"],
)
def test_schedule_skips_months_outside_the_snapshots(
    config: SegmentationConfig, tick: datetime
) -> None:
    schedule = build_definitions(config).resolve_schedule_def(SCHEDULE_NAME)
    result = schedule(dg.build_schedule_context(scheduled_execution_time=tick))
    assert isinstance(result, dg.SkipReason)
    assert closed_month(tick) in (result.skip_message or "")


def test_sensor_starts_one_run_per_new_file(config: SegmentationConfig, landing: Path) -> None:
    sensor = _sensor(config)

    first = _tick(sensor, None)
    assert len(first.run_requests) == 1
    request = first.run_requests[0]
    assert request.partition_key == "2011-12"  # the latest complete snapshot (snapshots.end)
    assert request.tags["warehouse"] == "segmentation"

    again = _tick(sensor, first.cursor)
    assert not again.run_requests
    assert again.skip_reason is not None

    _land(landing / "2011-12.csv")
    second = _tick(sensor, again.cursor)
    assert len(second.run_requests) == 1
    assert second.run_requests[0].run_key != request.run_key
    assert not _tick(sensor, second.cursor).run_requests


def test_sensor_counts_a_rewritten_file_and_ignores_other_names(
    config: SegmentationConfig, landing: Path
) -> None:
    sensor = _sensor(config)
    cursor = _tick(sensor, None).cursor
    (landing / "notes.txt").write_text("not a source file")
    assert not _tick(sensor, cursor).run_requests
    _land(landing / "2011-11.csv", rows=3)  # same name, new content: other size
    assert len(_tick(sensor, cursor).run_requests) == 1


def test_sensor_waits_until_a_file_has_settled(config: SegmentationConfig, landing: Path) -> None:
    sensor = _sensor(config, settle_seconds=60)
    cursor = _tick(sensor, None).cursor
    _land(landing / "2011-12.csv", mtime=NOW - 5)  # still being copied
    waiting = _tick(sensor, cursor)
    assert not waiting.run_requests
    assert "still changing" in str(waiting.skip_reason)
    settled = build_landing_sensor(
        build_snapshot_job(),
        monthly_snapshots(config),
        config.sources.transactions,
        clock=lambda: NOW + 120,
    )
    assert len(_tick(settled, waiting.cursor).run_requests) == 1


def test_definitions_sensor_watches_the_configured_source(
    config: SegmentationConfig, landing: Path
) -> None:
    sensor = build_definitions(config).resolve_sensor_def(SENSOR_NAME)
    assert sensor.job_name == SNAPSHOT_JOB_NAME
    assert sensor.minimum_interval_seconds >= 60
    assert str(landing) in (sensor.description or "")
    result = _tick(sensor, None)
    assert [r.partition_key for r in result.run_requests] == ["2011-12"]
