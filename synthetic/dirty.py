"""Transactions as source files store them (all text), and the dirty rows a real source holds:
duplicates, missing customer ids, unparseable timestamps and quantities, timestamps in the
future or before 1970."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from synthetic.settings import SECONDS_PER_DAY

#: Kinds of dirty source rows (``dirty_rate`` > 0).
DIRTY_KINDS: tuple[str, ...] = (
    "duplicate",
    "missing_customer_id",
    "bad_timestamp",
    "bad_quantity",
    "future_timestamp",
    "pre_1970_timestamp",
)
BAD_TIMESTAMPS: tuple[str, ...] = (
    "31/02/2011 25:61",
    "2011-13-45 10:00:00",
    "00/00/0000 00:00",
    "not a date",
    "2010-11-31T24:00:00",
    "#VALUE!",
)
BAD_QUANTITIES: tuple[str, ...] = ("n/a", "?", "1O", "twelve", "#N/A", "--")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def _cents_to_string(col: str) -> pl.Expr:
    cents = (pl.col(col) * 100).round(0).cast(pl.Int64)
    absolute = cents.abs()
    return pl.concat_str(
        [
            pl.when(cents < 0).then(pl.lit("-")).otherwise(pl.lit("")),
            (absolute // 100).cast(pl.String),
            pl.lit("."),
            (absolute % 100).cast(pl.String).str.zfill(2),
        ]
    ).alias(col)


def transactions_as_strings(transactions: pl.DataFrame) -> pl.DataFrame:
    """Render a typed transaction frame the way dirty source files store it (all strings).

    Timestamps use ``%Y-%m-%d %H:%M:%S``, money has exactly two decimals.

    Args:
        transactions: Frame with :data:`TRANSACTION_SCHEMA`.

    Returns:
        The same rows with every column cast to ``pl.String``.
    """
    return transactions.with_columns(
        pl.col("order_ts").dt.to_string(TIMESTAMP_FORMAT),
        pl.col("quantity").cast(pl.String),
        _cents_to_string("unit_price"),
        _cents_to_string("amount"),
    )


def add_dirty_rows(
    transactions: pl.DataFrame, rng: np.random.Generator, rate: float
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Insert corrupted copies of random rows right after their source row (all strings)."""
    clean = transactions_as_strings(transactions)
    n_rows = clean.height
    n_dirty = int(rng.binomial(n_rows, rate)) if n_rows else 0
    kind = rng.integers(0, len(DIRTY_KINDS), n_dirty)
    src = rng.integers(0, max(n_rows, 1), n_dirty)
    pick = rng.integers(0, 1 << 30, n_dirty)
    epoch = dt.datetime(1970, 1, 1)
    fut_lo = int((dt.datetime(2099, 1, 1) - epoch).total_seconds())
    old_lo = int((dt.datetime(1900, 1, 1) - epoch).total_seconds())
    future_s = rng.integers(fut_lo, fut_lo + 365 * SECONDS_PER_DAY, n_dirty)
    old_s = rng.integers(old_lo, 0, n_dirty)
    counts = {k: int((kind == i).sum()) for i, k in enumerate(DIRTY_KINDS)}
    if n_dirty == 0:
        return clean, counts

    code = {k: i for i, k in enumerate(DIRTY_KINDS)}
    bad_ts = pl.Series(BAD_TIMESTAMPS, dtype=pl.String).gather(pick % len(BAD_TIMESTAMPS))
    bad_qty = pl.Series(BAD_QUANTITIES, dtype=pl.String).gather(pick % len(BAD_QUANTITIES))
    fmt = TIMESTAMP_FORMAT
    dirty = clean[src].with_columns(
        _kind=pl.Series(kind),
        _bad_ts=bad_ts,
        _bad_qty=bad_qty,
        _future=pl.Series(future_s * 1_000_000).cast(pl.Datetime("us")).dt.to_string(fmt),
        _old=pl.Series(old_s * 1_000_000).cast(pl.Datetime("us")).dt.to_string(fmt),
    )
    k = pl.col("_kind")
    dirty = dirty.with_columns(
        pl.when(k == code["missing_customer_id"])
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(pl.col("customer_id"))
        .alias("customer_id"),
        pl.when(k == code["bad_timestamp"])
        .then(pl.col("_bad_ts"))
        .when(k == code["future_timestamp"])
        .then(pl.col("_future"))
        .when(k == code["pre_1970_timestamp"])
        .then(pl.col("_old"))
        .otherwise(pl.col("order_ts"))
        .alias("order_ts"),
        pl.when(k == code["bad_quantity"])
        .then(pl.col("_bad_qty"))
        .otherwise(pl.col("quantity"))
        .alias("quantity"),
    ).select(clean.columns)
    order_key = np.concatenate((np.arange(n_rows) * 2, src * 2 + 1))
    perm = np.argsort(order_key, kind="stable")
    return pl.concat([clean, dirty])[perm], counts
