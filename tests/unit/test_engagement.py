"""Engagement and feedback features at two month ends, checked against values computed by hand.

The warehouse is an in-memory DuckDB with ``raw.events``, ``raw.feedback`` and
``raw.transactions`` in the landed column layout, and the customers of each snapshot in
``features.customer_behaviour`` (only the key columns: that is all the features read of it).
Snapshots: 2024-03-31 (March, as of 23:59:59.999999) and 2024-04-30 (April). Windows (the
snapshot date and the days before it):

* engagement and complaints, 90 days: March 2024-01-02 .. 03-31 (Jan 30 + Feb 29 + Mar 31),
  April 2024-02-01 .. 04-30;
* CSAT, 180 days: March 2023-10-04 .. 2024-03-31, April 2023-11-02 .. 2024-04-30.

Customers:

* ``ana``: visits at 03-31 23:59:59.999999 (counts in March) and 04-01 00:00:00 (one
  microsecond later: April only), on 01-02 00:00 (first day of March's window) and 01-01
  23:59:59.999999 (just outside); 3 opens of 2 sends (open rate capped at 1), 1 click; an
  unsubscribe on 04-15; NPS 6, then 9 at 03-31 23:59:59.999999, then 3 at 04-01 00:00.
* ``ben``: cart adds: A 03-01 bought on day 7 (03-08, converted), B 02-01 bought on day 8
  (02-09, abandoned), C 03-28 (3 days before March's end: not settled in March, abandoned in
  April), D 03-24 (settled exactly at March's end), E 01-15 with a purchase earlier that day
  only, F 2023-12-20 (outside the window), G 03-10 followed by a return only (the next purchase
  is on day 10), H 03-20 bought at the same instant (converted); one send and no open; NPS 7;
  CSAT 1 on 2023-10-03 (outside), 5 on 2023-10-04 (inside) and 4 on 03-31; complaints on 01-01
  (outside), 01-02 and 03-15 (the last without a score).
* ``cid``: only a send and an unsubscribe (no engagement); NPS 2 and 8 at the same instant
  (the later source row wins); a complaint on 04-10.
* ``dan``: no events and no feedback. ``gus``: NPS 6, a review. ``hal``: a customer in April
  only, with nothing. ``eve``: events and feedback, but not a customer of any snapshot.
"""

import random
from collections.abc import Iterator
from contextlib import closing
from datetime import date, datetime, timedelta
from typing import Any

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from segmentation.features.contracts import CustomerEngagementContract
from segmentation.features.engagement import (
    ENGAGEMENT_COLUMNS,
    engagement_by_snapshot,
    engagement_for_snapshots,
)
from segmentation.features.settings import EngagementSettings, FeedbackSettings

MARCH, APRIL = date(2024, 3, 31), date(2024, 4, 30)
LAST_INSTANT = datetime(2024, 3, 31, 23, 59, 59, 999999)
CUSTOMERS_TABLE = "features.customer_behaviour"

EVENT_SCHEMA = {
    "customer_id": pl.Utf8,
    "event_ts": pl.Datetime("us"),
    "event_type": pl.Utf8,
    "channel": pl.Utf8,
    "product_id": pl.Utf8,
    "campaign_id": pl.Utf8,
    "source_file": pl.Utf8,
    "source_row": pl.Int64,
}
FEEDBACK_SCHEMA = {
    "customer_id": pl.Utf8,
    "feedback_ts": pl.Datetime("us"),
    "kind": pl.Utf8,
    "score": pl.Float64,
    "topic": pl.Utf8,
    "source_file": pl.Utf8,
    "source_row": pl.Int64,
}
TRANSACTION_SCHEMA = {
    "customer_id": pl.Utf8,
    "order_id": pl.Utf8,
    "order_ts": pl.Datetime("us"),
    "quantity": pl.Float64,
    "unit_price": pl.Float64,
    "amount": pl.Float64,
    "product_id": pl.Utf8,
    "channel": pl.Utf8,
    "country": pl.Utf8,
    "is_return": pl.Boolean,
    "source_file": pl.Utf8,
    "source_row": pl.Int64,
}

# (customer, timestamp, canonical event type)
EVENTS: list[tuple[str, datetime, str]] = [
    ("ana", LAST_INSTANT, "visit"),
    ("ana", datetime(2024, 4, 1, 0, 0, 0), "visit"),
    ("ana", datetime(2024, 1, 2, 0, 0, 0), "visit"),
    ("ana", datetime(2024, 1, 1, 23, 59, 59, 999999), "visit"),
    ("ana", datetime(2024, 2, 10, 9, 0), "product_view"),
    ("ana", datetime(2024, 2, 10, 9, 5), "product_view"),
    ("ana", datetime(2024, 3, 1, 8, 0), "email_send"),
    ("ana", datetime(2024, 3, 1, 8, 0), "email_send"),
    ("ana", datetime(2024, 3, 2, 8, 0), "email_open"),
    ("ana", datetime(2024, 3, 2, 8, 1), "email_open"),
    ("ana", datetime(2024, 3, 2, 8, 2), "email_open"),
    ("ana", datetime(2024, 3, 2, 8, 3), "email_click"),
    ("ana", datetime(2024, 4, 15, 12, 0), "unsubscribe"),
    ("ben", datetime(2024, 3, 1, 10, 0), "add_to_cart"),  # A
    ("ben", datetime(2024, 2, 1, 10, 0), "add_to_cart"),  # B
    ("ben", datetime(2024, 3, 28, 12, 0), "add_to_cart"),  # C
    ("ben", datetime(2024, 3, 24, 12, 0), "add_to_cart"),  # D
    ("ben", datetime(2024, 1, 15, 10, 0), "add_to_cart"),  # E
    ("ben", datetime(2023, 12, 20, 10, 0), "add_to_cart"),  # F
    ("ben", datetime(2024, 3, 10, 10, 0), "add_to_cart"),  # G
    ("ben", datetime(2024, 3, 20, 12, 0), "add_to_cart"),  # H
    ("ben", datetime(2024, 3, 5, 8, 0), "email_send"),
    ("cid", datetime(2024, 3, 5, 8, 0), "email_send"),
    ("cid", datetime(2024, 2, 1, 8, 0), "unsubscribe"),
    ("eve", datetime(2024, 3, 5, 8, 0), "visit"),
]

# (customer, order timestamp, is_return)
TRANSACTIONS: list[tuple[str, datetime, bool]] = [
    ("ben", datetime(2024, 1, 15, 9, 0), False),  # before cart E, the same day
    ("ben", datetime(2024, 2, 9, 9, 0), False),  # day 8 after cart B
    ("ben", datetime(2024, 3, 8, 18, 0), False),  # day 7 after cart A
    ("ben", datetime(2024, 3, 11, 9, 0), True),  # a return after cart G
    ("ben", datetime(2024, 3, 20, 12, 0), False),  # at the instant of cart H
    ("ana", datetime(2024, 2, 2, 9, 0), False),  # another customer's purchase
]

# (customer, timestamp, kind, score, source row)
FEEDBACK: list[tuple[str, datetime, str, float | None, int]] = [
    ("ana", datetime(2024, 1, 10, 12, 0), "nps", 6.0, 1),
    ("ana", LAST_INSTANT, "nps", 9.0, 2),
    ("ana", datetime(2024, 4, 1, 0, 0, 0), "nps", 3.0, 3),
    ("ben", datetime(2024, 2, 1, 12, 0), "nps", 7.0, 4),
    ("ben", datetime(2023, 10, 3, 12, 0), "csat", 1.0, 5),
    ("ben", datetime(2023, 10, 4, 0, 0), "csat", 5.0, 6),
    ("ben", datetime(2024, 3, 31, 20, 0), "csat", 4.0, 7),
    ("ben", datetime(2024, 1, 1, 12, 0), "complaint", None, 8),
    ("ben", datetime(2024, 1, 2, 12, 0), "complaint", 2.0, 9),
    ("ben", datetime(2024, 3, 15, 12, 0), "complaint", None, 10),
    ("cid", datetime(2024, 3, 10, 12, 0), "nps", 2.0, 11),
    ("cid", datetime(2024, 3, 10, 12, 0), "nps", 8.0, 12),
    ("cid", datetime(2024, 4, 10, 12, 0), "complaint", None, 13),
    ("gus", datetime(2024, 2, 20, 12, 0), "nps", 6.0, 14),
    ("gus", datetime(2024, 3, 1, 12, 0), "review", 4.0, 15),
    ("eve", datetime(2024, 3, 1, 12, 0), "nps", 10.0, 16),
]

SNAPSHOT_CUSTOMERS = {
    MARCH: ["ana", "ben", "cid", "dan", "gus"],
    APRIL: ["ana", "ben", "cid", "dan", "gus", "hal"],
}

ENGAGEMENT_NULL = {
    "visits_90d": None,
    "product_views_90d": None,
    "cart_adds_90d": None,
    "email_sends_90d": None,
    "email_opens_90d": None,
    "email_clicks_90d": None,
    "email_open_rate_90d": None,
    "email_click_rate_90d": None,
    "days_since_last_engagement": None,
    "abandoned_carts_90d": None,
    "is_unsubscribed": None,
}
FEEDBACK_NULL = {
    "latest_nps": None,
    "nps_class": None,
    "avg_csat_180d": None,
    "complaints_90d": None,
    "days_since_last_feedback": None,
}
# configured, without any events / feedback
NO_EVENTS = {
    **ENGAGEMENT_NULL,
    "visits_90d": 0,
    "product_views_90d": 0,
    "cart_adds_90d": 0,
    "email_sends_90d": 0,
    "email_opens_90d": 0,
    "email_clicks_90d": 0,
    "abandoned_carts_90d": 0,
    "is_unsubscribed": False,
}
NO_FEEDBACK = {**FEEDBACK_NULL, "complaints_90d": 0}

EXPECTED_ENGAGEMENT: dict[date, dict[str, dict[str, Any]]] = {
    MARCH: {
        "ana": {
            **NO_EVENTS,
            "visits_90d": 2,  # 03-31 23:59:59.999999 and 01-02 00:00
            "product_views_90d": 2,
            "email_sends_90d": 2,
            "email_opens_90d": 3,
            "email_clicks_90d": 1,
            "email_open_rate_90d": 1.0,  # 3 / 2, capped
            "email_click_rate_90d": 1 / 3,
            "days_since_last_engagement": 0,
        },
        "ben": {
            **NO_EVENTS,
            "cart_adds_90d": 7,  # A, B, C, D, E, G, H (F is outside)
            "email_sends_90d": 1,
            "email_open_rate_90d": 0.0,  # a send, no open; no open: no click rate
            "days_since_last_engagement": 3,  # cart C on 03-28
            "abandoned_carts_90d": 4,  # B, D, E, G; A and H converted, C not settled
        },
        "cid": {
            **NO_EVENTS,
            "email_sends_90d": 1,
            "email_open_rate_90d": 0.0,
            "is_unsubscribed": True,  # sends and unsubscribes are no engagement
        },
        "dan": NO_EVENTS,
        "gus": NO_EVENTS,
    },
    APRIL: {
        "ana": {
            **NO_EVENTS,
            "visits_90d": 2,  # 03-31 and 04-01; 01-02 has left the window
            "product_views_90d": 2,
            "email_sends_90d": 2,
            "email_opens_90d": 3,
            "email_clicks_90d": 1,
            "email_open_rate_90d": 1.0,
            "email_click_rate_90d": 1 / 3,
            "days_since_last_engagement": 29,  # 04-01
            "is_unsubscribed": True,  # 04-15
        },
        "ben": {
            **NO_EVENTS,
            "cart_adds_90d": 6,  # A, B, C, D, G, H (B on 02-01 is the window's first day)
            "email_sends_90d": 1,
            "email_open_rate_90d": 0.0,
            "days_since_last_engagement": 33,
            "abandoned_carts_90d": 4,  # B, C, D, G
        },
        "cid": {
            **NO_EVENTS,
            "email_sends_90d": 1,
            "email_open_rate_90d": 0.0,
            "is_unsubscribed": True,
        },
        "dan": NO_EVENTS,
        "gus": NO_EVENTS,
        "hal": NO_EVENTS,
    },
}

EXPECTED_FEEDBACK: dict[date, dict[str, dict[str, Any]]] = {
    MARCH: {
        "ana": {
            **NO_FEEDBACK,
            "latest_nps": 9.0,  # the answer at the last instant counts
            "nps_class": "promoter",
            "days_since_last_feedback": 0,
        },
        "ben": {
            "latest_nps": 7.0,
            "nps_class": "passive",
            "avg_csat_180d": 4.5,  # (5 + 4) / 2; the 1 of 2023-10-03 is outside
            "complaints_90d": 2,  # 01-02 and 03-15
            "days_since_last_feedback": 0,
        },
        "cid": {
            **NO_FEEDBACK,
            "latest_nps": 8.0,  # the later source row of the same instant
            "nps_class": "passive",
            "days_since_last_feedback": 21,
        },
        "dan": NO_FEEDBACK,
        "gus": {
            **NO_FEEDBACK,
            "latest_nps": 6.0,
            "nps_class": "detractor",
            "days_since_last_feedback": 30,  # the review of 03-01
        },
    },
    APRIL: {
        "ana": {
            **NO_FEEDBACK,
            "latest_nps": 3.0,
            "nps_class": "detractor",
            "days_since_last_feedback": 29,
        },
        "ben": {
            "latest_nps": 7.0,
            "nps_class": "passive",
            "avg_csat_180d": 4.0,  # 2023-10-04 has left the window
            "complaints_90d": 1,  # 03-15
            "days_since_last_feedback": 30,
        },
        "cid": {
            "latest_nps": 8.0,
            "nps_class": "passive",
            "avg_csat_180d": None,
            "complaints_90d": 1,
            "days_since_last_feedback": 20,
        },
        "dan": NO_FEEDBACK,
        "gus": {
            **NO_FEEDBACK,
            "latest_nps": 6.0,
            "nps_class": "detractor",
            "days_since_last_feedback": 60,
        },
        "hal": NO_FEEDBACK,
    },
}


def _table(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    con.register("_frame", frame.to_arrow())
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _frame")
    con.unregister("_frame")


def _raw_frames_of(
    events: list[tuple[str, datetime, str]],
    transactions: list[tuple[str, datetime, bool]],
    feedback: list[tuple[str, datetime, str, float | None, int]],
) -> dict[str, pl.DataFrame]:
    """The raw tables in the landed layout, from (customer, instant, ...) tuples."""
    return {
        "raw.events": pl.DataFrame(
            [
                (customer, ts, kind, "web", None, None, "events.csv", row)
                for row, (customer, ts, kind) in enumerate(events, start=1)
            ],
            schema=EVENT_SCHEMA,
            orient="row",
        ),
        "raw.feedback": pl.DataFrame(
            [
                (customer, ts, kind, score, None, "feedback.csv", row)
                for customer, ts, kind, score, row in feedback
            ],
            schema=FEEDBACK_SCHEMA,
            orient="row",
        ),
        "raw.transactions": pl.DataFrame(
            [
                (customer, f"O{row}", ts, 1.0, 10.0, -10.0 if ret else 10.0, "P1", "online")
                + (None, ret, "tx.csv", row)
                for row, (customer, ts, ret) in enumerate(transactions, start=1)
            ],
            schema=TRANSACTION_SCHEMA,
            orient="row",
        ),
    }


def _raw_frames() -> dict[str, pl.DataFrame]:
    return _raw_frames_of(EVENTS, TRANSACTIONS, FEEDBACK)


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA raw; CREATE SCHEMA features")
        for table, frame in _raw_frames().items():
            _table(con, table, frame)
        customers = pl.DataFrame(
            [(day, customer) for day, names in SNAPSHOT_CUSTOMERS.items() for customer in names],
            schema={"snapshot_date": pl.Date, "customer_id": pl.Utf8},
            orient="row",
        )
        _table(con, CUSTOMERS_TABLE, customers)
        yield con


def _compute(
    con: duckdb.DuckDBPyConnection,
    dates: list[date],
    events: bool = True,
    feedback: bool = True,
    engagement_settings: EngagementSettings | None = None,
    feedback_settings: FeedbackSettings | None = None,
) -> pl.DataFrame:
    return engagement_for_snapshots(
        con,
        dates,
        CUSTOMERS_TABLE,
        engagement_settings or EngagementSettings(),
        feedback_settings or FeedbackSettings(),
        events_configured=events,
        feedback_configured=feedback,
    )


def _expected(
    day: date, events: bool, feedback: bool, engagement: dict | None = None
) -> list[dict[str, Any]]:
    engagement = engagement or EXPECTED_ENGAGEMENT
    rows = []
    for customer in SNAPSHOT_CUSTOMERS[day]:
        rows.append(
            {
                "snapshot_date": day,
                "customer_id": customer,
                **(engagement[day][customer] if events else ENGAGEMENT_NULL),
                **(EXPECTED_FEEDBACK[day][customer] if feedback else FEEDBACK_NULL),
            }
        )
    return rows


def _assert_rows(actual: pl.DataFrame, expected: list[dict[str, Any]]) -> None:
    assert actual.columns == ENGAGEMENT_COLUMNS
    rows = actual.to_dicts()
    assert [(r["snapshot_date"], r["customer_id"]) for r in rows] == [
        (r["snapshot_date"], r["customer_id"]) for r in expected
    ]
    for got, want in zip(rows, expected, strict=True):
        for column, value in want.items():
            if isinstance(value, float):
                assert got[column] == pytest.approx(value, rel=1e-12), (got["customer_id"], column)
            else:
                assert got[column] == value, (got["customer_id"], column, got[column])


def test_every_column_at_both_snapshots_matches_the_hand_computed_values(con) -> None:
    both = _compute(con, [APRIL, MARCH])
    _assert_rows(both, _expected(MARCH, True, True) + _expected(APRIL, True, True))
    CustomerEngagementContract.to_schema().validate(both)


@pytest.mark.parametrize("day", [MARCH, APRIL])
def test_a_snapshot_alone_equals_the_same_snapshot_of_a_backfill(con, day: date) -> None:
    """Point in time: nothing after a snapshot's end counts, whatever else the run computes."""
    both = _compute(con, [MARCH, APRIL])
    alone = _compute(con, [day])
    assert alone.equals(both.filter(pl.col("snapshot_date") == day))


def test_sources_not_configured_give_null_columns_for_every_customer(con) -> None:
    none = _compute(con, [MARCH, APRIL], events=False, feedback=False)
    _assert_rows(none, _expected(MARCH, False, False) + _expected(APRIL, False, False))
    # the all-null columns keep their types
    assert none.schema["is_unsubscribed"] == pl.Boolean
    assert none.schema["visits_90d"] == pl.Int64
    assert none.schema["nps_class"] == pl.Utf8


def test_only_the_configured_source_is_read(con) -> None:
    con.execute("DROP TABLE raw.feedback")
    events_only = _compute(con, [MARCH, APRIL], events=True, feedback=False)
    _assert_rows(events_only, _expected(MARCH, True, False) + _expected(APRIL, True, False))
    con.execute("DROP TABLE raw.events")
    _table(con, "raw.feedback", _raw_frames()["raw.feedback"])
    feedback_only = _compute(con, [MARCH], events=False, feedback=True)
    _assert_rows(feedback_only, _expected(MARCH, False, True))


def test_configured_sources_without_rows_give_zeros_and_nulls(con) -> None:
    con.execute("DELETE FROM raw.events; DELETE FROM raw.feedback")
    empty = _compute(con, [MARCH])
    nothing = {customer: NO_EVENTS for customer in SNAPSHOT_CUSTOMERS[MARCH]}
    expected = [
        {"snapshot_date": MARCH, "customer_id": customer, **NO_EVENTS, **NO_FEEDBACK}
        for customer in nothing
    ]
    _assert_rows(empty, expected)


def test_the_windows_and_thresholds_come_from_the_settings(con) -> None:
    # 30-day windows, a 10-day cart follow-up, 6 is a passive
    result = _compute(
        con,
        [MARCH],
        engagement_settings=EngagementSettings(window_days=30, cart_followup_days=10),
        feedback_settings=FeedbackSettings(
            csat_window_days=30, complaint_window_days=30, nps_passive_min=6
        ),
    )
    rows = {row["customer_id"]: row for row in result.to_dicts()}
    ben, ana, gus = rows["ben"], rows["ana"], rows["gus"]
    # 30 days: 03-02 .. 03-31: carts C, D, G, H (A on 03-01 is outside)
    assert ben["cart_adds_90d"] == 4
    # a 10-day follow-up: G (03-10) is bought on day 10 (03-20), D (03-24) not settled until
    # 04-03, C neither; with 7 days both G and D counted
    assert ben["abandoned_carts_90d"] == 0
    assert ben["avg_csat_180d"] == 4.0
    assert ben["complaints_90d"] == 1
    assert ana["visits_90d"] == 1
    assert ana["email_sends_90d"] == 0 and ana["email_open_rate_90d"] is None
    assert ana["email_opens_90d"] == 3 and ana["email_click_rate_90d"] == pytest.approx(1 / 3)
    assert gus["nps_class"] == "passive"


def test_a_customer_without_a_snapshot_row_gets_none(con) -> None:
    result = _compute(con, [MARCH, APRIL])
    assert "eve" not in result.get_column("customer_id").to_list()


def test_stopping_early_drops_the_working_tables(con) -> None:
    months = engagement_by_snapshot(
        con,
        [MARCH, APRIL],
        CUSTOMERS_TABLE,
        EngagementSettings(),
        FeedbackSettings(),
        events_configured=True,
        feedback_configured=True,
    )
    with closing(months):
        first = next(months)
    assert first.get_column("snapshot_date").unique().to_list() == [MARCH]
    temp = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'temp'"
    ).fetchone()[0]
    assert temp == 0


def test_no_snapshot_dates_give_the_columns_without_rows(con) -> None:
    empty = _compute(con, [])
    assert empty.is_empty()
    assert empty.columns == ENGAGEMENT_COLUMNS


# --- against a direct computation, snapshot by snapshot, on random data ---

# Each snapshot computed on its own from the rows up to its end, by the definitions: no
# increments, no running totals, no calendar.
DIRECT = """
WITH c AS (
    SELECT snapshot_date AS sd, customer_id FROM features.customer_behaviour
    WHERE list_contains($dates::DATE[], snapshot_date)
),
e AS (
    SELECT c.sd, ev.customer_id, ev.event_ts, ev.event_type, ev.event_ts::DATE AS day
    FROM c JOIN raw.events AS ev
        ON ev.customer_id = c.customer_id AND ev.event_ts < (c.sd + 1)::TIMESTAMP
),
w AS (SELECT * FROM e WHERE day > sd - $window),
counts AS (
    SELECT sd, customer_id,
        count(*) FILTER (event_type = 'visit') AS v,
        count(*) FILTER (event_type = 'product_view') AS pv,
        count(*) FILTER (event_type = 'add_to_cart') AS ca,
        count(*) FILTER (event_type = 'email_send') AS es,
        count(*) FILTER (event_type = 'email_open') AS eo,
        count(*) FILTER (event_type = 'email_click') AS ec
    FROM w GROUP BY ALL
),
ever AS (
    SELECT sd, customer_id,
        max(day) FILTER (event_type NOT IN ('unsubscribe', 'email_send')) AS engaged,
        bool_or(event_type = 'unsubscribe') AS unsubscribed
    FROM e GROUP BY ALL
),
carts AS (
    SELECT w.sd, w.customer_id, count(*) AS abandoned
    FROM w
    WHERE w.event_type = 'add_to_cart' AND w.day + $followup <= w.sd AND NOT EXISTS (
        SELECT 1 FROM raw.transactions AS t
        WHERE t.customer_id = w.customer_id AND NOT t.is_return AND t.order_ts >= w.event_ts
            AND t.order_ts < (w.day + $followup + 1)::TIMESTAMP
    )
    GROUP BY ALL
),
f AS (
    SELECT c.sd, fb.*, fb.feedback_ts::DATE AS day
    FROM c JOIN raw.feedback AS fb
        ON fb.customer_id = c.customer_id AND fb.feedback_ts < (c.sd + 1)::TIMESTAMP
),
answers AS (
    SELECT sd, customer_id,
        arg_max(score, (feedback_ts, source_file, source_row)) FILTER (kind = 'nps') AS nps,
        avg(score) FILTER (kind = 'csat' AND day > sd - $csat) AS csat,
        count(*) FILTER (kind = 'complaint' AND day > sd - $complaint) AS complaints,
        max(day) AS last_day
    FROM f GROUP BY ALL
)
SELECT c.sd AS snapshot_date, c.customer_id,
    coalesce(v, 0) AS visits_90d, coalesce(pv, 0) AS product_views_90d,
    coalesce(ca, 0) AS cart_adds_90d, coalesce(es, 0) AS email_sends_90d,
    coalesce(eo, 0) AS email_opens_90d, coalesce(ec, 0) AS email_clicks_90d,
    CASE WHEN es > 0 THEN least(eo / es, 1) END AS email_open_rate_90d,
    CASE WHEN eo > 0 THEN least(ec / eo, 1) END AS email_click_rate_90d,
    c.sd - engaged AS days_since_last_engagement,
    coalesce(abandoned, 0) AS abandoned_carts_90d,
    coalesce(unsubscribed, false) AS is_unsubscribed,
    nps AS latest_nps,
    CASE WHEN nps >= $promoter THEN 'promoter' WHEN nps >= $passive THEN 'passive'
        WHEN nps IS NOT NULL THEN 'detractor' END AS nps_class,
    csat AS avg_csat_180d, coalesce(complaints, 0) AS complaints_90d,
    c.sd - last_day AS days_since_last_feedback
FROM c
LEFT JOIN counts USING (sd, customer_id)
LEFT JOIN ever USING (sd, customer_id)
LEFT JOIN carts USING (sd, customer_id)
LEFT JOIN answers USING (sd, customer_id)
ORDER BY 1, 2
"""
KINDS = ["visit", "product_view", "add_to_cart", "email_send", "email_open", "email_click"]


def _random_warehouse(con: duckdb.DuckDBPyConnection, seed: int) -> list[date]:
    """Random events, transactions and feedback of 40 customers over 2023-2024, many at the
    same instants (whole hours); returns the snapshot dates, irregular on purpose."""
    rng = random.Random(seed)
    start = datetime(2023, 1, 1)

    def instant() -> datetime:
        return start + timedelta(hours=rng.randrange(2 * 365 * 24))

    customers = [f"r{n}" for n in range(40)]
    events = [
        (rng.choice(customers), instant(), rng.choice(KINDS + ["add_to_cart"] * 2))
        for _ in range(2500)
    ] + [(rng.choice(customers), instant(), "unsubscribe") for _ in range(8)]
    transactions = [(rng.choice(customers), instant(), rng.random() < 0.1) for _ in range(400)]
    feedback = [
        (rng.choice(customers), instant(), kind, score, row)
        for row in range(1, 301)
        for kind in [rng.choice(["nps", "csat", "complaint", "review"])]
        for score in [float(rng.randrange(11 if kind == "nps" else 5) + (kind != "nps"))]
    ]
    frames = _raw_frames_of(events, transactions, feedback)
    for table, frame in frames.items():
        _table(con, table, frame)
    dates = [date(2023, 2, 28), date(2023, 7, 4), date(2023, 7, 5), date(2024, 2, 29)]
    dates += [date(2024, 12, 31), date(2025, 1, 31)]
    keys = pl.DataFrame(
        [(day, customer) for day in dates for customer in customers[: 30 + dates.index(day)]],
        schema={"snapshot_date": pl.Date, "customer_id": pl.Utf8},
        orient="row",
    )
    _table(con, CUSTOMERS_TABLE, keys)
    return dates


@pytest.mark.parametrize(
    ("seed", "window", "followup", "csat", "complaint", "promoter", "passive"),
    [(1, 90, 7, 180, 90, 9, 7), (2, 30, 45, 400, 1, 10, 5), (3, 1, 1, 7, 365, 6, 1)],
)
def test_every_snapshot_equals_its_direct_computation_on_random_data(
    seed: int, window: int, followup: int, csat: int, complaint: int, promoter: int, passive: int
) -> None:
    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA raw; CREATE SCHEMA features")
        dates = _random_warehouse(con, seed)
        incremental = _compute(
            con,
            dates,
            engagement_settings=EngagementSettings(window_days=window, cart_followup_days=followup),
            feedback_settings=FeedbackSettings(
                csat_window_days=csat,
                complaint_window_days=complaint,
                nps_promoter_min=promoter,
                nps_passive_min=passive,
            ),
        )
        direct = con.execute(
            DIRECT,
            {
                "dates": dates,
                "window": window,
                "followup": followup,
                "csat": csat,
                "complaint": complaint,
                "promoter": promoter,
                "passive": passive,
            },
        ).pl()
    direct = direct.select(pl.col(name).cast(incremental.schema[name]) for name in direct.columns)
    assert incremental.height == sum(30 + n for n in range(len(dates)))
    # the random data reach every branch; with a follow-up as long as the window, no settled
    # add is still in it
    abandoned = incremental.get_column("abandoned_carts_90d").sum()
    assert abandoned > 0 if followup < window else abandoned == 0
    assert incremental.get_column("is_unsubscribed").sum() > 0
    assert incremental.get_column("nps_class").n_unique() == 4
    assert_frame_equal(incremental, direct, check_exact=False, rel_tol=1e-12)
