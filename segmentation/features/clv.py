"""Customer lifetime value for one snapshot: fit the BTYD models, predict per customer.

Conventions of the literature, time unit days: purchases on one day are one purchase; frequency
is the number of repeat purchase days, recency and age (T) are whole days from the first purchase
day to the last purchase day and to the as-of day; Gamma-Gamma uses the mean spend of the repeat
purchase days only. When a snapshot is degenerate (too few repeat buyers, or a fit that does not
converge) the snapshot is marked and CLV falls back to ``simple_clv_12m`` (the customer's own run
rate, see ``clv_models``).

The fits read the population through :class:`ClvFitInput` alone: the buyers' distinct (x, t_x,
T) triples and the repeat buyers' distinct (x, m) pairs with their counts, in one canonical
order (:func:`merge_fit_inputs`). The likelihoods depend on a customer only through these, so
the fit is the maximum-likelihood fit of the customers; and any split of the customers (the
Spark engine's partitions, each compressed by :func:`clv_fit_input`) merges into the same
arrays, so every engine's fit gets the same input and gives the same parameters, bit for bit.
The predictions are per customer (:func:`clv_predictions`).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from segmentation.btyd import (
    FitResult,
    bgnbd_gamma_gamma_predictions,
    compress,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_pareto_nbd,
    gamma_gamma_population_mean,
    simple_clv_12m,
)
from segmentation.btyd.data import unique_rows
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


@dataclass(frozen=True)
class ClvFitInput:
    """What the fits of one snapshot read of its customers, compressed.

    ``x``, ``t_x``, ``age`` and ``count``: the buyers' distinct (frequency, recency, age_days)
    triples and how many buyers have each (BG/NBD, Pareto/NBD). ``spend_x``, ``spend_m`` and
    ``spend_count``: the distinct (frequency, repeat_spend_mean) pairs of the repeat buyers with
    a positive repeat spend, and their counts (Gamma-Gamma). ``customers``: every customer of
    the snapshot, buyers or not (the summary's).
    """

    customers: int
    x: np.ndarray
    t_x: np.ndarray
    age: np.ndarray
    count: np.ndarray
    spend_x: np.ndarray
    spend_m: np.ndarray
    spend_count: np.ndarray

    @property
    def buyers(self) -> int:
        """How many customers bought (the triples' counts)."""
        return int(round(float(self.count.sum())))

    @property
    def repeat_buyers(self) -> int:
        """How many buyers bought on more than one day (x > 0)."""
        return int(round(float(self.count[self.x > 0].sum())))


class _Buyers(NamedTuple):
    """The purchase days of every row of a behaviour frame, which rows bought, their
    positions (None: every row) and the buyers' frequency, recency, age and repeat spend."""

    purchase_days: np.ndarray
    bought: np.ndarray
    rows: np.ndarray | None
    x: np.ndarray
    t_x: np.ndarray
    age: np.ndarray
    m: np.ndarray


def _buyers(behaviour: pl.DataFrame) -> _Buyers:
    """The :class:`_Buyers` of ``behaviour``. Only the few numeric columns are converted, and
    the buyers are picked in numpy: filtering the wide behaviour frame would copy every column,
    strings included."""
    purchase_days = _buyer_column(behaviour, "purchase_days", None)
    bought = purchase_days > 0
    rows = None if bought.all() else np.flatnonzero(bought)
    return _Buyers(
        purchase_days,
        bought,
        rows,
        _buyer_column(behaviour, "frequency", rows),
        _buyer_column(behaviour, "recency", rows),
        _buyer_column(behaviour, "age_days", rows),
        _buyer_column(behaviour, "repeat_spend_mean", rows),
    )


def clv_fit_input(behaviour: pl.DataFrame) -> ClvFitInput:
    """The fit input of the customers in ``behaviour`` (one snapshot's rows of
    ``features.customer_behaviour``, all of them or any part): compressed, not yet in the
    canonical form the fits read (:func:`merge_fit_inputs`)."""
    _, _, _, x, t_x, age, m = _buyers(behaviour)
    x_u, t_u, age_u, count = compress(x, t_x, age)
    spend = (x > 0) & (m > 0)
    (spend_x, spend_m), spend_count = _distinct_weighted((x[spend], m[spend]), None)
    return ClvFitInput(
        behaviour.height,
        x_u,
        t_u,
        age_u,
        count.astype(np.float64),
        spend_x,
        spend_m,
        spend_count,
    )


def _distinct_weighted(
    columns: tuple[np.ndarray, ...], weights: np.ndarray | None
) -> tuple[list[np.ndarray], np.ndarray]:
    """The distinct rows of ``columns`` in lexicographic order and the summed ``weights`` (ones
    when None) of each, as float64: exact for whole-number weights."""
    distinct, inverse = unique_rows(*(np.asarray(c, dtype=np.float64) for c in columns))
    w = np.ones(inverse.size) if weights is None else weights
    return distinct, np.bincount(inverse, weights=w, minlength=distinct[0].size)


def merge_fit_inputs(parts: Sequence[ClvFitInput]) -> ClvFitInput:
    """The fit input of all customers of ``parts`` (the same snapshot, no customer in two), in
    the canonical form the fits read: distinct rows in lexicographic order, counts summed.

    The result depends only on the customers, not on how they were split into parts nor in
    which order the parts come: the same arrays, bit for bit.
    """
    if not parts:
        raise ValueError("no fit inputs to merge")

    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(part, name) for part in parts]).astype(np.float64)

    (x, t_x, age), count = _distinct_weighted(
        (joined("x"), joined("t_x"), joined("age")), joined("count")
    )
    (spend_x, spend_m), spend_count = _distinct_weighted(
        (joined("spend_x"), joined("spend_m")), joined("spend_count")
    )
    return ClvFitInput(
        sum(part.customers for part in parts), x, t_x, age, count, spend_x, spend_m, spend_count
    )


@dataclass(frozen=True)
class ClvFits:
    """A snapshot's fitted models: BG/NBD, Pareto/NBD (when asked for) and Gamma-Gamma."""

    bgnbd: FitResult
    pareto_nbd: FitResult | None
    gamma_gamma: FitResult

    @property
    def all(self) -> list[FitResult]:
        """Every fit, in the order of ``marts.clv_model_params``."""
        return [fit for fit in (self.bgnbd, self.pareto_nbd, self.gamma_gamma) if fit is not None]

    @property
    def degenerate_reason(self) -> str | None:
        """Why the models cannot predict (BG/NBD or Gamma-Gamma not converged), or None."""
        return _degenerate_reason([self.bgnbd, self.gamma_gamma])


def fit_clv_models(fit_input: ClvFitInput, settings: ClvSettings) -> ClvFits:
    """The BTYD fits of one snapshot from its canonical fit input (:func:`merge_fit_inputs`)."""
    # the optimisers make thousands of tiny BLAS calls: threads cost more than they give
    with threadpool_limits(limits=1, user_api="blas"):
        minimum = settings.min_repeat_buyers
        rfm = (fit_input.x, fit_input.t_x, fit_input.age)
        bgnbd = fit_bgnbd(*rfm, weights=fit_input.count, min_repeat_buyers=minimum)
        pareto = (
            fit_pareto_nbd(*rfm, weights=fit_input.count, min_repeat_buyers=minimum)
            if settings.fit_pareto_nbd
            else None
        )
        gamma_gamma = fit_gamma_gamma(
            fit_input.spend_x,
            fit_input.spend_m,
            weights=fit_input.spend_count,
            min_repeat_buyers=minimum,
        )
    return ClvFits(bgnbd, pareto, gamma_gamma)


@dataclass(frozen=True)
class ClvPredictionsFrame:
    """The ``features.customer_clv`` rows of some customers, the method used for them and,
    when the models' predictions failed at the fitted parameters, why."""

    customers: pl.DataFrame
    method: str
    failure: str | None


def clv_predictions(
    behaviour: pl.DataFrame, fits: ClvFits, settings: ClvSettings
) -> ClvPredictionsFrame:
    """``features.customer_clv`` of the customers in ``behaviour`` (one snapshot's rows, all
    or any part) under the snapshot's ``fits``: per customer, so a part gives its customers'
    rows of the whole."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _clv_predictions(behaviour, fits, settings)


def clv_for_snapshot(behaviour: pl.DataFrame, snapshot: date, settings: ClvSettings) -> SnapshotClv:
    """Fit BG/NBD (+ Pareto/NBD) and Gamma-Gamma on one snapshot and predict every customer."""
    fit_input = merge_fit_inputs([clv_fit_input(behaviour)])
    fits = fit_clv_models(fit_input, settings)
    predicted = clv_predictions(behaviour, fits, settings)
    return SnapshotClv(
        customers=predicted.customers,
        params=_params_frame(snapshot, fits.all),
        summary=clv_summary(snapshot, fit_input, fits, predicted.failure),
        degenerate_reason=fits.degenerate_reason or predicted.failure,
    )


def clv_summary(
    snapshot: date, fit_input: ClvFitInput, fits: ClvFits, failure: str | None = None
) -> dict[str, Any]:
    """The one-line summary of a snapshot's fits (the asset's ``fits`` table); ``failure``:
    why the predictions failed at the fitted parameters, if they did."""
    reason = fits.degenerate_reason or failure
    return {
        "snapshot_date": str(snapshot),
        "customers": fit_input.customers,
        "buyers": fit_input.buyers,
        "repeat_buyers": fit_input.repeat_buyers,
        "method": "simple_fallback" if reason else "bgnbd_gamma_gamma",
        **{f"{fit.model}_converged": fit.converged for fit in fits.all},
        "note": reason or "",
    }


def clv_params(snapshot: date, fits: ClvFits) -> pl.DataFrame:
    """``marts.clv_model_params`` of one snapshot: every fitted parameter of every model."""
    return _params_frame(snapshot, fits.all)


def _buyer_column(frame: pl.DataFrame, name: str, rows: np.ndarray | None) -> np.ndarray:
    """A numeric column as float64 numpy (nulls as NaN), restricted to ``rows`` (None: all)."""
    values = frame.get_column(name).to_numpy()
    if rows is not None:
        values = values.take(rows)
    return values.astype(np.float64, copy=False)


def _clv_predictions(
    behaviour: pl.DataFrame, fits: ClvFits, settings: ClvSettings
) -> ClvPredictionsFrame:
    purchase_days, bought, rows, x, t_x, age, m = _buyers(behaviour)

    failure = None
    predictions = None
    if fits.degenerate_reason is None:
        try:
            predictions = _model_predictions(fits.bgnbd, fits.gamma_gamma, x, t_x, age, m, settings)
            method = "bgnbd_gamma_gamma"
        except (ArithmeticError, ValueError) as error:
            # numerically extreme fitted parameters: mark the snapshot rather than fail the run
            failure = f"predictions failed at the fitted parameters: {error!r}"
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
    return ClvPredictionsFrame(customers, method, failure)


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
