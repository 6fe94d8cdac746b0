"""The generator's parameters: the true BG/NBD and Gamma-Gamma parameters, the secondary
settings recorded in ``true_params.json``, the parameters of the events and feedback drawn
beside the purchases, and the validated configuration of one run."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from synthetic.category_settings import CategorySettings
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


#: Latent satisfaction classes, in the order of every per-class tuple below.
SATISFACTION_CLASSES: tuple[str, ...] = ("promoter", "passive", "detractor")


@dataclass(frozen=True)
class EngagementSettings:
    """True parameters of the events (web, app, store visits, e-mails) drawn beside purchases.

    Shopping sessions: while a purchasing customer is alive, sessions that end without a
    purchase arrive as a Poisson process of rate ``lambda * (1 - browse_to_buy) /
    browse_to_buy`` (in the seasonal operational time of the purchases) and every order comes
    with its own converting session, so a session of an alive customer ends in a purchase with
    probability ``browse_to_buy`` (Poisson thinning read backwards).  After the dropout the
    browsing rate decays as ``exp(-days / fade_days)``.

    Attributes:
        browse_to_buy: Probability that a shopping session of an alive customer is a purchase.
        views_extra_mean: Mean Poisson number of product views beyond the first in a browsing
            session.
        converting_extra_views_mean: Mean Poisson number of views of other products in a
            converting session (besides one view per product bought).
        cart_add_share: Probability that a browsing session puts its last viewed product in the
            cart (a converting session puts every product bought in the cart).
        event_gap_seconds_mean: Mean gap between two events of a session, beyond one second.
        first_purchase_sessions_mean: Mean Poisson number of sessions between signup and the
            first purchase, besides the session of the signup itself.
        never_buyer_session_rate: Sessions per day of a customer who never buys, while
            interested.
        never_buyer_interest_days: Mean (exponential) length of that interest after signup.
        fade_days: Time constant of the decay of browsing and e-mail opens after the dropout
            (or after a never-buyer's interest ends).
        app_user_share: Share of customers who browse mostly in the app.
        app_share_of_app_users: Share of an app user's sessions in the app (others: web).
        app_share_of_others: Share of the other customers' sessions in the app.
        email_optin_share: Share of customers who receive marketing e-mails.
        campaign_interval_days: Days between two e-mail campaigns.
        campaign_weekday: Weekday of the first campaign (Monday = 0).
        campaign_hour: Hour (UTC) at which a campaign starts sending.
        send_spread_hours: A recipient's delivery is uniform over this many hours after it.
        open_rate: Mean of the per-customer Beta probability of opening an e-mail while
            engaged: opens / sends.
        open_concentration: ``alpha + beta`` of that Beta distribution.
        open_delay_hours_mean: Mean exponential delay from delivery to open.
        click_rate: Mean of the per-customer Beta probability of clicking an opened e-mail:
            clicks / opens.
        click_concentration: ``alpha + beta`` of that Beta distribution.
        unsubscribe_share: Per satisfaction class (promoter, passive, detractor), the share of
            e-mail recipients who unsubscribe, right after one of their deliveries chosen
            uniformly.
    """

    browse_to_buy: float = 0.25
    views_extra_mean: float = 2.0
    converting_extra_views_mean: float = 1.0
    cart_add_share: float = 0.2
    event_gap_seconds_mean: float = 45.0
    first_purchase_sessions_mean: float = 1.0
    never_buyer_session_rate: float = 0.1
    never_buyer_interest_days: float = 30.0
    fade_days: float = 30.0
    app_user_share: float = 0.35
    app_share_of_app_users: float = 0.8
    app_share_of_others: float = 0.1
    email_optin_share: float = 0.8
    campaign_interval_days: int = 7
    campaign_weekday: int = 1
    campaign_hour: float = 9.0
    send_spread_hours: float = 3.0
    open_rate: float = 0.22
    open_concentration: float = 3.0
    open_delay_hours_mean: float = 8.0
    click_rate: float = 0.12
    click_concentration: float = 4.0
    unsubscribe_share: tuple[float, float, float] = (0.05, 0.10, 0.20)

    def check(self) -> None:
        """Raise ``ValueError`` when a setting is out of range."""
        shares = {
            "browse_to_buy": self.browse_to_buy,
            "open_rate": self.open_rate,
            "click_rate": self.click_rate,
        }
        for name_, value in shares.items():
            if not 0.0 < value < 1.0:
                raise ValueError(f"engagement {name_} must be in (0, 1), got {value}")
        probabilities = {
            "cart_add_share": self.cart_add_share,
            "app_user_share": self.app_user_share,
            "app_share_of_app_users": self.app_share_of_app_users,
            "app_share_of_others": self.app_share_of_others,
            "email_optin_share": self.email_optin_share,
            **{f"unsubscribe_share[{i}]": v for i, v in enumerate(self.unsubscribe_share)},
        }
        for name_, value in probabilities.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"engagement {name_} must be in [0, 1], got {value}")
        positive = {
            "event_gap_seconds_mean": self.event_gap_seconds_mean,
            "never_buyer_interest_days": self.never_buyer_interest_days,
            "fade_days": self.fade_days,
            "campaign_interval_days": self.campaign_interval_days,
            "open_delay_hours_mean": self.open_delay_hours_mean,
            "open_concentration": self.open_concentration,
            "click_concentration": self.click_concentration,
        }
        for name_, value in positive.items():
            if not value > 0:
                raise ValueError(f"engagement {name_} must be positive, got {value}")
        if len(self.unsubscribe_share) != len(SATISFACTION_CLASSES):
            raise ValueError("engagement unsubscribe_share needs one share per class")
        if not 0 <= self.campaign_weekday <= 6 or not 0.0 <= self.campaign_hour < 24.0:
            raise ValueError("engagement campaign_weekday / campaign_hour out of range")


@dataclass(frozen=True)
class FeedbackSettings:
    """True parameters of the latent satisfaction classes and of the feedback that reveals
    them.

    Every customer has a latent class (promoter, passive, detractor) with the shares
    ``class_shares``; a detractor's BG/NBD dropout probability is on average
    ``detractor_dropout_factor`` times a promoter's (see :mod:`synthetic.satisfaction`).
    After each order the customer may answer an NPS survey (invited with ``nps_survey_rate``,
    answering with ``nps_response_rate``), a CSAT survey, write a review, or complain; scores
    are drawn from the class's distribution, an NPS answer from an adjacent class's with
    probability ``nps_noise``.

    Attributes:
        class_shares: Shares of promoters, passives and detractors (sum 1).
        detractor_dropout_factor: Mean dropout probability of detractors / of promoters.
        nps_survey_rate: Probability that an order is followed by an NPS survey.
        nps_response_rate: Probability that a survey is answered.
        nps_noise: Probability that an answer comes from an adjacent class's distribution
            (promoter and detractor -> passive, passive -> promoter or detractor, half each).
        nps_weights: Per class, the weights of the NPS scores 0..10.
        csat_survey_rate: Probability that an order is followed by a CSAT survey.
        csat_response_rate: Probability that a CSAT survey is answered.
        csat_weights: Per class, the weights of the CSAT scores 1..5.
        review_rate: Probability that an order is followed by a review.
        review_weights: Per class, the weights of the review ratings 1..5.
        complaint_rate: Per class, the probability that an order is followed by a complaint.
        topic_share: Probability that a survey answer or review names a topic.
        nps_delay_days: Range of the delay from order to NPS answer.
        csat_delay_days: Range of the delay from order to CSAT answer.
        review_delay_days: Range of the delay from order to review.
        complaint_delay_days: Range of the delay from order to complaint.
    """

    class_shares: tuple[float, float, float] = (0.45, 0.30, 0.25)
    detractor_dropout_factor: float = 2.0
    nps_survey_rate: float = 0.3
    nps_response_rate: float = 0.3
    nps_noise: float = 0.1
    nps_weights: tuple[tuple[float, ...], ...] = (
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0.45, 0.55),
        (0, 0, 0, 0, 0, 0, 0, 0.5, 0.5, 0, 0),
        (0.04, 0.03, 0.05, 0.08, 0.12, 0.28, 0.40, 0, 0, 0, 0),
    )
    csat_survey_rate: float = 0.2
    csat_response_rate: float = 0.3
    csat_weights: tuple[tuple[float, ...], ...] = (
        (0.01, 0.02, 0.07, 0.30, 0.60),
        (0.03, 0.07, 0.25, 0.45, 0.20),
        (0.20, 0.25, 0.30, 0.18, 0.07),
    )
    review_rate: float = 0.03
    review_weights: tuple[tuple[float, ...], ...] = (
        (0.01, 0.02, 0.05, 0.22, 0.70),
        (0.03, 0.07, 0.25, 0.45, 0.20),
        (0.30, 0.25, 0.20, 0.15, 0.10),
    )
    complaint_rate: tuple[float, float, float] = (0.005, 0.02, 0.08)
    topic_share: float = 0.4
    nps_delay_days: tuple[float, float] = (1.0, 10.0)
    csat_delay_days: tuple[float, float] = (0.5, 3.0)
    review_delay_days: tuple[float, float] = (3.0, 30.0)
    complaint_delay_days: tuple[float, float] = (0.1, 20.0)

    def check(self) -> None:
        """Raise ``ValueError`` when a setting is out of range."""
        k = len(SATISFACTION_CLASSES)
        if len(self.class_shares) != k or not math.isclose(sum(self.class_shares), 1.0):
            raise ValueError(f"feedback class_shares must be {k} shares adding up to 1")
        if min(self.class_shares) <= 0.0:
            raise ValueError("feedback class_shares must be positive")
        if not (math.isfinite(self.detractor_dropout_factor) and self.detractor_dropout_factor > 0):
            raise ValueError("feedback detractor_dropout_factor must be positive")
        rates = {
            "nps_survey_rate": self.nps_survey_rate,
            "nps_response_rate": self.nps_response_rate,
            "nps_noise": self.nps_noise,
            "csat_survey_rate": self.csat_survey_rate,
            "csat_response_rate": self.csat_response_rate,
            "review_rate": self.review_rate,
            "topic_share": self.topic_share,
            **{f"complaint_rate[{i}]": v for i, v in enumerate(self.complaint_rate)},
        }
        for name_, value in rates.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"feedback {name_} must be in [0, 1], got {value}")
        for name_, table, width in (
            ("nps_weights", self.nps_weights, 11),
            ("csat_weights", self.csat_weights, 5),
            ("review_weights", self.review_weights, 5),
        ):
            if len(table) != k or any(len(row) != width for row in table):
                raise ValueError(f"feedback {name_} needs {k} rows of {width} weights")
            if any(min(row) < 0 or sum(row) <= 0 for row in table):
                raise ValueError(f"feedback {name_}: weights must be >= 0, not all 0")
        if len(self.complaint_rate) != k:
            raise ValueError("feedback complaint_rate needs one rate per class")
        for name_, (lo, hi) in (
            ("nps_delay_days", self.nps_delay_days),
            ("csat_delay_days", self.csat_delay_days),
            ("review_delay_days", self.review_delay_days),
            ("complaint_delay_days", self.complaint_delay_days),
        ):
            if not 0.0 <= lo <= hi:
                raise ValueError(f"feedback {name_} must be a range [low, high] of days >= 0")


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
    with_events: bool = False
    with_feedback: bool = False
    satisfaction_effect: bool = True
    engagement: EngagementSettings = EngagementSettings()
    feedback: FeedbackSettings = FeedbackSettings()
    with_categories: bool = False
    categories: CategorySettings = CategorySettings()

    @property
    def with_voice(self) -> bool:
        """Whether the run draws the satisfaction classes (for events, feedback or both)."""
        return self.with_events or self.with_feedback

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
    *,
    with_events: bool = False,
    with_feedback: bool = False,
    satisfaction_effect: bool = True,
    engagement: EngagementSettings | None = None,
    feedback: FeedbackSettings | None = None,
    with_categories: bool = False,
    categories: CategorySettings | None = None,
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
        with_events=bool(with_events),
        with_feedback=bool(with_feedback),
        satisfaction_effect=bool(satisfaction_effect),
        engagement=engagement or EngagementSettings(),
        feedback=feedback or FeedbackSettings(),
        with_categories=bool(with_categories),
        categories=categories or CategorySettings(),
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
    cfg.engagement.check()
    cfg.feedback.check()
    if cfg.with_categories:
        cfg.categories.check(cfg.settings.n_products, cfg.settings.max_lines)
    if cfg.with_voice and cfg.satisfaction_effect:
        # imported here: the class model reads this module's class names
        from synthetic.satisfaction import copula_rho

        prm, fb = cfg.params, cfg.feedback
        copula_rho(fb.detractor_dropout_factor, prm.a, prm.b, fb.class_shares)  # reachable?
    return cfg
