"""Landing the events and feedback sources: every row lands or is quarantined with its reason,
CSV and Parquet alike, with the guards transactions have; without the sources, empty tables."""

import json
import os
import shutil
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
import pytest

from assets.raw.assets import raw_customers, raw_events, raw_feedback, raw_transactions
from assets.raw.checks import raw_checks
from assets.resources import Warehouse
from benchmarks import stages
from benchmarks.events import generate_events
from benchmarks.events import write_config as write_bench_config
from pipelines.build_definitions import build_definitions
from pipelines.sensors import SENSOR_NAME
from segmentation.config import SegmentationConfig, load_config
from segmentation.raw.landing import RejectRateExceeded, land_source
from segmentation.raw.removed_files import RemovedFilesError
from segmentation.reports.run_summary import summary_sections
from tests.conftest import (
    LANDING_NOW,
    SAMPLE_CSV,
    config_mapping,
    write_config_file,
    write_csv,
)

EVENT_HEADER = ["user_id", "ts", "event", "channel", "sku", "campaign"]
EVENT_COLUMNS = {
    "customer_id": "user_id",
    "event_ts": "ts",
    "event_type": "event",
    "channel": "channel",
    "product_id": "sku",
    "campaign_id": "campaign",
}
EVENT_TYPES = {
    "visit": ["session_start"],
    "product_view": ["view_item"],
    "add_to_cart": ["add_to_cart", "basket_add"],
    "email_send": ["email_delivered"],
    "email_open": ["email_open"],
    "email_click": ["email_click"],
    "unsubscribe": ["unsubscribe"],
}
GOOD_EVENT = ["1001", "2011-03-01 10:00:00", "session_start", "Web", "", ""]
# every kind of bad events row next to good ones; the first failing check gives the reason
EVENT_ROWS: list[tuple[list[str], str | None]] = [
    (GOOD_EVENT, None),
    (GOOD_EVENT, "duplicate_row"),
    (["1001", "2011-03-01 10:05:00", "view_item", "APP", "SKU-1", ""], None),
    (["1001", "2011-03-01 10:06:00", " basket_add ", "app", "SKU-1", ""], None),
    (["1002", "2011-03-02T08:00:00+02:00", "email_open", "email", "", "CMP-7"], None),
    (["1004", "2011-03-03 09:00:00", "unsubscribe", "email", "", "CMP-7"], None),
    (["", "2011-03-01 10:00:00", "session_start", "web", "", ""], "missing_customer_id"),
    (["1003", "", "session_start", "web", "", ""], "missing_timestamp"),
    (["1003", "01/03/2011 10:00", "session_start", "web", "", ""], "unparseable_timestamp"),
    (["1003", "2011-03-01 11:00:00", "page_scroll", "web", "", ""], "unknown_event_type"),
    (["1003", "2011-03-01 11:00:00", "Session_Start", "web", "", ""], "unknown_event_type"),
    (["1003", "2011-03-01 11:00:00", "", "web", "", ""], "unknown_event_type"),
    (["1003", "1969-12-31 23:59:59", "session_start", "web", "", ""], "timestamp_before_1970"),
    (["1003", "2099-01-01 00:00:00", "session_start", "web", "", ""], "timestamp_in_future"),
]
FEEDBACK_HEADER = ["cust", "date", "type", "score", "topic", "comment"]
FEEDBACK_COLUMNS = {
    "customer_id": "cust",
    "feedback_ts": "date",
    "kind": "type",
    "score": "score",
    "topic": "topic",
}
FEEDBACK_KINDS = {
    "nps": ["nps"],
    "csat": ["csat"],
    "complaint": ["complaint"],
    "review": ["review", "rating"],
}
GOOD_NPS = ["1001", "2011-03-01", "nps", "9", "delivery", "fast"]
FEEDBACK_ROWS: list[tuple[list[str], str | None]] = [
    (GOOD_NPS, None),
    (GOOD_NPS, "duplicate_row"),
    (["1001", "2011-04-01", "nps", "0", "", ""], None),
    (["1002", "2011-03-02 12:30", "csat", "4", "support", ""], None),
    (["1003", "2011-03-03", "complaint", "", "late parcel", "where is it"], None),
    (["1003", "2011-03-04", "complaint", "2", "", "second one"], None),
    (["1004", "2011-03-04", "review", "", "", "nice"], None),
    (["1005", "2011-03-05", "rating", "4.5", "", ""], None),
    (["", "2011-03-01", "nps", "9", "", ""], "missing_customer_id"),
    (["1006", "", "nps", "9", "", ""], "missing_timestamp"),
    (["1006", "yesterday", "nps", "9", "", ""], "unparseable_timestamp"),
    (["1006", "2011-03-01", "praise", "9", "", ""], "unknown_feedback_kind"),
    (["1006", "2011-03-01", "nps", "nine", "", ""], "unparseable_number"),
    (["1006", "2011-03-01", "nps", "", "", ""], "missing_score"),
    (["1006", "2011-03-01", "csat", " ", "", ""], "missing_score"),
    (["1006", "2011-03-01", "nps", "11", "", ""], "score_out_of_range"),
    (["1006", "2011-03-01", "nps", "7.5", "", ""], "score_out_of_range"),
    (["1006", "2011-03-01", "nps", "-1", "", ""], "score_out_of_range"),
    (["1006", "2011-03-01", "csat", "6", "", ""], "score_out_of_range"),
    (["1006", "2011-03-01", "review", "0", "", ""], "score_out_of_range"),
    (["1006", "2011-03-01", "complaint", "inf", "", ""], "score_out_of_range"),
    (["1006", "1969-06-01", "nps", "9", "", ""], "timestamp_before_1970"),
    (["1006", "2099-06-01", "nps", "9", "", ""], "timestamp_in_future"),
]


def _events_source(path: Path, **keys: Any) -> dict[str, Any]:
    return {"path": str(path), "columns": EVENT_COLUMNS, "event_types": EVENT_TYPES, **keys}


def _feedback_source(path: Path, **keys: Any) -> dict[str, Any]:
    return {"path": str(path), "columns": FEEDBACK_COLUMNS, "kinds": FEEDBACK_KINDS, **keys}


def _config(folder: Path, **sources: dict[str, Any]) -> SegmentationConfig:
    """The sample transactions plus ``sources`` (events, feedback), warehouse in ``folder``."""
    raw = config_mapping(snapshots={"start": "2010-12", "end": "2011-12"})
    raw["sources"].update(sources)
    return load_config(write_config_file(folder, raw))


def _land(con: duckdb.DuckDBPyConnection, config: SegmentationConfig, source: str):
    return land_source(con, source, getattr(config.sources, source), LANDING_NOW)


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


@pytest.fixture
def con(tmp_path: Path):
    connection = duckdb.connect(str(tmp_path / "test.duckdb"))
    yield connection
    connection.close()


def _every_row_once(con: duckdb.DuckDBPyConnection, table: str, rows: int) -> None:
    numbers = _rows(
        con,
        f"SELECT source_row FROM {table} UNION ALL "
        f"SELECT source_row FROM quality.rejected_rows WHERE source = '{table[4:]}' ORDER BY 1",
    )
    assert [n for (n,) in numbers] == list(range(1, rows + 1))


def test_every_events_row_lands_or_is_quarantined_with_its_reason(tmp_path: Path, con) -> None:
    path = write_csv(tmp_path / "events" / "e.csv", EVENT_HEADER, [r for r, _ in EVENT_ROWS])
    config = _config(tmp_path, events=_events_source(path, max_reject_rate=1.0))
    report = _land(con, config, "events")

    expected = Counter(reason for _, reason in EVENT_ROWS if reason is not None)
    assert report.rejected_by_reason == dict(expected)
    assert report.landed_rows == sum(1 for _, reason in EVENT_ROWS if reason is None) == 5
    by_reason = dict(_rows(con, "SELECT reason, count(*) FROM quality.rejected_rows GROUP BY 1"))
    assert by_reason == dict(expected)
    _every_row_once(con, "raw.events", len(EVENT_ROWS))
    landed = _rows(
        con,
        "SELECT customer_id, event_ts, event_type, channel, product_id, campaign_id "
        "FROM raw.events ORDER BY source_row",
    )
    assert landed == [
        ("1001", datetime(2011, 3, 1, 10, 0), "visit", "web", None, None),
        ("1001", datetime(2011, 3, 1, 10, 5), "product_view", "app", "SKU-1", None),
        # source values are compared stripped; a second value of a kind maps the same
        ("1001", datetime(2011, 3, 1, 10, 6), "add_to_cart", "app", "SKU-1", None),
        # an offset in the data wins: stored as naive UTC
        ("1002", datetime(2011, 3, 2, 6, 0), "email_open", "email", None, "CMP-7"),
        ("1004", datetime(2011, 3, 3, 9, 0), "unsubscribe", "email", None, "CMP-7"),
    ]
    # the quarantine keeps the original row and the check in words
    [(check, values)] = _rows(
        con,
        'SELECT "check", raw_values FROM quality.rejected_rows WHERE source_row = 10',
    )
    assert check == "event_type is one of the values mapped under event_types"
    assert json.loads(values)["event"] == "page_scroll"
    [(duplicate,)] = _rows(
        con, "SELECT source_row FROM quality.rejected_rows WHERE reason = 'duplicate_row'"
    )
    assert duplicate == 2


def test_every_feedback_row_lands_or_is_quarantined_with_its_reason(tmp_path: Path, con) -> None:
    path = write_csv(tmp_path / "feedback.csv", FEEDBACK_HEADER, [r for r, _ in FEEDBACK_ROWS])
    config = _config(tmp_path, feedback=_feedback_source(path, max_reject_rate=1.0))
    report = _land(con, config, "feedback")

    expected = Counter(reason for _, reason in FEEDBACK_ROWS if reason is not None)
    assert report.rejected_by_reason == dict(expected)
    assert report.landed_rows == 7
    _every_row_once(con, "raw.feedback", len(FEEDBACK_ROWS))
    landed = _rows(
        con, "SELECT customer_id, feedback_ts, kind, score, topic FROM raw.feedback ORDER BY 2, 1"
    )
    assert landed == [
        ("1001", datetime(2011, 3, 1), "nps", 9.0, "delivery"),
        ("1002", datetime(2011, 3, 2, 12, 30), "csat", 4.0, "support"),
        ("1003", datetime(2011, 3, 3), "complaint", None, "late parcel"),
        # a complaint's score is kept as given; a review may have no rating
        ("1003", datetime(2011, 3, 4), "complaint", 2.0, None),
        ("1004", datetime(2011, 3, 4), "review", None, None),
        ("1005", datetime(2011, 3, 5), "review", 4.5, None),
        ("1001", datetime(2011, 4, 1), "nps", 0.0, None),
    ]
    checks = dict(_rows(con, 'SELECT DISTINCT reason, "check" FROM quality.rejected_rows'))
    assert checks["missing_score"] == "an nps or csat row has a score"
    assert "an nps score is an integer from 0 to 10" in checks["score_out_of_range"]
    # unmapped columns (free text) are kept in the quarantine's original row, as for transactions
    [(values,)] = _rows(
        con, "SELECT raw_values FROM quality.rejected_rows WHERE reason = 'duplicate_row'"
    )
    assert json.loads(values) == dict(zip(FEEDBACK_HEADER, GOOD_NPS, strict=True))


def test_the_scales_of_csat_and_reviews_come_from_the_config(tmp_path: Path, con) -> None:
    rows = [
        ["1", "2011-03-01", "csat", "6", "", ""],
        ["2", "2011-03-01", "csat", "0", "", ""],
        ["3", "2011-03-01", "review", "10", "", ""],
        ["4", "2011-03-01", "review", "0.5", "", ""],
    ]
    path = write_csv(tmp_path / "feedback.csv", FEEDBACK_HEADER, rows)
    source = _feedback_source(path, csat_scale=[1, 7], review_scale=[1, 10], max_reject_rate=1.0)
    report = _land(con, _config(tmp_path, feedback=source), "feedback")
    assert report.landed_rows == 2
    rejected = _rows(con, "SELECT source_row, reason FROM quality.rejected_rows ORDER BY 1")
    assert rejected == [(2, "score_out_of_range"), (4, "score_out_of_range")]


def test_typed_parquet_sources_land_as_the_canonical_columns(tmp_path: Path, con) -> None:
    events = tmp_path / "events" / "2011.parquet"
    events.parent.mkdir()
    pl.DataFrame(
        {
            # integer ids, zoned timestamps, a categorical event column, an integer campaign
            "user_id": [1001, 1002, None],
            "ts": pl.Series(
                [datetime(2011, 3, 1, 10), datetime(2011, 3, 2, 9), datetime(2011, 3, 3)]
            ).dt.replace_time_zone("Europe/Berlin"),
            "event": pl.Series(["view_item", "email_click", "view_item"], dtype=pl.Categorical),
            "channel": ["WEB", None, "web"],
            "sku": ["A", None, "B"],
            "campaign": [None, 7, None],
        }
    ).write_parquet(events)
    feedback = tmp_path / "feedback.parquet"
    pl.DataFrame(
        {
            "cust": ["1001", "1002", "1003"],
            "date": [datetime(2011, 3, 1).date(), datetime(2011, 3, 2).date(), None],
            "type": ["nps", "csat", "nps"],
            "score": [10, 3, 8],
            "topic": ["price", None, None],
            "comment": [None, None, None],
        },
        schema_overrides={"comment": pl.Utf8},
    ).write_parquet(feedback)
    config = _config(
        tmp_path,
        events=_events_source(tmp_path / "events" / "*.parquet", max_reject_rate=1.0),
        feedback=_feedback_source(feedback, max_reject_rate=1.0),
    )
    assert _land(con, config, "events").landed_rows == 2
    assert _land(con, config, "feedback").landed_rows == 2
    assert _rows(
        con,
        "SELECT customer_id, event_ts, event_type, channel, campaign_id FROM raw.events "
        "ORDER BY source_row",
    ) == [
        ("1001", datetime(2011, 3, 1, 9), "product_view", "web", None),
        ("1002", datetime(2011, 3, 2, 8), "email_click", None, "7"),
    ]
    assert _rows(con, "SELECT customer_id, feedback_ts, kind, score FROM raw.feedback") == [
        ("1001", datetime(2011, 3, 1), "nps", 10.0),
        ("1002", datetime(2011, 3, 2), "csat", 3.0),
    ]
    assert _rows(
        con, "SELECT source, source_row, reason FROM quality.rejected_rows ORDER BY 1"
    ) == [
        ("events", 3, "missing_customer_id"),
        ("feedback", 3, "missing_timestamp"),
    ]


def test_naive_event_times_are_read_in_the_sources_time_zone(tmp_path: Path, con) -> None:
    path = write_csv(tmp_path / "events.csv", EVENT_HEADER, [GOOD_EVENT])
    config = _config(tmp_path, events=_events_source(path, timezone="Europe/Berlin"))
    _land(con, config, "events")
    assert _rows(con, "SELECT event_ts FROM raw.events") == [(datetime(2011, 3, 1, 9),)]


def test_a_malformed_events_record_is_quarantined_and_the_rest_land(tmp_path: Path, con) -> None:
    path = write_csv(tmp_path / "events.csv", EVENT_HEADER, [GOOD_EVENT])
    with path.open("a") as handle:
        handle.write("1005,2011-03-01 10:00:00,session_start,web,,,surplus\n")
        handle.write("1006,2011-03-01 10:00:00,view_item,web,SKU-2,\n")
    report = _land(
        con, _config(tmp_path, events=_events_source(path, max_reject_rate=1.0)), "events"
    )
    assert (report.landed_rows, report.rejected_by_reason) == (2, {"malformed_record": 1})
    [(row, values)] = _rows(con, "SELECT source_row, raw_values FROM quality.rejected_rows")
    assert row == 2
    assert json.loads(values) == {
        "line": 3,
        "text": "1005,2011-03-01 10:00:00,session_start,web,,,surplus",
    }


def test_over_the_reject_rate_nothing_is_written(tmp_path: Path, con) -> None:
    rows = [GOOD_EVENT, *(["1003", "2011-03-01", "page_scroll", "web", "", ""] for _ in range(2))]
    path = write_csv(tmp_path / "events.csv", EVENT_HEADER, rows)
    with pytest.raises(RejectRateExceeded) as error:
        _land(con, _config(tmp_path, events=_events_source(path)), "events")
    assert "events: at least 2 of 3 rows rejected" in str(error.value)
    assert "unknown_event_type: 2" in str(error.value)
    assert "sources.events.max_reject_rate" in str(error.value)
    assert _rows(con, "SELECT table_name FROM information_schema.tables") == []


def test_a_rerun_replaces_exactly_what_it_wrote(tmp_path: Path, con) -> None:
    events = write_csv(tmp_path / "events.csv", EVENT_HEADER, [r for r, _ in EVENT_ROWS])
    feedback = write_csv(tmp_path / "fb.csv", FEEDBACK_HEADER, [r for r, _ in FEEDBACK_ROWS])
    config = _config(
        tmp_path,
        events=_events_source(events, max_reject_rate=1.0),
        feedback=_feedback_source(feedback, max_reject_rate=1.0),
    )
    first = [_land(con, config, source) for source in ("transactions", "events", "feedback")]
    tables = ("raw.transactions", "raw.events", "raw.feedback")
    before = {t: con.execute(f"SELECT * FROM {t} ORDER BY source_row").pl() for t in tables}
    quarantine = "SELECT * EXCLUDE (rejected_at) FROM quality.rejected_rows ORDER BY ALL"
    rejected = con.execute(quarantine).pl()
    second = [_land(con, config, source) for source in ("events", "feedback")]
    assert second == first[1:]
    for table in tables:
        assert con.execute(f"SELECT * FROM {table} ORDER BY source_row").pl().equals(before[table])
    # each source's quarantine is replaced, the others' are left alone
    assert con.execute(quarantine).pl().equals(rejected)
    counts = dict(_rows(con, "SELECT source, count(*) FROM quality.rejected_rows GROUP BY 1"))
    assert counts == {
        "transactions": first[0].rejected_rows,
        "events": first[1].rejected_rows,
        "feedback": first[2].rejected_rows,
    }


def test_a_removed_or_shrunk_events_file_stops_the_landing(tmp_path: Path, con) -> None:
    folder = tmp_path / "events"
    april = ["1005", "2011-04-01 10:00:00", "session_start", "web", "", ""]
    first = write_csv(folder / "2011-03.csv", EVENT_HEADER, [r for r, why in EVENT_ROWS if not why])
    second = write_csv(folder / "2011-04.csv", EVENT_HEADER, [april])
    config = _config(tmp_path, events=_events_source(folder / "*.csv"))
    assert _land(con, config, "events").landed_rows == 6
    second.unlink()
    with pytest.raises(RemovedFilesError) as error:
        _land(con, config, "events")
    assert f"{second} (1 rows before)" in str(error.value)
    assert "sources.events.allow_removed_files: true" in str(error.value)
    write_csv(second, EVENT_HEADER, [april])
    write_csv(first, EVENT_HEADER, [GOOD_EVENT])
    with pytest.raises(RemovedFilesError) as error:
        _land(con, config, "events")
    assert f"{first} (5 rows before, 1 now)" in str(error.value)
    assert _rows(con, "SELECT count(*) FROM raw.events") == [(6,)]
    allowed = _config(tmp_path, events=_events_source(folder / "*.csv", allow_removed_files=True))
    report = _land(con, allowed, "events")
    assert report.removed_files == {str(first): (5, 1)}
    assert _rows(con, "SELECT count(*) FROM raw.events") == [(2,)]


def _resources(config: SegmentationConfig) -> dict[str, Any]:
    return {"warehouse": Warehouse(path=str(config.warehouse)), "settings": config}


def _checks(*keys: str) -> list[dg.AssetChecksDefinition]:
    wanted = {dg.AssetKey(["raw", key]) for key in keys}
    return [check for check in raw_checks if {k.asset_key for k in check.check_keys} <= wanted]


def test_without_the_sources_the_tables_exist_empty(tmp_path: Path) -> None:
    events = write_csv(tmp_path / "events.csv", EVENT_HEADER, [r for r, _ in EVENT_ROWS])
    configured = _config(tmp_path, events=_events_source(events, max_reject_rate=1.0))
    assets = [raw_events, raw_feedback, *_checks("events", "feedback")]
    assert dg.materialize(assets, resources=_resources(configured)).success
    # the sources are taken out of the config: their rows and quarantine go with them
    result = dg.materialize(assets, resources=_resources(_config(tmp_path)))
    assert result.success
    for name in ("events", "feedback"):
        [materialization] = result.asset_materializations_for_node(f"raw__{name}")
        assert materialization.metadata["note"].value == f"no {name} source configured"
        assert materialization.metadata["dagster/row_count"].value == 0
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 2 and all(check.passed for check in checks)
    with duckdb.connect(str(configured.warehouse), read_only=True) as con:
        assert _rows(con, "SELECT count(*) FROM raw.events") == [(0,)]
        assert _rows(con, "SELECT count(*) FROM raw.feedback") == [(0,)]
        assert _rows(con, "SELECT count(*) FROM quality.rejected_rows") == [(0,)]
        columns = _rows(con, "DESCRIBE raw.feedback")
    assert [(name, kind) for name, kind, *_ in columns] == [
        ("customer_id", "VARCHAR"),
        ("feedback_ts", "TIMESTAMP"),
        ("kind", "VARCHAR"),
        ("score", "DOUBLE"),
        ("topic", "VARCHAR"),
        ("source_file", "VARCHAR"),
        ("source_row", "BIGINT"),
    ]


def test_the_assets_record_the_landing_and_pass_their_contract_checks(tmp_path: Path) -> None:
    events = write_csv(tmp_path / "events.csv", EVENT_HEADER, [r for r, _ in EVENT_ROWS])
    feedback = write_csv(tmp_path / "fb.csv", FEEDBACK_HEADER, [r for r, _ in FEEDBACK_ROWS])
    config = _config(
        tmp_path,
        events=_events_source(events, max_reject_rate=1.0),
        feedback=_feedback_source(feedback, max_reject_rate=1.0),
    )
    assets = [raw_events, raw_feedback, *_checks("events", "feedback")]
    result = dg.materialize(assets, resources=_resources(config))
    assert result.success
    [events_metadata] = result.asset_materializations_for_node("raw__events")
    metadata = {key: value.value for key, value in events_metadata.metadata.items()}
    assert (metadata["source_rows"], metadata["landed_rows"]) == (len(EVENT_ROWS), 5)
    assert metadata["rejected_rows"] == 9
    reasons = {r.data["reason"]: r.data["rows"] for r in metadata["rejected_by_reason"].records}
    assert reasons["unknown_event_type"] == 3
    assert [c.name for c in metadata["dagster/column_schema"].columns] == [
        "customer_id",
        "event_ts",
        "event_type",
        "channel",
        "product_id",
        "campaign_id",
        "source_file",
        "source_row",
    ]
    # a markdown table: header, rule and the 5 landed rows
    assert len(metadata["preview"].splitlines()) == 2 + 5
    assert "| product_view |" in metadata["preview"]
    [feedback_metadata] = result.asset_materializations_for_node("raw__feedback")
    assert feedback_metadata.metadata["landed_rows"].value == 7
    checks = result.get_asset_check_evaluations()
    assert {c.asset_key.path[1] for c in checks if c.passed} == {"events", "feedback"}


def test_the_definitions_land_watch_and_check_events_and_feedback(tmp_path: Path) -> None:
    folder = tmp_path / "events"
    _settled(write_csv(folder / "2011-03.csv", EVENT_HEADER, [GOOD_EVENT]))
    # a settled copy of the sample: a fresh clone's files are minutes old, which the sensor
    # takes for files still being copied
    sample = tmp_path / "transactions" / SAMPLE_CSV.name
    sample.parent.mkdir()
    shutil.copyfile(SAMPLE_CSV, sample)
    _settled(sample)
    config = _config(tmp_path, events=_events_source(folder / "*.csv"))
    config = config.model_copy(
        update={
            "sources": config.sources.model_copy(
                update={
                    "transactions": config.sources.transactions.model_copy(
                        update={"path": str(sample)}
                    )
                }
            )
        }
    )
    defs = build_definitions(config)
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"raw/events", "raw/feedback"} <= keys
    checks = {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys}
    assert {("raw/events", "contract"), ("raw/feedback", "contract")} <= checks
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    assert str(folder / "*.csv") in (sensor.description or "")
    cursor = sensor(dg.build_sensor_context()).cursor
    assert str(folder / "2011-03.csv") in json.loads(cursor or "{}")
    assert str(sample) in json.loads(cursor or "{}")
    # a new events file alone starts a run
    _settled(write_csv(folder / "2011-04.csv", EVENT_HEADER, [GOOD_EVENT]))
    result = sensor(dg.build_sensor_context(cursor=cursor))
    assert len(result.run_requests) == 1
    assert result.run_requests[0].tags["landing/new_files"] == "1"


def _settled(path: Path) -> None:
    """Make a file look copied an hour ago: the sensor waits for files still changing."""
    an_hour_ago = path.stat().st_mtime - 3600
    os.utime(path, (an_hour_ago, an_hour_ago))


def test_the_summary_shows_events_and_feedback_only_when_they_landed(tmp_path: Path) -> None:
    events = write_csv(tmp_path / "events.csv", EVENT_HEADER, [r for r, _ in EVENT_ROWS])
    config = _config(tmp_path, events=_events_source(events, max_reject_rate=1.0))
    unconfigured = _resources(_config(tmp_path))
    assert dg.materialize([raw_transactions, raw_customers], resources=unconfigured).success
    with duckdb.connect(str(config.warehouse)) as con:
        before = summary_sections(con)
    assert [section.title for section in before[:2]] == [
        "Rows landed",
        "Rows quarantined (quality.rejected_rows) by reason",
    ]
    assets = [raw_events, raw_feedback]
    assert dg.materialize(assets, resources=unconfigured).success
    with duckdb.connect(str(config.warehouse)) as con:
        # empty tables (no sources) change nothing
        assert summary_sections(con) == before
    assert dg.materialize(assets, resources=_resources(config)).success
    with duckdb.connect(str(config.warehouse)) as con:
        landed, rejected = summary_sections(con)[:2]
    assert landed.rows == [*before[0].rows, ("raw.events", 5)]
    assert [row for row in rejected.rows if row[0] != "events"] == before[1].rows
    assert {row[1]: row[2] for row in rejected.rows if row[0] == "events"} == dict(
        Counter(reason for _, reason in EVENT_ROWS if reason is not None)
    )


def test_the_events_benchmark_lands_the_generated_file(tmp_path: Path) -> None:
    data = tmp_path / "bench"
    params = generate_events(data / "events.parquet", 20_000, seed=3)
    assert params["rows"] == 20_000 and params["customers"] == 50
    work = data / "work"
    write_bench_config(data, work)
    out = work / "events.json"
    stages.main(["events", "--data", str(data), "--work", str(work), "--out", str(out)])
    result = json.loads(out.read_text())
    landing, check = result["stages"]
    assert landing["stage"] == "raw.events"
    with duckdb.connect(str(work / "segmentation.duckdb"), read_only=True) as con:
        landed = _rows(con, "SELECT count(*) FROM raw.events")[0][0]
        rejected = _rows(con, "SELECT count(*) FROM quality.rejected_rows")[0][0]
        kinds = {kind for (kind,) in _rows(con, "SELECT DISTINCT event_type FROM raw.events")}
    assert landing["extra"]["raw.events rows"] == landed
    assert landed + rejected == 20_000
    assert kinds == set(EVENT_TYPES)
    assert check["extra"] == {"checked rows": landed, "failures": 0}
    assert landing["peak_rss_mib"] >= landing["rss_start_mib"] > 0


def test_a_sources_pii_columns_are_masked_in_the_quarantine(tmp_path: Path) -> None:
    # a feedback export's free-text comment and an events export's e-mail column, listed as
    # personal data: a quarantined row shows *** for them, the other values as given
    comment = "call me on 555 0100, Jane Roe"
    feedback = write_csv(
        tmp_path / "fb.csv",
        FEEDBACK_HEADER,
        [["1001", "2011-03-01", "nps", "11", "delivery", comment]],
    )
    events = write_csv(
        tmp_path / "ev.csv",
        [*EVENT_HEADER, "email"],
        [["", "2011-03-01 08:00:00", "session_start", "web", "", "", "jane@example.com"]],
    )
    sources = {
        "feedback": _feedback_source(feedback, max_reject_rate=1.0),
        "events": _events_source(events, max_reject_rate=1.0),
    }
    assets = [raw_events, raw_feedback]

    def quarantined(config: SegmentationConfig) -> dict[str, dict]:
        assert dg.materialize(assets, resources=_resources(config)).success
        with duckdb.connect(str(config.warehouse), read_only=True) as con:
            rows = con.execute("SELECT source, raw_values FROM quality.rejected_rows").fetchall()
        return {source: json.loads(values) for source, values in rows}

    # without the key the values reach the quarantine as given
    plain = quarantined(_config(tmp_path, **sources))
    assert plain["feedback"]["comment"] == comment
    assert plain["events"]["email"] == "jane@example.com"
    sources["feedback"]["pii_columns"] = ["comment"]
    sources["events"]["pii_columns"] = ["email"]
    masked = quarantined(_config(tmp_path, **sources))
    assert masked["feedback"] == {**plain["feedback"], "comment": "***"}
    assert masked["events"] == {**plain["events"], "email": "***"}
