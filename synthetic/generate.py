"""Seeded, vectorised synthetic demo data drawn from a known buy-till-you-die process.

Customers sign up over the whole observation window; most of them then buy, and their repeat
purchases and order values follow two standard probability models exactly, so that fitted
parameters can be checked against the truth recorded in ``true_params.json``:

* **Purchase counts: BG/NBD** (Fader, Hardie & Lee, 2005, "Counting your customers the easy
  way: an alternative to the Pareto/NBD model", *Marketing Science* 24(2), 275-284).  While
  alive, a customer buys according to a Poisson process with rate ``lambda ~ Gamma(shape=r,
  rate=alpha)`` per **day**.  After each repeat purchase they become inactive with probability
  ``p ~ Beta(a, b)``.  As in the BG/NBD likelihood (and unlike the MBG/NBD variant), nobody
  drops out at the first purchase (time zero): ``P(X(t) = 0) = (alpha / (alpha + t)) ** r``.
  The number of repeat purchases a customer makes before dying is therefore
  ``J ~ Geometric(p)`` on ``{1, 2, ...}``, and the repeat count in an observation window of
  length ``T`` is ``X = min(N(T), J)`` with ``N(T) ~ Poisson(lambda * T)``.
* **Order values: Gamma-Gamma** (Colombo & Jiang, 1999, "A stochastic RFM model", *Journal of
  Interactive Marketing* 13(3), 2-12; Fader, Hardie & Lee, 2005, "RFM and CLV: using iso-value
  curves for customer base analysis", *Journal of Marketing Research* 42(4), 415-430; and
  Fader & Hardie, 2013, "The Gamma-Gamma model of monetary value").  Per customer
  ``nu ~ Gamma(shape=q, rate=gamma)``; per order ``z ~ Gamma(shape=p, rate=nu)``.  The order is
  split into line items whose amounts (``quantity * unit_price``, in whole cents) add up to
  ``z`` up to rounding to cents.

Exactness.  With ``seasonality=0`` the purchase process *is* the BG/NBD: for a purchasing
customer, the observation window runs from the first purchase (a timestamp with a time of day)
to the end of the last day of the window (``end + 1 day``, exclusive) and repeat purchases are
placed in continuous time.  Given ``N(T) = n`` Poisson events the event times are the order
statistics of ``n`` uniforms; the first ``m = min(n, J)`` of them are generated exactly as
``T * S_k / (S_m + G)`` with ``S_k`` the cumulative sum of ``m`` unit exponential gaps and
``G ~ Gamma(n - m + 1)`` (the Dirichlet representation of uniform spacings), so only the
purchases that actually happen are ever drawn.  Timestamps are then floored to whole seconds.
Caveat for fitting by *calendar day*: with heterogeneous rates, the next purchase of a heavy
buyer often falls on the same calendar day (rate-weighted, ~3.5% of repeat purchases with the
default parameters, not the ~1/2 x 0.033 of an average customer).  A summary that counts
distinct purchase *days* therefore under-counts the heaviest buyers: at 100k customers and
the defaults a BG/NBD fit on (distinct days, whole-day recency and ``T``) overestimates
``alpha`` by ~11% and ``r`` by ~4%, whereas a fit on (number of orders - 1, recency and ``T``
in fractional days from the timestamps, ``T`` up to ``end + 1 day``) recovers all four
parameters within ~1.5% (sampling noise; asymptotic relative SEs 0.6/0.8/1.7/2.5%).  Whole
days for ``T`` alone cost < 1%; it is the day-collapsing of the frequency that matters.  The
``latent`` frame of :func:`simulate` holds the exact ``(n_repeat, t_x_days, T_days)``.

Seasonality.  With amplitude ``A`` in ``[0, 1)`` the purchase intensity is multiplied by
``s(t) = 1 + A * cos(2 * pi * (t - t_peak) / 365.25)`` (peak on 1 December).  The process is
simulated in *operational time* ``tau = Lambda(t) = integral of s`` and mapped back to calendar
time through ``Lambda^-1`` (Newton iterations), i.e. each customer's BG/NBD holds exactly in
operational time.  Signups are warped the same way (more customers arrive in Q4).  ``A = 0``
makes ``Lambda`` the identity and the model exact in calendar days.

Everything is vectorised with numpy over customers, orders and line items (no per-row Python
loop).  Customers are simulated in chunks; chunk ``i`` uses a random stream derived from
``SeedSequence(seed, spawn_key=(1, i))``, so results depend only on ``(seed, arguments,
chunk_customers)`` and memory is bounded by the chunk size.  Order numbers and customer numbers
continue across chunks.

Other realism features: acquisition and preferred purchase channels, Zipf-like product
popularity over a small catalogue, ~2% of orders partially cancelled later (``"C"`` prefixed
order id, negative quantity), optional dirty source rows (``dirty_rate``), fake PII built from
small word lists, reserved demo e-mail domains (RFC 2606) and fictional ``555-01xx`` phone
numbers.

CLI::

    python -m synthetic.generate --customers 100000 --out data/demo --seed 42
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import math
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq
from scipy import special

from synthetic import names

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 1
SECONDS_PER_DAY = 86_400
DEFAULT_START = "2010-01-01"
DEFAULT_END = "2011-12-31"
DEFAULT_CHUNK_CUSTOMERS = 250_000
ORDER_ID_WIDTH = 10
MIN_CUSTOMER_ID_WIDTH = 6

#: Transaction channels (index = code used internally).
CHANNELS: tuple[str, ...] = ("online", "store", "agent")
#: Acquisition channels and their shares.
ACQUISITION_CHANNELS: tuple[str, ...] = ("online", "store", "agent", "referral", "partner")
ACQUISITION_WEIGHTS: tuple[float, ...] = (0.45, 0.30, 0.10, 0.10, 0.05)
#: Distribution of the preferred transaction channel (online, store, agent) per acquisition
#: channel (rows in the order of ``ACQUISITION_CHANNELS``).
PREFERRED_CHANNEL_GIVEN_ACQUISITION: tuple[tuple[float, float, float], ...] = (
    (0.80, 0.15, 0.05),
    (0.20, 0.75, 0.05),
    (0.15, 0.15, 0.70),
    (0.50, 0.40, 0.10),
    (0.35, 0.20, 0.45),
)
#: (country, region, weight).  Region is a function of the country.
COUNTRIES: tuple[tuple[str, str, float], ...] = (
    ("United Kingdom", "UK & Ireland", 0.38),
    ("Ireland", "UK & Ireland", 0.05),
    ("Germany", "Western Europe", 0.10),
    ("France", "Western Europe", 0.09),
    ("Netherlands", "Western Europe", 0.05),
    ("Belgium", "Western Europe", 0.04),
    ("Switzerland", "Western Europe", 0.03),
    ("Spain", "Southern Europe", 0.05),
    ("Italy", "Southern Europe", 0.04),
    ("Portugal", "Southern Europe", 0.03),
    ("Norway", "Nordics", 0.03),
    ("Sweden", "Nordics", 0.03),
    ("United States", "North America", 0.05),
    ("Australia", "Asia-Pacific", 0.03),
)
GENDERS: tuple[str, ...] = ("F", "M", "X")
GENDER_WEIGHTS: tuple[float, ...] = (0.50, 0.47, 0.03)
CONSUMER_INDUSTRY = "consumer"
#: Industries of business customers and their shares among business customers.
B2B_INDUSTRIES: tuple[tuple[str, float], ...] = (
    ("retail", 0.28),
    ("wholesale", 0.15),
    ("hospitality", 0.14),
    ("services", 0.14),
    ("manufacturing", 0.10),
    ("healthcare", 0.07),
    ("education", 0.06),
    ("public sector", 0.06),
)
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

TRANSACTION_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "order_id": pl.String(),
    "order_ts": pl.Datetime("us"),
    "product_id": pl.String(),
    "quantity": pl.Int32(),
    "unit_price": pl.Float64(),
    "amount": pl.Float64(),
    "channel": pl.String(),
    "country": pl.String(),
}
CUSTOMER_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "name": pl.String(),
    "email": pl.String(),
    "phone": pl.String(),
    "signup_date": pl.Date(),
    "birth_date": pl.Date(),
    "gender": pl.String(),
    "income": pl.Float64(),
    "region": pl.String(),
    "country": pl.String(),
    "industry": pl.String(),
    "acquisition_channel": pl.String(),
}


@dataclass(frozen=True)
class ProcessParams:
    """True parameters of the BG/NBD purchase process and the Gamma-Gamma spend model.

    Time unit: days.  Defaults give a retail-like base: mean purchase rate while alive
    ``r / alpha = 1/30`` per day (strongly heterogeneous, ``r = 0.5``), mean dropout
    probability ``a / (a + b) = 0.14`` per repeat purchase, i.e. ``1 + E[X(730)] = 9.0``
    purchases for a customer observed for two years and ~6 for the average purchasing customer
    of a two-year window (arrivals are spread over it), mean order value
    ``p * gamma / (q - 1) = 30``; the top 20% of customers bring ~68% of revenue.  These
    values were also chosen for identifiability: at 100k customers the asymptotic relative
    standard errors of the BG/NBD maximum-likelihood estimates are about 0.6% (r), 0.8%
    (alpha), 1.7% (a) and 2.5% (b).

    Attributes:
        r: Shape of the Gamma distribution of purchase rates.
        alpha: Rate (1 / scale, in days) of the Gamma distribution of purchase rates.
        a: First shape of the Beta distribution of dropout probabilities.
        b: Second shape of the Beta distribution of dropout probabilities.
        p: Shape of the per-order Gamma spend distribution.
        q: Shape of the Gamma distribution of the per-customer spend rate ``nu``.
        gamma: Rate of the Gamma distribution of ``nu``.
    """

    r: float = 0.5
    alpha: float = 15.0
    a: float = 0.8
    b: float = 5.0
    p: float = 6.0
    q: float = 4.0
    gamma: float = 15.0

    def __post_init__(self) -> None:
        for name_, value in dataclasses.asdict(self).items():
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"parameter {name_} must be positive and finite, got {value}")


@dataclass(frozen=True)
class Settings:
    """Secondary generator settings (recorded in ``true_params.json``).

    Attributes:
        cancel_rate: Probability that an order gets a later (partial) cancellation row.
        cancel_delay_days: Range of the delay between order and cancellation, in days.
        extra_lines_mean: Mean of the Poisson number of line items beyond the first.
        max_lines: Maximum number of line items per order.
        line_share_shape: Dirichlet concentration used to split an order's value over lines.
        max_quantity: Maximum quantity of one line item.
        n_products: Size of the product catalogue.
        zipf_exponent: Exponent of the Zipf-like product popularity ``1 / rank ** s``.
        price_median: Median list price of a product.
        price_sigma: Log-scale standard deviation of list prices.
        same_day_first_purchase: Share of purchasing customers who buy on their signup day.
        delay_geometric_p: Success probability of the geometric signup-to-first-purchase delay
            (in days) of the others.
        max_delay_days: Cap of that delay.
        pure_channel_share: Share of customers who only ever use their preferred channel.
        loyalty_beta: Beta parameters of the preferred-channel share of the other customers.
        income_median: Median yearly income.
        income_sigma: Log-scale standard deviation of income.
        income_spend_corr: Gaussian-copula correlation between income and mean order value.
        b2b_base: Base probability that a customer is a business (industry != consumer).
        b2b_rate_slope: Added to ``b2b_base`` times the purchase-rate quantile of the customer.
        b2b_agent_partner: Added for customers acquired through an agent or a partner.
        age_min: Minimum age at signup.
        age_max: Maximum age at signup.
        age_beta: Beta parameters of ``(age - age_min) / (age_max - age_min)``.
        seasonality_peak_month_day: Calendar day of the seasonal intensity peak.
        seasonality_period_days: Period of the seasonal modulation.
    """

    cancel_rate: float = 0.02
    cancel_delay_days: tuple[float, float] = (0.5, 14.0)
    extra_lines_mean: float = 1.5
    max_lines: int = 12
    line_share_shape: float = 2.0
    max_quantity: int = 48
    n_products: int = 400
    zipf_exponent: float = 0.8
    price_median: float = 4.0
    price_sigma: float = 0.9
    same_day_first_purchase: float = 0.55
    delay_geometric_p: float = 0.35
    max_delay_days: int = 30
    pure_channel_share: float = 0.4
    loyalty_beta: tuple[float, float] = (5.0, 2.0)
    income_median: float = 32_000.0
    income_sigma: float = 0.55
    income_spend_corr: float = 0.3
    b2b_base: float = 0.06
    b2b_rate_slope: float = 0.20
    b2b_agent_partner: float = 0.25
    age_min: float = 18.0
    age_max: float = 85.0
    age_beta: tuple[float, float] = (1.8, 2.6)
    seasonality_peak_month_day: tuple[int, int] = (12, 1)
    seasonality_period_days: float = 365.25


@dataclass
class Simulation:
    """In-memory result of :func:`simulate`.

    Attributes:
        customers: One row per customer (schema :data:`CUSTOMER_SCHEMA`).
        transactions: One row per line item / cancellation / dirty row (schema
            :data:`TRANSACTION_SCHEMA`, or all strings when ``dirty_rate > 0``).
        true_params: The same dictionary that :func:`write` stores in ``true_params.json``.
        latent: Per-customer latent truth: ``customer_id``, ``is_potential``,
            ``is_purchaser``, ``first_purchase_ts``, ``last_purchase_ts``, ``t_x_days``
            (recency, fractional days), ``T_days`` (first purchase to end of window),
            ``T_operational`` (the same in seasonal operational time), ``lam`` (purchase rate
            per day), ``p_dropout``, ``nu``, ``dropout_after`` (repeat purchase after which the
            customer dies), ``n_repeat`` (repeat purchases in the window), ``alive_at_end``,
            ``preferred_channel``, ``channel_loyalty``.  Not written unless asked for.
    """

    customers: pl.DataFrame
    transactions: pl.DataFrame
    true_params: dict[str, Any]
    latent: pl.DataFrame = field(default_factory=pl.DataFrame)


# --------------------------------------------------------------------------------------------
# configuration helpers


@dataclass(frozen=True)
class _Season:
    """Calendar <-> operational time map for the seasonal intensity (days since start)."""

    amplitude: float
    peak_offset: float
    period: float

    @property
    def omega(self) -> float:
        return 2.0 * math.pi / self.period

    def rate(self, t: np.ndarray) -> np.ndarray:
        return 1.0 + self.amplitude * np.cos(self.omega * (t - self.peak_offset))

    def to_operational(self, t: np.ndarray) -> np.ndarray:
        """Cumulative intensity ``Lambda(t)`` with ``Lambda(0) = 0``."""
        if self.amplitude == 0.0:
            return np.asarray(t, dtype=np.float64)
        w = self.omega
        k = self.amplitude / w
        return t + k * (np.sin(w * (t - self.peak_offset)) - math.sin(-w * self.peak_offset))

    def to_calendar(self, tau: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_operational`: vectorised Newton iterations safeguarded by
        bisection (``|Lambda(t) - t| <= 2 A / omega`` gives the initial bracket)."""
        tau = np.asarray(tau, dtype=np.float64)
        if self.amplitude == 0.0 or tau.size == 0:
            return tau
        half_width = 2.0 * self.amplitude / self.omega + 1e-9
        lo, hi = tau - half_width, tau + half_width
        # initial guess: linear interpolation in a 1/64-day table of Lambda (error < 1e-6 d)
        grid = np.arange(
            math.floor(float(tau.min()) - half_width) - 1.0,
            math.ceil(float(tau.max()) + half_width) + 1.0,
            1.0 / 64.0,
        )
        t = np.interp(tau, self.to_operational(grid), grid)
        for _ in range(200):
            f = self.to_operational(t) - tau
            if np.max(np.abs(f)) < 1e-11:
                break
            lo = np.where(f < 0, t, lo)
            hi = np.where(f > 0, t, hi)
            t_new = t - f / self.rate(t)
            outside = (t_new < lo) | (t_new > hi)
            t = np.where(outside, 0.5 * (lo + hi), t_new)
        return t


@dataclass(frozen=True)
class _Config:
    n_customers: int
    seed: int
    start: dt.date
    end: dt.date
    seasonality: float
    dirty_rate: float
    potential_share: float
    params: ProcessParams
    settings: Settings
    chunk_customers: int

    @property
    def window_days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_epoch_s(self) -> int:
        return (self.start - dt.date(1970, 1, 1)).days * SECONDS_PER_DAY

    @property
    def id_width(self) -> int:
        return max(MIN_CUSTOMER_ID_WIDTH, len(str(self.n_customers)))

    @property
    def season(self) -> _Season:
        month, day = self.settings.seasonality_peak_month_day
        peak = (dt.date(self.start.year, month, day) - self.start).days
        return _Season(self.seasonality, float(peak), self.settings.seasonality_period_days)

    @property
    def n_chunks(self) -> int:
        return max(1, math.ceil(self.n_customers / self.chunk_customers))


def _as_date(value: str | dt.date) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _resolve_params(params: ProcessParams | Mapping[str, Any] | None) -> ProcessParams:
    """Accept ``None``, a :class:`ProcessParams`, a flat mapping or a nested mapping."""
    if params is None:
        return ProcessParams()
    if isinstance(params, ProcessParams):
        return params
    flat: dict[str, float] = {}
    for key, value in params.items():
        if key in ("bgnbd", "gamma_gamma") and isinstance(value, Mapping):
            flat.update({k: float(v) for k, v in value.items()})
        else:
            flat[key] = float(value)
    unknown = set(flat) - {f.name for f in dataclasses.fields(ProcessParams)}
    if unknown:
        raise ValueError(f"unknown process parameters: {sorted(unknown)}")
    return dataclasses.replace(ProcessParams(), **flat)


def _make_config(
    n_customers: int,
    seed: int,
    start: str | dt.date,
    end: str | dt.date,
    seasonality: float,
    dirty_rate: float,
    potential_share: float,
    params: ProcessParams | Mapping[str, Any] | None,
    chunk_customers: int,
    settings: Settings | None,
) -> _Config:
    cfg = _Config(
        n_customers=int(n_customers),
        seed=int(seed),
        start=_as_date(start),
        end=_as_date(end),
        seasonality=float(seasonality),
        dirty_rate=float(dirty_rate),
        potential_share=float(potential_share),
        params=_resolve_params(params),
        settings=settings or Settings(),
        chunk_customers=int(chunk_customers),
    )
    if cfg.n_customers < 0:
        raise ValueError("n_customers must be >= 0")
    if cfg.seed < 0:
        raise ValueError("seed must be >= 0")
    if cfg.end < cfg.start:
        raise ValueError("end must not be before start")
    if not 0.0 <= cfg.seasonality < 1.0:
        raise ValueError("seasonality amplitude must be in [0, 1)")
    if not 0.0 <= cfg.dirty_rate < 1.0:
        raise ValueError("dirty_rate must be in [0, 1)")
    if not 0.0 <= cfg.potential_share <= 1.0:
        raise ValueError("potential_share must be in [0, 1]")
    if cfg.chunk_customers < 1:
        raise ValueError("chunk_customers must be >= 1")
    return cfg


# --------------------------------------------------------------------------------------------
# product catalogue


@dataclass(frozen=True)
class _Catalogue:
    ids: pl.Series
    price: np.ndarray  # list price per product
    price_order: np.ndarray  # product indices sorted by list price
    sorted_price: np.ndarray  # list prices in that order
    sorted_cdf: np.ndarray  # cumulative popularity in that order (ends at 1)


def _catalogue(cfg: _Config) -> _Catalogue:
    s = cfg.settings
    rng = np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(0,)))
    n = s.n_products
    price = np.exp(math.log(s.price_median) + s.price_sigma * rng.standard_normal(n))
    price = np.clip(np.round(price, 2), 0.29, 250.0)
    popularity = 1.0 / np.arange(1, n + 1) ** s.zipf_exponent
    popularity = popularity[rng.permutation(n)]
    order = np.argsort(price, kind="stable")
    cdf = np.cumsum(popularity[order])
    cdf /= cdf[-1]
    ids = pl.Series("product_id", np.arange(1, n + 1)).cast(pl.String).str.zfill(5)
    ids = ("P" + ids).alias("product_id")
    return _Catalogue(
        ids=ids, price=price, price_order=order, sorted_price=price[order], sorted_cdf=cdf
    )


# --------------------------------------------------------------------------------------------
# one chunk of customers


@dataclass
class _Chunk:
    customers: pl.DataFrame
    transactions: pl.DataFrame
    latent: pl.DataFrame
    counts: dict[str, int]


def _categorical(rng: np.random.Generator, weights: tuple[float, ...], n: int) -> np.ndarray:
    cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(cdf) - 1)


def _segment_starts(counts: np.ndarray) -> np.ndarray:
    return np.cumsum(counts) - counts


def _zfill(values: np.ndarray, width: int, prefix: str = "") -> pl.Series:
    s = pl.Series(values.astype(np.int64)).cast(pl.String).str.zfill(width)
    return prefix + s if prefix else s


def _simulate_chunk(
    cfg: _Config,
    cat: _Catalogue,
    chunk_index: int,
    first_number: int,
    n: int,
    order_offset: int,
) -> _Chunk:
    """Simulate customers ``first_number .. first_number + n - 1`` and their transactions."""
    prm, st, season = cfg.params, cfg.settings, cfg.season
    ss = np.random.SeedSequence(cfg.seed, spawn_key=(1, chunk_index))
    rng_attr, rng_proc, rng_order, rng_cancel, rng_dirty = (
        np.random.default_rng(s) for s in ss.spawn(5)
    )
    window_s = cfg.window_days * SECONDS_PER_DAY
    numbers = np.arange(first_number, first_number + n, dtype=np.int64)

    # ---- acquisition and first purchase --------------------------------------------------
    op_window = float(season.to_operational(np.array([float(cfg.window_days)]))[0])
    t_signup = season.to_calendar(rng_attr.random(n) * op_window)
    signup_day = np.clip(np.floor(t_signup), 0, cfg.window_days - 1).astype(np.int64)
    potential = rng_attr.random(n) < cfg.potential_share
    same_day = rng_attr.random(n) < st.same_day_first_purchase
    delay = np.minimum(rng_attr.geometric(st.delay_geometric_p, n), st.max_delay_days)
    delay = np.where(same_day, 0, delay)
    # time of day of the first purchase: daytime peak and evening peak
    evening = rng_attr.random(n) < 0.35
    day_hour = 13.0 + 2.5 * rng_attr.standard_normal(n)
    hour = np.where(evening, 19.5 + 1.5 * rng_attr.standard_normal(n), day_hour)
    tod_s = np.floor(np.mod(hour, 24.0) * 3600.0).astype(np.int64)
    first_s = (signup_day + delay) * SECONDS_PER_DAY + tod_s  # seconds since window start
    purchaser = ~potential & (first_s < window_s)

    # ---- BG/NBD latent traits and repeat purchases ----------------------------------------
    lam = rng_proc.gamma(prm.r, 1.0 / prm.alpha, n)
    p_drop = np.clip(rng_proc.beta(prm.a, prm.b, n), 1e-12, 1.0)
    nu = rng_proc.gamma(prm.q, 1.0 / prm.gamma, n)
    dropout_after = rng_proc.geometric(p_drop)  # dies right after this repeat purchase
    first_t = first_s / SECONDS_PER_DAY
    first_tau = season.to_operational(first_t)
    t_obs_op = np.where(purchaser, op_window - first_tau, 0.0)
    n_poisson = rng_proc.poisson(lam * t_obs_op)
    n_repeat = np.minimum(n_poisson, dropout_after)
    remainder = rng_proc.standard_gamma((n_poisson - n_repeat + 1).astype(np.float64))
    gaps = rng_proc.standard_exponential(int(n_repeat.sum()))
    alive_at_end = purchaser & (n_poisson < dropout_after)
    last_s = first_s.copy()

    rep_cust = np.repeat(np.arange(n), n_repeat)
    csum = np.concatenate(([0.0], np.cumsum(gaps)))
    rep_start = _segment_starts(n_repeat)
    s_k = csum[1:] - csum[rep_start][rep_cust]
    s_m = csum[rep_start + n_repeat] - csum[rep_start]
    u_k = s_k / (s_m + remainder)[rep_cust]
    off_op = u_k * t_obs_op[rep_cust]
    if season.amplitude == 0.0:
        rep_s = first_s[rep_cust] + np.floor(off_op * SECONDS_PER_DAY).astype(np.int64)
    else:
        rep_t = season.to_calendar(first_tau[rep_cust] + off_op)
        rep_s = np.floor(rep_t * SECONDS_PER_DAY).astype(np.int64)
        rep_s = np.maximum(rep_s, first_s[rep_cust])
    rep_s = np.minimum(rep_s, window_s - 1)
    has_repeat = n_repeat > 0
    last_s[has_repeat] = rep_s[(rep_start + n_repeat - 1)[has_repeat]]

    # ---- orders, numbered in timestamp order (ties: customer number, then sequence) -------
    n_orders_c = np.where(purchaser, 1 + n_repeat, 0)
    n_orders = int(n_orders_c.sum())
    ord_cust = np.repeat(np.arange(n), n_orders_c)
    is_first = np.zeros(n_orders, dtype=bool)
    is_first[_segment_starts(n_orders_c)[purchaser]] = True
    ord_s = np.empty(n_orders, dtype=np.int64)
    ord_s[is_first] = first_s[purchaser]
    ord_s[~is_first] = rep_s
    del is_first, rep_s, rep_cust, s_k, u_k, off_op, gaps, csum
    order_perm = np.argsort(ord_s, kind="stable")
    ord_s = ord_s[order_perm]
    ord_cust = ord_cust[order_perm]
    del order_perm

    # channel: preferred channel tied to the acquisition channel, plus channel loyalty
    acq = _categorical(rng_attr, ACQUISITION_WEIGHTS, n)
    pref_cdf = np.cumsum(np.asarray(PREFERRED_CHANNEL_GIVEN_ACQUISITION), axis=1)
    pref = (rng_order.random(n)[:, None] > pref_cdf[acq][:, :-1]).sum(axis=1)
    pure = rng_order.random(n) < st.pure_channel_share
    loyalty = np.where(pure, 1.0, rng_order.beta(*st.loyalty_beta, n))
    on_pref = rng_order.random(n_orders) < loyalty[ord_cust]
    other = (pref[ord_cust] + 1 + (rng_order.random(n_orders) < 0.5)) % 3
    ord_channel = np.where(on_pref, pref[ord_cust], other).astype(np.int8)
    del on_pref, other

    # Gamma-Gamma order value, split over Zipf-popular line items; since orders are in
    # timestamp order, line items come out sorted by (order_ts, order_id, line number)
    order_value = rng_order.gamma(prm.p, 1.0 / nu[ord_cust])
    extra = rng_order.poisson(st.extra_lines_mean, n_orders)
    n_lines_o = 1 + np.minimum(extra, st.max_lines - 1)
    n_lines = int(n_lines_o.sum())
    line_ord = np.repeat(np.arange(n_orders), n_lines_o)
    line_start = _segment_starts(n_lines_o)
    share = rng_order.standard_gamma(st.line_share_shape, n_lines)
    share /= np.bincount(line_ord, weights=share, minlength=n_orders)[line_ord]
    target = order_value[line_ord] * share
    del share, order_value
    # product: Zipf popularity restricted to products whose list price is at most
    # ``1.5 * target`` (price-sorted catalogue, so the eligible set is a prefix)
    n_eligible = np.maximum(np.searchsorted(cat.sorted_price, 1.5 * target, side="right"), 1)
    cdf_cap = cat.sorted_cdf[n_eligible - 1]
    pos = np.searchsorted(cat.sorted_cdf, rng_order.random(n_lines) * cdf_cap, side="right")
    pos = np.minimum(pos, n_eligible - 1)
    del n_eligible, cdf_cap
    # one line per product and order (so that clean rows are never exact duplicates): a line
    # repeating a product of an earlier line of its order moves to the next pricier product
    line_no = np.arange(n_lines) - line_start[line_ord]
    for _ in range(st.n_products):
        dup = np.zeros(n_lines, dtype=bool)
        for lag in range(1, int(n_lines_o.max(initial=1))):
            dup[lag:] |= (pos[lag:] == pos[:-lag]) & (line_no[lag:] >= lag)
        if not dup.any():
            break
        pos[dup] = (pos[dup] + 1) % st.n_products
    prod = cat.price_order[pos]
    del pos, line_no
    qty = np.clip(np.rint(target / cat.price[prod]), 1, st.max_quantity).astype(np.int64)
    unit_c = np.maximum(np.rint(target * 100.0 / qty), 1).astype(np.int64)
    del target

    # ---- cancellations ------------------------------------------------------------------
    c_ord = np.flatnonzero(rng_cancel.random(n_orders) < st.cancel_rate)
    c_line = line_start[c_ord] + np.floor(rng_cancel.random(c_ord.size) * n_lines_o[c_ord])
    c_line = c_line.astype(np.int64)
    c_qty = 1 + np.floor(rng_cancel.random(c_ord.size) * qty[c_line]).astype(np.int64)
    lo, hi = st.cancel_delay_days
    c_delay = np.floor((lo + (hi - lo) * rng_cancel.random(c_ord.size)) * SECONDS_PER_DAY)
    c_s = ord_s[c_ord] + c_delay.astype(np.int64)
    keep = c_s < window_s
    c_perm = np.lexsort((c_ord[keep], c_s[keep]))
    c_line, c_qty, c_s = c_line[keep][c_perm], c_qty[keep][c_perm], c_s[keep][c_perm]
    n_cancel = int(c_s.size)

    # ---- assemble rows: merge the (few) cancellations into the sorted line items ----------
    line_s = ord_s[line_ord]
    n_rows = n_lines + n_cancel
    is_cancel = np.zeros(n_rows, dtype=bool)
    is_cancel[np.searchsorted(line_s, c_s, side="right") + np.arange(n_cancel)] = True
    r_line = np.empty(n_rows, dtype=np.int64)
    r_line[~is_cancel] = np.arange(n_lines)
    r_line[is_cancel] = c_line
    r_s = np.empty(n_rows, dtype=np.int64)
    r_s[~is_cancel] = line_s
    r_s[is_cancel] = c_s
    r_qty = np.empty(n_rows, dtype=np.int64)
    r_qty[~is_cancel] = qty
    r_qty[is_cancel] = -c_qty
    del line_s, qty
    r_ord = line_ord[r_line]
    r_cust = ord_cust[r_ord]
    r_unit = unit_c[r_line]

    # ---- customer attributes ------------------------------------------------------------
    customer_id = _zfill(numbers, cfg.id_width, "C").alias("customer_id")
    country_idx = _categorical(rng_attr, tuple(c[2] for c in COUNTRIES), n)
    country_s = pl.Series([c[0] for c in COUNTRIES], dtype=pl.String)
    region_s = pl.Series([c[1] for c in COUNTRIES], dtype=pl.String)
    gender = _categorical(rng_attr, GENDER_WEIGHTS, n)
    first_names = pl.Series(names.FIRST_NAMES_F + names.FIRST_NAMES_M, dtype=pl.String)
    n_f, n_m = len(names.FIRST_NAMES_F), len(names.FIRST_NAMES_M)
    u_name = rng_attr.random(n)
    first_idx = np.where(
        gender == 0,
        np.floor(u_name * n_f),
        np.where(gender == 1, n_f + np.floor(u_name * n_m), np.floor(u_name * (n_f + n_m))),
    ).astype(np.int64)
    last_idx = rng_attr.integers(0, len(names.LAST_NAMES), n)
    domain_idx = rng_attr.integers(0, len(names.EMAIL_DOMAINS), n)
    phone_tail = rng_attr.integers(0, 100, n)
    age = st.age_min + (st.age_max - st.age_min) * rng_attr.beta(*st.age_beta, n)
    signup_epoch_day = (cfg.start - dt.date(1970, 1, 1)).days + signup_day
    birth_epoch_day = signup_epoch_day - np.ceil(age * 365.25).astype(np.int64)
    # income: log-normal, Gaussian-copula correlated with the customer's mean order value
    z_spend = -special.ndtri(np.clip(special.gammainc(prm.q, prm.gamma * nu), 1e-15, 1 - 1e-15))
    rho = st.income_spend_corr
    z_inc = rho * z_spend + math.sqrt(1.0 - rho * rho) * rng_attr.standard_normal(n)
    income = np.round(np.exp(math.log(st.income_median) + st.income_sigma * z_inc), 2)
    # industry: business customers are more frequent buyers and come through agents/partners
    u_rate = special.gammainc(prm.r, prm.alpha * lam)
    p_b2b = st.b2b_base + st.b2b_rate_slope * u_rate + st.b2b_agent_partner * np.isin(acq, (2, 4))
    is_b2b = rng_attr.random(n) < p_b2b
    b2b_idx = _categorical(rng_attr, tuple(w for _, w in B2B_INDUSTRIES), n)
    industries = pl.Series([CONSUMER_INDUSTRY] + [i for i, _ in B2B_INDUSTRIES], dtype=pl.String)
    industry_idx = np.where(is_b2b, 1 + b2b_idx, 0)

    first_name = first_names.gather(first_idx)
    last_name = pl.Series(names.LAST_NAMES, dtype=pl.String).gather(last_idx)
    customers = pl.DataFrame(
        {
            "customer_id": customer_id,
            "_first": first_name,
            "_last": last_name,
            "_num": pl.Series(numbers).cast(pl.String),
            "_domain": pl.Series(names.EMAIL_DOMAINS, dtype=pl.String).gather(domain_idx),
            "_phone": _zfill(phone_tail, 2),
            "signup_date": pl.Series(signup_epoch_day.astype(np.int32)).cast(pl.Date),
            "birth_date": pl.Series(birth_epoch_day.astype(np.int32)).cast(pl.Date),
            "gender": pl.Series(GENDERS, dtype=pl.String).gather(gender),
            "income": income,
            "region": region_s.gather(country_idx),
            "country": country_s.gather(country_idx),
            "industry": industries.gather(industry_idx),
            "acquisition_channel": pl.Series(ACQUISITION_CHANNELS).gather(acq),
        }
    ).select(
        "customer_id",
        pl.concat_str(["_first", "_last"], separator=" ").alias("name"),
        pl.concat_str(
            [
                pl.col("_first").str.to_lowercase(),
                pl.lit("."),
                pl.col("_last").str.to_lowercase(),
                pl.col("_num"),
                pl.lit("@"),
                pl.col("_domain"),
            ]
        ).alias("email"),
        ("+1-555-01" + pl.col("_phone")).alias("phone"),
        *list(CUSTOMER_SCHEMA)[4:],
    )

    # ---- transactions frame -------------------------------------------------------------
    ts_us = (cfg.start_epoch_s + r_s) * 1_000_000
    order_digits = _zfill(order_offset + 1 + r_ord, ORDER_ID_WIDTH)
    transactions = pl.DataFrame(
        {
            "customer_id": customer_id.gather(r_cust),
            "order_id": order_digits,
            "order_ts": pl.Series(ts_us).cast(pl.Datetime("us")),
            "product_id": cat.ids.gather(prod[r_line]),
            "quantity": pl.Series(r_qty.astype(np.int32)),
            "unit_price": r_unit / 100.0,
            "amount": (r_qty * r_unit) / 100.0,
            "channel": pl.Series(CHANNELS, dtype=pl.String).gather(ord_channel[r_ord]),
            "country": country_s.gather(country_idx[r_cust]),
        },
        schema=TRANSACTION_SCHEMA,
    )
    if n_cancel:
        transactions = transactions.with_columns(
            pl.when(pl.Series(is_cancel))
            .then("C" + pl.col("order_id"))
            .otherwise(pl.col("order_id"))
            .alias("order_id")
        )

    dirty_counts = dict.fromkeys(DIRTY_KINDS, 0)
    if cfg.dirty_rate > 0.0:
        transactions, dirty_counts = _add_dirty_rows(transactions, rng_dirty, cfg.dirty_rate)

    # ---- latent truth -------------------------------------------------------------------
    first_ts_us = np.where(purchaser, (cfg.start_epoch_s + first_s) * 1_000_000, 0)
    last_ts_us = np.where(purchaser, (cfg.start_epoch_s + last_s) * 1_000_000, 0)
    latent = pl.DataFrame(
        {
            "customer_id": customer_id,
            "is_potential": potential,
            "is_purchaser": purchaser,
            "first_purchase_ts": pl.Series(first_ts_us).cast(pl.Datetime("us")),
            "last_purchase_ts": pl.Series(last_ts_us).cast(pl.Datetime("us")),
            "t_x_days": (last_s - first_s) / SECONDS_PER_DAY,
            "T_days": (window_s - first_s) / SECONDS_PER_DAY,
            "T_operational": t_obs_op,
            "lam": lam,
            "p_dropout": p_drop,
            "nu": nu,
            "dropout_after": dropout_after,
            "n_repeat": np.where(purchaser, n_repeat, 0),
            "alive_at_end": alive_at_end,
            "preferred_channel": pl.Series(CHANNELS, dtype=pl.String).gather(pref),
            "channel_loyalty": loyalty,
        }
    ).with_columns(
        pl.when(pl.col("is_purchaser")).then(pl.col(c)).alias(c)
        for c in (
            "first_purchase_ts",
            "last_purchase_ts",
            "t_x_days",
            "T_days",
            "T_operational",
            "alive_at_end",
        )
    )

    counts = {
        "customers": n,
        "potential_customers": int(potential.sum()),
        "late_signups_without_purchase": int((~potential & ~purchaser).sum()),
        "purchasing_customers": int(purchaser.sum()),
        "orders": n_orders,
        "repeat_orders": int(n_orders - purchaser.sum()),
        "line_items": n_lines,
        "cancellations": n_cancel,
        "transactions": n_lines + n_cancel,
        "dirty_rows_total": int(sum(dirty_counts.values())),
        "rows_written": transactions.height,
        "alive_at_end": int(alive_at_end.sum()),
        **{f"dirty_{k}": v for k, v in dirty_counts.items()},
    }
    return _Chunk(customers, transactions, latent, counts)


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


def _add_dirty_rows(
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


# --------------------------------------------------------------------------------------------
# drivers


def _iter_chunks(cfg: _Config) -> Iterator[_Chunk]:
    cat = _catalogue(cfg)
    order_offset = 0
    for i in range(cfg.n_chunks):
        first = 1 + i * cfg.chunk_customers
        n = min(cfg.chunk_customers, cfg.n_customers - (first - 1))
        t0 = time.perf_counter()
        chunk = _simulate_chunk(cfg, cat, i, first, n, order_offset)
        order_offset += chunk.counts["orders"]
        logger.info(
            "chunk %d/%d: %d customers, %d rows in %.2fs",
            i + 1,
            cfg.n_chunks,
            n,
            chunk.transactions.height,
            time.perf_counter() - t0,
        )
        yield chunk


def _sum_counts(total: dict[str, int], add: dict[str, int]) -> dict[str, int]:
    for key, value in add.items():
        total[key] = total.get(key, 0) + value
    return total


def _true_params(cfg: _Config, counts: dict[str, int]) -> dict[str, Any]:
    prm, st = cfg.params, cfg.settings
    month, day = st.seasonality_peak_month_day
    dirty = {k: counts.get(f"dirty_{k}", 0) for k in DIRTY_KINDS}
    plain_counts = {k: v for k, v in counts.items() if not k.startswith("dirty_")}
    plain_counts["dirty_rows_total"] = counts.get("dirty_rows_total", 0)
    settings = dataclasses.asdict(st)
    return {
        "generator": "synthetic.generate",
        "generator_version": GENERATOR_VERSION,
        "seed": cfg.seed,
        "time_unit": "days",
        "window": {
            "start": cfg.start.isoformat(),
            "end": cfg.end.isoformat(),
            "end_exclusive": (cfg.end + dt.timedelta(days=1)).isoformat(),
            "days": cfg.window_days,
        },
        "bgnbd": {"r": prm.r, "alpha": prm.alpha, "a": prm.a, "b": prm.b},
        "gamma_gamma": {"p": prm.p, "q": prm.q, "gamma": prm.gamma},
        "seasonality": {
            "amplitude": cfg.seasonality,
            "peak_month_day": f"{month:02d}-{day:02d}",
            "period_days": st.seasonality_period_days,
            "exact_bgnbd_in_calendar_time": cfg.seasonality == 0.0,
        },
        "potential_share": cfg.potential_share,
        "cancel_rate": st.cancel_rate,
        "dirty_rate": cfg.dirty_rate,
        "chunk_customers": cfg.chunk_customers,
        "counts": plain_counts,
        "dirty_rows": dirty,
        "transactions_all_strings": cfg.dirty_rate > 0.0,
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
        "channels": {
            "transaction": list(CHANNELS),
            "acquisition": dict(zip(ACQUISITION_CHANNELS, ACQUISITION_WEIGHTS, strict=True)),
            "preferred_given_acquisition": {
                acq: dict(zip(CHANNELS, row, strict=True))
                for acq, row in zip(
                    ACQUISITION_CHANNELS, PREFERRED_CHANNEL_GIVEN_ACQUISITION, strict=True
                )
            },
        },
    }


def simulate(
    n_customers: int,
    seed: int = 42,
    start: str | dt.date = DEFAULT_START,
    end: str | dt.date = DEFAULT_END,
    seasonality: float = 0.2,
    dirty_rate: float = 0.0,
    potential_share: float = 0.08,
    params: ProcessParams | Mapping[str, Any] | None = None,
    *,
    chunk_customers: int = DEFAULT_CHUNK_CUSTOMERS,
    settings: Settings | None = None,
) -> Simulation:
    """Simulate customers and transactions in memory.

    The result equals what :func:`write` stores for the same arguments (including
    ``chunk_customers``, which determines the per-chunk random streams).

    Args:
        n_customers: Number of customers (potential ones included).
        seed: Non-negative integer seed.
        start: First day of the observation window (ISO date or ``date``).
        end: Last day of the observation window, inclusive.
        seasonality: Amplitude ``A`` in ``[0, 1)`` of the yearly intensity modulation;
            ``0`` gives an exact BG/NBD in calendar days.
        dirty_rate: Expected share of extra dirty rows (> 0 makes every transaction column a
            string).
        potential_share: Share of customers who sign up but never purchase.
        params: :class:`ProcessParams`, or a mapping (flat ``{"r": ...}`` or nested
            ``{"bgnbd": {...}, "gamma_gamma": {...}}``) overriding defaults.
        chunk_customers: Customers per independently seeded chunk.
        settings: Secondary :class:`Settings`.

    Returns:
        A :class:`Simulation`.
    """
    cfg = _make_config(
        n_customers,
        seed,
        start,
        end,
        seasonality,
        dirty_rate,
        potential_share,
        params,
        chunk_customers,
        settings,
    )
    customers, transactions, latent = [], [], []
    counts: dict[str, int] = {}
    for chunk in _iter_chunks(cfg):
        customers.append(chunk.customers)
        transactions.append(chunk.transactions)
        latent.append(chunk.latent)
        _sum_counts(counts, chunk.counts)
    return Simulation(
        customers=pl.concat(customers),
        transactions=pl.concat(transactions),
        true_params=_true_params(cfg, counts),
        latent=pl.concat(latent),
    )


def write(
    out_dir: str | Path,
    n_customers: int,
    seed: int = 42,
    start: str | dt.date = DEFAULT_START,
    end: str | dt.date = DEFAULT_END,
    seasonality: float = 0.2,
    dirty_rate: float = 0.0,
    potential_share: float = 0.08,
    params: ProcessParams | Mapping[str, Any] | None = None,
    *,
    chunk_customers: int = DEFAULT_CHUNK_CUSTOMERS,
    settings: Settings | None = None,
    write_latent: bool = False,
    compression: str = "zstd",
) -> dict[str, Any]:
    """Simulate chunk by chunk and stream the result to Parquet files.

    Writes ``customers.parquet``, ``transactions/part-NNNNN.parquet`` (one part per chunk,
    sorted by ``order_ts``), ``true_params.json`` and, with ``write_latent``,
    ``latent.parquet``.  Existing ``part-*.parquet`` files in ``transactions/`` are removed.

    Args:
        out_dir: Output directory (created if missing).
        n_customers: Number of customers.
        seed: Non-negative integer seed.
        start: First day of the window.
        end: Last day of the window, inclusive.
        seasonality: Seasonal amplitude in ``[0, 1)``.
        dirty_rate: Expected share of extra dirty rows.
        potential_share: Share of customers who never purchase.
        params: Process parameters (see :func:`simulate`).
        chunk_customers: Customers per chunk; bounds memory.
        settings: Secondary :class:`Settings`.
        write_latent: Also write the per-customer latent truth.
        compression: Parquet compression codec.

    Returns:
        The ``true_params`` dictionary written to ``true_params.json``.
    """
    cfg = _make_config(
        n_customers,
        seed,
        start,
        end,
        seasonality,
        dirty_rate,
        potential_share,
        params,
        chunk_customers,
        settings,
    )
    out = Path(out_dir)
    tx_dir = out / "transactions"
    tx_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*tx_dir.glob("part-*.parquet"), out / "latent.parquet"]:
        stale.unlink(missing_ok=True)
    writers: dict[str, pq.ParquetWriter] = {}
    counts: dict[str, int] = {}
    t0 = time.perf_counter()

    def _write_chunk(i: int, chunk: _Chunk) -> None:
        chunk.transactions.write_parquet(
            tx_dir / f"part-{i:05d}.parquet", compression=compression, statistics=True
        )
        frames = {"customers": chunk.customers}
        if write_latent:
            frames["latent"] = chunk.latent
        for name_, frame in frames.items():
            table = frame.to_arrow()
            if name_ not in writers:
                writers[name_] = pq.ParquetWriter(
                    out / f"{name_}.parquet", table.schema, compression=compression
                )
            writers[name_].write_table(table)

    # Chunk i is written by one background thread while chunk i + 1 is simulated (numpy and
    # polars release the GIL); at most two chunks are held in memory.
    pending: Future[None] | None = None
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-writer") as pool:
            for i, chunk in enumerate(_iter_chunks(cfg)):
                if pending is not None:
                    pending.result()
                pending = pool.submit(_write_chunk, i, chunk)
                _sum_counts(counts, chunk.counts)
                del chunk
            if pending is not None:
                pending.result()
    finally:
        for writer in writers.values():
            writer.close()
    true_params = _true_params(cfg, counts)
    (out / "true_params.json").write_text(json.dumps(true_params, indent=2) + "\n")
    logger.info(
        "wrote %d customers, %d transaction rows to %s in %.1fs",
        counts.get("customers", 0),
        counts.get("rows_written", 0),
        out,
        time.perf_counter() - t0,
    )
    return true_params


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (``python -m synthetic.generate``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, required=True, help="number of customers")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--start", default=DEFAULT_START, help="first day (ISO date)")
    parser.add_argument("--end", default=DEFAULT_END, help="last day, inclusive (ISO date)")
    parser.add_argument("--seasonality", type=float, default=0.2, help="amplitude in [0, 1)")
    parser.add_argument("--dirty-rate", type=float, default=0.002)
    parser.add_argument("--potential-share", type=float, default=0.08)
    parser.add_argument("--chunk-customers", type=int, default=DEFAULT_CHUNK_CUSTOMERS)
    parser.add_argument("--write-latent", action="store_true", help="also write latent.parquet")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings")
    args = parser.parse_args(argv)

    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(show_path=False)],
    )
    t0 = time.perf_counter()
    params = write(
        args.out,
        args.customers,
        seed=args.seed,
        start=args.start,
        end=args.end,
        seasonality=args.seasonality,
        dirty_rate=args.dirty_rate,
        potential_share=args.potential_share,
        chunk_customers=args.chunk_customers,
        write_latent=args.write_latent,
    )
    c = params["counts"]
    print(
        f"{c['customers']} customers ({c['purchasing_customers']} purchasing), "
        f"{c['orders']} orders, {c['transactions']} transactions, "
        f"{c['cancellations']} cancellations, {c['dirty_rows_total']} dirty rows "
        f"-> {args.out} in {time.perf_counter() - t0:.1f}s"
    )


if __name__ == "__main__":
    main()
