"""Customer lifetime value for one snapshot: fit the BTYD models, predict per customer.

Conventions of the literature, time unit days: purchases on one day are one purchase; frequency
is the number of repeat purchase days, recency and age (T) are whole days from the first purchase
day to the last purchase day and to the as-of day; Gamma-Gamma uses the mean spend of the repeat
purchase days only. When a snapshot is degenerate (too few repeat buyers, or a fit that does not
converge) the snapshot is marked and CLV falls back to ``simple_clv_12m`` (the customer's own run
rate, see ``clv_models``).
"""

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from assets.features.clv_models import (
    FitResult,
    bgnbd_conditional_expected_purchases,
    bgnbd_p_alive,
    clv_12m,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_pareto_nbd,
    gamma_gamma_conditional_expected_spend,
    gamma_gamma_population_mean,
    simple_clv_12m,
)
from pipelines.config import ClvSettings

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
    out = {
        "p_alive": bgnbd_p_alive(bgnbd.params, x, t_x, age),
        "expected_spend": gamma_gamma_conditional_expected_spend(gamma_gamma.params, x, m_usable),
        "clv_12m": clv_12m(
            bgnbd.params,
            gamma_gamma.params,
            x,
            t_x,
            age,
            m_usable,
            margin=settings.margin,
            monthly_discount_rate=settings.monthly_discount_rate,
            months=settings.horizon_months,
        ),
    }
    for days in HORIZONS_DAYS:
        out[f"expected_purchases_{days}d"] = bgnbd_conditional_expected_purchases(
            bgnbd.params, days, x, t_x, age
        )
    return out


def _fallback_predictions(
    buyers: pl.DataFrame, t_x: np.ndarray, age: np.ndarray, settings: ClvSettings
) -> dict[str, np.ndarray]:
    gross = buyers.get_column("gross_revenue").to_numpy().astype(float)
    purchase_days = buyers.get_column("purchase_days").to_numpy().astype(float)
    lapsed = (age - t_x) > FALLBACK_INACTIVE_AFTER_DAYS
    rate = np.where(lapsed, 0.0, purchase_days / np.maximum(age, FALLBACK_MIN_TENURE_DAYS))
    out = {
        "p_alive": np.full(len(buyers), np.nan),
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


def _clv_for_snapshot(
    behaviour: pl.DataFrame, snapshot: date, settings: ClvSettings
) -> SnapshotClv:
    buyers = behaviour.filter(pl.col("purchase_days") > 0)
    x = buyers.get_column("frequency").to_numpy().astype(float)
    t_x = buyers.get_column("recency").to_numpy().astype(float)
    age = buyers.get_column("age_days").to_numpy().astype(float)
    m = buyers.get_column("repeat_spend_mean").fill_null(math.nan).to_numpy().astype(float)

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
        predictions = _fallback_predictions(buyers, t_x, age, settings)
        method = "simple_fallback"

    predicted = (
        buyers.select("snapshot_date", "customer_id")
        .with_columns(
            *(pl.Series(name, values, dtype=pl.Float64) for name, values in predictions.items()),
            pl.lit(method).alias("clv_method"),
        )
        .with_columns(pl.col("p_alive").fill_nan(None))
    )
    others = behaviour.filter(pl.col("purchase_days") == 0).select(
        "snapshot_date",
        "customer_id",
        pl.lit(None, dtype=pl.Float64).alias("p_alive"),
        *(pl.lit(0.0).alias(f"expected_purchases_{days}d") for days in HORIZONS_DAYS),
        pl.lit(None, dtype=pl.Float64).alias("expected_spend"),
        pl.lit(0.0).alias("clv_12m"),
        pl.lit("none").alias("clv_method"),
    )
    customers = pl.concat([predicted, others], how="diagonal_relaxed").select(
        "snapshot_date",
        "customer_id",
        "p_alive",
        *(f"expected_purchases_{days}d" for days in HORIZONS_DAYS),
        "expected_spend",
        "clv_12m",
        "clv_method",
    )
    summary = {
        "snapshot_date": str(snapshot),
        "customers": behaviour.height,
        "buyers": buyers.height,
        "repeat_buyers": int((x > 0).sum()),
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
