"""features/customer_engagement and the engagement columns of features/customer_features,
materialized by Dagster for one partition (2024-03, as of 2024-03-31 23:59:59.999999) from small
events and feedback files landed by the raw assets.

Customers (those with a purchase by the snapshot's end; no customers source):

* ``c1``: a visit at 23:59:59 of the snapshot day (counts) and one at 00:00:00 the next day (does
  not); a cart add on 02-25 bought on 03-01 (not abandoned); NPS 10 on 03-15.
* ``c2``: a cart add on 03-05 never bought (abandoned); one e-mail sent, opened and clicked;
  CSAT 2 (2024-01-10) and 4 (03-20), a complaint without a score on 03-21.
* ``c3``: only an unsubscribe (no engagement); NPS 6.
* ``x9`` has events but no purchase: no row. ``c4`` buys after the snapshot: no row.
"""

from datetime import date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
import pytest

import segmentation as seg
from pipelines.build_definitions import build_definitions
from segmentation.config import SegmentationConfig, load_config
from segmentation.features.categories import CATEGORY_COLUMNS
from segmentation.features.contracts import CustomerEngagementContract, CustomerFeaturesContract
from segmentation.features.engagement import ENGAGEMENT_FEATURE_COLUMNS
from segmentation.monthly import customer_features_month, read_behaviour_with_clv, read_engagement
from tests.conftest import config_mapping, write_config_file, write_csv

PARTITION = "2024-03"
MARCH = date(2024, 3, 31)
ENGAGEMENT = dg.AssetKey(["features", "customer_engagement"])
FEATURES = dg.AssetKey(["features", "customer_features"])
MONTH_ASSETS = [
    dg.AssetKey(["raw", "transactions"]),
    dg.AssetKey(["raw", "customers"]),
    dg.AssetKey(["raw", "events"]),
    dg.AssetKey(["raw", "feedback"]),
    dg.AssetKey(["features", "customer_behaviour"]),
    ENGAGEMENT,
    dg.AssetKey(["features", "customer_clv"]),
    dg.AssetKey(["marts", "clv_model_params"]),
    FEATURES,
]

TRANSACTIONS = [
    ["c1", "2024-03-01 10:00:00", "O1", "50.0"],
    ["c2", "2024-02-10 10:00:00", "O2", "20.0"],
    ["c3", "2024-01-05 10:00:00", "O3", "30.0"],
    ["c4", "2024-04-02 10:00:00", "O4", "10.0"],
]
EVENTS = [
    ["c1", "2024-03-31 23:59:59", "session_start"],
    ["c1", "2024-04-01 00:00:00", "session_start"],
    ["c1", "2024-02-25 09:00:00", "add_to_cart"],
    ["c2", "2024-03-05 09:00:00", "add_to_cart"],
    ["c2", "2024-03-01 08:00:00", "email_delivered"],
    ["c2", "2024-03-02 08:00:00", "email_open"],
    ["c2", "2024-03-02 08:05:00", "email_click"],
    ["c3", "2024-03-10 08:00:00", "unsubscribe"],
    ["x9", "2024-03-01 08:00:00", "session_start"],
]
FEEDBACK = [
    ["c1", "2024-03-15 12:00:00", "nps", "10"],
    ["c2", "2024-01-10 12:00:00", "csat", "2"],
    ["c2", "2024-03-20 12:00:00", "csat", "4"],
    ["c2", "2024-03-21 12:00:00", "complaint", ""],
    ["c3", "2024-02-01 12:00:00", "nps", "6"],
]

NOTHING = {
    "visits_90d": 0,
    "product_views_90d": 0,
    "cart_adds_90d": 0,
    "email_sends_90d": 0,
    "email_opens_90d": 0,
    "email_clicks_90d": 0,
    "email_open_rate_90d": None,
    "email_click_rate_90d": None,
    "days_since_last_engagement": None,
    "abandoned_carts_90d": 0,
    "is_unsubscribed": False,
    "latest_nps": None,
    "nps_class": None,
    "avg_csat_180d": None,
    "complaints_90d": 0,
    "days_since_last_feedback": None,
}
EXPECTED: dict[str, dict[str, Any]] = {
    "c1": {
        **NOTHING,
        "visits_90d": 1,
        "cart_adds_90d": 1,
        "days_since_last_engagement": 0,
        "latest_nps": 10.0,
        "nps_class": "promoter",
        "days_since_last_feedback": 16,
    },
    "c2": {
        **NOTHING,
        "cart_adds_90d": 1,
        "email_sends_90d": 1,
        "email_opens_90d": 1,
        "email_clicks_90d": 1,
        "email_open_rate_90d": 1.0,
        "email_click_rate_90d": 1.0,
        "days_since_last_engagement": 26,  # the cart add of 03-05
        "abandoned_carts_90d": 1,
        "avg_csat_180d": 3.0,
        "complaints_90d": 1,
        "days_since_last_feedback": 10,
    },
    "c3": {
        **NOTHING,
        "is_unsubscribed": True,
        "latest_nps": 6.0,
        "nps_class": "detractor",
        "days_since_last_feedback": 59,  # 02-01 -> 03-31: 28 + 31
    },
}


def _config(folder: Path, with_sources: bool) -> SegmentationConfig:
    write_csv(folder / "tx.csv", ["cust", "ts", "order", "amount"], TRANSACTIONS)
    write_csv(folder / "events.csv", ["user_id", "ts", "event"], EVENTS)
    write_csv(folder / "feedback.csv", ["cust", "date", "type", "score"], FEEDBACK)
    sources: dict[str, Any] = {
        "transactions": {
            "path": str(folder / "tx.csv"),
            "columns": {"customer_id": "cust", "order_ts": "ts", "order_id": "order"}
            | {"amount": "amount"},
        }
    }
    if with_sources:
        sources["events"] = {
            "path": str(folder / "events.csv"),
            "columns": {"customer_id": "user_id", "event_ts": "ts", "event_type": "event"},
            "event_types": {
                "visit": ["session_start"],
                "add_to_cart": ["add_to_cart"],
                "email_send": ["email_delivered"],
                "email_open": ["email_open"],
                "email_click": ["email_click"],
                "unsubscribe": ["unsubscribe"],
            },
        }
        sources["feedback"] = {
            "path": str(folder / "feedback.csv"),
            "columns": {"customer_id": "cust", "feedback_ts": "date", "kind": "type"}
            | {"score": "score"},
            "kinds": {"nps": ["nps"], "csat": ["csat"], "complaint": ["complaint"]},
        }
    raw = config_mapping(
        sources=sources,
        snapshots={"start": "2024-01", "end": PARTITION},
        segments={"clusters": {"enabled": False}},
    )
    return load_config(write_config_file(folder, raw))


def _materialize(
    config: SegmentationConfig, selection: list[dg.AssetKey]
) -> dg.ExecuteInProcessResult:
    defs = build_definitions(config)
    return dg.materialize(
        list(defs.assets),
        resources=defs.resources,
        partition_key=PARTITION,
        selection=dg.AssetSelection.assets(*selection),
        raise_on_error=False,
    )


def _month(config: SegmentationConfig, table: str) -> pl.DataFrame:
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        return con.execute(f"SELECT * FROM {table} ORDER BY customer_id").pl()


@pytest.fixture(scope="module")
def configured(tmp_path_factory) -> tuple[SegmentationConfig, dg.ExecuteInProcessResult]:
    config = _config(tmp_path_factory.mktemp("engagement"), with_sources=True)
    return config, _materialize(config, MONTH_ASSETS)


def test_the_engagement_month_holds_every_customer_with_its_values(configured) -> None:
    config, result = configured
    assert result.success
    engagement = _month(config, "features.customer_engagement")
    CustomerEngagementContract.to_schema().validate(engagement)
    assert engagement.get_column("customer_id").to_list() == ["c1", "c2", "c3"]
    for row in engagement.to_dicts():
        assert str(row.pop("snapshot_date")) == "2024-03-31"
        assert row == {"customer_id": row["customer_id"], **EXPECTED[row["customer_id"]]}


def test_customer_features_end_with_the_same_columns(configured) -> None:
    config, _ = configured
    features = _month(config, "features.customer_features")
    CustomerFeaturesContract.to_schema().validate(features)
    # the category columns of issue 16 follow them
    end = len(features.columns) - len(CATEGORY_COLUMNS)
    start = end - len(ENGAGEMENT_FEATURE_COLUMNS)
    assert features.columns[start:end] == ENGAGEMENT_FEATURE_COLUMNS
    engagement = _month(config, "features.customer_engagement")
    assert features.select("customer_id", *ENGAGEMENT_FEATURE_COLUMNS).equals(
        engagement.drop("snapshot_date")
    )


def test_the_partition_event_counts_rows_and_nps_classes(configured) -> None:
    _, result = configured
    [event] = [
        e
        for e in result.asset_materializations_for_node("features__customer_engagement")
        if e.partition == PARTITION
    ]
    assert event.metadata["dagster/row_count"].value == 3
    classes = {
        record.data["nps_class"]: record.data["rows"]
        for record in event.metadata["nps_classes"].value.records
    }
    assert classes == {"promoter": 1, "detractor": 1, "(no NPS)": 1}


def test_without_the_sources_the_columns_are_null(tmp_path: Path) -> None:
    config = _config(tmp_path, with_sources=False)
    assert _materialize(config, MONTH_ASSETS).success
    features = _month(config, "features.customer_features")
    assert features.height == 3
    assert features.select(ENGAGEMENT_FEATURE_COLUMNS).null_count().row(0) == (3,) * len(
        ENGAGEMENT_FEATURE_COLUMNS
    )
    engagement = _month(config, "features.customer_engagement")
    assert engagement.drop("snapshot_date", "customer_id").null_count().row(0) == (3,) * len(
        ENGAGEMENT_FEATURE_COLUMNS
    )


def test_features_without_their_engagement_month_fail_naming_the_asset(tmp_path: Path) -> None:
    config = _config(tmp_path, with_sources=True)
    without = [key for key in MONTH_ASSETS if key != ENGAGEMENT]
    result = _materialize(config, without)
    assert not result.success
    [failure] = [event for event in result.all_events if event.is_step_failure]
    assert "materialize features/customer_engagement" in str(failure.step_failure_data.error)


def test_the_notebook_gives_the_pipelines_answer_from_the_landed_frames(configured) -> None:
    config, _ = configured
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        landed = {
            table: con.execute(f"SELECT * FROM raw.{table}").pl()
            for table in ("transactions", "events", "feedback")
        }
    features = seg.customer_features(
        landed["transactions"],
        MARCH,
        events=landed["events"],
        feedback=landed["feedback"],
    )
    pipeline = _month(config, "features.customer_features")
    columns = ["customer_id", *ENGAGEMENT_FEATURE_COLUMNS]
    assert features.select(columns).equals(pipeline.select(columns))
    # one source only: the other's columns are null
    events_only = seg.snapshot(landed["transactions"], MARCH, events=landed["events"]).engagement
    assert events_only.get_column("visits_90d").to_list() == [1, 0, 0]
    assert events_only.get_column("latest_nps").null_count() == 3


def test_the_notebook_quarantines_events_of_an_unknown_kind_as_the_landing_does(
    configured,
) -> None:
    config, _ = configured
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        transactions = con.execute("SELECT * FROM raw.transactions").pl()
    customer = transactions.get_column("customer_id")[0]
    events = pl.DataFrame(
        {
            "customer_id": [customer, customer],
            "event_ts": [datetime(2024, 3, 1, 8), datetime(2024, 3, 2, 8)],
            "event_type": ["session_start", "visit"],
        }
    )
    with pytest.warns(seg.InputWarning, match="events: 1 of 2 rows rejected.*unknown_event_type"):
        month = seg.snapshot(transactions, MARCH, events=events)
    rejected = month.rejected.filter(pl.col("source") == "events")
    assert rejected.select("source_row", "reason").rows() == [(1, "unknown_event_type")]
    assert month.events.select("event_type").to_series().to_list() == ["visit"]


def test_an_engagement_month_of_other_customers_is_refused_without_naming_them(
    configured,
) -> None:
    config, _ = configured
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        behaviour_with_clv = read_behaviour_with_clv(con, MARCH)
        engagement = read_engagement(con, MARCH, config)
    assert engagement is not None
    expected = customer_features_month(behaviour_with_clv, config, engagement)
    # another order: joined by key, the same month
    shuffled = customer_features_month(behaviour_with_clv, config, engagement.reverse())
    assert shuffled.equals(expected)
    with pytest.raises(ValueError, match=r"2 rows for 3 customers, 1 of them missing") as refused:
        customer_features_month(behaviour_with_clv, config, engagement.slice(1))
    assert "c1" not in str(refused.value)
