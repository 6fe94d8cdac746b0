"""Parsing and row checks on broken rows: each gets the reason of its first failing check."""

from datetime import datetime

import polars as pl
import pytest

from segmentation.raw.coercion import as_text, with_text
from segmentation.raw.columns import ROW_HASH
from segmentation.raw.parsing import parse_customers, parse_transactions, raw_values
from tests.conftest import BROKEN_ROWS, LANDING_NOW, RETAIL_COLUMNS, RETAIL_HEADER


def _source(rows: list[list[str]]) -> pl.LazyFrame:
    frame = pl.DataFrame(rows, schema=RETAIL_HEADER, orient="row").with_row_index(
        "source_row", offset=1
    )
    return frame.with_columns(
        pl.col("source_row").cast(pl.Int64), pl.lit("f.csv").alias("source_file")
    ).lazy()


def _parse(rows: list[list[str]], fmt: str | None = "%Y-%m-%d %H:%M:%S") -> pl.DataFrame:
    return parse_transactions(_source(rows), RETAIL_COLUMNS, fmt, LANDING_NOW).collect()


@pytest.mark.parametrize(
    ("row", "reason"),
    [(row, reason) for row, reason in BROKEN_ROWS if reason != "duplicate_row"],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_each_broken_row_gets_its_reason(row: list[str], reason: str | None) -> None:
    parsed = _parse([row])
    assert parsed.get_column("reason").to_list() == [reason]
    if reason is not None:
        assert parsed.get_column("check").item()


def test_returns_land_flagged_not_rejected() -> None:
    parsed = _parse([row for row, _ in BROKEN_ROWS])
    returns = parsed.filter(pl.col("is_return"))
    assert returns.get_column("order_id").to_list() == ["C489449", "A563185"]
    assert returns.get_column("reason").null_count() == 2
    assert returns.get_column("amount").to_list() == pytest.approx([-10.2, -11062.06])


def test_amount_is_quantity_times_price_and_ids_are_trimmed_text() -> None:
    row = ["489434", " 85048 ", "LIGHTS", "12", "2010-12-01 07:45:00", "6.95", " 13085 ", "UK"]
    parsed = _parse([row])
    assert parsed.get_column("amount").item() == pytest.approx(83.4)
    assert parsed.get_column("customer_id").item() == "13085"
    assert parsed.get_column("product_id").item() == "85048"
    assert parsed.get_column("order_ts").item() == datetime(2010, 12, 1, 7, 45)


def test_raw_values_keep_the_source_text_and_equal_rows_hash_equal() -> None:
    row = ["489434", " 85048 ", "LIGHTS", "12", "2010-12-01 07:45:00", "6.95", " 13085 ", "UK"]
    rows = [row, row, [*row[:-1], "UK "], [*row[:-1], None], [*row[:-1], ""]]
    hashes = _parse(rows).select(ROW_HASH).rows()
    assert hashes[0] == hashes[1]
    # trailing blank, null and empty text are different source rows
    assert len(set(hashes[1:])) == 4
    raw = raw_values(_source(rows)).collect()
    assert raw.get_column("source_row").to_list() == [1, 2, 3, 4, 5]
    assert raw.item(0, "raw_values") == (
        '{"Invoice":"489434","StockCode":" 85048 ","Description":"LIGHTS","Quantity":"12",'
        '"InvoiceDate":"2010-12-01 07:45:00","Price":"6.95","Customer ID":" 13085 ",'
        '"Country":"UK"}'
    )
    assert raw.item(3, "raw_values").endswith('"Country":null}')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2011-03-31 23:59:59", datetime(2011, 3, 31, 23, 59, 59)),
        ("2011-03-31T08:00:00", datetime(2011, 3, 31, 8)),
        ("2011-03-31", datetime(2011, 3, 31)),
        ("2011-03-31 08:00", datetime(2011, 3, 31, 8)),
        ("2011-02-30 00:00:00", None),
        ("31/03/2011", None),
    ],
)
def test_iso_timestamps_parse_without_a_format(text: str, expected: datetime | None) -> None:
    row = ["1", "P", "D", "1", text, "1.0", "7", "UK"]
    parsed = _parse([row], fmt=None)
    assert parsed.get_column("order_ts").item() == expected


def test_float_customer_ids_lose_the_trailing_zero() -> None:
    frame = pl.DataFrame(
        {
            "cid": [13085.0, None, 12.5],
            "ts": ["2011-01-01"] * 3,
            "amt": [1.0, 2.0, 3.0],
            "source_row": [1, 2, 3],
            "source_file": ["f"] * 3,
        }
    )
    columns = {"customer_id": "cid", "order_ts": "ts", "amount": "amt"}
    parsed = parse_transactions(frame.lazy(), columns, None, LANDING_NOW).collect()
    assert parsed.get_column("customer_id").to_list() == ["13085", None, "12.5"]
    assert parsed.get_column("reason").to_list() == [None, "missing_customer_id", None]


def test_customer_rows_with_bad_dates_or_income_are_rejected() -> None:
    frame = pl.DataFrame(
        {
            "id": ["c1", "c2", "c3", "", "c5", "c6"],
            "created": ["2010-01-05", "05/01/2010", "2010-01-05", "2010-01-05", "2010-01-05", None],
            "income": ["50000", "1", "lots", "1", "-5", None],
            "source_row": [1, 2, 3, 4, 5, 6],
            "source_file": ["c.csv"] * 6,
        }
    )
    columns = {"customer_id": "id", "signup_date": "created", "income": "income"}
    parsed = parse_customers(frame.lazy(), columns, None, LANDING_NOW).collect()
    assert parsed.get_column("reason").to_list() == [
        None,
        "unparseable_date",
        "unparseable_number",
        "missing_customer_id",
        "non_finite_number",
        None,
    ]


def test_text_stripped_ahead_of_the_parse_is_the_text_stripped_in_place() -> None:
    # blank and Unicode whitespace (no-break space, ideographic space, line separator)
    values = [" a ", "", "  ", None, "\u00a0b\u3000", "\u2028", "c\td", "\u00e9 "]
    frame = pl.LazyFrame({"v": values, "n": [1] * len(values)})
    in_place = frame.select(as_text(frame.collect_schema(), "v").alias("v")).collect()
    texted = with_text(frame, ["v", "n", None])
    ahead = texted.select(as_text(texted.collect_schema(), "v").alias("v")).collect()
    assert ahead.get_column("v").to_list() == in_place.get_column("v").to_list()
    assert ahead.get_column("v").to_list() == ["a", None, None, None, "b", None, "c\td", "\u00e9"]


def test_equal_rows_hash_equal_and_a_changed_value_changes_the_hash() -> None:
    row = ["489434", "85048", "LIGHTS", "12", "2010-12-01 07:45:00", "6.95", "13085", "UK"]
    other = [*row[:-1], "FR"]
    swapped = [row[1], row[0], *row[2:]]
    hashes = _parse([row, other, row, swapped]).get_column(ROW_HASH).to_list()
    assert hashes[0] == hashes[2]
    assert len({hashes[0], hashes[1], hashes[3]}) == 3
