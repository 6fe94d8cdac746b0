"""The dirty rows the bank's exports hold (``dirty_rate`` > 0), counted by the quarantine reason
the landing gives them.

Attribute history (text ``changed_at``, ``aum`` and ``aum_change_3m``): copies of random rows
right after their source row, each with one defect, about ``dirty_rate`` of the rows and each
kind at least once.  None of them changes what the clean history says at any instant:

* ``duplicate_row``: an exact copy (one of the two lands);
* ``missing_customer_id``, ``missing_timestamp``, ``unparseable_timestamp``,
  ``timestamp_before_1970``, ``timestamp_in_future``: the id or the instant is gone or broken;
* ``unparseable_number``: ``aum`` does not parse, a few seconds after the source row (clean
  rows are on whole minutes, so this instant holds no other row of the customer);
* ``conflicting_attribute_rows``: two rows for one customer and instant, a few seconds after
  the source row, with different AUM: both are rejected, so the instant holds nothing.

Catalogue (CSV): an exact copy of a product's row (``duplicate_row``), a row without a product
code (``missing_product_id``), a product without a family (``missing_category``,
``safe_deposit_box``) and two different rows for one product (``conflicting_product_rows``,
``structured_note``); the last three are products no transaction books.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from synthetic.bank_params import CATALOGUE_COLUMNS
from synthetic.dirty import BAD_QUANTITIES, BAD_TIMESTAMPS, TIMESTAMP_FORMAT

#: Kinds of dirty attribute rows, named by their quarantine reason.
ATTRIBUTE_DIRTY_KINDS: tuple[str, ...] = (
    "duplicate_row",
    "missing_customer_id",
    "missing_timestamp",
    "unparseable_timestamp",
    "timestamp_before_1970",
    "timestamp_in_future",
    "unparseable_number",
    "conflicting_attribute_rows",
)
#: Kinds of dirty catalogue rows and the rows each adds.
PRODUCT_DIRTY_ROWS: dict[str, int] = {
    "duplicate_row": 1,
    "missing_product_id": 1,
    "missing_category": 1,
    "conflicting_product_rows": 2,
}


def _shifted(changed_at: pl.Expr, seconds: pl.Expr) -> pl.Expr:
    parsed = changed_at.str.to_datetime(TIMESTAMP_FORMAT, time_unit="us")
    return (parsed + pl.duration(seconds=seconds)).dt.to_string(TIMESTAMP_FORMAT)


def add_dirty_attributes(
    clean: pl.DataFrame, rng: np.random.Generator, rate: float
) -> tuple[pl.DataFrame, dict[str, int]]:
    """The history (all text but ``products``) with dirty copies right after their source rows;
    returns it and the rows each quarantine reason will reject."""
    kinds = ATTRIBUTE_DIRTY_KINDS
    n_rows = clean.height
    n_dirty = int(rng.binomial(n_rows, rate)) if n_rows else 0
    n_dirty = max(n_dirty, min(len(kinds), n_rows))
    kind = rng.integers(0, len(kinds), n_dirty)
    kind[: len(kinds)] = np.arange(min(len(kinds), n_dirty))
    # distinct source rows: two copies of one row could otherwise meet at one instant
    src = rng.choice(n_rows, size=n_dirty, replace=False) if n_dirty else np.zeros(0, np.int64)
    pick = rng.integers(0, 1 << 30, n_dirty)
    seconds = rng.integers(1, 60, n_dirty)
    factor = rng.uniform(0.5, 0.9, n_dirty)
    rejected = {k: int((kind == i).sum()) for i, k in enumerate(kinds)}
    rejected["conflicting_attribute_rows"] *= 2
    if n_dirty == 0:
        return clean, rejected
    code = {k: i for i, k in enumerate(kinds)}
    conflict = kind == code["conflicting_attribute_rows"]
    # a conflict is two copies: the first keeps the AUM, the second scales it
    src_all = np.concatenate([src, src[conflict]])
    kind_all = np.concatenate([kind, kind[conflict]])
    scale_all = np.concatenate([np.ones(n_dirty), factor[conflict]])
    seconds_all = np.concatenate([seconds, seconds[conflict]])
    pick_all = np.concatenate([pick, pick[conflict]])
    copies = np.argsort(src_all, kind="stable")
    src_all, kind_all = src_all[copies], kind_all[copies]
    scale_all, seconds_all, pick_all = scale_all[copies], seconds_all[copies], pick_all[copies]

    def choice(values: tuple[str, ...]) -> pl.Series:
        return pl.Series(values, dtype=pl.String).gather(pick_all % len(values))

    k = pl.col("_kind")
    old = pl.Series(rng.integers(-70 * 365 * 86_400, 0, src_all.size) * 1_000_000).cast(
        pl.Datetime("us")
    )
    future = pl.Series(
        rng.integers(4_070_908_800, 4_070_908_800 + 365 * 86_400, src_all.size) * 1_000_000
    ).cast(pl.Datetime("us"))  # 2099
    aum = pl.col("aum").cast(pl.Float64) * pl.col("_scale")
    aum_text = pl.format(
        "{}.{}",
        aum.floor().cast(pl.Int64),
        ((aum - aum.floor()) * 100)
        .round(0)
        .cast(pl.Int64)
        .clip(0, 99)
        .cast(pl.String)
        .str.zfill(2),
    )
    dirty = (
        clean[src_all]
        .with_columns(
            _kind=pl.Series(kind_all),
            _scale=pl.Series(scale_all),
            _seconds=pl.Series(seconds_all),
            _bad_ts=choice(BAD_TIMESTAMPS),
            _bad_number=choice(BAD_QUANTITIES),
            _old=old.dt.to_string(TIMESTAMP_FORMAT),
            _future=future.dt.to_string(TIMESTAMP_FORMAT),
        )
        .with_columns(
            pl.when(k == code["missing_customer_id"])
            .then(pl.lit(None, dtype=pl.String))
            .otherwise(pl.col("client_id"))
            .alias("client_id"),
            pl.when(k == code["missing_timestamp"])
            .then(pl.lit(None, dtype=pl.String))
            .when(k == code["unparseable_timestamp"])
            .then(pl.col("_bad_ts"))
            .when(k == code["timestamp_before_1970"])
            .then(pl.col("_old"))
            .when(k == code["timestamp_in_future"])
            .then(pl.col("_future"))
            .when(k.is_in([code["unparseable_number"], code["conflicting_attribute_rows"]]))
            .then(_shifted(pl.col("changed_at"), pl.col("_seconds")))
            .otherwise(pl.col("changed_at"))
            .alias("changed_at"),
            pl.when(k == code["unparseable_number"])
            .then(pl.col("_bad_number"))
            .when((k == code["conflicting_attribute_rows"]) & (pl.col("_scale") != 1.0))
            .then(aum_text)
            .otherwise(pl.col("aum"))
            .alias("aum"),
        )
        .select(clean.columns)
    )
    # clean row i moves down by the copies of the rows before it; copy j lands right after
    # its source row and the copies of that row before it
    before = np.concatenate(([0], np.cumsum(np.bincount(src_all, minlength=n_rows))[:-1]))
    perm = np.empty(n_rows + src_all.size, dtype=np.int64)
    perm[np.arange(n_rows) + before] = np.arange(n_rows)
    perm[src_all + 1 + np.arange(src_all.size)] = n_rows + np.arange(src_all.size)
    return pl.concat([clean, dirty])[perm], rejected


def add_dirty_catalogue(catalogue: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, int]]:
    """The catalogue with one dirty row (or pair) of each kind: a copy of ``fund`` right after
    it, then the broken rows at the end."""
    fund = catalogue.filter(pl.col("product_code") == "fund")
    position = catalogue["product_code"].to_list().index("fund") + 1
    broken = pl.DataFrame(
        [
            (None, "savings", "cash_isa", "budget", "basic", "R1"),
            ("safe_deposit_box", None, "safe_custody", "standard", "basic", "R1"),
            ("structured_note", "investment", "structured_product", "premium", "core", "R3"),
            ("structured_note", "investment", "structured_product", "premium", "core", "R4"),
        ],
        schema=list(CATALOGUE_COLUMNS),
        orient="row",
    )
    dirty = pl.concat([catalogue.head(position), fund, catalogue.slice(position), broken])
    return dirty, dict(PRODUCT_DIRTY_ROWS)
