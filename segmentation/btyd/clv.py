"""Customer lifetime value from fitted BTYD models, and a run-rate fallback.

:func:`bgnbd_gamma_gamma_predictions` gives everything a snapshot needs from fitted BG/NBD and
Gamma-Gamma models in one pass: the hypergeometric part of the conditional expectation depends on
(x, T, t) only, so it is evaluated once per distinct (x, T) pair for all horizons together and
broadcast back to the customers. :func:`clv_12m` is the discounted margin over the next months
under BG/NBD or Pareto/NBD with Gamma-Gamma spend; :func:`simple_clv_12m` is the fallback for
snapshots whose models could not be fitted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from segmentation.btyd.bgnbd import (
    BGNBD_PARAMS,
    bgnbd_alive_expectation,
    bgnbd_log_odds_dead,
    p_alive_from_log_odds,
)
from segmentation.btyd.data import (
    as_1d_float,
    check_params,
    require_finite,
    unique_rows,
    validate_rfm,
)
from segmentation.btyd.gamma_gamma import gamma_gamma_conditional_expected_spend
from segmentation.btyd.pareto_nbd import PARETO_NBD_PARAMS, pnbd_alive_expectation, pnbd_pieces
from segmentation.btyd.special import FloatArray

DAYS_PER_MONTH = 365.0 / 12.0
"""Month length used by the CLV helpers: 365/12 = 30.4167 days (12 months = 365 days)."""


def _discount_factors(months: int, monthly_discount_rate: float) -> FloatArray:
    if not (math.isfinite(monthly_discount_rate) and monthly_discount_rate > -1.0):
        raise ValueError("monthly_discount_rate must be finite and > -1")
    if months < 1:
        raise ValueError("months must be >= 1")
    return (1.0 + monthly_discount_rate) ** -np.arange(1, months + 1, dtype=np.float64)


def _clv_checks(margin: float, days_per_month: float) -> None:
    if not math.isfinite(margin):
        raise ValueError("margin must be finite")
    if not (math.isfinite(days_per_month) and days_per_month > 0):
        raise ValueError("days_per_month must be > 0")


def _horizon_grid(values: FloatArray) -> tuple[FloatArray, NDArray[np.intp]]:
    """Distinct horizons and the index of every value in them; values within 1e-9 (relative) of
    each other share the smallest, so that e.g. 12 months of 365/12 days and 365 days are one
    evaluation."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    new = np.ones(ordered.size, dtype=bool)
    new[1:] = ordered[1:] - ordered[:-1] > 1e-9 * np.maximum(ordered[1:], 1.0)
    index = np.empty(values.size, dtype=np.intp)
    index[order] = np.cumsum(new) - 1
    return ordered[new], index


def _alive_table(
    fn: Callable[[FloatArray, FloatArray, FloatArray], FloatArray],
    x: FloatArray,
    T: FloatArray,
    horizons: FloatArray,
) -> tuple[FloatArray, NDArray[np.intp]]:
    """``fn(x, T, t)`` (expected purchases in (T, T+t] given alive, a function of (x, T, t)
    only) for every distinct (x, T) pair and every horizon in one vectorised call: ``(table of
    shape (pairs, horizons), inverse)``, with ``table[inverse]`` one row per customer."""
    (xu, Tu), inverse = unique_rows(x, T)
    k = horizons.size
    values = fn(np.repeat(xu, k), np.repeat(Tu, k), np.tile(horizons, xu.size))
    return values.reshape(xu.size, k), inverse


def _discounted_purchases(
    cumulative: FloatArray, months: int, monthly_discount_rate: float
) -> FloatArray:
    """sum_k (E[Y(k d)] - E[Y((k-1) d)]) / (1 + i)^k per row of the cumulative expectations."""
    increments = np.diff(cumulative, axis=1, prepend=0.0)
    return np.einsum("ij,j->i", increments, _discount_factors(months, monthly_discount_rate))


def clv_12m(
    purchase_params: Mapping[str, float],
    spend_params: Mapping[str, float],
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    m: ArrayLike,
    *,
    margin: float,
    monthly_discount_rate: float,
    months: int = 12,
    days_per_month: float = DAYS_PER_MONTH,
) -> FloatArray:
    """Expected discounted margin over the next ``months`` months (default 12), per customer.

    ``CLV = sum_{k=1..months} (E[Y(k d)] - E[Y((k-1) d)]) * E[M | x, m] * margin / (1 + i)^k`` with
    d = ``days_per_month`` (365/12 = 30.4167 days, so 12 months = 365 days), E[Y(t)] the conditional
    expected purchases from the purchase model and E[M | x, m] the Gamma-Gamma expected spend per
    purchase; month k's purchases are discounted as if they fall at the end of month k.

    Args:
        purchase_params: BG/NBD params (``r, alpha, a, b``) or Pareto/NBD params
            (``r, alpha, s, beta``); the model is chosen by the keys.
        spend_params: Gamma-Gamma params ``p, q, gamma``.
        x: Repeat purchase days.
        t_x: Recency (days).
        T: Age (days).
        m: Mean repeat-purchase value (ignored where x == 0, the population mean is used).
        margin: Margin applied to spend (e.g. 0.3 for 30 %).
        monthly_discount_rate: Discount rate per month (e.g. 0.01).
        months: Horizon in months.
        days_per_month: Month length in days.

    Returns:
        CLV per customer; NaN where the expected spend is undefined (Gamma-Gamma q <= 1 and x == 0).
    """
    _clv_checks(margin, days_per_month)
    _discount_factors(months, monthly_discount_rate)
    if set(BGNBD_PARAMS) <= set(purchase_params):
        return bgnbd_gamma_gamma_predictions(
            purchase_params,
            spend_params,
            x,
            t_x,
            T,
            m,
            horizons=(),
            margin=margin,
            monthly_discount_rate=monthly_discount_rate,
            months=months,
            days_per_month=days_per_month,
        ).clv
    if not set(PARETO_NBD_PARAMS) <= set(purchase_params):
        raise ValueError(
            f"purchase_params must hold BG/NBD {list(BGNBD_PARAMS)} or Pareto/NBD "
            f"{list(PARETO_NBD_PARAMS)} parameters, got {sorted(purchase_params)}"
        )
    xa, ta, Ta = validate_rfm(x, t_x, T)
    spend = gamma_gamma_conditional_expected_spend(spend_params, xa, m)
    r, alpha, s, beta = check_params(purchase_params, PARETO_NBD_PARAMS, "pareto_nbd")
    p_alive = np.exp(pnbd_pieces(r, alpha, s, beta, xa, ta, Ta)[1])
    cumulative, inverse = _alive_table(
        lambda xs, Ts, ts: pnbd_alive_expectation(r, alpha, s, beta, xs, Ts, ts),
        xa,
        Ta,
        days_per_month * np.arange(1, months + 1, dtype=np.float64),
    )
    discounted = _discounted_purchases(cumulative, months, monthly_discount_rate)
    return discounted[inverse] * p_alive * spend * margin


@dataclass(frozen=True)
class ClvPredictions:
    """Per-customer predictions of :func:`bgnbd_gamma_gamma_predictions`.

    Attributes:
        p_alive: P(alive | x, t_x, T) (BG/NBD).
        expected_purchases: E[Y(t) | x, t_x, T], one row per requested horizon (shape
            ``(len(horizons), customers)``).
        expected_spend: E[M | x, m] (Gamma-Gamma).
        clv: Discounted margin over the horizon in months, as :func:`clv_12m`.
    """

    p_alive: FloatArray
    expected_purchases: FloatArray
    expected_spend: FloatArray
    clv: FloatArray


def bgnbd_gamma_gamma_predictions(
    purchase_params: Mapping[str, float],
    spend_params: Mapping[str, float],
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    m: ArrayLike,
    *,
    horizons: ArrayLike,
    margin: float,
    monthly_discount_rate: float,
    months: int = 12,
    days_per_month: float = DAYS_PER_MONTH,
) -> ClvPredictions:
    """Everything a snapshot needs from fitted BG/NBD and Gamma-Gamma models, in one pass.

    The same values as :func:`bgnbd_p_alive`, :func:`bgnbd_conditional_expected_purchases` (per
    horizon), :func:`gamma_gamma_conditional_expected_spend` and :func:`clv_12m`, for a fraction of
    the cost of calling them one by one: the inputs are validated once, P(alive) is computed once,
    and the hypergeometric part (a function of (x, T, t) only) is evaluated once per distinct
    (x, T) pair for all horizons together (the requested ones and the monthly ones of the CLV;
    horizons within 1e-9 of each other, like 365 days and 12 months of 365/12 days, share one
    evaluation), then broadcast back to the customers.

    Args:
        purchase_params: BG/NBD params ``r, alpha, a, b`` (alpha in days).
        spend_params: Gamma-Gamma params ``p, q, gamma``.
        x: Repeat purchase days.
        t_x: Recency (days).
        T: Age (days).
        m: Mean repeat-purchase value (ignored where x == 0).
        horizons: Horizons in days for the expected purchases (may be empty).
        margin: Margin applied to spend.
        monthly_discount_rate: Discount rate per month.
        months: CLV horizon in months.
        days_per_month: Month length in days.

    Returns:
        :class:`ClvPredictions`, arrays aligned with the customers.
    """
    _clv_checks(margin, days_per_month)
    _discount_factors(months, monthly_discount_rate)
    r, alpha, a, b = check_params(purchase_params, BGNBD_PARAMS, "bgnbd")
    xa, ta, Ta = validate_rfm(x, t_x, T)
    spend = gamma_gamma_conditional_expected_spend(spend_params, xa, m)
    hs = as_1d_float("horizons", horizons)
    require_finite("horizons", hs)
    if (hs < 0).any():
        raise ValueError("horizons must be >= 0")
    p_alive = p_alive_from_log_odds(bgnbd_log_odds_dead(r, alpha, a, b, xa, ta, Ta))
    monthly = days_per_month * np.arange(1, months + 1, dtype=np.float64)
    grid, index = _horizon_grid(np.concatenate([hs, monthly]))
    table, inverse = _alive_table(
        lambda xs, Ts, ts: bgnbd_alive_expectation(r, alpha, a, b, xs, Ts, ts), xa, Ta, grid
    )
    discounted = _discounted_purchases(table[:, index[hs.size :]], months, monthly_discount_rate)
    return ClvPredictions(
        p_alive=p_alive,
        expected_purchases=np.ascontiguousarray(table[:, index[: hs.size]].T).take(inverse, axis=1)
        * p_alive,
        expected_spend=spend,
        clv=discounted.take(inverse) * p_alive * spend * margin,
    )


def simple_clv_12m(
    total_spend: ArrayLike,
    T: ArrayLike,
    t_x: ArrayLike | None = None,
    *,
    margin: float,
    monthly_discount_rate: float,
    months: int = 12,
    days_per_month: float = DAYS_PER_MONTH,
    min_tenure_days: float = 90.0,
    inactive_after_days: float = 365.0,
) -> FloatArray:
    """Fallback CLV for snapshots where the probabilistic models could not be fitted.

    Run rate of the customer's own history, continued for ``months`` months and discounted:

    ``CLV = total_spend / max(T, min_tenure_days) * days_per_month * margin
    * sum_{k=1..months} (1 + i)^-k``,

    and 0 for customers considered lapsed: ``T - t_x > inactive_after_days`` (needs ``t_x``). The
    tenure floor keeps one recent purchase from being extrapolated into a purchase every month.
    Deliberately simple and transparent; it ignores dropout beyond the lapse rule, so it is an upper
    bound-ish estimate for active customers.

    Args:
        total_spend: Total spend of the customer up to the as-of day (first purchase included).
        T: Age in days (first purchase day to as-of day).
        t_x: Recency in days (optional; enables the lapse rule).
        margin: Margin applied to spend.
        monthly_discount_rate: Discount rate per month.
        months: Horizon in months.
        days_per_month: Month length in days (365/12).
        min_tenure_days: Floor on the tenure used as denominator.
        inactive_after_days: Days without purchase after which a customer counts as lapsed.

    Returns:
        CLV per customer.
    """
    spend = as_1d_float("total_spend", total_spend)
    Ta = as_1d_float("T", T)
    if spend.shape != Ta.shape:
        raise ValueError("total_spend and T must have the same length")
    require_finite("total_spend", spend)
    require_finite("T", Ta)
    if (Ta < 0).any():
        raise ValueError("T must be >= 0")
    if not (min_tenure_days > 0 and days_per_month > 0 and math.isfinite(margin)):
        raise ValueError("min_tenure_days and days_per_month must be > 0, margin finite")
    annuity = float(_discount_factors(months, monthly_discount_rate).sum())
    monthly = spend / np.maximum(Ta, min_tenure_days) * days_per_month
    clv = monthly * margin * annuity
    if t_x is not None:
        ta = as_1d_float("t_x", t_x)
        if ta.shape != Ta.shape:
            raise ValueError("t_x and T must have the same length")
        require_finite("t_x", ta)
        if (ta > Ta).any() or (ta < 0).any():
            raise ValueError("t_x must satisfy 0 <= t_x <= T")
        clv = np.where(Ta - ta > inactive_after_days, 0.0, clv)
    return clv
