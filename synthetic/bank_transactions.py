"""The generated bank's transaction feed: what each customer brings to the bank (+) or takes out
of it (-), one row per booking.

Per customer and month (from its opening):

* ``deposit`` and ``withdrawal`` (product ``deposit``): money moving in and out.  A salaried
  customer's pay comes in and is spent again; on top, the month's net flow comes in (or goes
  out), so deposits minus withdrawals are exactly the change of the statement's AUM less the
  market's part ``round(previous AUM * (exp(beta * m) - 1))``, in cents.  The opening month
  starts with the opening deposit (the AUM at opening).
* ``fee``: the account fee of a mass (5.00) or premier (2.50) customer holding a deposit
  account, by the tier of the previous statement; each quarter's last month, a management fee
  of 0.10% (wealth management) and 0.15% (fund) of the previous statement's AUM.
* ``card_spend`` (credit card holders), ``repayment`` (loan), ``premium`` (insurance): one row
  a month each, the customer's own typical amount.
* ``purchase`` when a product is opened (a subscription of 5-30% of AUM into wealth management
  or a fund, the first premium, a loan's arrangement fee, a card's fee, a deposit), at the
  minute of the change in the attribute history; ``redemption`` (negative) when wealth
  management or a fund is closed.
* ``fx``: now and then a foreign-exchange transfer, product ``fx_transfer``, which the catalogue
  does not list (landed all the same, as an uncatalogued product).
* An account closed in the month books only the withdrawal of the previous statement's AUM, at
  the closure's minute, and nothing after it.

Transaction ids are ``T`` and ten digits in booking order; the customers' own accounts move
money between products (a subscription), so a row's sign is the customer's, not the bank's
balance sheet's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from synthetic.bank_params import PRODUCTS, TIERS, BankSettings, tier_codes
from synthetic.bank_process import BankProcess

TRANSACTION_COLUMNS: tuple[str, ...] = (
    "txn_id",
    "client_id",
    "booked_at",
    "txn_type",
    "product",
    "amount",
    "channel",
)
TXN_TYPES: tuple[str, ...] = (
    "deposit",
    "withdrawal",
    "fee",
    "card_spend",
    "repayment",
    "premium",
    "purchase",
    "redemption",
    "fx",
)
#: A customer's own channels (with their shares as the preferred one), then the channels of
#: private banking bookings, card payments and the bank's own bookings (fees, premiums).
CHANNELS: tuple[str, ...] = ("mobile", "online", "branch", "relationship_manager", "card", "bank")
CHANNEL_SHARES: tuple[float, ...] = (0.45, 0.35, 0.20)
#: Bookings a private banking client makes through its relationship manager.
RM_TYPES: tuple[str, ...] = ("deposit", "withdrawal", "purchase", "redemption")
BANK_TYPES: tuple[str, ...] = ("fee", "repayment", "premium")
UNCATALOGUED_PRODUCT = "fx_transfer"
ACCOUNT_FEE_CENTS: tuple[int, ...] = (500, 250, 0, 0)  # by tier
MANAGEMENT_FEE: dict[str, float] = {"wealth_management": 0.0010, "fund": 0.0015}
CARD_FEE_CENTS = 4_500
_P = {name: j for j, name in enumerate(PRODUCTS)}


def _lognormal_cents(rng: np.random.Generator, median: float, sigma: float, n: int) -> np.ndarray:
    cents = np.round(median * np.exp(sigma * rng.standard_normal(n)) * 100)
    return np.maximum(cents, 1).astype(np.int64)


class _Bookings:
    """Bookings collected month by month: customer index, month, instant, type, product
    (-1: outside the catalogue) and amount in cents; zero amounts are not booked."""

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []

    def add(
        self,
        month: int,
        who: np.ndarray,
        at_s: np.ndarray,
        kind: str,
        product: int,
        cents: np.ndarray,
    ) -> None:
        keep = cents != 0
        n = int(keep.sum())
        self.parts.append(
            {
                "customer": who[keep],
                "month": np.full(n, month, dtype=np.int64),
                "at_s": at_s[keep],
                "kind": np.full(n, TXN_TYPES.index(kind), dtype=np.int8),
                "product": np.full(n, product, dtype=np.int8),
                "cents": cents[keep].astype(np.int64),
            }
        )

    def frame(self) -> pl.DataFrame:
        """Every booking, sorted by instant, customer, type, product and amount."""
        columns = {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}
        return pl.DataFrame(columns).sort("at_s", "customer", "kind", "product", "cents")


@dataclass(frozen=True)
class _Habits:
    """Each customer's own amounts and channel."""

    salary: np.ndarray  # monthly pay in cents, 0 for the unsalaried
    preferred: np.ndarray  # index into CHANNEL_SHARES
    card: np.ndarray
    repayment: np.ndarray
    premium: np.ndarray


def _habits(
    n: int, income: np.ndarray, settings: BankSettings, rng: np.random.Generator
) -> _Habits:
    salaried = rng.random(n) < settings.salary_share
    preferred = np.searchsorted(np.cumsum(CHANNEL_SHARES), rng.random(n), side="right")
    return _Habits(
        salary=np.where(salaried, np.round(income / 12 * 100), 0).astype(np.int64),
        preferred=np.minimum(preferred, len(CHANNEL_SHARES) - 1),
        card=_lognormal_cents(rng, 600.0, 0.7, n),
        repayment=_lognormal_cents(rng, 450.0, 0.6, n),
        premium=_lognormal_cents(rng, 45.0, 0.5, n),
    )


def _book_month(
    book: _Bookings,
    proc: BankProcess,
    settings: BankSettings,
    habits: _Habits,
    t: int,
    rng: np.random.Generator,
) -> None:
    """Month ``t``'s bookings (see the module docstring)."""
    cal, ev = proc.cal, proc.events
    col = proc.column(t)
    # a closing account books the withdrawal of everything left, and nothing else
    leaving = np.flatnonzero(proc.closed_month == t)
    book.add(
        t,
        leaving,
        proc.closed_at_s[leaving],
        "withdrawal",
        _P["deposit"],
        -proc.aum_cents[leaving, col - 1],
    )
    gone = (proc.closed_month >= 0) & (proc.closed_month <= t)
    live = np.flatnonzero((proc.first_month <= t) & ~gone)
    opening = proc.first_month[live] == t
    earliest = np.where(opening, proc.opened_at_s[live], cal.start_s(t))
    end = cal.end_s(t)

    def when(rows: np.ndarray) -> np.ndarray:
        """Uniform instants within the month (from the opening in an opening month)."""
        span = end - earliest[rows]
        return earliest[rows] + np.floor(rng.random(rows.size) * span).astype(np.int64)

    deposit = _P["deposit"]
    opened = live[opening]
    book.add(
        t, opened, proc.opened_at_s[opened], "deposit", deposit, proc.opening_aum_cents[opened]
    )
    # the net flow beyond the market's part, on top of the salary that comes and goes
    previous = np.where(opening, proc.opening_aum_cents[live], proc.aum_cents[live, col - 1])
    risk_start = np.where(opening, proc.initial_risk[live], proc.risk[live, col - 1])
    beta = np.asarray(settings.beta)[risk_start]
    market_part = np.round(previous * np.expm1(beta * proc.market[t])).astype(np.int64)
    net = proc.aum_cents[live, col] - previous - market_part
    pay = habits.salary[live]
    everyone = np.arange(live.size)
    book.add(t, live, when(everyone), "deposit", deposit, pay + np.maximum(net, 0))
    book.add(t, live, when(everyone), "withdrawal", deposit, -(pay + np.maximum(-net, 0)))
    # fees and what holding a product books, by the previous statement (not in an opening month)
    old = np.flatnonzero(~opening)
    who_old = live[old]
    statement = proc.aum_cents[who_old, col - 1]
    held = proc.holdings[who_old, col - 1].astype(np.int64)
    has = {name: (held >> j & 1).astype(bool) for name, j in _P.items()}
    fee = np.where(has["deposit"], np.asarray(ACCOUNT_FEE_CENTS)[tier_codes(statement)], 0)
    book.add(t, who_old, when(old), "fee", deposit, fee)
    if cal.month(t)[1] % 3 == 0:
        for name, rate in MANAGEMENT_FEE.items():
            cents = np.where(has[name], np.round(statement * rate), 0)
            book.add(t, who_old, when(old), "fee", _P[name], cents)
    card = np.round(habits.card[who_old] * np.exp(0.3 * rng.standard_normal(old.size)))
    for name, kind, cents in (
        ("credit_card", "card_spend", card),
        ("loan", "repayment", habits.repayment[who_old]),
        ("insurance", "premium", habits.premium[who_old]),
    ):
        book.add(t, who_old, when(old), kind, _P[name], np.where(has[name], cents, 0))
    # product openings and closings, at the minute of the change
    this_month = ev.month == t
    for kind_code, label in ((1, "purchase"), (0, "redemption")):
        pick = np.flatnonzero(this_month & (ev.kind == kind_code))
        who, product = ev.customer[pick], ev.product[pick].astype(np.int64)
        invested = np.round(proc.aum_cents[who, col - 1] * rng.uniform(0.05, 0.30, pick.size))
        invest = np.isin(product, [_P["wealth_management"], _P["fund"]])
        if label == "purchase":
            cents = np.select(
                [invest, product == _P["insurance"], product == _P["loan"]]
                + [product == _P["credit_card"]],
                [invested, habits.premium[who] * 12]
                + [_lognormal_cents(rng, 200.0, 0.7, pick.size), CARD_FEE_CENTS],
                default=_lognormal_cents(rng, 1_500.0, 1.0, pick.size),
            )
        else:
            cents = np.where(invest, -invested, 0)
        for j in range(len(PRODUCTS)):
            sel = product == j
            book.add(t, who[sel], ev.at_s[pick][sel], label, j, cents[sel])
    # foreign exchange, outside the catalogue
    fx = np.flatnonzero(rng.random(live.size) < settings.fx_rate)
    book.add(t, live[fx], when(fx), "fx", -1, _lognormal_cents(rng, 400.0, 1.0, fx.size))


def _channels(
    frame: pl.DataFrame, proc: BankProcess, habits: _Habits, rng: np.random.Generator
) -> np.ndarray:
    """Each booking's channel: mostly the customer's own, a private banking client's through
    its relationship manager, card payments by card, the bank's own bookings by the bank."""
    customer = frame["customer"].to_numpy()
    kind = frame["kind"].to_numpy()
    # the previous statement's tier (an opening month has none: -1 cents, mass)
    previous = proc.aum_cents[customer, frame["month"].to_numpy() + proc.column(0) - 1]
    private = tier_codes(previous) == TIERS.index("private_banking")
    own = np.where(
        rng.random(frame.height) < 0.8,
        habits.preferred[customer],
        rng.integers(0, len(CHANNEL_SHARES), frame.height),
    )
    return np.select(
        [
            private & np.isin(kind, [TXN_TYPES.index(k) for k in RM_TYPES]),
            kind == TXN_TYPES.index("card_spend"),
            np.isin(kind, [TXN_TYPES.index(k) for k in BANK_TYPES]),
        ],
        [CHANNELS.index("relationship_manager"), CHANNELS.index("card"), CHANNELS.index("bank")],
        default=own,
    )


def transactions_frame(
    proc: BankProcess,
    settings: BankSettings,
    income: np.ndarray,
    ids: pl.Series,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Every booking of the window, sorted by time (then customer), with ids in that order."""
    habits = _habits(proc.first_month.size, income, settings, rng)
    book = _Bookings()
    for t in range(proc.cal.n):
        _book_month(book, proc, settings, habits, t, rng)
    frame = book.frame()
    channel = _channels(frame, proc, habits, rng)
    product = frame["product"].to_numpy().astype(np.int64)
    product = np.where(product < 0, len(PRODUCTS), product)
    number = pl.Series(np.arange(1, frame.height + 1)).cast(pl.String).str.zfill(10)
    return pl.DataFrame(
        {
            "txn_id": "T" + number,
            "client_id": ids.gather(frame["customer"]),
            "booked_at": pl.Series(frame["at_s"] * 1_000_000).cast(pl.Datetime("us")),
            "txn_type": pl.Series(TXN_TYPES, dtype=pl.String).gather(frame["kind"]),
            "product": pl.Series([*PRODUCTS, UNCATALOGUED_PRODUCT]).gather(product),
            "amount": frame["cents"] / 100,
            "channel": pl.Series(CHANNELS, dtype=pl.String).gather(channel),
        }
    )
