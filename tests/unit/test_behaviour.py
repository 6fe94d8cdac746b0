"""Behaviour features as of a month end, checked against values computed by hand.

The warehouse is an in-memory DuckDB with ``raw.transactions`` and ``raw.customers`` in the
published column layout. The snapshot is 2024-03 (as of 2024-03-31 23:59:59.999999; 2024 is a
leap year) with ``lost_recency_days = 180``. Reference days for the trailing windows (a window
of N days holds the days after ``2024-03-31 - N``):

* 30 days: after 2024-03-01; 90 days: after 2024-01-01 (Jan 31 + Feb 29 + Mar 30 = 90);
* previous 90 days: after 2023-10-03 and on or before 2024-01-01;
* 365 days: after 2023-04-01 (2023-03-31 .. 2024-03-31 is 366 days because of 2024-02-29).

Customers:

* ``alice``: four purchase days, two orders on 2023-12-20, a two-line order, a return, channels
  online/store/agent (no channel reaches 70%: 'mixed'), a purchase at 23:59:59 of the as-of day
  (counts) and one at 00:00:00 the next day (ignored); birthday the day after the snapshot.
* ``bob``: store only; lost at 2023-07-31 (202 days since 2023-01-10 > 180), back on 2023-08-05;
  at 2024-01-31 only 179 days since then, so the 2024-02-14 purchase is not a win-back.
* ``carol``: no customer record, no channel and no order id (orders keyed by timestamp: three
  rows, two orders, one day).
* ``dave``: only a return by the snapshot (a later purchase is ignored).
* ``erin``: customer record only, signed up before the snapshot (potential); 39 on the day.
* ``frank``: signed up after the snapshot, buys after it: not known yet, absent.
* ``gina``: customer record without signup date: known, potential.
"""

import math
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from segmentation.config import load_config, month_as_of
from segmentation.features import behaviour as behaviour_module
from segmentation.features.behaviour import (
    BEHAVIOUR_COLUMNS,
    ROWS_PER_GIB,
    behaviour_as_of,
    behaviour_by_snapshot,
    behaviour_for_snapshots,
    customer_activity,
    customer_buckets,
)
from segmentation.features.contracts import CustomerBehaviourContract
from segmentation.raw.landing import land_source
from segmentation.raw.publishing import empty_customers_table
from segmentation.sql_files import read_sql
from segmentation.warehouse import memory_limit_bytes
from tests.conftest import config_mapping, write_config_file

AS_OF = month_as_of("2024-03")
SNAPSHOT = date(2024, 3, 31)
LOST_DAYS = 180
DOMINANT_SHARE = 0.7

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
CUSTOMER_SCHEMA = {
    "customer_id": pl.Utf8,
    "signup_date": pl.Date,
    "birth_date": pl.Date,
    "gender": pl.Utf8,
    "income": pl.Float64,
    "region": pl.Utf8,
    "country": pl.Utf8,
    "industry": pl.Utf8,
    "acquisition_channel": pl.Utf8,
    "email": pl.Utf8,
    "phone": pl.Utf8,
    "name": pl.Utf8,
    "source_file": pl.Utf8,
    "source_row": pl.Int64,
}

# (customer, order id, timestamp, amount, product, channel, is_return)
TRANSACTIONS: list[tuple[Any, ...]] = [
    ("alice", "A1", datetime(2023, 6, 15, 10, 0), 100.0, "P1", "online", False),
    ("alice", "A2", datetime(2023, 12, 20, 9, 0), 40.0, "P2", "store", False),
    ("alice", "A3", datetime(2023, 12, 20, 18, 30), 20.0, "P1", "online", False),
    ("alice", "A4", datetime(2024, 1, 10, 12, 0), 30.0, "P3", "online", False),
    ("alice", "A4", datetime(2024, 1, 10, 12, 0), 20.0, "P2", "online", False),
    ("alice", "CA4", datetime(2024, 1, 25, 14, 0), -30.0, "P3", "online", True),
    ("alice", "A5", datetime(2024, 3, 31, 23, 59, 59), 80.0, "P4", "agent", False),
    ("alice", "A6", datetime(2024, 4, 1, 0, 0, 0), 500.0, "P5", "online", False),
    ("bob", "B1", datetime(2023, 1, 10, 11, 0), 25.0, "P1", "store", False),
    ("bob", "B2", datetime(2023, 8, 5, 11, 0), 35.0, "P2", "store", False),
    ("bob", "B3", datetime(2024, 2, 14, 11, 0), 45.0, "P1", "store", False),
    ("carol", None, datetime(2024, 3, 15, 10, 0), 10.0, None, None, False),
    ("carol", None, datetime(2024, 3, 15, 10, 0), 5.0, "P9", None, False),
    ("carol", None, datetime(2024, 3, 15, 16, 0), 15.0, "P9", None, False),
    ("dave", "CD1", datetime(2024, 2, 10, 9, 0), -20.0, "P7", "online", True),
    ("dave", "D2", datetime(2024, 4, 2, 9, 0), 99.0, "P7", "online", False),
    ("frank", "F1", datetime(2024, 4, 20, 9, 0), 12.0, "P1", "store", False),
]

# (customer, signup, birth, gender, income, region, country, industry, acquisition channel)
CUSTOMERS: list[tuple[Any, ...]] = [
    (
        "alice",
        date(2023, 6, 1),
        date(1990, 4, 1),
        "F",
        55_000.0,
        "South",
        "DE",
        "retail",
        "store",
    ),
    ("bob", date(2023, 1, 1), None, "M", None, None, None, None, None),
    ("dave", date(2023, 5, 1), date(2010, 12, 31), None, None, None, None, None, None),
    (
        "erin",
        date(2024, 2, 1),
        date(1985, 3, 31),
        "F",
        42_000.0,
        "North",
        "NL",
        "consumer",
        "online",
    ),
    ("frank", date(2024, 4, 15), date(1970, 1, 1), "M", None, None, None, None, None),
    ("gina", None, None, "X", None, None, None, None, None),
]

NO_ATTRIBUTES: dict[str, Any] = {
    "signup_date": None,
    "age": None,
    "gender": None,
    "income": None,
    "region": None,
    "country": None,
    "industry": None,
    "acquisition_channel": None,
}

# A known customer without a purchase by the snapshot.
NO_PURCHASE: dict[str, Any] = {
    "first_purchase_date": None,
    "last_purchase_date": None,
    "recency_days": None,
    "tenure_days": None,
    "purchase_days": 0,
    "orders": 0,
    "return_orders": 0,
    "gross_revenue": 0.0,
    "net_revenue": 0.0,
    "avg_order_value": None,
    "orders_30d": 0,
    "orders_90d": 0,
    "orders_365d": 0,
    "revenue_30d": 0.0,
    "revenue_90d": 0.0,
    "revenue_365d": 0.0,
    "revenue_prev_90d": 0.0,
    "trend": 0.0,
    "mean_days_between": None,
    "std_days_between": None,
    "return_rate": 0.0,
    "share_online": 0.0,
    "share_store": 0.0,
    "share_agent": 0.0,
    "dominant_channel": "unknown",
    "product_breadth": 0,
    "active_months": 0,
    "frequency": 0,
    "recency": None,
    "age_days": None,
    "repeat_spend_mean": None,
    "days_since_won_back": None,
}

# alice: purchase days 2023-06-15, 2023-12-20, 2024-01-10, 2024-03-31; gaps
# 06-15 -> 12-20: 15 (to Jun 30) + 31 + 31 + 30 + 31 + 30 + 20 = 188,
# 12-20 -> 01-10: 11 + 10 = 21, 01-10 -> 03-31: 21 + 29 + 31 = 81; 188 + 21 + 81 = 290.
ALICE_GAP_MEAN = 290 / 3  # 96.667
ALICE_GAP_STD = math.sqrt(
    ((188 - ALICE_GAP_MEAN) ** 2 + (21 - ALICE_GAP_MEAN) ** 2 + (81 - ALICE_GAP_MEAN) ** 2) / 2
)  # sqrt(14312.667 / 2) = 84.595

EXPECTED: dict[str, dict[str, Any]] = {
    "alice": {
        "signup_date": date(2023, 6, 1),
        # born 1990-04-01: 2024 - 1990 = 34, birthday not reached on 03-31 -> 33
        "age": 33,
        "gender": "F",
        "income": 55_000.0,
        "region": "South",
        "country": "DE",
        "industry": "retail",
        "acquisition_channel": "store",
        "first_purchase_date": date(2023, 6, 15),
        # the 23:59:59 purchase of the as-of day counts; the 00:00:00 one of 04-01 does not
        "last_purchase_date": date(2024, 3, 31),
        "recency_days": 0,
        "tenure_days": 290,  # 15 + 31+31+30+31+30+31 + 31+29+31 (Jun 15 -> Mar 31)
        "purchase_days": 4,
        "orders": 5,  # A1, A2, A3, A4 (two lines), A5
        "return_orders": 1,  # CA4
        "gross_revenue": 290.0,  # 100 + 40 + 20 + (30 + 20) + 80
        "net_revenue": 260.0,  # 290 - 30
        "avg_order_value": 58.0,  # 290 / 5
        "orders_30d": 1,  # A5
        "orders_90d": 2,  # A4, A5
        "orders_365d": 5,
        "revenue_30d": 80.0,  # A5
        "revenue_90d": 100.0,  # 50 - 30 + 80
        "revenue_365d": 260.0,
        "revenue_prev_90d": 60.0,  # 40 + 20 on 2023-12-20
        "trend": 0.25,  # (100 - 60) / (100 + 60)
        "mean_days_between": ALICE_GAP_MEAN,
        "std_days_between": ALICE_GAP_STD,
        "return_rate": 30 / 290,
        "share_online": 0.6,  # A1, A3, A4 of 5
        "share_store": 0.2,  # A2
        "share_agent": 0.2,  # A5
        "dominant_channel": "mixed",  # 0.6 < 0.7
        "product_breadth": 4,  # P1, P2, P3, P4 (P5 is after the as-of instant)
        "active_months": 4,  # 2023-06, 2023-12, 2024-01, 2024-03
        "frequency": 3,
        "recency": 290,
        "age_days": 290,
        "repeat_spend_mean": 190 / 3,  # (60 + 50 + 80) / 3, first day excluded
        # at 2023-11-30 her recency was 168 <= 180: never lost
        "days_since_won_back": None,
    },
    "bob": {
        **NO_ATTRIBUTES,
        "signup_date": date(2023, 1, 1),
        "gender": "M",
        "first_purchase_date": date(2023, 1, 10),
        "last_purchase_date": date(2024, 2, 14),
        "recency_days": 46,  # 15 + 31
        "tenure_days": 446,  # 365 (to 2024-01-10) + 31 + 29 + 21
        "purchase_days": 3,
        "orders": 3,
        "return_orders": 0,
        "gross_revenue": 105.0,  # 25 + 35 + 45
        "net_revenue": 105.0,
        "avg_order_value": 35.0,
        "orders_30d": 0,
        "orders_90d": 1,  # 2024-02-14
        "orders_365d": 2,  # 2023-08-05 and 2024-02-14; 2023-01-10 is before 2023-04-02
        "revenue_30d": 0.0,
        "revenue_90d": 45.0,
        "revenue_365d": 80.0,  # 35 + 45
        "revenue_prev_90d": 0.0,
        "trend": 1.0,  # (45 - 0) / 45
        # gaps: 01-10 -> 08-05: 21+28+31+30+31+30+31 + 5 = 207; 08-05 -> 02-14: 179 + 14 = 193
        "mean_days_between": 200.0,
        "std_days_between": math.sqrt(98.0),  # (7^2 + 7^2) / 1
        "return_rate": 0.0,
        "share_online": 0.0,
        "share_store": 1.0,
        "share_agent": 0.0,
        "dominant_channel": "store",
        "product_breadth": 2,
        "active_months": 3,
        "frequency": 2,
        "recency": 400,  # 446 - 46
        "age_days": 446,
        "repeat_spend_mean": 40.0,  # (35 + 45) / 2
        # won back on 2023-08-05: 26 + 30+31+30+31 + 31+29+31 = 239 days before the snapshot
        "days_since_won_back": 239,
    },
    "carol": {
        **NO_ATTRIBUTES,
        "first_purchase_date": date(2024, 3, 15),
        "last_purchase_date": date(2024, 3, 15),
        "recency_days": 16,
        "tenure_days": 16,
        "purchase_days": 1,
        "orders": 2,  # no order id: the two 10:00 rows are one order, 16:00 another
        "return_orders": 0,
        "gross_revenue": 30.0,
        "net_revenue": 30.0,
        "avg_order_value": 15.0,
        "orders_30d": 2,
        "orders_90d": 2,
        "orders_365d": 2,
        "revenue_30d": 30.0,
        "revenue_90d": 30.0,
        "revenue_365d": 30.0,
        "revenue_prev_90d": 0.0,
        "trend": 1.0,
        "mean_days_between": None,
        "std_days_between": None,
        "return_rate": 0.0,
        "share_online": 0.0,
        "share_store": 0.0,
        "share_agent": 0.0,
        "dominant_channel": "unknown",
        "product_breadth": 1,  # P9; a missing product is not a product
        "active_months": 1,
        "frequency": 0,
        "recency": 0,
        "age_days": 16,
        "repeat_spend_mean": None,
        "days_since_won_back": None,
    },
    "dave": {
        **NO_ATTRIBUTES,
        **NO_PURCHASE,
        "signup_date": date(2023, 5, 1),
        "age": 13,  # born 2010-12-31: 2024 - 2010 - 1
        "return_orders": 1,
        "net_revenue": -20.0,
        "revenue_90d": -20.0,
        "revenue_365d": -20.0,
        "trend": -1.0,  # (-20 - 0) / 20
        "return_rate": 0.0,  # nothing bought: 0 by definition
    },
    "erin": {
        **NO_PURCHASE,
        "signup_date": date(2024, 2, 1),
        "age": 39,  # born 1985-03-31: birthday on the snapshot day
        "gender": "F",
        "income": 42_000.0,
        "region": "North",
        "country": "NL",
        "industry": "consumer",
        "acquisition_channel": "online",
    },
    "gina": {**NO_ATTRIBUTES, **NO_PURCHASE, "gender": "X"},
}


def _frame(rows: list[tuple[Any, ...]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=list(schema.items()), orient="row")


def _transactions() -> pl.DataFrame:
    rows = [
        (cid, oid, ts, 1.0, amount, amount, product, channel, None, is_return, "tx.csv", i)
        for i, (cid, oid, ts, amount, product, channel, is_return) in enumerate(TRANSACTIONS)
    ]
    return _frame(rows, TRANSACTION_SCHEMA)


def _customers() -> pl.DataFrame:
    rows = [(*row, None, None, None, "customers.csv", i) for i, row in enumerate(CUSTOMERS)]
    return _frame(rows, CUSTOMER_SCHEMA)


def _warehouse(transactions: pl.DataFrame, customers: pl.DataFrame) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("CREATE SCHEMA raw")
    for table, frame in (("transactions", transactions), ("customers", customers)):
        connection.register("frame", frame)
        connection.execute(f"CREATE TABLE raw.{table} AS SELECT * FROM frame")
        connection.unregister("frame")
    return connection


@pytest.fixture(scope="module")
def con():
    connection = _warehouse(_transactions(), _customers())
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def behaviour(con) -> pl.DataFrame:
    return behaviour_as_of(con, AS_OF, LOST_DAYS, DOMINANT_SHARE)


def _row(frame: pl.DataFrame, customer_id: str) -> dict[str, Any]:
    rows = frame.filter(pl.col("customer_id") == customer_id).to_dicts()
    assert len(rows) == 1, f"{customer_id}: {len(rows)} rows"
    return rows[0]


def _mismatches(actual: dict[str, Any], expected: dict[str, Any]) -> dict[str, tuple]:
    wrong = {}
    for column, want in expected.items():
        got = actual[column]
        if isinstance(want, float) and got is not None:
            same = got == pytest.approx(want, rel=1e-12, abs=1e-12)
        else:
            same = got == want and type(got) is type(want)
        if not same:
            wrong[column] = (got, want)
    return wrong


def test_known_customers_are_those_with_activity_or_signed_up_by_the_snapshot(
    behaviour: pl.DataFrame,
) -> None:
    # frank signed up 2024-04-15 and first bought 2024-04-20: unknown as of 2024-03-31
    assert behaviour.get_column("customer_id").to_list() == sorted(EXPECTED)
    assert behaviour.get_column("snapshot_date").unique().to_list() == [SNAPSHOT]


def test_expectations_cover_every_behaviour_column() -> None:
    for customer_id, expected in EXPECTED.items():
        missing = set(BEHAVIOUR_COLUMNS) - {"snapshot_date", "customer_id"} - set(expected)
        assert not missing, f"{customer_id}: no expectation for {sorted(missing)}"


@pytest.mark.parametrize("customer_id", sorted(EXPECTED))
def test_behaviour_matches_the_hand_computed_values(
    behaviour: pl.DataFrame, customer_id: str
) -> None:
    assert _mismatches(_row(behaviour, customer_id), EXPECTED[customer_id]) == {}


def test_output_validates_against_the_behaviour_contract(behaviour: pl.DataFrame) -> None:
    CustomerBehaviourContract.validate(behaviour, lazy=True)
    assert behaviour.columns == BEHAVIOUR_COLUMNS


def test_a_snapshot_ends_at_the_last_instant_of_its_day(con) -> None:
    # The 23:59:59 order A5 counts on 2024-03-31; the 2024-04-01 00:00:00 order A6 only from
    # the April snapshot on. Snapshots are whole days: a mid-day as-of is refused.
    with pytest.raises(ValueError, match="last instant of a day"):
        behaviour_as_of(con, datetime(2024, 3, 31, 23, 59, 58), LOST_DAYS, DOMINANT_SHARE)
    earlier = behaviour_as_of(con, AS_OF, LOST_DAYS, DOMINANT_SHARE)
    later = behaviour_as_of(con, month_as_of("2024-04"), LOST_DAYS, DOMINANT_SHARE)
    columns = ["orders", "purchase_days", "last_purchase_date", "gross_revenue"]
    assert {k: _row(earlier, "alice")[k] for k in columns} == {
        "orders": 5,
        "purchase_days": 4,
        "last_purchase_date": date(2024, 3, 31),
        "gross_revenue": 290.0,  # 210 + 80
    }
    assert {k: _row(later, "alice")[k] for k in columns} == {
        "orders": 6,
        "purchase_days": 5,
        "last_purchase_date": date(2024, 4, 1),
        "gross_revenue": 790.0,  # 290 + 500
    }
    # frank becomes known with his signup and purchase in April
    assert "frank" not in earlier.get_column("customer_id").to_list()
    assert "frank" in later.get_column("customer_id").to_list()


def test_dominant_channel_share_is_reached_at_equality(con) -> None:
    # alice buys 3 of 5 orders online: 0.6 >= 0.6 makes online dominant
    frame = behaviour_as_of(con, AS_OF, LOST_DAYS, dominant_channel_share=0.6)
    assert _row(frame, "alice")["dominant_channel"] == "online"
    assert _row(frame, "bob")["dominant_channel"] == "store"
    assert _row(frame, "carol")["dominant_channel"] == "unknown"


# Recency at the month end before each repeat purchase day (the won-back test):
# alice 2023-12-20: 168 days at 2023-11-30 -> won back iff lost_days < 168 (102 days ago);
# bob 2023-08-05: 202 days at 2023-07-31 (239 days ago), bob 2024-02-14: 179 days at
# 2024-01-31 (46 days ago): the latest purchase after a lost month end wins.
@pytest.mark.parametrize(
    ("lost_days", "alice", "bob"),
    [
        (167, 102, 46),
        (168, None, 46),
        (178, None, 46),
        (179, None, 239),
        (201, None, 239),
        (202, None, None),
    ],
)
def test_won_back_needs_recency_past_the_lost_threshold_at_a_month_end(
    con, lost_days: int, alice: int | None, bob: int | None
) -> None:
    frame = behaviour_as_of(con, AS_OF, lost_days, DOMINANT_SHARE)
    assert _row(frame, "alice")["days_since_won_back"] == alice
    assert _row(frame, "bob")["days_since_won_back"] == bob


def test_a_birth_date_after_the_snapshot_gives_no_negative_age() -> None:
    # A customer record without signup date is known at every snapshot; its birth date
    # (2025-01-01, valid when landed later) lies after the 2024-03-31 snapshot.
    record = ("kid", None, date(2025, 1, 1), None, None, None, None, None, None)
    customers = _frame([(*record, None, None, None, "customers.csv", 0)], CUSTOMER_SCHEMA)
    connection = _warehouse(_transactions().head(0), customers)
    try:
        frame = behaviour_as_of(connection, AS_OF, LOST_DAYS, DOMINANT_SHARE)
    finally:
        connection.close()
    age = _row(frame, "kid")["age"]
    assert age is None or age >= 0, f"age {age}"
    CustomerBehaviourContract.validate(frame, lazy=True)


# Snapshots around the fixture's purchases: the day of one (2023-12-20), the day before one
# (2024-01-09), one 30 days after a purchase (2024-02-09) and the 2024-03 snapshot itself, so
# that trailing windows start and end between and on snapshots of the same run.
RUN = [
    date(2023, 1, 31),
    date(2023, 8, 4),
    date(2023, 12, 20),
    date(2024, 1, 9),
    date(2024, 2, 9),
    date(2024, 2, 29),
    SNAPSHOT,
    date(2024, 4, 30),
]


def test_a_snapshot_computed_alone_equals_it_within_a_run_of_many(con) -> None:
    # a backfill of many months (in any order, with repeats) reproduces each live month bit for bit
    run = behaviour_for_snapshots(con, RUN[::-1] + RUN[:2], LOST_DAYS, DOMINANT_SHARE)
    assert run.get_column("snapshot_date").unique(maintain_order=True).to_list() == RUN
    months = list(behaviour_by_snapshot(con, RUN, LOST_DAYS, DOMINANT_SHARE))
    assert len(months) == len(RUN)
    for snapshot, month in zip(RUN, months, strict=True):
        alone = behaviour_as_of(
            con, datetime.combine(snapshot, time.max), LOST_DAYS, DOMINANT_SHARE
        )
        assert not alone.is_empty()
        assert month.equals(alone), snapshot
        assert run.filter(pl.col("snapshot_date") == snapshot).equals(alone), snapshot


def test_stopping_a_backfill_early_drops_its_working_tables(con) -> None:
    with closing(behaviour_by_snapshot(con, RUN, LOST_DAYS, DOMINANT_SHARE)) as months:
        first = next(months)
    assert first.get_column("snapshot_date").unique().to_list() == [RUN[0]]
    temporary = con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()
    assert temporary == []


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("3.7 GiB", 3.7 * 2**30),
        ("488.2 MiB", 488.2 * 2**20),
        ("4GB", 4e9),
        ("1.5 TiB", 1.5 * 2**40),
        ("1024 bytes", 1024),
    ],
)
def test_memory_limit_reads_duckdbs_own_format(setting: str, expected: float) -> None:
    assert memory_limit_bytes(setting) == pytest.approx(expected)


def test_memory_limit_in_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot read DuckDB memory_limit '4 parsecs'"):
        memory_limit_bytes("4 parsecs")


@pytest.mark.parametrize(
    ("rows", "setting", "buckets"),
    [
        (0, "1 GiB", 1),
        (ROWS_PER_GIB, "1 GiB", 1),
        (ROWS_PER_GIB + 1, "1 GiB", 2),
        (10_116_553, "3.7 GiB", 1),  # the 10M benchmark in one pass
        (100_968_561, "3.7 GiB", 10),  # 100M: ran out of 3.7 GiB in one pass
        (100_968_561, "18.8 GiB", 2),
    ],
)
def test_customer_buckets_grow_with_transactions_per_memory(
    rows: int, setting: str, buckets: int
) -> None:
    assert customer_buckets(rows, setting) == buckets


@pytest.fixture(scope="module")
def real_sample(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    """The committed real sample landed into an in-memory warehouse."""
    folder = tmp_path_factory.mktemp("real_sample")
    config = load_config(write_config_file(folder, config_mapping()))
    connection = duckdb.connect()
    land_source(connection, "transactions", config.sources.transactions, datetime(2026, 1, 1))
    empty_customers_table(connection)
    yield connection
    connection.close()


@pytest.mark.parametrize("buckets", [2, 7])
def test_customer_buckets_give_the_same_activity_as_one_pass(real_sample, buckets: int) -> None:
    dates = [date(2010, 3, 31), date(2010, 12, 31), date(2011, 6, 30), date(2011, 12, 31)]
    one_pass = customer_activity(real_sample, dates, LOST_DAYS, buckets=1)
    assert one_pass.height > 5_000
    assert customer_activity(real_sample, dates, LOST_DAYS, buckets=buckets).equals(one_pass)
    # the working tables and the bucket view are gone with the computation
    temp_tables = real_sample.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary "
        "UNION ALL SELECT view_name FROM duckdb_views() WHERE temporary"
    ).fetchall()
    assert not [name for (name,) in temp_tables if name.startswith("_")]


@pytest.mark.parametrize(
    ("snapshot", "customers"),
    [(date(2009, 12, 1), 40), (date(2009, 11, 30), 0)],  # the sample's first day; the day before
)
def test_buckets_without_transactions_give_the_same_activity(
    real_sample, snapshot: date, customers: int
) -> None:
    # 64 buckets for 40 customers (or none): most buckets have no file, and none may have one
    one_pass = customer_activity(real_sample, [snapshot], LOST_DAYS, buckets=1)
    assert one_pass.height == customers
    assert customer_activity(real_sample, [snapshot], LOST_DAYS, buckets=64).equals(one_pass)


def test_bucket_files_live_in_a_scratch_directory_only_while_computing(
    real_sample, tmp_path, monkeypatch
) -> None:
    # an in-memory warehouse: the system's temporary directory, here tmp_path
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    directories: list[Path] = []
    folders: list[list[str]] = []
    real_scratch_directory = behaviour_module.scratch_directory

    @contextmanager
    def watched(con: duckdb.DuckDBPyConnection, prefix: str) -> Iterator[Path]:
        with real_scratch_directory(con, prefix) as directory:
            directories.append(directory)
            yield directory
            folders.append(sorted(file.parent.name for file in directory.glob("*/*.parquet")))

    monkeypatch.setattr(behaviour_module, "scratch_directory", watched)
    dates = [date(2011, 12, 31)]
    customer_activity(real_sample, dates, LOST_DAYS, buckets=3)
    assert directories[0].parent == tmp_path
    assert folders == [[f"customer_bucket={bucket}" for bucket in range(3)]]
    assert list(tmp_path.iterdir()) == []

    broken = (
        "SELECT no_such_column, $snapshot_dates, $lost_recency_days "
        "FROM query_table($transactions::VARCHAR)"
    )
    monkeypatch.setattr(
        behaviour_module,
        "read_sql",
        lambda path: broken if path.endswith("_increments.sql") else read_sql(path),
    )
    with pytest.raises(duckdb.BinderException, match="no_such_column"):
        customer_activity(real_sample, dates, LOST_DAYS, buckets=3)
    assert len(directories) == 2
    assert list(tmp_path.iterdir()) == []
    views = real_sample.execute("SELECT view_name FROM duckdb_views() WHERE temporary").fetchall()
    assert ("_customer_bucket_transactions",) not in views


def test_the_bucket_count_follows_the_connections_memory_limit(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # A warehouse file, not an in-memory one: the sample's table takes ~56 MiB in memory, more
    # than the lowered limit, and only a file-backed table leaves the buffer pool without
    # spilling (in memory, the test depended on the temp directory and on what ran before it).
    folder = tmp_path_factory.mktemp("bucket_limit")
    config = load_config(write_config_file(folder, config_mapping()))
    with closing(duckdb.connect(str(folder / "warehouse.duckdb"))) as con:
        land_source(con, "transactions", config.sources.transactions, datetime(2026, 1, 1))
        empty_customers_table(con)
        rows = con.execute("SELECT count(*) FROM raw.transactions").fetchone()[0]
        # a limit that fits 2/5 of the transactions per pass: three buckets (the upper end of
        # the three-bucket range, for headroom), and the same activity as one pass
        before = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        con.execute(f"SET memory_limit = '{rows / 2.5 / ROWS_PER_GIB:.6f} GiB'")
        try:
            setting = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
            assert customer_buckets(rows, setting) == 3
            dates = [date(2011, 12, 31)]
            by_limit = customer_activity(con, dates, LOST_DAYS)
        finally:
            # not RESET: in DuckDB 1.5.6 it leaves the buffer pool at the lowered limit
            con.execute(f"SET memory_limit = '{before}'")
        assert by_limit.equals(customer_activity(con, dates, LOST_DAYS, buckets=1))


@pytest.fixture(scope="module")
def sample_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed real sample landed into a warehouse file."""
    folder = tmp_path_factory.mktemp("sample_file")
    config = load_config(write_config_file(folder, config_mapping()))
    path = folder / "warehouse.duckdb"
    with closing(duckdb.connect(str(path))) as con:
        land_source(con, "transactions", config.sources.transactions, datetime(2026, 1, 1))
        empty_customers_table(con)
    return path


def _setting(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def _temporary_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    query = "SELECT table_name FROM duckdb_tables() WHERE temporary ORDER BY table_name"
    return [name for (name,) in con.execute(query).fetchall()]


def test_the_last_months_activity_runs_under_a_quarter_of_the_configured_memory_limit(
    sample_file: Path, monkeypatch
) -> None:
    dates = [date(2010, 12, 31), date(2011, 6, 30), date(2011, 12, 31)]
    seen: list[tuple[str, list[str]]] = []
    real_lowered = behaviour_module.lowered_memory_limit

    @contextmanager
    def watched(con: duckdb.DuckDBPyConnection, memory_limit: str) -> Iterator[None]:
        with real_lowered(con, memory_limit):
            seen.append((_setting(con), _temporary_tables(con)))
            yield

    with closing(duckdb.connect(str(sample_file), config={"memory_limit": "4GB"})) as con:
        whole = customer_activity(con, dates, LOST_DAYS)
        monkeypatch.setattr(behaviour_module, "lowered_memory_limit", watched)
        lowered = customer_activity(con, dates, LOST_DAYS, memory_limit="4GB")
        assert _setting(con) == "3.7 GiB"
    assert whole.height > 5_000
    assert lowered.equals(whole)
    # the earlier months keep the limit and the working tables the next totals step reads; the
    # increments are dropped once the last month's totals have read them
    assert seen == [("953.6 MiB", ["_activity_totals"])]
    # the configured limit is back while the month is handed over (and written)
    with closing(duckdb.connect(str(sample_file), config={"memory_limit": "4GB"})) as con:
        months = behaviour_by_snapshot(
            con, dates[-1:], LOST_DAYS, DOMINANT_SHARE, memory_limit="4GB"
        )
        with closing(months):
            assert next(months).height > 1_000
            assert _setting(con) == "3.7 GiB"


def test_a_memory_limit_it_cannot_read_fails_before_any_work(sample_file: Path) -> None:
    with closing(duckdb.connect(str(sample_file))) as con:
        with pytest.raises(ValueError, match="cannot read DuckDB memory_limit '4 gigs'"):
            customer_activity(con, [date(2011, 12, 31)], LOST_DAYS, memory_limit="4 gigs")
        assert _temporary_tables(con) == []


def test_a_month_that_does_not_fit_the_lowered_limit_runs_again_under_the_configured_one(
    sample_file: Path, monkeypatch, caplog
) -> None:
    @contextmanager
    def too_low(con: duckdb.DuckDBPyConnection, memory_limit: str) -> Iterator[None]:
        # below what the activity query needs with nowhere to spill
        con.execute("SET memory_limit = '1MB'")
        try:
            yield
        finally:
            con.execute("SET memory_limit = $limit", {"limit": memory_limit})

    dates = [date(2011, 12, 31)]
    config = {"memory_limit": "4GB", "temp_directory": ""}
    with closing(duckdb.connect(str(sample_file), config=config)) as con:
        whole = customer_activity(con, dates, LOST_DAYS)
        monkeypatch.setattr(behaviour_module, "lowered_memory_limit", too_low)
        with caplog.at_level("WARNING", logger=behaviour_module.__name__):
            again = customer_activity(con, dates, LOST_DAYS, memory_limit="4GB")
        assert _setting(con) == "3.7 GiB"
    assert again.equals(whole)
    assert [record.getMessage() for record in caplog.records] == [
        "the activity of 2011-12-31 did not fit a share of memory_limit 4GB; "
        "run again under all of it"
    ]
