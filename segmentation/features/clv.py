"""Customer lifetime value for one snapshot: fit the BTYD models, predict per customer.

Conventions of the literature, time unit days: purchases on one day are one purchase; frequency
is the number of repeat purchase days, recency and age (T) are whole days from the first purchase
day to the last purchase day and to the as-of day; Gamma-Gamma uses the mean spend of the repeat
purchase days only. When a snapshot is degenerate (too few repeat buyers, or a fit that does not
converge) the snapshot is marked and CLV falls back to ``simple_clv_12m`` (the customer's own run
rate, see ``clv_models``).
"""

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from segmentation.btyd import (
    FitResult,
    bgnbd_gamma_gamma_predictions,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_pareto_nbd,
    gamma_gamma_population_mean,
    simple_clv_12m,
)
from segmentation.features.settings import ClvSettings

HORIZONS_DAYS = (30, 90, 365)
# Fallback: a customer whose last purchase is longer ago than this is taken as lapsed.
FALLBACK_INACTIVE_AFTER_DAYS = 365.0
FALLBACK_MIN_TENURE_DAYS = 90.0


@dataclass(frozen=True)
class SnapshotClv:
    """Predictions per customer, fitted parameters (long form) and a one-line fit summary."""

    customers: pl.DataFrame
    params: pl.DataFrame
    summary: dict[str, Any]
    degenerate_reason: str | None


def _param_rows(snapshot: date, fit: FitResult) -> list[dict[str, Any]]:
    rows = [{"parameter": name, "value": value} for name, value in fit.params.items()]
    rows += [
        {"parameter": "log_likelihood", "value": fit.log_likelihood},
        {"parameter": "n_customers", "value": float(fit.n_customers)},
        {"parameter": "converged", "value": 1.0 if fit.converged else 0.0},
        {"parameter": "time_unit_days", "value": 1.0},
    ]
    return [{"snapshot_date": snapshot, "model": fit.model, **row} for row in rows]


def _params_frame(snapshot: date, fits: list[FitResult]) -> pl.DataFrame:
    rows = [row for fit in fits for row in _param_rows(snapshot, fit)]
    return pl.DataFrame(
        rows,
        schema={
            "snapshot_date": pl.Date,
            "model": pl.Utf8,
            "parameter": pl.Utf8,
            "value": pl.Float64,
        },
    )


def _model_predictions(
    bgnbd: FitResult,
    gamma_gamma: FitResult,
    x: np.ndarray,
    t_x: np.ndarray,
    age: np.ndarray,
    m: np.ndarray,
    settings: ClvSettings,
) -> dict[str, np.ndarray]:
    # A repeat buyer whose repeat days were all free (m <= 0) has no usable spend: the
    # population mean stands in, which is what Gamma-Gamma predicts for x = 0.
    m_usable = np.where((x > 0) & (m > 0), m, gamma_gamma_population_mean(gamma_gamma.params))
    predicted = bgnbd_gamma_gamma_predictions(
        bgnbd.params,
        gamma_gamma.params,
        x,
        t_x,
        age,
        m_usable,
        horizons=HORIZONS_DAYS,
        margin=settings.margin,
        monthly_discount_rate=settings.monthly_discount_rate,
        months=settings.horizon_months,
    )
    out = {
        "p_alive": predicted.p_alive,
        "expected_spend": predicted.expected_spend,
        "clv_12m": predicted.clv,
    }
    for days, purchases in zip(HORIZONS_DAYS, predicted.expected_purchases, strict=True):
        out[f"expected_purchases_{days}d"] = purchases
    return out


def _fallback_predictions(
    gross: np.ndarray,
    purchase_days: np.ndarray,
    t_x: np.ndarray,
    age: np.ndarray,
    settings: ClvSettings,
) -> dict[str, np.ndarray]:
    lapsed = (age - t_x) > FALLBACK_INACTIVE_AFTER_DAYS
    rate = np.where(lapsed, 0.0, purchase_days / np.maximum(age, FALLBACK_MIN_TENURE_DAYS))
    out = {
        "p_alive": np.full(gross.size, np.nan),
        "expected_spend": gross / purchase_days,
        "clv_12m": simple_clv_12m(
            gross,
            age,
            t_x,
            margin=settings.margin,
            monthly_discount_rate=settings.monthly_discount_rate,
            months=settings.horizon_months,
            min_tenure_days=FALLBACK_MIN_TENURE_DAYS,
            inactive_after_days=FALLBACK_INACTIVE_AFTER_DAYS,
        ),
    }
    for days in HORIZONS_DAYS:
        out[f"expected_purchases_{days}d"] = rate * days
    return out


def _degenerate_reason(fits: list[FitResult]) -> str | None:
    failed = [f"{fit.model}: {fit.message}" for fit in fits if not fit.converged]
    return "; ".join(failed) or None


def clv_for_snapshot(behaviour: pl.DataFrame, snapshot: date, settings: ClvSettings) -> SnapshotClv:
    """Fit BG/NBD (+ Pareto/NBD) and Gamma-Gamma on one snapshot and predict every customer."""
    # the optimisers make thousands of tiny BLAS calls: threads cost more than they give
    with threadpool_limits(limits=1, user_api="blas"):
        return _clv_for_snapshot(behaviour, snapshot, settings)


def _buyer_column(frame: pl.DataFrame, name: str, rows: np.ndarray | None) -> np.ndarray:
    """A numeric column as float64 numpy (nulls as NaN), restricted to ``rows`` (None: all)."""
    values = frame.get_column(name).to_numpy()
    if rows is not None:
        values = values.take(rows)
    return values.astype(np.float64, copy=False)


def _clv_for_snapshot(
    behaviour: pl.DataFrame, snapshot: date, settings: ClvSettings
) -> SnapshotClv:
    # Only the few numeric columns are converted, and the buyers are picked in numpy: filtering
    # the wide behaviour frame would copy every column, strings included.
    purchase_days = _buyer_column(behaviour, "purchase_days", None)
    bought = purchase_days > 0
    rows = None if bought.all() else np.flatnonzero(bought)
    x = _buyer_column(behaviour, "frequency", rows)
    t_x = _buyer_column(behaviour, "recency", rows)
    age = _buyer_column(behaviour, "age_days", rows)
    m = _buyer_column(behaviour, "repeat_spend_mean", rows)

    bgnbd = fit_bgnbd(x, t_x, age, min_repeat_buyers=settings.min_repeat_buyers)
    spend_rows = (x > 0) & (m > 0)
    gamma_gamma = fit_gamma_gamma(
        x[spend_rows], m[spend_rows], min_repeat_buyers=settings.min_repeat_buyers
    )
    fits = [bgnbd, gamma_gamma]
    if settings.fit_pareto_nbd:
        fits.insert(1, fit_pareto_nbd(x, t_x, age, min_repeat_buyers=settings.min_repeat_buyers))

    reason = _degenerate_reason([bgnbd, gamma_gamma])
    predictions = None
    if reason is None:
        try:
            predictions = _model_predictions(bgnbd, gamma_gamma, x, t_x, age, m, settings)
            method = "bgnbd_gamma_gamma"
        except (ArithmeticError, ValueError) as error:
            # numerically extreme fitted parameters: mark the snapshot rather than fail the run
            reason = f"predictions failed at the fitted parameters: {error!r}"
    if predictions is None:
        gross = _buyer_column(behaviour, "gross_revenue", rows)
        days = purchase_days if rows is None else purchase_days.take(rows)
        predictions = _fallback_predictions(gross, days, t_x, age, settings)
        method = "simple_fallback"

    customers = behaviour.select(
        "snapshot_date",
        "customer_id",
        _scatter("p_alive", predictions["p_alive"], rows, bought, None, nan_to_null=True),
        *(
            _scatter(name, predictions[name], rows, bought, 0.0)
            for name in (f"expected_purchases_{days}d" for days in HORIZONS_DAYS)
        ),
        _scatter("expected_spend", predictions["expected_spend"], rows, bought, None),
        _scatter("clv_12m", predictions["clv_12m"], rows, bought, 0.0),
        pl.Series("clv_method", [method, "none"], dtype=pl.Utf8).gather(
            pl.Series(~bought, dtype=pl.UInt32)
        ),
    )
    summary = {
        "snapshot_date": str(snapshot),
        "customers": behaviour.height,
        "buyers": x.size,
        "repeat_buyers": int(np.count_nonzero(x)),
        "method": method,
        **{f"{fit.model}_converged": fit.converged for fit in fits},
        "note": reason or "",
    }
    return SnapshotClv(
        customers=customers,
        params=_params_frame(snapshot, fits),
        summary=summary,
        degenerate_reason=reason,
    )


def _scatter(
    name: str,
    values: np.ndarray,
    rows: np.ndarray | None,
    bought: np.ndarray,
    others: float | None,
    *,
    nan_to_null: bool = False,
) -> pl.Series:
    """A Float64 column over all customers: ``values`` for the buyers (``rows``), ``others``
    (null for None) for the customers who never bought; NaN becomes null if asked."""
    if rows is None:
        return pl.Series(name, values, dtype=pl.Float64, nan_to_null=nan_to_null)
    full = np.full(bought.size, np.nan if others is None else others)
    full[rows] = values
    if others is not None or nan_to_null or not np.isnan(values).any():
        return pl.Series(name, full, dtype=pl.Float64, nan_to_null=nan_to_null or others is None)
    # NaN among the buyers stays NaN; only the customers who never bought get null
    return pl.Series(name, full, dtype=pl.Float64).scatter(np.flatnonzero(~bought), None)
