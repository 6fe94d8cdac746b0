"""features.customer_categories and the category columns of features.customer_features, computed
by the SQL of sql/features/category_*.sql over small raw tables: windows to the microsecond and
the day, returns netted, orders counted once, uncatalogued products as 'unknown', core and
basic spend by level, a backfill equal to the months computed alone, and a random check against
a direct computation."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb
import numpy as np
import polars as pl
import pytest

from segmentation.features.categories import (
    CATEGORY_COLUMNS,
    categories_by_snapshot,
    category_columns,
    category_mix,
    uncatalogued_transactions,
)
from segmentation.features.contracts import CategoryColumns, CustomerCategoriesContract
from segmentation.features.settings import CategorySettings
from segmentation.segments.category_settings import NeedsSettings

JAN, FEB, MAR = date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31)
WINDOW = CategorySettings(window_days=60)
NEEDS = NeedsSettings()

PRODUCTS = [
    # product_id, category, subcategory, price_level, need_level, risk_level
    ("p1", "home", "lamps", "premium", "core", None),
    ("p2", "home", "mats", "budget", "basic", None),
    ("p3", "garden", None, "premium", " Premium ", None),
    ("p4", "toys", None, "standard", None, None),
    ("p5", "toys", None, "standard", "standard", None),
]
TRANSACTIONS = [
    # customer_id, order_id, order_ts, amount, product_id, is_return
    ("c1", "O1", datetime(2024, 1, 10, 10), 100.0, "p1", False),
    ("c1", "O1", datetime(2024, 1, 10, 10), 20.0, "p2", False),
    ("c1", "O2", datetime(2024, 2, 1, 9), 50.0, "p3", False),
    ("c1", "R1", datetime(2024, 2, 5, 9), -30.0, "p1", True),
    ("c1", "O3", datetime(2024, 3, 31, 23, 59, 59, 999999), 10.0, "p4", False),
    ("c1", "O4", datetime(2024, 4, 1), 999.0, "p4", False),
    ("c1", "O5", datetime(2024, 1, 15, 12), 5.0, "zzz", False),
    ("c1", "O6", datetime(2024, 1, 15, 13), 7.0, None, False),
    # the first day of January's 60-day window is 2023-12-03
    ("c2", "O8", datetime(2023, 12, 3), 10.0, "p2", False),
    ("c2", "O9", datetime(2023, 12, 2, 23, 59), 10.0, "p2", False),
    # one order over two days: one order
    ("c3", "O10", datetime(2024, 1, 30, 12), 30.0, "p1", False),
    ("c3", "O10", datetime(2024, 2, 2, 12), 30.0, "p1", False),
]


def _warehouse(
    transactions: list[tuple] = TRANSACTIONS, products: list[tuple] | None = PRODUCTS
) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw")
    frame = pl.DataFrame(  # noqa: F841 (read by DuckDB by name)
        transactions,
        schema=["customer_id", "order_id", "order_ts", "amount", "product_id", "is_return"],
        orient="row",
    )
    con.execute("CREATE TABLE raw.transactions AS SELECT * FROM frame")
    if products is not None:
        catalogue = pl.DataFrame(  # noqa: F841 (read by DuckDB by name)
            products,
            schema={
                name: pl.String
                for name in (
                    "product_id",
                    "category",
                    "subcategory",
                    "price_level",
                    "need_level",
                    "risk_level",
                )
            },
            orient="row",
        )
        con.execute("CREATE TABLE raw.products AS SELECT * FROM catalogue")
    return con


def _months(
    con: duckdb.DuckDBPyConnection,
    dates: list[date],
    settings: CategorySettings = WINDOW,
    needs: NeedsSettings = NEEDS,
) -> list[pl.DataFrame]:
    return list(categories_by_snapshot(con, dates, settings, needs, products_configured=True))


def _rows(month: pl.DataFrame) -> dict[tuple[str, str], tuple]:
    return {
        (row["customer_id"], row["category"]): (
            row["spend"],
            row["orders"],
            row["spend_share"],
            row["core_spend"],
            row["basic_spend"],
        )
        for row in month.to_dicts()
    }


def test_each_month_holds_the_window_net_of_returns_per_category() -> None:
    jan, feb, mar = _months(_warehouse(), [JAN, FEB, MAR])
    for month in (jan, feb, mar):
        CustomerCategoriesContract.validate(month)
    assert _rows(jan) == {
        ("c1", "home"): (120.0, 1, 120 / 132, 100.0, 20.0),
        ("c1", "unknown"): (12.0, 2, 12 / 132, 0.0, 0.0),
        ("c2", "home"): (10.0, 1, 1.0, 0.0, 10.0),
        ("c3", "home"): (30.0, 1, 1.0, 30.0, 0.0),
    }
    assert _rows(feb) == {
        ("c1", "garden"): (50.0, 1, 50 / 152, 50.0, 0.0),
        ("c1", "home"): (90.0, 1, 90 / 152, 70.0, 20.0),
        ("c1", "unknown"): (12.0, 2, 12 / 152, 0.0, 0.0),
        # the order of two days counts once
        ("c3", "home"): (60.0, 1, 1.0, 60.0, 0.0),
    }
    # 02-01 is the first day of March's window; the purchase at the last microsecond of
    # 03-31 counts, the one at 04-01 00:00 does not; a category with only a return stays
    assert _rows(mar) == {
        ("c1", "garden"): (50.0, 1, 50 / 60, 50.0, 0.0),
        ("c1", "home"): (-30.0, 0, 0.0, -30.0, 0.0),
        ("c1", "toys"): (10.0, 1, 10 / 60, 0.0, 0.0),
        ("c3", "home"): (30.0, 1, 1.0, 30.0, 0.0),
    }
    assert mar.get_column("snapshot_date").unique().to_list() == [MAR]
    assert mar.select("customer_id", "category").rows() == sorted(
        mar.select("customer_id", "category").rows()
    )


def test_a_backfill_gives_each_month_what_it_gives_alone() -> None:
    con = _warehouse()
    together = _months(con, [MAR, JAN, FEB])
    for month, alone in zip(together, (JAN, FEB, MAR), strict=True):
        [single] = _months(con, [alone])
        assert month.equals(single)
    # the temp tables are gone
    tables = con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()
    assert tables == []


def test_the_price_level_can_be_the_needs_level() -> None:
    needs = NeedsSettings(
        level_column="price_level", core_levels=["premium"], basic_levels=["budget"]
    )
    [jan] = _months(_warehouse(), [JAN], needs=needs)
    assert _rows(jan)[("c1", "home")][3:] == (100.0, 20.0)
    [mar] = _months(_warehouse(), [MAR], needs=needs)
    # p4 is 'standard': neither
    assert _rows(mar)[("c1", "toys")][3:] == (0.0, 0.0)


def test_without_a_products_source_nothing_is_read() -> None:
    con = _warehouse(products=None)
    months = list(categories_by_snapshot(con, [JAN, FEB], WINDOW, NEEDS, products_configured=False))
    assert [month.height for month in months] == [0, 0]
    assert months[0].columns == list(CustomerCategoriesContract.to_schema().columns)
    assert uncatalogued_transactions(con, [JAN], WINDOW, products_configured=False).is_empty()


def test_a_repeated_product_id_is_refused() -> None:
    con = _warehouse(products=[*PRODUCTS, ("p1", "garden", None, None, None, None)])
    with pytest.raises(ValueError, match=r"raw.products holds 1 product id\(s\) more than once"):
        _months(con, [JAN])


def test_uncatalogued_transactions_are_counted_not_rejected() -> None:
    counts = uncatalogued_transactions(_warehouse(), [JAN, MAR], WINDOW, products_configured=True)
    jan, mar = counts.to_dicts()
    # O5 (an unknown id) and O6 (no id); the purchases of January's window: 172
    assert jan == {"snapshot_date": JAN, "rows": 2, "product_ids": 1, "amount_share": 12 / 172}
    assert mar == {"snapshot_date": MAR, "rows": 0, "product_ids": 0, "amount_share": 0.0}


def test_the_category_columns_of_each_customer() -> None:
    jan, _, mar = _months(_warehouse(), [JAN, FEB, MAR])
    keys = pl.DataFrame({"snapshot_date": [JAN] * 4, "customer_id": ["c1", "c2", "c3", "c9"]})
    columns = category_columns(keys, jan)
    CategoryColumns.validate(columns)
    assert columns.rows() == [
        ("home", 120 / 132, 1, 100 / 120),
        ("home", 1.0, 1, 0.0),
        ("home", 1.0, 1, 1.0),
        # no purchase in the window: a breadth of 0
        (None, None, 0, None),
    ]
    march = category_columns(keys.with_columns(pl.lit(MAR).alias("snapshot_date")), mar)
    # home has only a return: garden leads; core: -30 + 50, basic 0
    assert march.row(0) == ("garden", 50 / 60, 2, 1.0)
    assert category_columns(keys, None).null_count().row(0) == (4,) * len(CATEGORY_COLUMNS)


def test_the_top_category_of_a_tie_is_the_first_by_name() -> None:
    rows = pl.DataFrame(
        {
            "snapshot_date": [JAN] * 3,
            "customer_id": ["c1"] * 3,
            "category": ["toys", "garden", "unknown"],
            "spend": [10.0, 10.0, 50.0],
            "orders": [1, 1, 1],
            "spend_share": [1 / 7, 1 / 7, 5 / 7],
            "core_spend": [0.0, 0.0, 0.0],
            "basic_spend": [0.0, 0.0, 0.0],
        }
    )
    # 'unknown' is not a category, however much it holds
    assert category_mix(rows).row(0) == (JAN, "c1", "garden", 1 / 7, 2, None)


def _direct(transactions: pl.DataFrame, products: pl.DataFrame, snapshot: date, days: int) -> dict:
    """The month computed directly: the window's rows, summed per customer and category in
    exact cents."""
    first = snapshot - timedelta(days=days - 1)
    rows = (
        transactions.filter(
            (pl.col("order_ts").dt.date() >= first) & (pl.col("order_ts").dt.date() <= snapshot)
        )
        .join(products.select("product_id", "category", "need_level"), on="product_id", how="left")
        .with_columns(pl.col("category").fill_null("unknown"))
    )
    result = {}
    for (customer, category), group in rows.group_by("customer_id", "category"):
        cents = group.get_column("cents")
        need = group.get_column("need_level")
        result[(customer, category)] = (
            sum(cents.to_list()) / 100,
            group.filter(~pl.col("is_return")).get_column("order_id").n_unique(),
            sum(c for c, n in zip(cents, need, strict=True) if n == "core") / 100,
            sum(c for c, n in zip(cents, need, strict=True) if n == "basic") / 100,
        )
    return result


def test_random_months_equal_the_direct_computation() -> None:
    rng = np.random.default_rng(7)
    n = 3_000
    start = datetime(2023, 6, 1)
    cents = rng.integers(-2_000, 20_000, n)
    transactions = pl.DataFrame(
        {
            "customer_id": [f"c{i}" for i in rng.integers(0, 60, n)],
            # every order on one day
            "order_id": [f"o{i}" for i in range(n)],
            "order_ts": [
                start + timedelta(seconds=int(s)) for s in rng.integers(0, 300 * 86_400, n)
            ],
            "cents": cents,
            "product_id": [f"p{i}" for i in rng.integers(0, 25, n)],
        }
    ).with_columns(
        (pl.col("cents").cast(pl.Decimal(38, 2)) / 100).cast(pl.Float64).alias("amount"),
        (pl.col("cents") < 0).alias("is_return"),
    )
    products = pl.DataFrame(
        {
            "product_id": [f"p{i}" for i in range(20)],
            "category": [f"cat{i % 6}" for i in range(20)],
            "subcategory": [None] * 20,
            "price_level": [None] * 20,
            "need_level": [("core", "basic", None)[i % 3] for i in range(20)],
            "risk_level": [None] * 20,
        },
        schema_overrides={
            "subcategory": pl.String,
            "price_level": pl.String,
            "risk_level": pl.String,
        },
    )
    con = _warehouse(
        transactions.select(
            "customer_id", "order_id", "order_ts", "amount", "product_id", "is_return"
        ).rows(),
        products.rows(),
    )
    dates = [date(2023, 9, 30), date(2023, 10, 31), date(2024, 1, 31), date(2024, 3, 31)]
    settings = CategorySettings(window_days=45)
    for snapshot, month in zip(dates, _months(con, dates, settings), strict=True):
        expected = _direct(transactions, products, snapshot, 45)
        got = {key: (v[0], v[1], v[3], v[4]) for key, v in _rows(month).items()}
        assert got == expected
