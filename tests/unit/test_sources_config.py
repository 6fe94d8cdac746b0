"""The events and feedback sources' config: mapped kinds, scales and paths are checked when the
config loads, and every error names the key."""

from pathlib import Path

import pytest
import yaml

from segmentation.config import load_config
from segmentation.settings_base import ConfigError


def _config(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def valid(tmp_path: Path) -> dict:
    data = tmp_path / "data"
    (data / "events").mkdir(parents=True)
    (data / "a.csv").write_text("id,ts,amt\n1,2011-01-01,2\n")
    (data / "events" / "e1.csv").write_text("user_id,ts,event\n1,2011-01-01,session_start\n")
    (data / "feedback.csv").write_text("cust,date,type,score\n1,2011-01-01,nps,9\n")
    return {
        "warehouse": "wh/segmentation.duckdb",
        "serving": "wh/serving.duckdb",
        "snapshots": {"start": "2011-01", "end": "2011-03"},
        "sources": {
            "transactions": {
                "path": "data/*.csv",
                "columns": {"customer_id": "id", "order_ts": "ts", "amount": "amt"},
            },
            "events": {
                "path": "data/events/*.csv",
                "columns": {"customer_id": "user_id", "event_ts": "ts", "event_type": "event"},
                "event_types": {
                    "visit": ["session_start"],
                    "product_view": ["view_item", "product_page"],
                    "email_open": ["email_open"],
                },
            },
            "feedback": {
                "path": "data/feedback.csv",
                "columns": {
                    "customer_id": "cust",
                    "feedback_ts": "date",
                    "kind": "type",
                    "score": "score",
                },
                "kinds": {"nps": ["nps"], "csat": ["csat"], "complaint": ["complaint"]},
            },
        },
    }


def test_both_sources_load_with_their_defaults_and_resolved_paths(
    tmp_path: Path, valid: dict
) -> None:
    config = load_config(_config(tmp_path, valid))
    events, feedback = config.sources.events, config.sources.feedback
    assert events is not None and feedback is not None
    assert events.files() == [tmp_path / "data" / "events" / "e1.csv"]
    assert feedback.files() == [tmp_path / "data" / "feedback.csv"]
    assert events.event_types.lookup() == {
        "session_start": "visit",
        "view_item": "product_view",
        "product_page": "product_view",
        "email_open": "email_open",
    }
    assert events.columns.channel is None
    assert (events.max_reject_rate, events.timezone, events.timestamp_format) == (0.05, "UTC", None)
    assert feedback.csat_scale == [1.0, 5.0] and feedback.review_scale == [1.0, 5.0]
    assert feedback.scales() == {"nps": (0.0, 10.0), "csat": (1.0, 5.0), "review": (1.0, 5.0)}
    assert list(config.sources.configured()) == ["transactions", "events", "feedback"]


def test_without_them_the_config_is_as_before(tmp_path: Path, valid: dict) -> None:
    del valid["sources"]["events"], valid["sources"]["feedback"]
    config = load_config(_config(tmp_path, valid))
    assert config.sources.events is None and config.sources.feedback is None
    assert list(config.sources.configured()) == ["transactions"]


def test_numbers_in_a_value_list_are_matched_as_text(tmp_path: Path, valid: dict) -> None:
    valid["sources"]["events"]["event_types"] = {"visit": [1, 2], "add_to_cart": [3]}
    config = load_config(_config(tmp_path, valid))
    assert config.sources.events is not None
    assert config.sources.events.event_types.lookup() == {
        "1": "visit",
        "2": "visit",
        "3": "add_to_cart",
    }


def _events(config: dict) -> dict:
    return config["sources"]["events"]


def _feedback(config: dict) -> dict:
    return config["sources"]["feedback"]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda c: _events(c)["event_types"].update(page_scroll=["scroll"]),
            "sources.events.event_types.page_scroll: unknown key",
        ),
        (
            lambda c: _events(c)["event_types"].update(add_to_cart=["view_item"]),
            "sources.events.event_types: 'view_item' is mapped to both product_view and "
            "add_to_cart: a source value must mean one event kind",
        ),
        (
            lambda c: _events(c)["event_types"].update(unsubscribe=[]),
            "sources.events.event_types.unsubscribe: an empty list maps nothing",
        ),
        (
            lambda c: _events(c).update(event_types={}),
            "sources.events.event_types: map at least one event kind",
        ),
        (
            lambda c: _events(c)["event_types"].update(visit=["session_start", " "]),
            "sources.events.event_types.visit: ' ': source values are compared with spaces "
            "stripped",
        ),
        (
            lambda c: _events(c)["event_types"].update(visit="session_start"),
            "sources.events.event_types.visit: Input should be a valid list",
        ),
        (
            lambda c: _events(c).pop("event_types"),
            "sources.events.event_types: required key is missing",
        ),
        (
            lambda c: _events(c)["columns"].pop("event_type"),
            "sources.events.columns.event_type: required key is missing",
        ),
        (
            lambda c: _events(c)["columns"].update(session="sid"),
            "sources.events.columns.session: unknown key",
        ),
        (
            lambda c: _events(c).update(path="data/events/*.parquet"),
            "sources.events.path",
        ),
        (
            lambda c: _events(c).update(timezone="Mars/Olympus"),
            "sources.events.timezone: unknown time zone 'Mars/Olympus'",
        ),
        (
            lambda c: _events(c).update(max_reject_rate=1.5),
            "sources.events.max_reject_rate",
        ),
        (
            lambda c: _feedback(c)["kinds"].update(praise=["praise"]),
            "sources.feedback.kinds.praise: unknown key",
        ),
        (
            lambda c: _feedback(c)["kinds"].update(review=["nps"]),
            "sources.feedback.kinds: 'nps' is mapped to both nps and review: a source value "
            "must mean one feedback kind",
        ),
        (
            lambda c: _feedback(c)["kinds"].update(complaint=[]),
            "sources.feedback.kinds.complaint: an empty list maps nothing",
        ),
        (
            lambda c: _feedback(c).update(csat_scale=[5, 1]),
            "sources.feedback.csat_scale: expected [lowest, highest] with lowest < highest, "
            "got [5.0, 1.0]",
        ),
        (
            lambda c: _feedback(c).update(review_scale=[3, 3]),
            "sources.feedback.review_scale: expected [lowest, highest] with lowest < highest",
        ),
        (
            lambda c: _feedback(c).update(review_scale=[1, 5, 10]),
            "sources.feedback.review_scale: List should have at most 2 items",
        ),
        (
            lambda c: _feedback(c)["columns"].pop("score"),
            "sources.feedback: columns.score is not mapped, but nps and csat need a score",
        ),
        (
            lambda c: _feedback(c)["columns"].pop("kind"),
            "sources.feedback.columns.kind: required key is missing",
        ),
        (
            lambda c: _feedback(c).update(path="data/nps/*.csv"),
            "sources.feedback.path",
        ),
        (
            lambda c: c["sources"].update(clicks={"path": "x"}),
            "sources.clicks: unknown key",
        ),
    ],
    ids=[
        "unknown-event-kind",
        "value-in-two-event-kinds",
        "empty-event-list",
        "no-event-kind",
        "blank-event-value",
        "event-values-not-a-list",
        "event-types-missing",
        "event-type-column-missing",
        "unknown-event-column",
        "events-path-matches-no-file",
        "events-unknown-timezone",
        "events-reject-rate-out-of-range",
        "unknown-feedback-kind",
        "value-in-two-feedback-kinds",
        "empty-feedback-list",
        "csat-scale-descending",
        "review-scale-not-ascending",
        "review-scale-three-numbers",
        "score-not-mapped",
        "kind-column-missing",
        "feedback-path-matches-no-file",
        "unknown-source",
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, valid: dict, mutate, expected: str) -> None:
    mutate(valid)
    with pytest.raises(ConfigError) as error:
        load_config(_config(tmp_path, valid))
    assert expected in str(error.value)
    assert str(tmp_path / "config.yaml") in str(error.value)


def test_a_complaints_only_source_needs_no_score_column(tmp_path: Path, valid: dict) -> None:
    _feedback(valid)["columns"].pop("score")
    _feedback(valid)["kinds"] = {"complaint": ["complaint"], "review": ["review"]}
    config = load_config(_config(tmp_path, valid))
    assert config.sources.feedback is not None
    assert config.sources.feedback.kinds.lookup() == {"complaint": "complaint", "review": "review"}


def test_the_warehouse_inside_the_events_glob_is_refused(tmp_path: Path, valid: dict) -> None:
    _events(valid)["path"] = "data/events/*"
    valid["warehouse"] = "data/events/segmentation.duckdb"
    with pytest.raises(ConfigError) as error:
        load_config(_config(tmp_path, valid))
    assert "warehouse: " in str(error.value)
    assert "matches sources.events.path" in str(error.value)
