"""The category mix: what each customer spends per catalogue category (``raw.products``), point
in time, and the category columns of ``features.customer_features``.

As for behaviour and engagement, the heavy lifting is DuckDB SQL in ``sql/features/``: the
transactions of all snapshots of a backfill are grouped at once, per customer, category and
snapshot interval (``category_sums.sql``, ``category_orders.sql``: two scans), into what each
interval adds to and takes off each category's trailing window (``category_increments.sql``);
running totals advance from one snapshot to the next (``category_totals.sql``) and each snapshot
is read off them (``customer_categories.sql``). Nothing after a snapshot's end instant (its
day's 23:59:59.999999) counts for it, and money is summed as an exact DECIMAL, so a backfilled
month equals the live one. The catalogue has no history: a month computed again after the
catalogue changed uses the new catalogue.

Whether the products source is configured is the caller's to say (``raw.products`` exists only
once it is): without it nothing is read, the table is empty and the columns are null.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date

import duckdb
import polars as pl

from segmentation.contracts import contract_dtypes
from segmentation.features.contracts import (
    UNKNOWN_CATEGORY,
    CategoryColumns,
    CustomerCategoriesContract,
)
from segmentation.features.settings import CategorySettings
from segmentation.keys import KEY_COLUMNS
from segmentation.raw.settings import Sources
from segmentation.segments.category_settings import NeedsSettings
from segmentation.sql_files import compose_sql, read_sql
from segmentation.warehouse import frame_of

CATEGORY_COLUMNS = list(CategoryColumns.to_schema().columns.keys())
CATEGORY_KEY_COLUMNS = (*KEY_COLUMNS, "category")

UNCATALOGUED_SCHEMA = {
    "snapshot_date": pl.Date,
    "rows": pl.Int64,
    "product_ids": pl.Int64,
    "amount_share": pl.Float64,
}


def products_configured(sources: Sources) -> bool:
    """Whether the configuration's ``sources`` has a products source (``sources.products``)."""
    return sources.products is not None


def empty_categories() -> pl.DataFrame:
    """``features.customer_categories`` without rows, in the contract's types."""
    return pl.DataFrame(schema=contract_dtypes(CustomerCategoriesContract))


def _check_catalogue(con: duckdb.DuckDBPyConnection) -> None:
    (repeated,) = con.execute(read_sql("features/duplicate_product_ids.sql")).fetchone()
    if repeated:
        raise ValueError(
            f"raw.products holds {repeated} product id(s) more than once: a transaction would "
            "count in two categories; land the catalogue again (its landing keeps ids unique)"
        )


def categories_by_snapshot(
    con: duckdb.DuckDBPyConnection,
    snapshot_dates: Sequence[date],
    settings: CategorySettings,
    needs: NeedsSettings,
    *,
    products_configured: bool,
) -> Iterator[pl.DataFrame]:
    """``features.customer_categories`` at each snapshot date (ascending), one frame per date.

    Args:
        con: A connection holding ``raw.transactions`` and, when ``products_configured``,
            ``raw.products``.
        snapshot_dates: The snapshot dates; each counts everything up to the end of its day.
        settings: The category window (``features.categories``).
        needs: Which levels count as core and basic (``segments.needs``).
        products_configured: Whether a products source is configured; if not, every frame is
            empty and nothing is read.

    The transactions of all dates are read once into DuckDB temp tables (which spill to disk
    when large); each frame then costs one step over the customers' categories. Close the
    iterator when stopping early: that drops the temp tables.
    """
    dates = sorted(set(snapshot_dates))
    if not products_configured:
        for _ in dates:
            yield empty_categories()
        return
    if not dates:
        return
    _check_catalogue(con)
    drop = read_sql("features/drop_category_tables.sql")
    con.execute(drop)
    try:
        con.execute(
            read_sql("features/category_calendar.sql"),
            {"snapshot_dates": dates, "window_days": settings.window_days},
        )
        levels = {
            "level_column": needs.level_column,
            "core_levels": needs.core_levels,
            "basic_levels": needs.basic_levels,
        }
        con.execute(read_sql("features/category_sums.sql"), levels)
        con.execute(read_sql("features/category_orders.sql"), levels)
        con.execute(read_sql("features/category_increments.sql"))
        con.execute(read_sql("features/drop_category_steps.sql"))
        con.execute(read_sql("features/create_category_totals.sql"))
        for j, snapshot in enumerate(dates, start=1):
            con.execute(read_sql("features/category_totals.sql"), {"j": j})
            month = frame_of(
                con.execute(
                    read_sql("features/customer_categories.sql"), {"snapshot_date": snapshot}
                )
            )
            yield typed_categories(month)
    finally:
        con.execute(drop)


def typed_categories(month: pl.DataFrame) -> pl.DataFrame:
    """The contract's columns in its types (DuckDB gives an all-null column its own type)."""
    return month.select(
        pl.col(name).cast(dtype)
        for name, dtype in contract_dtypes(CustomerCategoriesContract).items()
    )


def uncatalogued_transactions(
    con: duckdb.DuckDBPyConnection,
    snapshot_dates: Sequence[date],
    settings: CategorySettings,
    *,
    products_configured: bool,
) -> pl.DataFrame:
    """Per snapshot, the transactions of the category window whose product the catalogue does
    not list: rows, distinct product ids and their share of the window's purchase amount (their
    spend counts as category 'unknown'). Empty without a products source."""
    dates = sorted(set(snapshot_dates))
    if not products_configured or not dates:
        return pl.DataFrame(schema=UNCATALOGUED_SCHEMA)
    return uncatalogued_of_days(
        con, read_sql("features/uncatalogued_per_day.sql"), dates, settings.window_days
    )


def uncatalogued_of_days(
    con: duckdb.DuckDBPyConnection, per_day: str, snapshot_dates: Sequence[date], window_days: int
) -> pl.DataFrame:
    """:func:`uncatalogued_transactions` of the rows of ``per_day``: the query of
    ``features/uncatalogued_per_day.sql``, or a query of its rows computed elsewhere (the Spark
    engine's tasks, each on its own transactions) and put side by side."""
    frame = frame_of(
        con.execute(
            compose_sql("features/uncatalogued_transactions.sql", per_day=per_day),
            {"snapshot_dates": sorted(set(snapshot_dates)), "window_days": window_days},
        )
    )
    return frame.cast(UNCATALOGUED_SCHEMA)  # type: ignore[arg-type]


def category_mix(categories: pl.DataFrame) -> pl.DataFrame:
    """The category columns per snapshot and customer of ``features.customer_categories`` rows
    (customers without a row have none): top category and its share, breadth, core share.

    Catalogued categories only ('unknown' is not a category); the top category is the one with
    the most net spend (ties: the first by name) among those with positive spend.
    """
    spend, catalogued = pl.col("spend"), pl.col("category") != UNKNOWN_CATEGORY
    bought = categories.filter(catalogued & (spend > 0))
    top = (
        bought.sort([*KEY_COLUMNS, "spend", "category"], descending=[False, False, True, False])
        .group_by(KEY_COLUMNS, maintain_order=True)
        .agg(
            pl.col("category").first().alias("top_category"),
            pl.col("spend_share").first().alias("top_category_share"),
            pl.len().cast(pl.Int64).alias("category_breadth"),
        )
    )
    # sums in the rows' order (customer, then category), so the same month gives the same bits
    levels = (
        categories.filter(catalogued)
        .group_by(KEY_COLUMNS, maintain_order=True)
        .agg(
            pl.col("core_spend").sum().clip(lower_bound=0.0).alias("core"),
            pl.col("basic_spend").sum().clip(lower_bound=0.0).alias("basic"),
        )
        .select(
            *KEY_COLUMNS,
            pl.when(pl.col("core") + pl.col("basic") > 0)
            .then(pl.col("core") / (pl.col("core") + pl.col("basic")))
            .alias("core_spend_share"),
        )
    )
    return top.join(levels, on=list(KEY_COLUMNS), how="full", coalesce=True).select(
        *KEY_COLUMNS, *CATEGORY_COLUMNS
    )


def category_columns(keys: pl.DataFrame, categories: pl.DataFrame | None) -> pl.DataFrame:
    """The category columns of the rows of ``keys`` (snapshot_date, customer_id), in its row
    order: from ``categories`` (``features.customer_categories`` rows of the same snapshots; a
    customer without a row has a breadth of 0 and nulls elsewhere), all null without it (no
    products source)."""
    dtypes = contract_dtypes(CategoryColumns)
    if categories is None:
        return (
            keys.select(KEY_COLUMNS)
            .with_columns(pl.lit(None, dtype=dtype).alias(name) for name, dtype in dtypes.items())
            .drop(KEY_COLUMNS)
        )
    mix = category_mix(categories)
    joined = keys.select(KEY_COLUMNS).join(
        mix, on=list(KEY_COLUMNS), how="left", maintain_order="left"
    )
    return joined.select(
        pl.col(name).fill_null(0) if name == "category_breadth" else pl.col(name) for name in dtypes
    ).cast(dtypes)  # type: ignore[arg-type]
