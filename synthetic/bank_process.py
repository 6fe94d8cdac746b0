"""The generated bank's customers month by month: AUM, risk preference and products held
(vectorised over customers, one step per calendar month; see :mod:`synthetic.bank_params`).

Months are counted from the window's first month (0); an existing customer is simulated from
its opening or ``burn_in_months`` before the window, whichever is later, so the window opens on
grown holdings.  Month ``t``'s statement is its last day at 23:00 UTC; within the window every
change of products or risk preference gets its own minute before that statement.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from synthetic.bank_params import PRODUCT_RISK_RANK, PRODUCTS, BankSettings, tier_codes

EPOCH = dt.datetime(1970, 1, 1)
STATEMENT_HOUR = 23
#: Months before the window with a statement kept: the initial load (month -1) shows the
#: change of AUM over the 3 months before it.
PRE_WINDOW_STATEMENTS = 4
#: Accounts of existing customers opened from this year on (before the window).
FIRST_OPENING_YEAR = 2000


@dataclass(frozen=True)
class Calendar:
    """The window's months and their instants (seconds since 1970, UTC)."""

    months: list[tuple[int, int]]  # (year, month) of months 0 .. M-1

    @property
    def n(self) -> int:
        return len(self.months)

    def month(self, t: int) -> tuple[int, int]:
        """(year, month) of relative month ``t`` (negative: before the window)."""
        year, month = self.months[0]
        index = year * 12 + (month - 1) + t
        return index // 12, index % 12 + 1

    def start_s(self, t: int) -> int:
        year, month = self.month(t)
        return int((dt.datetime(year, month, 1) - EPOCH).total_seconds())

    def statement_s(self, t: int) -> int:
        """The instant of month ``t``'s statement: its last day at 23:00."""
        year, month = self.month(t)
        last = calendar.monthrange(year, month)[1]
        return int((dt.datetime(year, month, last, STATEMENT_HOUR) - EPOCH).total_seconds())

    def end_s(self, t: int) -> int:
        """The first instant after month ``t``."""
        return self.start_s(t + 1)

    def month_end(self, t: int) -> dt.date:
        year, month = self.month(t)
        return dt.date(year, month, calendar.monthrange(year, month)[1])

    def label(self, t: int) -> str:
        year, month = self.month(t)
        return f"{year:04d}-{month:02d}"


def make_calendar(start: str, end: str) -> Calendar:
    """The months from ``start`` to ``end`` (``YYYY-MM``, inclusive)."""
    first = dt.datetime.strptime(start, "%Y-%m")
    last = dt.datetime.strptime(end, "%Y-%m")
    if last < first:
        raise ValueError(f"end month {end} is before start month {start}")
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return Calendar(months)


@dataclass
class Events:
    """Changes within the window's months: one entry per product opened or closed and per new
    risk assessment."""

    customer: np.ndarray  # customer index
    month: np.ndarray  # relative month
    at_s: np.ndarray  # instant, seconds since 1970 (whole minutes)
    kind: np.ndarray  # 0 close a product, 1 open a product, 2 new risk preference
    product: np.ndarray  # product index (-1 for a risk assessment)
    risk: np.ndarray  # the new risk preference (-1 for a product change)


@dataclass
class BankProcess:
    """The simulated customers and their monthly states.

    Statement arrays have one column per month from ``-PRE_WINDOW_STATEMENTS`` to ``M - 1``
    (column ``k`` is month ``k - PRE_WINDOW_STATEMENTS``) and hold -1 where the customer had
    no account yet; from a closure on they hold the closed account's state (AUM 0, no
    products), which no statement shows (the closure's own row does).
    """

    cal: Calendar
    first_month: np.ndarray  # relative month of the first statement
    opened_on: np.ndarray  # opening date, days since 1970
    opened_at_s: np.ndarray  # opening instant of customers opened in the window, else -1
    opening_aum_cents: np.ndarray  # AUM at opening (customers opened in the window)
    opening_product: np.ndarray
    initial_risk: np.ndarray
    aum_type: np.ndarray
    aum_z: np.ndarray  # standard normal score of the opening AUM
    decline_month: np.ndarray  # first month of the decline (declining customers), else -1
    closed_month: np.ndarray  # month the account was closed, else -1
    closed_at_s: np.ndarray  # instant of the closure, else -1
    aum_cents: np.ndarray  # statements (N x (M + 3))
    risk: np.ndarray  # risk at each statement (N x (M + 3))
    holdings: np.ndarray  # holdings mask at each statement (N x (M + 3))
    market: np.ndarray  # market factor per window month
    events: Events
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def column(self, t: int) -> int:
        """The statement column of relative month ``t``."""
        return t + PRE_WINDOW_STATEMENTS


def _categorical(rng: np.random.Generator, shares: tuple[float, ...], n: int) -> np.ndarray:
    cdf = np.cumsum(shares)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(shares) - 1)


def _minutes(
    rng: np.random.Generator, lo_s: np.ndarray | int, hi_s: np.ndarray | int, n: int
) -> np.ndarray:
    """Instants on whole minutes, uniform in ``[lo_s, hi_s)`` (both whole minutes)."""
    lo_min = np.asarray(lo_s, dtype=np.int64) // 60
    span = np.asarray(hi_s, dtype=np.int64) // 60 - lo_min
    return (lo_min + np.floor(rng.random(n) * span).astype(np.int64)) * 60


def _record(
    ev: dict[str, list[np.ndarray]],
    t: int,
    span: tuple[int, int],
    close: np.ndarray,
    add: np.ndarray,
    changes: np.ndarray,
    new_risk: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Month ``t``'s closes, adds and risk assessments, each at a minute of ``span``."""
    lo, hi = span
    for kind, mask in ((0, close), (1, add)):
        who, what = np.nonzero(mask)
        ev["customer"].append(who)
        ev["month"].append(np.full(who.size, t))
        ev["at_s"].append(_minutes(rng, lo, hi, who.size))
        ev["kind"].append(np.full(who.size, kind, dtype=np.int8))
        ev["product"].append(what.astype(np.int8))
        ev["risk"].append(np.full(who.size, -1, dtype=np.int8))
    who = np.flatnonzero(changes)
    ev["customer"].append(who)
    ev["month"].append(np.full(who.size, t))
    ev["at_s"].append(_minutes(rng, lo, hi, who.size))
    ev["kind"].append(np.full(who.size, 2, dtype=np.int8))
    ev["product"].append(np.full(who.size, -1, dtype=np.int8))
    ev["risk"].append(new_risk[who])


def simulate_process(
    n_customers: int, cal: Calendar, settings: BankSettings, rng: np.random.Generator
) -> BankProcess:
    """Draw the customers and run their AUM, risk and holdings month by month."""
    st = settings
    n, n_months, n_products = n_customers, cal.n, len(PRODUCTS)
    # who and when
    existing = rng.random(n) < st.existing_share
    first_open_index = FIRST_OPENING_YEAR * 12
    window_index = cal.months[0][0] * 12 + cal.months[0][1] - 1
    open_index = rng.integers(first_open_index, window_index, n)  # existing: before the window
    new_month = rng.integers(0, n_months, n)
    first_month = np.where(
        existing, np.maximum(open_index - window_index, -st.burn_in_months), new_month
    )
    stmt_s = np.array([cal.statement_s(t) for t in range(n_months)], dtype=np.int64)
    start_s = np.array([cal.start_s(t) for t in range(n_months)], dtype=np.int64)
    opened_at_s = np.full(n, -1, dtype=np.int64)
    new_idx = np.flatnonzero(~existing)
    opened_at_s[new_idx] = _minutes(
        rng, start_s[new_month[new_idx]], stmt_s[new_month[new_idx]], new_idx.size
    )
    # an existing customer opened on some day of its opening month
    month_first = (np.datetime64("1970-01", "M") + (open_index - 1970 * 12)).astype("datetime64[D]")
    month_days = (month_first.astype("datetime64[M]") + 1).astype("datetime64[D]") - month_first
    open_day = np.floor(rng.random(n) * month_days.astype(np.int64)).astype(np.int64)
    opened_on = np.where(existing, month_first.astype(np.int64) + open_day, opened_at_s // 86_400)

    initial_risk = _categorical(rng, st.risk_shares, n).astype(np.int8)
    aum_type = _categorical(rng, st.aum_type_shares, n).astype(np.int8)
    decline_month = np.where(
        aum_type == 2, np.maximum(rng.integers(0, n_months, n), first_month + 1), -1
    )
    opening_product = _categorical(rng, st.opening_product_shares, n).astype(np.int8)
    aum_z = rng.standard_normal(n)
    log_aum0 = np.log(st.aum_median) + st.aum_sigma * aum_z
    opening_aum_cents = np.where(
        existing, -1, np.maximum(np.round(np.exp(log_aum0) * 100), 1).astype(np.int64)
    )

    beta = np.asarray(st.beta)
    idio = np.asarray(st.idio_sd)
    base = np.asarray(st.add_base)
    drop_rate = np.asarray(st.drop_rate)
    tier_add = np.asarray(st.tier_add)
    lift = np.asarray(st.affinity, dtype=np.float64).copy()
    np.fill_diagonal(lift, 1.0)
    risk_rank = np.asarray(PRODUCT_RISK_RANK)
    bits = (1 << np.arange(n_products)).astype(np.int16)

    n_cols = n_months + PRE_WINDOW_STATEMENTS
    aum_cents = np.full((n, n_cols), -1, dtype=np.int64)
    risk_hist = np.full((n, n_cols), -1, dtype=np.int8)
    hold_hist = np.full((n, n_cols), -1, dtype=np.int16)
    market = np.zeros(n_months)
    log_aum = np.zeros(n)
    risk = initial_risk.copy()
    closed = np.zeros(n, dtype=bool)
    closed_month = np.full(n, -1, dtype=np.int64)
    closed_at_s = np.full(n, -1, dtype=np.int64)
    held = np.zeros((n, n_products), dtype=bool)
    tier = np.zeros(n, dtype=np.int8)
    ev: dict[str, list[np.ndarray]] = {k: [] for k in Events.__dataclass_fields__}
    names = list(PRODUCTS)
    counts = {k: dict.fromkeys(names, 0) for k in ("trials", "adds", "closes")}
    counts["risk_changes"] = {"all": 0}
    counts["account_closures"] = {"all": 0}

    t_first = int(first_month.min()) if n else 0
    for t in range(min(t_first, -PRE_WINDOW_STATEMENTS), n_months):
        opening = first_month == t
        in_window = t >= 0
        m_t = st.market_mean + st.market_sd * rng.standard_normal()
        if in_window:
            market[t] = m_t
        u_risk, u_dir = rng.random(n), rng.random(n)
        u_close, u_add = rng.random((n, n_products)), rng.random((n, n_products))
        eps, u_shock, z_shock = rng.standard_normal(n), rng.random(n), rng.standard_normal(n)
        u_leave = rng.random(n)
        # an account closed this month does nothing else; a closed one nothing at all
        declining = (aum_type == 2) & (t >= decline_month)
        leave_rate = np.where(declining, st.close_rate_declining, st.close_rate)
        leaving = (first_month < t) & ~closed & in_window & (u_leave < leave_rate)
        active = (first_month < t) & ~closed & ~leaving

        # a new risk assessment: one level up or down (from an end, the only way there is)
        changes = active & (u_risk < st.risk_change_rate)
        step = np.where(risk == 0, 1, np.where(risk == len(beta) - 1, -1, 0))
        step = np.where(step == 0, np.where(u_dir < 0.5, -1, 1), step)
        new_risk = np.where(changes, risk + step, risk).astype(np.int8)
        # closes and adds, from the state at the month's start (the previous statement)
        close = active[:, None] & held & (u_close < drop_rate[None, :])
        allowed = risk_rank[None, :] <= (np.minimum(risk, new_risk)[:, None] + 1)
        at_risk = active[:, None] & ~held & allowed
        p_add = base[None, :] * tier_add[tier]
        for a in range(n_products):
            p_add *= np.where(held[:, a, None], lift[a][None, :], 1.0)
        add = at_risk & (u_add < p_add)

        # opening accounts hold their one product; the statement follows the month's step
        log_aum = np.where(opening, log_aum0, log_aum)
        drift = np.where(
            aum_type == 1,
            st.drift_growing,
            np.where((aum_type == 2) & (t >= decline_month), st.drift_declining, st.drift_steady),
        )
        shock = np.where(u_shock < st.shock_rate, st.shock_sd * z_shock, 0.0)
        moving = active | opening
        log_aum = np.where(
            moving, log_aum + drift + beta[risk] * m_t + idio[risk] * eps + shock, log_aum
        )
        held = (held & ~close) | add
        held[opening] = False
        held[opening, opening_product[opening]] = True
        risk = np.where(opening, initial_risk, new_risk).astype(np.int8)
        if leaving.any():
            who = np.flatnonzero(leaving)
            closed[who] = True
            closed_month[who] = t
            closed_at_s[who] = _minutes(rng, cal.start_s(t), cal.statement_s(t), who.size)
            counts["account_closures"]["all"] += int(who.size)
        held[closed] = False

        cents = np.maximum(np.round(np.exp(log_aum) * 100), 1).astype(np.int64)
        cents[closed] = 0
        tier = np.where(moving, tier_codes(cents), tier).astype(np.int8)
        if t >= -PRE_WINDOW_STATEMENTS:
            col = t + PRE_WINDOW_STATEMENTS
            live = first_month <= t
            aum_cents[live, col] = cents[live]
            risk_hist[live, col] = risk[live]
            hold_hist[live, col] = (held[live].astype(np.int16) * bits).sum(axis=1)
        if in_window:
            _record(ev, t, (cal.start_s(t), cal.statement_s(t)), close, add, changes, new_risk, rng)
            for j, name in enumerate(names):
                counts["trials"][name] += int(at_risk[:, j].sum())
                counts["adds"][name] += int(add[:, j].sum())
                counts["closes"][name] += int(close[:, j].sum())
            counts["risk_changes"]["all"] += int(changes.sum())

    events = Events(
        **{k: np.concatenate(v) if v else np.zeros(0, dtype=np.int64) for k, v in ev.items()}
    )
    return BankProcess(
        cal=cal,
        first_month=first_month,
        opened_on=opened_on,
        opened_at_s=opened_at_s,
        opening_aum_cents=opening_aum_cents,
        opening_product=opening_product,
        initial_risk=initial_risk,
        aum_type=aum_type,
        aum_z=aum_z,
        decline_month=decline_month,
        closed_month=closed_month,
        closed_at_s=closed_at_s,
        aum_cents=aum_cents,
        risk=risk_hist,
        holdings=hold_hist,
        market=market,
        events=events,
        counts=counts,
    )
