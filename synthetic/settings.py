"""The generator's parameters: the true BG/NBD and Gamma-Gamma parameters, the secondary
settings recorded in ``true_params.json``, and the validated configuration of one run."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from synthetic.population import MIN_CUSTOMER_ID_WIDTH
from synthetic.season import Season

SECONDS_PER_DAY = 86_400
DEFAULT_START = "2010-01-01"
DEFAULT_END = "2011-12-31"
DEFAULT_CHUNK_CUSTOMERS = 250_000


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


@dataclass(frozen=True)
class GeneratorConfig:
    """One run's validated arguments (see :func:`make_config`) and what follows from them."""

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
    def season(self) -> Season:
        month, day = self.settings.seasonality_peak_month_day
        peak = (dt.date(self.start.year, month, day) - self.start).days
        return Season(self.seasonality, float(peak), self.settings.seasonality_period_days)

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


def make_config(
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
) -> GeneratorConfig:
    """The arguments of ``simulate`` / ``write`` checked and resolved into one configuration.

    Raises:
        ValueError: An argument is out of range, or ``params`` names an unknown parameter.
    """
    cfg = GeneratorConfig(
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
