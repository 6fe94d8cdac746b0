"""Point-in-time customer attributes in the library: each snapshot uses, per customer, the latest
attribute-history row before the end of its day, over the customers source's values; a month
computed in a backfill equals the month computed alone. And the ``list`` attribute type: parsed
from text cells and list columns, read by rules through DuckDB's list functions."""

from datetime import date, datetime

import duckdb
import polars as pl
import pytest

from segmentation.features.behaviour import behaviour_by_snapshot
from segmentation.raw.coercion import as_text_list
from segmentation.segments.rule_types import RuleProblem
from segmentation.segments.settings import SegmentSettings
from segmentation.segments.sql_rules import RuleChecker

MONTHS = [date(2011, 1, 31), date(2011, 2, 28), date(2011, 3, 31), date(2011, 4, 30)]
TRANSACTIONS = pl.DataFrame(
    {
        "customer_id": ["buyer"],
        "order_id": ["O1"],
        "order_ts": [datetime(2011, 1, 10)],
        "quantity": [1.0],
        "unit_price": [10.0],
        "amount": [10.0],
        "product_id": ["P1"],
        "channel": pl.Series([None], dtype=pl.Utf8),
        "country": pl.Series([None], dtype=pl.Utf8),
        "is_return": [False],
        "source_file": ["tx.csv"],
        "source_row": [1],
    }
)
CUSTOMERS = pl.DataFrame(
    {
        "customer_id": ["buyer", "late"],
        "signup_date": [None, date(2011, 4, 15)],
        "region": ["North", "East"],
        "industry": ["retail", "banking"],
        "assets_total": [5.0, 6.0],
    }
)
HISTORY = pl.DataFrame(
    {
        "customer_id": ["buyer", "buyer", "buyer", "late", "new"],
        "valid_from": [
            # the last instant of February counts for February; midnight of April 1st does not
            # count for March
            datetime(2011, 2, 28, 23, 59, 59, 999999),
            datetime(2011, 4, 1),
            datetime(2011, 4, 20),
            datetime(2011, 2, 1),
            datetime(2011, 3, 15),
        ],
        "region": ["South", None, "West", "East", None],
        "assets_total": [100.0, 200.0, 300.0, 7.0, 8.0],
        "products_held": [["fund"], [], None, None, ["loan"]],
        "source_file": ["h.csv"] * 5,
        "source_row": [1, 2, 3, 4, 5],
    }
)
CUSTOM = ["assets_total", "products_held"]


def _months(
    snapshots: list[date], history: pl.DataFrame | None = HISTORY, use_history: bool = True
) -> list[pl.DataFrame]:
    """Behaviour of each snapshot from one pass, on the frames above as landed tables."""
    customers = CUSTOMERS.with_columns(
        *(
            pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in {
                "birth_date": pl.Date,
                "income": pl.Float64,
                "gender": pl.Utf8,
                "country": pl.Utf8,
                "acquisition_channel": pl.Utf8,
                "email": pl.Utf8,
                "phone": pl.Utf8,
                "name": pl.Utf8,
                "source_file": pl.Utf8,
                "source_row": pl.Int64,
            }.items()
        )
    )
    if not use_history:
        customers = customers.with_columns(pl.lit(None, dtype=pl.List(pl.Utf8)).alias(CUSTOM[1]))
    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA raw")
        for table, frame in (
            ("transactions", TRANSACTIONS),
            ("customers", customers),
            ("customer_attributes", history),
        ):
            if frame is not None:
                con.register("frame", frame)
                con.execute(f"CREATE TABLE raw.{table} AS SELECT * FROM frame")
                con.unregister("frame")
        return list(behaviour_by_snapshot(con, snapshots, 365, 0.6, CUSTOM, history=use_history))


def _values(month: pl.DataFrame) -> dict[str, tuple]:
    columns = ["region", "industry", "assets_total", "products_held"]
    return {row[0]: tuple(row[1:]) for row in month.select("customer_id", *columns).rows()}


def test_each_month_uses_the_latest_row_before_the_end_of_its_day() -> None:
    january, february, march, april = (_values(month) for month in _months(MONTHS))
    # before a customer's first history row: the customers source's values
    assert january == {"buyer": ("North", "retail", 5.0, None)}
    # the row of February's last instant counts for February; industry is not in the history
    assert february["buyer"] == ("South", "retail", 100.0, ["fund"])
    assert march["buyer"] == ("South", "retail", 100.0, ["fund"])
    # a null in the latest row is the history's value: the region is not known from then
    assert april["buyer"] == ("West", "retail", 300.0, None)


def test_a_customer_is_known_from_its_first_history_row() -> None:
    january, february, march, _ = _months(MONTHS)
    # 'late' signs up in April but has a history row from February; 'new' has only history
    assert january.get_column("customer_id").to_list() == ["buyer"]
    assert february.get_column("customer_id").to_list() == ["buyer", "late"]
    assert march.get_column("customer_id").to_list() == ["buyer", "late", "new"]
    new = march.filter(pl.col("customer_id") == "new").row(0, named=True)
    assert (new["purchase_days"], new["orders"], new["signup_date"]) == (0, 0, None)
    assert (new["assets_total"], new["products_held"]) == (8.0, ["loan"])


def test_a_month_of_a_backfill_equals_the_month_alone() -> None:
    together = _months(MONTHS)
    for snapshot, month in zip(MONTHS, together, strict=True):
        [alone] = _months([snapshot])
        assert alone.equals(month), snapshot


def test_without_a_history_source_its_table_is_not_read() -> None:
    without = _months(MONTHS, use_history=False)
    assert [month.height for month in without] == [1, 1, 1, 2]
    assert _values(without[3])["buyer"] == ("North", "retail", 5.0, None)
    # the same answer whether or not the (unconfigured) table holds rows
    assert all(
        a.equals(b) for a, b in zip(without, _months(MONTHS, HISTORY.head(0), False), strict=True)
    )


def test_a_text_cell_is_split_and_a_list_column_read_as_it_is() -> None:
    frame = pl.DataFrame(
        {
            "text": ["fund | loan", "", None, "|", " x ||y "],
            "listed": [["a", " b", ""], [], None, [None], ["c"]],
        }
    )
    parsed = frame.select(
        as_text_list(frame.schema, "text").alias("text"),
        as_text_list(frame.schema, "listed").alias("listed"),
    )
    assert parsed.get_column("text").to_list() == [["fund", "loan"], None, None, [], ["x", "y"]]
    assert parsed.get_column("listed").to_list() == [["a", "b"], [], None, [], ["c"]]


@pytest.mark.parametrize(
    "rule",
    [
        "list_contains(products_held, 'fund')",
        "len(products_held) >= 2",
        "list_has_any(products_held, ['fund', 'loan'])",
        "list_has_all(products_held, ['fund']) AND list_position(products_held, 'fund') = 1",
    ],
)
def test_rules_read_list_attributes_with_list_functions(rule: str) -> None:
    settings = SegmentSettings(
        extra_columns={"products_held": "list"},
        attributes=[{"dimension": "holdings", "rules": [{"name": "yes", "when": rule}]}],
    )
    assert settings.extra_column_kinds() == {"products_held": "list"}


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ("products_held[1] = 'fund'", "ARRAY_EXTRACT is not allowed"),
        ("list_transform(products_held, x -> x) = []", "list_transform() is not allowed"),
        ("main.lower('a') = 'a'", "qualified function names are not allowed"),
        ("products_held", "not boolean"),
    ],
)
def test_other_list_expressions_are_refused(rule: str, problem: str) -> None:
    checker = RuleChecker({"products_held": pl.List(pl.String())})
    with checker, pytest.raises(RuleProblem) as error:
        checker.check(rule)
    assert problem in str(error.value)
