"""The generated bank's files as its systems would export them: the customers (one row each), the
attribute history (one row per customer and change) and the product catalogue.

The attribute history holds, per customer: the row of the initial load (the statement of the
month before the window, for accounts opened before it) or of the account's opening; a row at
every month-end statement (its last day, 23:00 UTC: the month's AUM and its change over three
months); a row at each minute within a month where a product was opened or closed or a new
risk assessment took effect, which carries the last statement's AUM; and for an account that
is closed, a last row at its closure (AUM 0, no products, no change).  Every row holds the whole
state, so the latest row on or before an instant is the state at that instant.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from synthetic.bank_params import CATALOGUE, CATALOGUE_COLUMNS, PRODUCTS, RISK_LEVELS
from synthetic.bank_process import PRE_WINDOW_STATEMENTS, BankProcess
from synthetic.dirty import TIMESTAMP_FORMAT
from synthetic.population import COUNTRIES, GENDER_WEIGHTS, GENDERS

#: The attribute history's columns, as the bank's CRM export names them.
ATTRIBUTE_COLUMNS: tuple[str, ...] = (
    "client_id",
    "changed_at",
    "aum",
    "risk",
    "products",
    "aum_change_3m",
)
CUSTOMER_COLUMNS: tuple[str, ...] = (
    "client_id",
    "opened_on",
    "date_of_birth",
    "gender",
    "annual_income",
    "country",
    "region",
)
ID_WIDTH = 6
#: The 3-month change of an account younger than 3 months (null in the files).
NO_CHANGE = np.iinfo(np.int64).min


def client_ids(n: int) -> pl.Series:
    """``B000001``... (wider when there are more customers)."""
    width = max(ID_WIDTH, len(str(n)))
    return ("B" + pl.Series(np.arange(1, n + 1)).cast(pl.String).str.zfill(width)).alias(
        "client_id"
    )


def holdings_lists(masks: np.ndarray) -> pl.Series:
    """Holdings masks as lists of product names (in the order of :data:`PRODUCTS`)."""
    table = [[p for j, p in enumerate(PRODUCTS) if m >> j & 1] for m in range(1 << len(PRODUCTS))]
    return pl.Series("products", table, dtype=pl.List(pl.String)).gather(masks.astype(np.int64))


def change_3m(aum_cents: np.ndarray, rows: np.ndarray, col: np.ndarray) -> np.ndarray:
    """The relative change of AUM from the statement 3 months before column ``col`` to it, in
    ten-thousandths (-1234 is -12.34%), or the int64 minimum where the account is younger."""
    now = aum_cents[rows, col]
    before = aum_cents[rows, np.maximum(col - 3, 0)]
    valid = (col >= 3) & (before > 0)
    safe = np.where(valid, before, 1)
    change = np.rint((now - safe) / safe * 10_000).astype(np.int64)
    return np.where(valid, change, NO_CHANGE)


def _rows(
    customer: np.ndarray,
    at_s: np.ndarray,
    aum_cents: np.ndarray,
    risk: np.ndarray,
    holdings: np.ndarray,
    change: np.ndarray,
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "_customer": customer.astype(np.int64),
            "_at_s": at_s.astype(np.int64),
            "_aum_cents": aum_cents.astype(np.int64),
            "_risk": risk.astype(np.int8),
            "_holdings": holdings.astype(np.int16),
            "_change_e4": change.astype(np.int64),
        }
    )


def attribute_rows(proc: BankProcess) -> pl.DataFrame:
    """The clean attribute history in internal form (customer index, instant in seconds, AUM in
    cents, risk index, holdings mask, 3-month change), sorted by instant and customer."""
    cal = proc.cal
    parts: list[pl.DataFrame] = []
    # the initial load: the statement before the window, for accounts opened before it
    col0 = PRE_WINDOW_STATEMENTS - 1
    old = np.flatnonzero(proc.first_month < 0)
    parts.append(
        _rows(
            old,
            np.full(old.size, cal.statement_s(-1)),
            proc.aum_cents[old, col0],
            proc.risk[old, col0],
            proc.holdings[old, col0],
            change_3m(proc.aum_cents, old, np.full(old.size, col0)),
        )
    )
    # openings within the window
    new = np.flatnonzero(proc.first_month >= 0)
    opening_mask = (1 << proc.opening_product[new].astype(np.int64)).astype(np.int16)
    parts.append(
        _rows(
            new,
            proc.opened_at_s[new],
            proc.opening_aum_cents[new],
            proc.initial_risk[new],
            opening_mask,
            np.full(new.size, NO_CHANGE),
        )
    )
    # month-end statements of open accounts
    for t in range(cal.n):
        col = proc.column(t)
        closed = (proc.closed_month >= 0) & (proc.closed_month <= t)
        live = np.flatnonzero((proc.first_month <= t) & ~closed)
        parts.append(
            _rows(
                live,
                np.full(live.size, cal.statement_s(t)),
                proc.aum_cents[live, col],
                proc.risk[live, col],
                proc.holdings[live, col],
                change_3m(proc.aum_cents, live, np.full(live.size, col)),
            )
        )
    # closures: nothing held, nothing left
    gone = np.flatnonzero(proc.closed_month >= 0)
    parts.append(
        _rows(
            gone,
            proc.closed_at_s[gone],
            np.zeros(gone.size, dtype=np.int64),
            proc.risk[gone, proc.closed_month[gone] + PRE_WINDOW_STATEMENTS],
            np.zeros(gone.size, dtype=np.int16),
            np.full(gone.size, NO_CHANGE),
        )
    )
    parts.append(_change_rows(proc))
    return pl.concat(parts).sort("_at_s", "_customer")


def _change_rows(proc: BankProcess) -> pl.DataFrame:
    """One row per customer and minute with a change within a month: the state after every
    change up to that minute, with the previous statement's AUM."""
    ev = proc.events
    if ev.customer.size == 0:
        return _rows(*(np.zeros(0, dtype=np.int64) for _ in range(6)))
    prev_col = ev.month + PRE_WINDOW_STATEMENTS - 1
    # a customer's product changes one bit each at most once a month, so the running sum of
    # the bits is the running XOR that turns the month's starting holdings into the current ones
    bit = np.where(ev.kind < 2, 1 << np.maximum(ev.product.astype(np.int64), 0), 0)
    frame = (
        pl.DataFrame(
            {
                "_customer": ev.customer.astype(np.int64),
                "_month": ev.month.astype(np.int64),
                "_at_s": ev.at_s.astype(np.int64),
                "_bit": bit.astype(np.int64),
                "_risk_event": (ev.kind == 2),
                "_new_risk": ev.risk.astype(np.int8),
                "_start_holdings": proc.holdings[ev.customer, prev_col].astype(np.int64),
                "_start_risk": proc.risk[ev.customer, prev_col],
                "_aum_cents": proc.aum_cents[ev.customer, prev_col],
                "_change_e4": change_3m(proc.aum_cents, ev.customer, prev_col),
            }
        )
        .sort("_customer", "_month", "_at_s", "_risk_event")
        .with_columns(
            pl.col("_bit").cum_sum().over("_customer", "_month").alias("_toggled"),
            pl.col("_risk_event").cast(pl.Int8).cum_max().over("_customer", "_month").alias("_rs"),
            # at most one risk assessment a month: its new value is the month's largest
            pl.col("_new_risk").max().over("_customer", "_month").alias("_month_risk"),
        )
        .group_by("_customer", "_at_s", maintain_order=True)
        .last()
    )
    return frame.select(
        "_customer",
        "_at_s",
        pl.col("_aum_cents").cast(pl.Int64),
        pl.when(pl.col("_rs") == 1)
        .then(pl.col("_month_risk"))
        .otherwise(pl.col("_start_risk"))
        .cast(pl.Int8)
        .alias("_risk"),
        (pl.col("_start_holdings").xor(pl.col("_toggled"))).cast(pl.Int16).alias("_holdings"),
        pl.col("_change_e4").cast(pl.Int64),
    )


def attribute_frame(rows: pl.DataFrame, ids: pl.Series, as_strings: bool) -> pl.DataFrame:
    """The export's columns: typed, or with ``changed_at``, ``aum`` and ``aum_change_3m`` as
    text (``%Y-%m-%d %H:%M:%S``, two decimals, four decimals) as a file with dirty rows holds
    them; ``products`` is a list either way."""
    changed_at = pl.from_epoch(pl.col("_at_s"), time_unit="s").cast(pl.Datetime("us"))
    aum = pl.col("_aum_cents") / 100
    e4 = pl.when(pl.col("_change_e4") != NO_CHANGE).then(pl.col("_change_e4"))
    change = e4 / 10_000
    if as_strings:
        changed_at = changed_at.dt.to_string(TIMESTAMP_FORMAT)
        aum = fixed_text(pl.col("_aum_cents"), 2)
        change = fixed_text(e4, 4)
    return rows.select(
        ids.gather(rows["_customer"]).alias("client_id"),
        changed_at.alias("changed_at"),
        aum.alias("aum"),
        pl.Series(RISK_LEVELS, dtype=pl.String).gather(rows["_risk"]).alias("risk"),
        holdings_lists(rows["_holdings"].to_numpy()).alias("products"),
        change.alias("aum_change_3m"),
    )


def fixed_text(units: pl.Expr, decimals: int) -> pl.Expr:
    """An integer count of ``10 ** -decimals`` as a decimal text (``-1205``, 2: ``-12.05``);
    null stays null."""
    scale = 10**decimals
    absolute = units.abs()
    return pl.concat_str(
        pl.when(units < 0).then(pl.lit("-")).otherwise(pl.lit("")),
        (absolute // scale).cast(pl.String),
        pl.lit("."),
        (absolute % scale).cast(pl.String).str.zfill(decimals),
    )


def customers_frame(proc: BankProcess, rng: np.random.Generator) -> pl.DataFrame:
    """One row per customer: opening date, date of birth, gender, income (correlated 0.5 with
    the opening AUM on the log scale), country and region; no names or contact data."""
    n = proc.first_month.size
    ids = client_ids(n)
    age = 18.0 + 60.0 * rng.beta(1.8, 2.6, n)
    birth = proc.opened_on - np.ceil(age * 365.25).astype(np.int64)
    gender = np.minimum(
        np.searchsorted(np.cumsum(GENDER_WEIGHTS), rng.random(n), side="right"), len(GENDERS) - 1
    )
    z = 0.5 * proc.aum_z + np.sqrt(1 - 0.25) * rng.standard_normal(n)
    income = np.round(np.exp(np.log(38_000.0) + 0.5 * z), 2)
    weights = np.array([w for _, _, w in COUNTRIES])
    country = np.minimum(
        np.searchsorted(np.cumsum(weights) / weights.sum(), rng.random(n), side="right"),
        len(COUNTRIES) - 1,
    )
    return pl.DataFrame(
        {
            "client_id": ids,
            "opened_on": pl.Series(proc.opened_on.astype(np.int32)).cast(pl.Date),
            "date_of_birth": pl.Series(birth.astype(np.int32)).cast(pl.Date),
            "gender": pl.Series(GENDERS, dtype=pl.String).gather(gender),
            "annual_income": income,
            "country": pl.Series([c for c, _, _ in COUNTRIES]).gather(country),
            "region": pl.Series([r for _, r, _ in COUNTRIES]).gather(country),
        }
    )


def catalogue_frame() -> pl.DataFrame:
    """The product catalogue (clean), in the export's column names."""
    rows = [(code, *values) for code, values in CATALOGUE.items()]
    return pl.DataFrame(rows, schema=list(CATALOGUE_COLUMNS), orient="row")
