"""Buy-till-you-die CLV models (BG/NBD, Pareto/NBD, Gamma-Gamma), implemented from the papers.

Pure numpy/scipy: no Dagster, no polars. Every function takes numpy arrays (one element per
customer) and returns numpy arrays; fits return a frozen :class:`FitResult`.

References:
    * BG/NBD: P. S. Fader, B. G. S. Hardie and K. L. Lee (2005), "'Counting Your Customers' the Easy
      Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284. Equations
      (6) likelihood, (7) E[X(t)], (10) E[Y(t) | x, t_x, T]; P(alive) from the companion note
      "Computing P(alive) using the BG/NBD model" (Fader, Hardie & Lee, 2008).
    * Pareto/NBD: D. C. Schmittlein, D. G. Morrison and R. Colombo (1987), "Counting Your Customers:
      Who Are They and What Will They Do Next?", Management Science 33(1), 1-24; likelihood,
      P(alive) and conditional expectation as in P. S. Fader and B. G. S. Hardie (2005), "A Note on
      Deriving the Pareto/NBD Model and Related Expressions" (equations (17)-(22)).
    * Gamma-Gamma: P. S. Fader, B. G. S. Hardie and K. L. Lee (2005), "RFM and CLV: Using Iso-Value
      Curves for Customer Base Analysis", Journal of Marketing Research 42(4), 415-430 (section
      "Adding monetary value"; Fader & Hardie (2013) "The Gamma-Gamma Model of Monetary Value");
      R. Colombo and W. Jiang (1999), "A stochastic RFM model", Journal of Interactive
      Marketing 13(3).

Conventions (the literature's; the caller computes the summaries):
    * time unit: DAYS; purchases on the same day are one purchase;
    * ``x``: frequency, number of repeat purchase days (whole number >= 0);
    * ``t_x``: recency, days from the first purchase day to the last purchase day (0 when x == 0);
    * ``T``: age, days from the first purchase day to the as-of day (T >= t_x);
    * ``m``: mean value of the x repeat purchases (Gamma-Gamma; the first purchase is excluded).

Numerics:
    * likelihoods are evaluated in log space (gammaln/betaln/logaddexp);
    * the Pareto/NBD likelihood is written as a sum of two positive terms (no cancellation),
      ``C * [(r+x) J(r+x+1, s; T) + s J(r+x, s+1; t_x)]`` with
      ``J(p, q; u) = int_u^inf (alpha+v)^-p (beta+v)^-q dv``, which is the Fader-Hardie (2005)
      expression regrouped; J is evaluated through 2F1(1, b; c; z) after an Euler transformation,
      for which ``1 <= 2F1 <= 1/(1-z)``, so nothing overflows. scipy's ``hyp2f1`` is used where its
      result is trustworthy (z <= 0.95, inside the bounds), and a 128-node Gauss-Legendre rule on a
      log-stretched integral representation (accurate to ~1e-12 in log, checked against mpmath)
      elsewhere: near z = 1 scipy returns NaN/inf for large b and can be silently wrong by orders
      of magnitude when c - a - b is close to an integer;
    * the BG/NBD conditional expectation uses the Euler-transformed 2F1 (bounded for large x) and
      interpolates it near its removable 0/0 points (a = 1, a+b+x-1 = 0); adaptive quadrature of
      ``E_{p~Beta(a, b+x)}[(1 - (1 + p t/(alpha+T))^-(r+x)) / p]`` is the last resort.

Fitting (:func:`fit_bgnbd`, :func:`fit_pareto_nbd`, :func:`fit_gamma_gamma`):
    * maximum likelihood on log-parameters with L-BFGS-B, analytic gradients for BG/NBD and
      Gamma-Gamma (finite differences for Pareto/NBD, whose L-BFGS-B runs in coordinates whitened
      by the starting Hessian), then Newton polishing with a finite-difference Hessian until the
      gradient is ~0, so the result is the exact MLE (``FitResult.max_abs_grad`` reports
      max |d(mean log-likelihood per customer)/d log(theta)|, and ``message`` the size of the
      remaining Newton step);
    * scalar work is kept off BLAS (``np.einsum`` inner products): with a threaded OpenBLAS on a
      busy 2-core machine, tiny BLAS calls were measured up to 100x slower; the L-BFGS-B internals
      still call BLAS, so ``OPENBLAS_NUM_THREADS=1`` makes small fits faster still;
    * the BG/NBD and Pareto/NBD likelihoods depend only on (x, t_x, T): fits run on the distinct
      triples with integer weights (:func:`compress`); terms that depend only on x (or only on T, or
      on (x, T) pairs) are aggregated further, so the cost per iteration stops growing with the
      number of customers;
    * degenerate inputs (no or fewer than ``min_repeat_buyers`` repeat buyers, empty input) do not
      raise: they return ``converged=False``, NaN parameters and the reason in ``message``; NaN/inf
      or otherwise invalid inputs raise ``ValueError``.

Run ``uv run python -m assets.features.clv_models`` for a small benchmark (5M customers).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import integrate, optimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1, logsumexp

__all__ = [
    "BGNBD_PARAMS",
    "DAYS_PER_MONTH",
    "DEFAULT_MIN_REPEAT_BUYERS",
    "GAMMA_GAMMA_PARAMS",
    "PARETO_NBD_PARAMS",
    "FitResult",
    "bgnbd_conditional_expected_purchases",
    "bgnbd_expected_purchases",
    "bgnbd_log_likelihood",
    "bgnbd_p_alive",
    "clv_12m",
    "compress",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "fit_pareto_nbd",
    "gamma_gamma_conditional_expected_spend",
    "gamma_gamma_log_likelihood",
    "gamma_gamma_population_mean",
    "pareto_nbd_conditional_expected_purchases",
    "pareto_nbd_expected_purchases",
    "pareto_nbd_log_likelihood",
    "pareto_nbd_p_alive",
    "simple_clv_12m",
]


FloatArray = NDArray[np.float64]


def _dot(u: FloatArray, v: FloatArray) -> float:
    """Inner product without BLAS (einsum's single-threaded loop).

    On a loaded 2-core machine a threaded BLAS ``u @ v`` on 1-D vectors was measured 2-100x slower
    (thread-pool contention).
    """
    return float(np.einsum("i,i->", u, v))


BGNBD_PARAMS: tuple[str, ...] = ("r", "alpha", "a", "b")
PARETO_NBD_PARAMS: tuple[str, ...] = ("r", "alpha", "s", "beta")
GAMMA_GAMMA_PARAMS: tuple[str, ...] = ("p", "q", "gamma")
DEFAULT_MIN_REPEAT_BUYERS = 50
DAYS_PER_MONTH = 365.0 / 12.0
"""Month length used by the CLV helpers: 365/12 = 30.4167 days (12 months = 365 days)."""

# Optimisation constants. The objective is the mean negative log-likelihood per customer, and the
# parameters are optimised on the log scale inside [exp(_LOG_LOWER), exp(_LOG_UPPER)].
_LOG_LOWER = math.log(1e-6)
_LOG_UPPER = math.log(1e8)
_GTOL_CONVERGED = 1e-6
_STEP_TOL_CONVERGED = 1e-6
_GTOL_POLISH = 1e-11
_MAX_LBFGS_ITER = 2000


@dataclass(frozen=True)
class FitResult:
    """Outcome of a maximum-likelihood fit.

    Attributes:
        model: ``"bgnbd"``, ``"pareto_nbd"`` or ``"gamma_gamma"``.
        params: Parameter name -> value, names as in the papers (NaN when the fit was not possible).
        log_likelihood: Total (weighted) log-likelihood at ``params`` (NaN when not fitted).
        n_customers: Number of customers the fit represents (sum of the weights). For Gamma-Gamma,
            the number of customers with x > 0 that entered the likelihood.
        converged: True when the optimiser stopped at an interior point with ~0 gradient
            (max |grad| <= 1e-6), a positive-definite Hessian and a remaining Newton step below
            1e-6 in log-parameters. When False, ``params`` are NaN for degenerate inputs, otherwise
            the best point found (possibly at the search bound 1e-6 / 1e8); do not use them for
            prediction, fall back to :func:`simple_clv_12m`.
        message: Human-readable status: the reason for a degenerate or unconverged fit, or the
            convergence diagnostics.
        iterations: Optimiser iterations (L-BFGS-B plus Newton polishing steps).
        max_abs_grad: max |d(mean log-likelihood per customer) / d log(theta)| at ``params``.
    """

    model: str
    params: dict[str, float]
    log_likelihood: float
    n_customers: int
    converged: bool
    message: str
    iterations: int
    max_abs_grad: float = math.nan


# --------------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------------


def _as_1d_float(name: str, values: ArrayLike) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be one-dimensional (one value per customer), got {arr.shape}"
        )
    return arr


def _require_finite(name: str, arr: FloatArray) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN/inf value(s) (first at index "
            f"{int(np.flatnonzero(bad)[0])}); drop or repair those customers before fitting"
        )


def _validate_rfm(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> tuple[FloatArray, ...]:
    xa, ta, Ta = _as_1d_float("x", x), _as_1d_float("t_x", t_x), _as_1d_float("T", T)
    if not (xa.shape == ta.shape == Ta.shape):
        raise ValueError(f"x, t_x and T must have the same length: {xa.size}, {ta.size}, {Ta.size}")
    for name, arr in (("x", xa), ("t_x", ta), ("T", Ta)):
        _require_finite(name, arr)
        if (arr < 0).any():
            raise ValueError(f"{name} has {int((arr < 0).sum())} negative value(s); must be >= 0")
    if (xa != np.floor(xa)).any():
        raise ValueError("x (number of repeat purchase days) must be whole numbers")
    if (ta > Ta).any():
        raise ValueError(
            f"t_x > T for {int((ta > Ta).sum())} customer(s): the last purchase cannot be after "
            "the as-of day"
        )
    if ((xa == 0) & (ta != 0)).any():
        raise ValueError(
            f"t_x must be 0 where x == 0 ({int(((xa == 0) & (ta != 0)).sum())} customer(s) violate "
            "it): recency is measured from the first to the last purchase day"
        )
    return xa, ta, Ta


def _validate_weights(weights: ArrayLike | None, n: int) -> FloatArray:
    if weights is None:
        return np.ones(n)
    w = _as_1d_float("weights", weights)
    if w.size != n:
        raise ValueError(f"weights has length {w.size}, expected {n}")
    _require_finite("weights", w)
    if (w < 0).any():
        raise ValueError("weights must be >= 0")
    return w


def _check_params(params: Mapping[str, float], names: tuple[str, ...], model: str) -> list[float]:
    missing = [n for n in names if n not in params]
    if missing:
        raise ValueError(f"{model} parameters missing {missing}; expected {list(names)}")
    values = [float(params[n]) for n in names]
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(
            f"{model} parameters must be finite and > 0, got "
            f"{dict(zip(names, values, strict=True))}"
        )
    return values


def _is_small_nonneg_int(v: FloatArray, limit: int) -> bool:
    return (
        bool(v.size)
        and bool(v.min() >= 0)
        and bool(v.max() <= limit)
        and bool((v == np.floor(v)).all())
    )


def _factorize(v: FloatArray) -> tuple[FloatArray, NDArray[np.intp]]:
    """Return ``(values, inverse)`` with ``values[inverse] == v``.

    Whole numbers in a small range are indexed directly (no sort); anything else goes through
    ``np.unique``.
    """
    if v.size == 0:
        return np.zeros(0), np.zeros(0, dtype=np.intp)
    if _is_small_nonneg_int(v, max(4 * v.size, 1 << 16)):
        return np.arange(int(v.max()) + 1, dtype=np.float64), v.astype(np.intp)
    values, inverse = np.unique(v, return_inverse=True)
    return values, inverse.reshape(-1)


def _unique_rows(*cols: FloatArray) -> tuple[list[FloatArray], NDArray[np.intp]]:
    """Distinct rows of equally long columns: ``(unique columns, inverse)``.

    Non-negative whole numbers are packed into one int64 key (one ``np.unique`` over integers);
    other data fall back to ``np.unique(axis=0)``.
    """
    n = cols[0].size
    if n == 0:
        return [c.copy() for c in cols], np.zeros(0, dtype=np.intp)
    if all(_is_small_nonneg_int(c, 1 << 40) for c in cols):
        spans = [int(c.max()) + 1 for c in cols]
        if math.prod(spans) < (1 << 62):
            key = np.zeros(n, dtype=np.int64)
            for c, span in zip(cols, spans, strict=True):
                key = key * span + c.astype(np.int64)
            uniq, inverse = np.unique(key, return_inverse=True)
            out: list[FloatArray] = []
            rest = uniq
            for span in reversed(spans):
                out.append((rest % span).astype(np.float64))
                rest = rest // span
            return out[::-1], inverse.reshape(-1)
    stacked = np.column_stack(cols)
    uniq, inverse = np.unique(stacked, axis=0, return_inverse=True)
    return [uniq[:, j].copy() for j in range(uniq.shape[1])], inverse.reshape(-1)


def compress(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None
) -> tuple[FloatArray, FloatArray, FloatArray, NDArray[np.int64] | FloatArray]:
    """Collapse customers to the distinct (x, t_x, T) triples with their counts.

    The BG/NBD and Pareto/NBD likelihoods depend on a customer only through (x, t_x, T), so
    fitting on the distinct triples with integer weights gives exactly the same log-likelihood and
    estimates. With whole-day data the three columns are packed into one int64 key and deduplicated
    with a single ``np.unique`` (no Python loops); fractional data (e.g. weeks) fall back to
    ``np.unique(axis=0)``.

    Args:
        x: Repeat purchase days per customer.
        t_x: Recency in days.
        T: Age in days.
        weights: Optional per-customer weights; when given, the returned weights are their sums.

    Returns:
        ``(x_u, t_x_u, T_u, weights)``: the distinct triples (sorted by x, then t_x, then T) and the
        number of customers (int64 counts, or summed float weights) behind each.

    Raises:
        ValueError: On NaN/inf, negative values, non-integer x, t_x > T, or t_x != 0 where x == 0.
    """
    xa, ta, Ta = _validate_rfm(x, t_x, T)
    (xu, tu, Tu), inverse = _unique_rows(xa, ta, Ta)
    if weights is None:
        counts: NDArray[np.int64] | FloatArray = np.bincount(inverse, minlength=xu.size).astype(
            np.int64
        )
    else:
        w = _validate_weights(weights, xa.size)
        counts = np.bincount(inverse, weights=w, minlength=xu.size)
    return xu, tu, Tu, counts


class _Objective:
    """Mean negative log-likelihood per customer as a function of log-parameters.

    Subclasses implement ``__call__(phi) -> (value, gradient)`` (used by L-BFGS-B); ``precise`` is
    the same with the most accurate gradient available (used for polishing and the convergence
    check) and ``hessian`` a finite-difference Hessian.
    """

    total_weight: float
    precondition: bool = False

    def __call__(self, phi: FloatArray) -> tuple[float, FloatArray]:
        raise NotImplementedError

    def precise(self, phi: FloatArray) -> tuple[float, FloatArray]:
        return self(phi)

    def hessian(self, phi: FloatArray, f0: float) -> FloatArray:
        return _fd_hessian(self, phi)


# --------------------------------------------------------------------------------------------------
# Special functions
# --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _gauss_legendre(n: int) -> tuple[FloatArray, FloatArray]:
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return nodes, weights


def _log_hyp2f1_1bc_quad(b: FloatArray, c: FloatArray, eps: FloatArray) -> FloatArray:
    """log 2F1(1, b; c; 1 - eps) by quadrature, for c > b > 0, c > 1, 0 < eps <= 1.

    Uses ``2F1(1, b; c; z) = (c-1) eps^(q-1) int_0^inf exp(-(c-1) y) (1 - z e^-y)^-q dy``
    (q = c - b; an Euler transform of the Euler integral) and the substitution
    ``y = eps (e^u - 1)``, which maps the near-singular peak at y ~ eps (z close to 1) and the
    exponential tail at y ~ 1/(c-1) to O(1) features in u. The integral is truncated where
    exp(-(c-1) y) < e^-40 and integrated with a 128-node Gauss-Legendre rule in log space. Checked
    against mpmath on b in [0.05, 2e4], c - b in [0.05, 20], 1 - z in [1e-15, 1]: max error 1.7e-12
    in log (64 nodes would give 7e-8).
    """
    nodes, wts = _gauss_legendre(128)
    q = c - b
    out = np.empty(b.shape)
    chunk = 20_000
    for start in range(0, b.size, chunk):
        sl = slice(start, start + chunk)
        cb, qb, eb = c[sl, None], q[sl, None], eps[sl, None]
        upper = np.log1p((40.0 / (cb - 1.0)) / eb)
        u = (nodes[None, :] + 1.0) * 0.5 * upper
        log_w = np.log(wts[None, :] * 0.5 * upper)
        y = eb * np.expm1(u)
        base = -np.expm1(-y) + eb * np.exp(-y)  # = 1 - z e^-y without cancellation
        log_f = -(cb - 1.0) * y - qb * np.log(base) + np.log(eb) + u
        out[sl] = (
            np.log(c[sl] - 1.0) + (q[sl] - 1.0) * np.log(eps[sl]) + logsumexp(log_f + log_w, axis=1)
        )
    return out


def _log_hyp2f1_1bc(b: FloatArray, c: FloatArray, z: FloatArray, eps: FloatArray) -> FloatArray:
    """Robust log 2F1(1, b; c; z) for c > b > 0, c > 1, 0 <= z < 1, with eps = 1 - z given exactly.

    ``2F1(1, b; c; z) = E[1 / (1 - z U)]`` with ``U ~ Beta(b, c - b)``, hence
    ``1 / (1 - z b / c) <= 2F1 <= 1 / (1 - z)`` (Jensen). scipy's ``hyp2f1`` is used for z <= 0.95
    (checked against mpmath: error < 1e-14 there) when its value is inside these bounds. Closer to
    z = 1 scipy is unreliable (NaN/inf for large b, and silently wrong by orders of magnitude when
    c - a - b is near an integer), so those elements use :func:`_log_hyp2f1_1bc_quad`.
    """
    b, c, z, eps = np.broadcast_arrays(b, c, z, eps)
    with np.errstate(all="ignore"):
        log_lo = -np.log1p(-z * (b / c))
        log_hi = -np.log(eps)
        trust = eps >= 0.05
        log_val = np.full(b.shape, np.nan)
        if trust.any():
            log_val[trust] = np.log(hyp2f1(1.0, b[trust], c[trust], z[trust]))
    ok = trust & np.isfinite(log_val) & (log_val >= log_lo - 1e-12) & (log_val <= log_hi + 1e-12)
    if not ok.all():
        bad = ~ok
        log_val[bad] = _log_hyp2f1_1bc_quad(
            b[bad].astype(np.float64), c[bad].astype(np.float64), eps[bad].astype(np.float64)
        )
    return np.clip(log_val, log_lo, log_hi)


# --------------------------------------------------------------------------------------------------
# BG/NBD (Fader, Hardie & Lee 2005)
# --------------------------------------------------------------------------------------------------


def _bgnbd_log_odds_dead(
    r: float, alpha: float, a: float, b: float, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> FloatArray:
    """u = log(A4 / A3) of FHL (2005) eq. (6); -inf where x == 0 (A4 absent)."""
    out = np.full(x.shape, -np.inf)
    rep = x > 0
    xr = x[rep]
    out[rep] = (
        math.log(a)
        - np.log(b + xr - 1.0)
        + (r + xr) * (np.log(alpha + T[rep]) - np.log(alpha + t_x[rep]))
    )
    return out


def bgnbd_log_likelihood(
    params: Mapping[str, float], x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> FloatArray:
    """Per-customer BG/NBD log-likelihood, Fader, Hardie & Lee (2005), eq. (6).

    ``L = A1 A2 (A3 + [x > 0] A4)`` with ``A1 = Gamma(r+x) alpha^r / Gamma(r)``,
    ``A2 = B(a, b+x) / B(a, b)``, ``A3 = (alpha+T)^-(r+x)`` and
    ``A4 = a / (b+x-1) (alpha+t_x)^-(r+x)``.

    Args:
        params: ``{"r", "alpha", "a", "b"}`` (alpha in days).
        x: Repeat purchase days.
        t_x: Recency (days).
        T: Age (days).

    Returns:
        Array of log-likelihoods, one per customer.
    """
    r, alpha, a, b = _check_params(params, BGNBD_PARAMS, "bgnbd")
    xa, ta, Ta = _validate_rfm(x, t_x, T)
    log_a3 = -(r + xa) * np.log(alpha + Ta)
    u = _bgnbd_log_odds_dead(r, alpha, a, b, xa, ta, Ta)
    return (
        gammaln(r + xa)
        - gammaln(r)
        + r * math.log(alpha)
        + betaln(a, b + xa)
        - betaln(a, b)
        + log_a3
        + np.logaddexp(0.0, u)
    )


def bgnbd_p_alive(
    params: Mapping[str, float], x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> FloatArray:
    """P(alive | x, t_x, T) under BG/NBD (FHL 2005, eq. (13) of the technical appendix / 2008 note).

    ``P = 1 / (1 + [x > 0] a / (b+x-1) ((alpha+T) / (alpha+t_x))^(r+x))``, computed as a logistic of
    the log-odds so that it neither overflows nor rounds to NaN. Customers with x == 0 are alive
    with probability 1 (BG/NBD customers can only drop out right after a repeat purchase).
    """
    r, alpha, a, b = _check_params(params, BGNBD_PARAMS, "bgnbd")
    xa, ta, Ta = _validate_rfm(x, t_x, T)
    return expit(-_bgnbd_log_odds_dead(r, alpha, a, b, xa, ta, Ta))


def _bgnbd_alive_expectation_qaws(n_rx: float, a: float, b_post: float, kappa: float) -> float:
    """H = E_{p ~ Beta(a, b_post)}[(1 - (1 + kappa p)^-n_rx) / p] by adaptive QUADPACK (QAWS).

    H is the expected number of purchases in (T, T+t] of a customer known to be alive at T with x
    repeat purchases: given alive, p ~ Beta(a, b+x) and lambda ~ Gamma(r+x, alpha+T), and a live
    customer's expected count is (1 - exp(-lambda p t)) / p (FHL 2005, eq. (7), individual level);
    kappa = t / (alpha+T), n_rx = r+x, b_post = b+x. The Beta weight's endpoint singularities are
    handled analytically by QAWS. Last-resort path (about 1 ms per element).
    """

    def phi(p: float) -> float:
        return -math.expm1(-n_rx * math.log1p(kappa * p)) / p if p > 0 else n_rx * kappa

    value, _ = integrate.quad(
        phi, 0.0, 1.0, weight="alg", wvar=(a - 1.0, b_post - 1.0), limit=500, epsrel=1e-12
    )
    return value / math.exp(betaln(a, b_post))


def _bgnbd_alive_closed(
    r: float, alpha: float, a: float, b: float, x: FloatArray, T: FloatArray, t: FloatArray
) -> FloatArray:
    """Closed form of :func:`_bgnbd_alive_expectation` (NaN where scipy fails); t > 0."""
    c = a + b + x - 1.0
    with np.errstate(all="ignore"):
        z = t / (alpha + T + t)
        scaled = (a - 1.0) * (np.log(alpha + T) - np.log(alpha + T + t))
        f = hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
        return (
            c
            / (a - 1.0)
            * np.where(f > 0, -np.expm1(scaled + np.log(np.abs(f))), 1.0 - np.exp(scaled) * f)
        )


_INTERP_OFFSETS = np.array([-2.0, -1.0, 1.0, 2.0]) * 2e-3


def _lagrange_weights(nodes: FloatArray, at: float) -> FloatArray:
    weights = np.ones(nodes.size)
    for j in range(nodes.size):
        for k in range(nodes.size):
            if k != j:
                weights[j] *= (at - nodes[k]) / (nodes[j] - nodes[k])
    return weights


def _bgnbd_alive_expectation(
    r: float, alpha: float, a: float, b: float, x: FloatArray, T: FloatArray, t: FloatArray
) -> FloatArray:
    """Expected purchases in (T, T+t] given alive: the bracket of FHL (2005) eq. (10).

    Closed form ``(a+b+x-1)/(a-1) [1 - (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)]`` with
    ``z = t / (alpha+T+t)``; this is eq. (10)'s ``1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x;
    a+b+x-1; z)`` after Euler's transformation, which keeps 2F1 bounded for large x (checked against
    mpmath: relative error < 1e-10 over random parameters, z up to 1 - 1e-6).

    The expression is 0/0 at a = 1 and at a+b+x-1 = 0 although the quantity,
    ``E_{p ~ Beta(a, b+x)}[(1 - (1 + p t/(alpha+T))^-(r+x)) / p]``, is analytic there; within
    1e-3 of those points it is interpolated (4-point Lagrange in a, resp. b) from evaluations 2e-3
    and 4e-3 away (relative error vs mpmath < 2e-8, typically 1e-10). Results must lie in
    ``[1 - (1+kappa)^-(r+x), (r+x) kappa]`` (kappa = t/(alpha+T)); anything else goes to
    :func:`_bgnbd_alive_expectation_qaws`.
    """
    x, T, t = np.broadcast_arrays(x, T, t)
    x, T, t = (np.asarray(v, dtype=np.float64).ravel() for v in (x, T, t))
    out = np.zeros(x.shape)
    pos = t > 0
    if not pos.any():
        return out
    xp, Tp, tp = x[pos], T[pos], t[pos]
    kappa = tp / (alpha + Tp)
    hi = (r + xp) * kappa
    lo = -np.expm1(-(r + xp) * np.log1p(kappa))
    near_a1 = abs(a - 1.0) < 1e-3
    if near_a1:
        a_nodes = 1.0 + _INTERP_OFFSETS
        weights = _lagrange_weights(a_nodes, a)
        val = sum(
            w * _bgnbd_alive_closed(r, alpha, ak, b, xp, Tp, tp)
            for w, ak in zip(weights, a_nodes, strict=True)
        )
    else:
        val = _bgnbd_alive_closed(r, alpha, a, b, xp, Tp, tp)
    c = a + b + xp - 1.0
    near_c0 = np.abs(c) < 1e-3  # only possible for x == 0 with a + b close to 1
    if near_c0.any():
        c0 = float(c[near_c0][0])
        b_nodes = b + (_INTERP_OFFSETS - c0)
        if near_a1 or b_nodes.min() <= 0:
            val[near_c0] = np.nan  # QAWS below
        else:
            weights = _lagrange_weights(b_nodes, b)
            val[near_c0] = sum(
                w * _bgnbd_alive_closed(r, alpha, a, bk, xp[near_c0], Tp[near_c0], tp[near_c0])
                for w, bk in zip(weights, b_nodes, strict=True)
            )
    ok = np.isfinite(val) & (val >= lo * (1 - 1e-9)) & (val <= hi * (1 + 1e-9))
    for i in np.flatnonzero(~ok):
        val[i] = _bgnbd_alive_expectation_qaws(r + xp[i], a, b + xp[i], float(kappa[i]))
    out[pos] = np.clip(val, lo, hi)
    return out


def bgnbd_expected_purchases(params: Mapping[str, float], t: ArrayLike) -> FloatArray:
    """Unconditional E[X(t)] for a new customer, FHL (2005) eq. (7).

    ``E[X(t)] = (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))]``, computed
    as the conditional expectation at x = t_x = T = 0 (identical expression).

    Args:
        params: BG/NBD parameters.
        t: Horizon(s) in days, scalar or array.

    Returns:
        Expected number of repeat purchases in (0, t], same shape as ``t``.
    """
    r, alpha, a, b = _check_params(params, BGNBD_PARAMS, "bgnbd")
    ta = np.asarray(t, dtype=np.float64)
    _require_finite("t", ta.ravel())
    if (ta < 0).any():
        raise ValueError("t must be >= 0")
    flat = ta.ravel()
    zeros = np.zeros(flat.shape)
    return _bgnbd_alive_expectation(r, alpha, a, b, zeros, zeros, flat).reshape(ta.shape)


def _dedup_alive_expectation(
    fn: Callable[[FloatArray, FloatArray, FloatArray], FloatArray],
    x: FloatArray,
    T: FloatArray,
    t: FloatArray,
) -> FloatArray:
    """Evaluate ``fn(x, T, t)`` once per distinct (x, T, t) and scatter back."""
    if x.size <= 2048:
        return fn(x, T, t)
    if (t == t[0]).all():
        (xu, Tu), inverse = _unique_rows(x, T)
        return fn(xu, Tu, np.full(xu.shape, t[0]))[inverse]
    (xu, Tu, tu), inverse = _unique_rows(x, T, t)
    return fn(xu, Tu, tu)[inverse]


def _broadcast_rfm_t(
    t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, tuple[int, ...]]:
    xa, ta, Ta = _validate_rfm(x, t_x, T)
    tt = np.asarray(t, dtype=np.float64)
    _require_finite("t", tt.ravel())
    if (tt < 0).any():
        raise ValueError("t must be >= 0")
    tb, xb, txb, Tb = np.broadcast_arrays(tt, xa, ta, Ta)
    shape = tb.shape
    return (
        np.ascontiguousarray(tb).ravel(),
        np.ascontiguousarray(xb).ravel(),
        np.ascontiguousarray(txb).ravel(),
        np.ascontiguousarray(Tb).ravel(),
        shape,
    )


def bgnbd_conditional_expected_purchases(
    params: Mapping[str, float], t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> FloatArray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next t days, FHL (2005) eq. (10).

    ``E = (a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))]
    * P(alive | x, t_x, T)``. See :func:`_bgnbd_alive_expectation` for the stable evaluation; the
    2F1 part depends only on (x, T, t) and is computed once per distinct combination.

    Args:
        params: BG/NBD parameters (alpha in days).
        t: Horizon in days (scalar, or an array broadcastable against x).
        x: Repeat purchase days.
        t_x: Recency (days).
        T: Age (days).

    Returns:
        Expected purchases, shape of the broadcast of ``t`` and ``x``.
    """
    r, alpha, a, b = _check_params(params, BGNBD_PARAMS, "bgnbd")
    tb, xb, txb, Tb, shape = _broadcast_rfm_t(t, x, t_x, T)
    p_alive = expit(-_bgnbd_log_odds_dead(r, alpha, a, b, xb, txb, Tb))
    h = _dedup_alive_expectation(
        lambda xs, Ts, ts: _bgnbd_alive_expectation(r, alpha, a, b, xs, Ts, ts), xb, Tb, tb
    )
    return (h * p_alive).reshape(shape)


class _BgnbdObjective(_Objective):
    """Mean negative BG/NBD log-likelihood and its analytic gradient in log-parameters.

    With u = log(A4/A3) the log-likelihood of a customer is
    ``[lgamma(r+x) - lgamma(r) + r log(alpha) + log B(a, b+x) - log B(a, b)] - (r+x) log(alpha+T)
    + [x > 0] softplus(u)``. The first bracket is summed per distinct x, the second per distinct T,
    and only the softplus term is evaluated per distinct (x, t_x, T) triple of the repeat buyers.
    """

    def __init__(self, x: FloatArray, t_x: FloatArray, T: FloatArray, w: FloatArray) -> None:
        self.total_weight = float(w.sum())
        xs, ix = _factorize(x)
        nx = np.bincount(ix, weights=w, minlength=xs.size)
        keep = nx > 0
        self.xs, self.nx = xs[keep], nx[keep]
        Ts, iT = _factorize(T)
        self.Ts = Ts
        self.wT = np.bincount(iT, weights=w, minlength=Ts.size)
        self.xwT = np.bincount(iT, weights=w * x, minlength=Ts.size)
        rep = x > 0
        self.xr, self.wr = x[rep], w[rep]
        self.iTr = iT[rep]
        self.txs, self.itxr = _factorize(t_x[rep])
        self.xrs, self.ixr = _factorize(self.xr)
        self.xrs_safe = np.maximum(self.xrs, 1.0)

    def __call__(self, phi: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, a, b = np.exp(phi)
        xs, nx, W = self.xs, self.nx, self.total_weight
        # Terms per distinct x.
        ll = _dot(nx, gammaln(r + xs) + betaln(a, b + xs)) - W * (
            gammaln(r) + betaln(a, b) - r * math.log(alpha)
        )
        dig_ab = digamma(a + b)
        dig_abx = digamma(a + b + xs)
        g_r = _dot(nx, digamma(r + xs)) - W * (digamma(r) - math.log(alpha))
        g_alpha = W * r / alpha
        g_a = _dot(nx, dig_ab - dig_abx)
        g_b = _dot(nx, digamma(b + xs) - dig_abx) - W * (digamma(b) - dig_ab)
        # Terms per distinct T.
        log_aT = np.log(alpha + self.Ts)
        coef_T = r * self.wT + self.xwT
        ll -= _dot(coef_T, log_aT)
        g_r -= _dot(self.wT, log_aT)
        g_alpha -= _dot(coef_T, 1.0 / (alpha + self.Ts))
        # Softplus terms per distinct repeat-buyer triple.
        if self.xr.size:
            rx = r + self.xr
            d = log_aT[self.iTr] - np.log(alpha + self.txs)[self.itxr]
            cx = math.log(a) - np.log(b + self.xrs_safe - 1.0)
            u = rx * d + cx[self.ixr]
            ll += _dot(self.wr, np.logaddexp(0.0, u))
            ws = self.wr * expit(u)
            g_r += _dot(ws, d)
            inv_diff = (1.0 / (alpha + self.Ts))[self.iTr] - (1.0 / (alpha + self.txs))[self.itxr]
            g_alpha += _dot(ws, rx * inv_diff)
            sum_ws = float(ws.sum())
            g_a += sum_ws / a
            ws_by_x = np.bincount(self.ixr, weights=ws, minlength=self.xrs.size)
            g_b -= _dot(ws_by_x, 1.0 / (b + self.xrs_safe - 1.0))
        grad = np.array([g_r * r, g_alpha * alpha, g_a * a, g_b * b])
        return -ll / W, -grad / W


def _degenerate(model: str, names: tuple[str, ...], n: int, reason: str) -> FitResult:
    return FitResult(
        model=model,
        params=dict.fromkeys(names, math.nan),
        log_likelihood=math.nan,
        n_customers=n,
        converged=False,
        message=reason,
        iterations=0,
    )


def _prepare_rfm_fit(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike, weights: ArrayLike | None, dedupe: bool
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    xa, ta, Ta = _validate_rfm(x, t_x, T)
    w = _validate_weights(weights, xa.size)
    pos = w > 0
    if not pos.all():
        xa, ta, Ta, w = xa[pos], ta[pos], Ta[pos], w[pos]
    if dedupe and xa.size:
        (xa, ta, Ta), inverse = _unique_rows(xa, ta, Ta)
        w = np.bincount(inverse, weights=w, minlength=xa.size)
    return xa, ta, Ta, w


def _rate_guess(x: FloatArray, T: FloatArray, w: FloatArray) -> float:
    """Rough purchase rate per day (sum x / sum T), used only for starting values."""
    total_T = _dot(w, T)
    total_x = _dot(w, x)
    if total_T <= 0 or total_x <= 0:
        return 1.0
    return total_x / total_T


def fit_bgnbd(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    weights: ArrayLike | None = None,
    *,
    min_repeat_buyers: int = DEFAULT_MIN_REPEAT_BUYERS,
    dedupe: bool = True,
) -> FitResult:
    """Maximum-likelihood BG/NBD fit (FHL 2005, eq. (6)).

    Args:
        x: Repeat purchase days per customer.
        t_x: Recency in days.
        T: Age in days.
        weights: Optional customer weights (e.g. the counts returned by :func:`compress`).
        min_repeat_buyers: Minimum (weighted) number of customers with x > 0; below it the fit is
            reported as degenerate instead of attempted.
        dedupe: Collapse to distinct (x, t_x, T) triples first (same result, much faster).

    Returns:
        FitResult with ``model="bgnbd"`` and params ``r, alpha, a, b`` (alpha in days). Degenerate
        inputs give ``converged=False``, NaN params and the reason in ``message``.

    Raises:
        ValueError: On NaN/inf or otherwise invalid inputs (see :func:`compress`).
    """
    xa, ta, Ta, w = _prepare_rfm_fit(x, t_x, T, weights, dedupe)
    n = int(round(float(w.sum())))
    reason = _repeat_buyer_problem(xa, w, min_repeat_buyers)
    if reason:
        return _degenerate("bgnbd", BGNBD_PARAMS, n, reason)
    objective = _BgnbdObjective(xa, ta, Ta, w)
    rate = _rate_guess(xa, Ta, w)
    starts = [
        np.log([1.0, 1.0 / rate, 1.0, 3.0]),
        np.log([0.3, 0.3 / rate, 0.5, 1.0]),
        np.log([3.0, 3.0 / rate, 3.0, 10.0]),
    ]
    return _fit(objective, starts, "bgnbd", BGNBD_PARAMS, n)


def _repeat_buyer_problem(x: FloatArray, w: FloatArray, min_repeat_buyers: int) -> str:
    if x.size == 0:
        return "no customers with positive weight"
    n_rep = float(w[x > 0].sum())
    if n_rep == 0:
        return "no repeat buyers (all x == 0): purchase rate and dropout are not identified"
    if n_rep < min_repeat_buyers:
        return (
            f"only {n_rep:g} repeat buyer(s) (x > 0), fewer than min_repeat_buyers="
            f"{min_repeat_buyers}"
        )
    return ""


# --------------------------------------------------------------------------------------------------
# Optimisation core
# --------------------------------------------------------------------------------------------------


def _fd_gradient(
    fun: Callable[[FloatArray], float], phi: FloatArray, step: float = 1e-5
) -> FloatArray:
    """Central-difference gradient (error ~1e-10 for the scaled objectives used here)."""
    grad = np.empty(phi.size)
    for i in range(phi.size):
        e = np.zeros(phi.size)
        e[i] = step
        grad[i] = (fun(phi + e) - fun(phi - e)) / (2 * step)
    return grad


def _fd_hessian_from_values(
    fun: Callable[[FloatArray], float], phi: FloatArray, f0: float, step: float = 1e-4
) -> FloatArray:
    """Central second differences from function values: 2k + 2k(k-1) evaluations (33 for k=4)."""
    k = phi.size
    eye = np.eye(k) * step
    f_plus = np.array([fun(phi + eye[i]) for i in range(k)])
    f_minus = np.array([fun(phi - eye[i]) for i in range(k)])
    hess = np.empty((k, k))
    for i in range(k):
        hess[i, i] = (f_plus[i] - 2.0 * f0 + f_minus[i]) / step**2
        for j in range(i + 1, k):
            hess[i, j] = hess[j, i] = (
                fun(phi + eye[i] + eye[j])
                - fun(phi + eye[i] - eye[j])
                - fun(phi - eye[i] + eye[j])
                + fun(phi - eye[i] - eye[j])
            ) / (4 * step**2)
    return hess


def _fd_hessian(
    objective: Callable[[FloatArray], tuple[float, FloatArray]], phi: FloatArray, step: float = 1e-4
) -> FloatArray:
    k = phi.size
    hess = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = step
        hess[:, i] = (objective(phi + e)[1] - objective(phi - e)[1]) / (2 * step)
    return 0.5 * (hess + hess.T)


@dataclass
class _OptState:
    phi: FloatArray
    fun: float
    grad: FloatArray
    iterations: int
    hess_pd: bool
    rel_step: float
    note: str


def _newton_polish(
    objective: Callable[[FloatArray], tuple[float, FloatArray]],
    phi: FloatArray,
    fun: float,
    grad: FloatArray,
    hessian: Callable[[FloatArray, float], FloatArray],
) -> _OptState:
    """Newton iterations with a finite-difference Hessian until the gradient vanishes.

    L-BFGS-B stops on relative function decrease, which on a flat ridge can leave the parameters
    ~1e-4 away from the optimum; a few Newton steps make the result the exact MLE.
    """
    lower, upper = _LOG_LOWER, _LOG_UPPER
    hess = hessian(phi, fun)
    iterations = 0
    note = ""
    stalled = 0
    for attempt in range(30):
        if np.max(np.abs(grad)) <= _GTOL_POLISH:
            break
        try:
            chol = np.linalg.cholesky(hess)
        except np.linalg.LinAlgError:
            note = "Hessian not positive definite during polishing"
            break
        step = np.linalg.solve(chol.T, np.linalg.solve(chol, grad))
        if np.max(np.abs(step)) < 1e-10:  # relative parameter change below 1e-10: done
            break
        accepted = False
        t = 1.0
        gmax = float(np.max(np.abs(grad)))
        for _ in range(40):
            cand = np.clip(phi - t * step, lower, upper)
            f_new, g_new = objective(cand)
            if np.isfinite(f_new) and np.all(np.isfinite(g_new)):
                decrease = f_new <= fun - 1e-4 * t * float(np.sum(grad * step))
                flat = abs(f_new - fun) <= 1e-14 * max(1.0, abs(fun))
                if decrease or (flat and float(np.max(np.abs(g_new))) < gmax):
                    accepted = True
                    break
            t *= 0.5
        if not accepted:
            break
        # A finite-difference gradient has a noise floor: stop once it no longer halves.
        stalled = stalled + 1 if float(np.max(np.abs(g_new))) > 0.5 * gmax else 0
        phi, fun, grad = cand, f_new, g_new
        iterations += 1
        if stalled >= 2:
            break
        if attempt in (5, 15):  # slow progress: refresh the Hessian
            hess = hessian(phi, fun)
    try:
        chol = np.linalg.cholesky(hess)
        rel_step = float(np.max(np.abs(np.linalg.solve(chol.T, np.linalg.solve(chol, grad)))))
        hess_pd = True
    except np.linalg.LinAlgError:
        rel_step = math.nan
        hess_pd = False
    return _OptState(phi, fun, grad, iterations, hess_pd, rel_step, note)


def _whitening(objective: _Objective, start: FloatArray) -> FloatArray | None:
    """Matrix S with S^T H S ~ I at the start (H = finite-difference Hessian), or None."""
    with np.errstate(all="ignore"):
        f0 = objective.precise(start)[0]
        hess = objective.hessian(start, f0)
    if not np.all(np.isfinite(hess)):
        return None
    eigval, eigvec = np.linalg.eigh(hess)
    scale = np.maximum(np.abs(eigval), max(1e-3 * float(np.abs(eigval).max()), 1e-10))
    return eigvec / np.sqrt(scale)


def _optimise_from(objective: _Objective, start: FloatArray) -> _OptState:
    """L-BFGS-B on log-parameters, then Newton polishing (see :func:`_newton_polish`).

    Objectives with ``precondition = True`` (Pareto/NBD: expensive, finite-difference gradient,
    strongly correlated s and beta) are first whitened with the Hessian at the start, which cuts the
    number of L-BFGS-B iterations several-fold; parameters are then clipped to the search box.
    """
    lower, upper = _LOG_LOWER, _LOG_UPPER
    options = {"maxiter": _MAX_LBFGS_ITER, "ftol": 1e-12, "gtol": 1e-7, "maxls": 50}
    whitening = _whitening(objective, start) if objective.precondition else None
    with np.errstate(all="ignore"):
        if whitening is None:
            res = optimize.minimize(
                objective,
                start,
                jac=True,
                method="L-BFGS-B",
                bounds=[(lower, upper)] * start.size,
                options=options,
            )
            phi = np.asarray(res.x, dtype=np.float64)
        else:
            w_mat = whitening

            def whitened(psi: FloatArray) -> tuple[float, FloatArray]:
                f, g = objective(np.clip(start + w_mat @ psi, lower, upper))
                return f, w_mat.T @ g

            res = optimize.minimize(
                whitened, np.zeros(start.size), jac=True, method="L-BFGS-B", options=options
            )
            phi = np.clip(start + w_mat @ np.asarray(res.x, dtype=np.float64), lower, upper)
        f0, g0 = objective.precise(phi)
        if np.any(phi <= lower + 1e-6) or np.any(phi >= upper - 1e-6):
            # Unidentified direction: the likelihood keeps improving towards the bound. Polishing
            # cannot help; report the point as is (the caller sees converged=False).
            state = _OptState(phi, f0, g0, 0, False, math.nan, "")
        else:
            state = _newton_polish(objective.precise, phi, f0, g0, objective.hessian)
    state.iterations += int(res.nit)
    if not state.note and res.status not in (0, 2):  # 2 = ABNORMAL_TERMINATION_IN_LNSRCH (benign)
        state.note = f"L-BFGS-B: {res.message}"
    return state


def _fit(
    objective: _Objective,
    starts: list[FloatArray],
    model: str,
    names: tuple[str, ...],
    n_customers: int,
) -> FitResult:
    """Run the optimiser from successive starts until one converges; keep the best."""
    best: _OptState | None = None
    total_iterations = 0
    at_bound_runs = 0
    for start in starts:
        state = _optimise_from(objective, start)
        total_iterations += state.iterations
        if best is None or (np.isfinite(state.fun) and state.fun < best.fun):
            best = state
        if _converged_problem(best, names) == "":
            break
        at_bound_runs += "search bound" in _converged_problem(state, names)
        if at_bound_runs >= 2:  # two starts agree the data do not identify a parameter
            break
    assert best is not None
    problem = _converged_problem(best, names)
    params = dict(zip(names, (float(v) for v in np.exp(best.phi)), strict=True))
    gmax = float(np.max(np.abs(best.grad)))
    diag = (
        f"max|grad|={gmax:.2e} (mean log-lik per customer w.r.t. log-params), "
        f"est. max rel. param error={best.rel_step:.1e}"
    )
    message = f"converged: {diag}" if not problem else f"not converged: {problem}; {diag}"
    return FitResult(
        model=model,
        params=params,
        log_likelihood=float(-best.fun * objective.total_weight),
        n_customers=n_customers,
        converged=not problem,
        message=message,
        iterations=total_iterations,
        max_abs_grad=gmax,
    )


def _converged_problem(state: _OptState, names: tuple[str, ...]) -> str:
    if not (np.isfinite(state.fun) and np.all(np.isfinite(state.grad))):
        return "non-finite log-likelihood or gradient"
    at_bound = [
        n
        for n, v in zip(names, state.phi, strict=True)
        if v <= _LOG_LOWER + 1e-6 or v >= _LOG_UPPER - 1e-6
    ]
    if at_bound:
        return (
            f"parameter(s) {at_bound} at the search bound [1e-6, 1e8] (not identified by the data)"
        )
    if float(np.max(np.abs(state.grad))) > _GTOL_CONVERGED:
        return "gradient not ~0" + (f" ({state.note})" if state.note else "")
    if not state.hess_pd:
        return "Hessian not positive definite (flat or saddle)"
    if not state.rel_step <= _STEP_TOL_CONVERGED:
        return (
            f"remaining Newton step {state.rel_step:.1e} (relative) > {_STEP_TOL_CONVERGED:g}: "
            "the likelihood is too flat to pin the parameters"
        )
    return ""


# --------------------------------------------------------------------------------------------------
# Pareto/NBD (Schmittlein, Morrison & Colombo 1987; Fader & Hardie 2005 note)
# --------------------------------------------------------------------------------------------------


def _pnbd_log_j(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, tau: FloatArray, which: str
) -> FloatArray:
    """log of (r+s+x) * J, for J_T = J(r+x+1, s; T) (``which="T"``) or J_tx = J(r+x, s+1; t_x).

    ``J(p, q; u) = int_u^inf (alpha+v)^-p (beta+v)^-q dv``. For alpha >= beta,
    ``J = (alpha+u)^-p (beta+u)^(1-q) 2F1(1, p; p+q; z) / (p+q-1)`` with
    ``z = (alpha-beta)/(alpha+u)``; for alpha < beta the roles of (alpha, p) and (beta, q) swap.
    These are Fader & Hardie's (2005) hypergeometric terms after Euler's transformation
    ``2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z)``, which bounds 2F1 by 1/(1-z).
    """
    c = r + s + x + 1.0
    if alpha >= beta:
        z = (alpha - beta) / (alpha + tau)
        eps = (beta + tau) / (alpha + tau)
        log_a, log_b = np.log(alpha + tau), np.log(beta + tau)
        if which == "T":
            return (
                -(r + x + 1.0) * log_a - (s - 1.0) * log_b + _log_hyp2f1_1bc(r + x + 1.0, c, z, eps)
            )
        return -(r + x) * log_a - s * log_b + _log_hyp2f1_1bc(r + x, c, z, eps)
    z = (beta - alpha) / (beta + tau)
    eps = (alpha + tau) / (beta + tau)
    log_a, log_b = np.log(alpha + tau), np.log(beta + tau)
    if which == "T":
        return -s * log_b - (r + x) * log_a + _log_hyp2f1_1bc(np.full(x.shape, s), c, z, eps)
    return (
        -(s + 1.0) * log_b
        - (r + x - 1.0) * log_a
        + _log_hyp2f1_1bc(np.full(x.shape, s + 1.0), c, z, eps)
    )


def _pnbd_pieces(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Return (log L, log P(alive)) per customer, deduplicating the 2F1 work on (x, T), (x, t_x)."""
    (xa_u, Ta_u), inv_a = _unique_rows(x, T) if x.size > 2048 else ([x, T], np.arange(x.size))
    (xb_u, tb_u), inv_b = _unique_rows(x, t_x) if x.size > 2048 else ([x, t_x], np.arange(x.size))
    log_jt = _pnbd_log_j(r, alpha, s, beta, xa_u, Ta_u, "T")[inv_a]
    log_jtx = _pnbd_log_j(r, alpha, s, beta, xb_u, tb_u, "tx")[inv_b]
    log_bracket = np.logaddexp(np.log(r + x) + log_jt, math.log(s) + log_jtx) - np.log(r + s + x)
    log_l = gammaln(r + x) - gammaln(r) + r * math.log(alpha) + s * math.log(beta) + log_bracket
    log_g_T = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    log_p_alive = np.minimum(log_g_T - log_bracket, 0.0)
    return log_l, log_p_alive


def pareto_nbd_log_likelihood(
    params: Mapping[str, float], x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> FloatArray:
    """Per-customer Pareto/NBD log-likelihood (SMC 1987; Fader & Hardie 2005 note, eqs. (17)-(18)).

    ``L = Gamma(r+x) alpha^r beta^s / Gamma(r) * [(alpha+T)^-(r+x) (beta+T)^-s + s A_0]``, evaluated
    as ``Gamma(r+x) alpha^r beta^s / Gamma(r) * [(r+x) J(r+x+1, s; T) + s J(r+x, s+1; t_x)]`` (same
    value; both terms positive, see the module docstring), with both hyp2f1 branches
    (alpha >= beta and alpha < beta).

    Args:
        params: ``{"r", "alpha", "s", "beta"}`` (alpha, beta in days).
        x: Repeat purchase days.
        t_x: Recency (days).
        T: Age (days).

    Returns:
        Array of log-likelihoods, one per customer.
    """
    r, alpha, s, beta = _check_params(params, PARETO_NBD_PARAMS, "pareto_nbd")
    xa, ta, Ta = _validate_rfm(x, t_x, T)
    return _pnbd_pieces(r, alpha, s, beta, xa, ta, Ta)[0]


def pareto_nbd_p_alive(
    params: Mapping[str, float], x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> FloatArray:
    """P(alive | x, t_x, T) under Pareto/NBD (Fader & Hardie 2005 note, eq. (19)).

    ``P = Gamma(r+x) alpha^r beta^s / Gamma(r) (alpha+T)^-(r+x) (beta+T)^-s / L``.
    """
    r, alpha, s, beta = _check_params(params, PARETO_NBD_PARAMS, "pareto_nbd")
    xa, ta, Ta = _validate_rfm(x, t_x, T)
    return np.exp(_pnbd_pieces(r, alpha, s, beta, xa, ta, Ta)[1])


def _pnbd_alive_expectation(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, T: FloatArray, t: FloatArray
) -> FloatArray:
    """(r+x)(beta+T)/((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)], with the s -> 1 limit."""
    log_ratio = np.log1p(t / (beta + T))
    k = (s - 1.0) * log_ratio
    with np.errstate(all="ignore"):
        g = np.where(
            np.abs(k) < 1e-5,
            log_ratio * (1.0 - k / 2.0 + k * k / 6.0),
            -np.expm1(-k) / (s - 1.0),
        )
    return (r + x) * (beta + T) / (alpha + T) * g


def pareto_nbd_conditional_expected_purchases(
    params: Mapping[str, float], t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> FloatArray:
    """E[Y(t) | x, t_x, T] under Pareto/NBD (Fader & Hardie 2005 note, eq. (21)).

    ``E = (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)] * P(alive)``; at
    s = 1 the bracket over (s-1) is its limit ``log((beta+T+t)/(beta+T))``.
    """
    r, alpha, s, beta = _check_params(params, PARETO_NBD_PARAMS, "pareto_nbd")
    tb, xb, txb, Tb, shape = _broadcast_rfm_t(t, x, t_x, T)
    log_p_alive = _pnbd_pieces(r, alpha, s, beta, xb, txb, Tb)[1]
    h = _pnbd_alive_expectation(r, alpha, s, beta, xb, Tb, tb)
    return (h * np.exp(log_p_alive)).reshape(shape)


def pareto_nbd_expected_purchases(params: Mapping[str, float], t: ArrayLike) -> FloatArray:
    """Unconditional E[X(t)] under Pareto/NBD (Fader & Hardie 2005 note, eq. (20)).

    ``E[X(t)] = r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)]`` (s = 1: its limit).

    Args:
        params: Pareto/NBD parameters (alpha, beta in days).
        t: Horizon(s) in days.

    Returns:
        Expected repeat purchases in (0, t], same shape as ``t``.
    """
    r, alpha, s, beta = _check_params(params, PARETO_NBD_PARAMS, "pareto_nbd")
    ta = np.asarray(t, dtype=np.float64)
    _require_finite("t", ta.ravel())
    if (ta < 0).any():
        raise ValueError("t must be >= 0")
    zeros = np.zeros(ta.shape)
    return _pnbd_alive_expectation(r, alpha, s, beta, zeros, zeros, ta)


class _ParetoNbdObjective(_Objective):
    """Mean negative Pareto/NBD log-likelihood with a central finite-difference gradient.

    The hypergeometric work depends only on (x, T) pairs (J_T) and (x, t_x) pairs (J_tx); both pair
    sets are deduplicated once, so an evaluation costs one 2F1 per distinct pair plus cheap
    per-triple arithmetic.
    """

    precondition = True

    def __init__(self, x: FloatArray, t_x: FloatArray, T: FloatArray, w: FloatArray) -> None:
        self.total_weight = float(w.sum())
        self.x, self.w = x, w
        (self.xa, self.Ta), self.inv_a = _unique_rows(x, T)
        (self.xb, self.tb), self.inv_b = _unique_rows(x, t_x)
        self.xs, ix = _factorize(x)
        self.ix = ix
        nx = np.bincount(ix, weights=w, minlength=self.xs.size)
        keep = nx > 0
        self.xs_k, self.nx_k = self.xs[keep], nx[keep]

    def value(self, phi: FloatArray) -> float:
        r, alpha, s, beta = np.exp(phi)
        log_jt = _pnbd_log_j(r, alpha, s, beta, self.xa, self.Ta, "T")
        log_jtx = _pnbd_log_j(r, alpha, s, beta, self.xb, self.tb, "tx")
        log_rx = np.log(r + self.xs)
        log_bracket = np.logaddexp(
            log_rx[self.ix] + log_jt[self.inv_a], math.log(s) + log_jtx[self.inv_b]
        )
        W = self.total_weight
        ll = _dot(self.w, log_bracket) + _dot(
            self.nx_k, gammaln(r + self.xs_k) - np.log(r + s + self.xs_k)
        )
        ll += W * (-gammaln(r) + r * math.log(alpha) + s * math.log(beta))
        return -ll / W if np.isfinite(ll) else math.inf

    def __call__(self, phi: FloatArray) -> tuple[float, FloatArray]:
        """Value and forward-difference gradient (cheap; accurate to ~1e-8, enough for L-BFGS-B)."""
        f0 = self.value(phi)
        step = 1e-7
        grad = np.empty(phi.size)
        for i in range(phi.size):
            e = np.zeros(phi.size)
            e[i] = step
            grad[i] = (self.value(phi + e) - f0) / step
        return f0, grad

    def precise(self, phi: FloatArray) -> tuple[float, FloatArray]:
        return self.value(phi), _fd_gradient(self.value, phi)

    def hessian(self, phi: FloatArray, f0: float) -> FloatArray:
        return _fd_hessian_from_values(self.value, phi, f0)


def _pareto_start_from_bgnbd(
    x: FloatArray, t_x: FloatArray, T: FloatArray, w: FloatArray
) -> FloatArray:
    """Starting point from a quick BG/NBD fit (cheap: analytic gradient).

    Both models share the NBD purchase process, so (r, alpha) carry over; the Pareto/NBD dropout
    rate mu ~ Gamma(s, beta) is matched to the BG/NBD mean dropout rate per day,
    E[lambda] E[p] = (r/alpha) a/(a+b), with s = 1.
    """
    bg = _BgnbdObjective(x, t_x, T, w)
    rate = _rate_guess(x, T, w)
    with np.errstate(all="ignore"):
        res = optimize.minimize(
            bg,
            np.log([1.0, 1.0 / rate, 1.0, 3.0]),
            jac=True,
            method="L-BFGS-B",
            bounds=[(_LOG_LOWER, _LOG_UPPER)] * 4,
            options={"maxiter": 200, "ftol": 1e-10, "gtol": 1e-6},
        )
    r, alpha, a, b = np.exp(res.x)
    mean_mu = (r / alpha) * a / (a + b)
    return np.clip(np.log([r, alpha, 1.0, 1.0 / mean_mu]), _LOG_LOWER + 1.0, _LOG_UPPER - 1.0)


def fit_pareto_nbd(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    weights: ArrayLike | None = None,
    *,
    min_repeat_buyers: int = DEFAULT_MIN_REPEAT_BUYERS,
    dedupe: bool = True,
) -> FitResult:
    """Maximum-likelihood Pareto/NBD fit (SMC 1987; likelihood of Fader & Hardie 2005).

    Same interface and degenerate-input behaviour as :func:`fit_bgnbd`; params ``r, alpha, s, beta``
    (alpha, beta in days). The gradient is a finite difference (forward during L-BFGS-B, central,
    step 1e-5 in log-parameters, for polishing and the convergence check); L-BFGS-B runs in
    coordinates whitened by the Hessian at the start, which is taken from a quick BG/NBD fit.
    """
    xa, ta, Ta, w = _prepare_rfm_fit(x, t_x, T, weights, dedupe)
    n = int(round(float(w.sum())))
    reason = _repeat_buyer_problem(xa, w, min_repeat_buyers)
    if reason:
        return _degenerate("pareto_nbd", PARETO_NBD_PARAMS, n, reason)
    objective = _ParetoNbdObjective(xa, ta, Ta, w)
    rate = _rate_guess(xa, Ta, w)
    mean_T = max(_dot(w, Ta) / float(w.sum()), 1.0)
    starts = [
        _pareto_start_from_bgnbd(xa, ta, Ta, w),
        np.log([1.0, 1.0 / rate, 1.0, mean_T]),
        np.log([0.3, 0.3 / rate, 0.5, 0.5 * mean_T]),
        np.log([3.0, 3.0 / rate, 3.0, 3.0 * mean_T]),
    ]
    return _fit(objective, starts, "pareto_nbd", PARETO_NBD_PARAMS, n)


# --------------------------------------------------------------------------------------------------
# Gamma-Gamma (Fader, Hardie & Lee 2005 JMR; Colombo & Jiang 1999)
# --------------------------------------------------------------------------------------------------


def _validate_monetary(x: ArrayLike, m: ArrayLike) -> tuple[FloatArray, FloatArray]:
    xa, ma = _as_1d_float("x", x), _as_1d_float("m", m)
    if xa.shape != ma.shape:
        raise ValueError(f"x and m must have the same length: {xa.size}, {ma.size}")
    _require_finite("x", xa)
    if (xa < 0).any() or (xa != np.floor(xa)).any():
        raise ValueError("x (number of repeat purchases) must be whole numbers >= 0")
    rep = xa > 0
    _require_finite("m (where x > 0)", ma[rep])
    if (ma[rep] <= 0).any():
        raise ValueError(
            f"m must be > 0 where x > 0 ({int((ma[rep] <= 0).sum())} customer(s) have mean repeat "
            "spend <= 0); exclude them from the Gamma-Gamma fit"
        )
    return xa, ma


def gamma_gamma_log_likelihood(
    params: Mapping[str, float], x: ArrayLike, m: ArrayLike
) -> FloatArray:
    """Per-customer Gamma-Gamma log-likelihood of the mean repeat spend m given x (x > 0).

    Transactions z_i ~ Gamma(p, nu), nu ~ Gamma(q, gamma) (Colombo & Jiang 1999; FHL 2005 JMR), so
    the mean of x transactions has density
    ``f(m | x) = Gamma(px+q) / (Gamma(px) Gamma(q)) gamma^q m^(px-1) x^(px)
    / (gamma + m x)^(px+q)``.

    Returns:
        Log-likelihood per customer; NaN where x == 0 (no repeat purchases, m undefined).
    """
    p, q, gamma = _check_params(params, GAMMA_GAMMA_PARAMS, "gamma_gamma")
    xa, ma = _validate_monetary(x, m)
    out = np.full(xa.shape, np.nan)
    rep = xa > 0
    xr, mr = xa[rep], ma[rep]
    out[rep] = (
        gammaln(p * xr + q)
        - gammaln(p * xr)
        - gammaln(q)
        + q * math.log(gamma)
        + (p * xr - 1.0) * np.log(mr)
        + p * xr * np.log(xr)
        - (p * xr + q) * np.log(gamma + mr * xr)
    )
    return out


def gamma_gamma_population_mean(params: Mapping[str, float]) -> float:
    """Population mean spend per transaction, E[M] = p gamma / (q - 1); inf when q <= 1."""
    p, q, gamma = _check_params(params, GAMMA_GAMMA_PARAMS, "gamma_gamma")
    return p * gamma / (q - 1.0) if q > 1.0 else math.inf


def gamma_gamma_conditional_expected_spend(
    params: Mapping[str, float], x: ArrayLike, m: ArrayLike
) -> FloatArray:
    """E[M | x, m] = p (gamma + m x) / (p x + q - 1) (FHL 2005 JMR, eq. (6)).

    Equivalently a weighted average of the population mean p gamma / (q-1) (weight
    (q-1)/(px+q-1)) and the customer's observed mean m (weight px/(px+q-1)). For x == 0 this is
    the population mean (m is ignored and may be NaN). NaN where p x + q - 1 <= 0 (mean undefined,
    only possible when q <= 1).
    """
    p, q, gamma = _check_params(params, GAMMA_GAMMA_PARAMS, "gamma_gamma")
    xa, ma = _validate_monetary(x, m)
    m_used = np.where(xa > 0, ma, 0.0)
    denom = p * xa + q - 1.0
    with np.errstate(all="ignore"):
        return np.where(denom > 0, p * (gamma + m_used * xa) / denom, np.nan)


class _GammaGammaObjective(_Objective):
    """Mean negative Gamma-Gamma log-likelihood and analytic gradient in log-parameters.

    Only ``log(gamma + m x)`` needs a pass over the customers per evaluation; the gammaln/digamma
    terms depend on x only and the ``log m`` terms are constants.
    """

    def __init__(self, x: FloatArray, m: FloatArray, w: FloatArray) -> None:
        self.total_weight = float(w.sum())
        self.mx = m * x
        self.w = w
        self.wx = w * x
        log_m = np.log(m)
        self.s_wx_logm = _dot(self.wx, log_m)
        self.s_w_logm = _dot(w, log_m)
        xs, ix = _factorize(x)
        nx = np.bincount(ix, weights=w, minlength=xs.size)
        keep = nx > 0
        self.xs, self.nx = xs[keep], nx[keep]
        self.s_xlogx = _dot(self.nx, self.xs * np.log(self.xs))

    def __call__(self, phi: FloatArray) -> tuple[float, FloatArray]:
        p, q, gamma = np.exp(phi)
        xs, nx, W = self.xs, self.nx, self.total_weight
        y = self.mx + gamma
        log_y = np.log(y)
        inv_y = 1.0 / y
        s_wx_ly, s_w_ly = _dot(self.wx, log_y), _dot(self.w, log_y)
        s_wx_iy, s_w_iy = _dot(self.wx, inv_y), _dot(self.w, inv_y)
        px = p * xs
        ll = _dot(nx, gammaln(px + q) - gammaln(px))
        ll += W * (q * math.log(gamma) - gammaln(q))
        ll += p * self.s_xlogx + p * self.s_wx_logm - self.s_w_logm - p * s_wx_ly - q * s_w_ly
        dig = digamma(px + q)
        g_p = _dot(nx, xs * (dig - digamma(px))) + self.s_xlogx + self.s_wx_logm - s_wx_ly
        g_q = _dot(nx, dig) + W * (math.log(gamma) - digamma(q)) - s_w_ly
        g_gamma = W * q / gamma - p * s_wx_iy - q * s_w_iy
        grad = np.array([g_p * p, g_q * q, g_gamma * gamma])
        return -ll / W, -grad / W


def fit_gamma_gamma(
    x: ArrayLike,
    m: ArrayLike,
    weights: ArrayLike | None = None,
    *,
    min_repeat_buyers: int = DEFAULT_MIN_REPEAT_BUYERS,
) -> FitResult:
    """Maximum-likelihood Gamma-Gamma fit on customers with x > 0 (rows with x == 0 are ignored).

    Args:
        x: Repeat purchase count per customer.
        m: Mean value of the repeat purchases (> 0 where x > 0; ignored, may be NaN, where x == 0).
        weights: Optional customer weights.
        min_repeat_buyers: Minimum (weighted) number of customers with x > 0.

    Returns:
        FitResult with ``model="gamma_gamma"`` and params ``p, q, gamma``; ``n_customers`` counts
        the customers with x > 0. Degenerate inputs give ``converged=False`` and NaN params.

    Raises:
        ValueError: On NaN/inf x, NaN/inf or non-positive m where x > 0, or invalid weights.
    """
    xa, ma = _validate_monetary(x, m)
    w = _validate_weights(weights, xa.size)
    use = (xa > 0) & (w > 0)
    xr, mr, wr = xa[use], ma[use], w[use]
    n = int(round(float(wr.sum())))
    if n == 0 or wr.sum() < min_repeat_buyers:
        reason = (
            "no repeat buyers (all x == 0): spend per repeat purchase is not observed"
            if wr.sum() == 0
            else f"only {wr.sum():g} repeat buyer(s), fewer than "
            f"min_repeat_buyers={min_repeat_buyers}"
        )
        return _degenerate("gamma_gamma", GAMMA_GAMMA_PARAMS, n, reason)
    objective = _GammaGammaObjective(xr, mr, wr)
    mean_m = _dot(wr, mr) / float(wr.sum())
    starts = [
        np.log([1.0, 2.0, mean_m]),
        np.log([5.0, 5.0, 0.8 * mean_m]),
        np.log([0.5, 1.5, 1.0 * mean_m]),
    ]
    return _fit(objective, starts, "gamma_gamma", GAMMA_GAMMA_PARAMS, n)


# --------------------------------------------------------------------------------------------------
# CLV
# --------------------------------------------------------------------------------------------------


def _discount_factors(months: int, monthly_discount_rate: float) -> FloatArray:
    if not (math.isfinite(monthly_discount_rate) and monthly_discount_rate > -1.0):
        raise ValueError("monthly_discount_rate must be finite and > -1")
    if months < 1:
        raise ValueError("months must be >= 1")
    return (1.0 + monthly_discount_rate) ** -np.arange(1, months + 1, dtype=np.float64)


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
    if not math.isfinite(margin):
        raise ValueError("margin must be finite")
    if not (math.isfinite(days_per_month) and days_per_month > 0):
        raise ValueError("days_per_month must be > 0")
    discount = _discount_factors(months, monthly_discount_rate)
    xa, ta, Ta = _validate_rfm(x, t_x, T)
    spend = gamma_gamma_conditional_expected_spend(spend_params, xa, m)
    horizons = days_per_month * np.arange(0, months + 1, dtype=np.float64)
    if set(BGNBD_PARAMS) <= set(purchase_params):
        r, alpha, a, b = _check_params(purchase_params, BGNBD_PARAMS, "bgnbd")
        p_alive = expit(-_bgnbd_log_odds_dead(r, alpha, a, b, xa, ta, Ta))

        def alive_expectation(xs: FloatArray, Ts: FloatArray, t: float) -> FloatArray:
            return _bgnbd_alive_expectation(r, alpha, a, b, xs, Ts, np.full(xs.shape, t))

    elif set(PARETO_NBD_PARAMS) <= set(purchase_params):
        r, alpha, s, beta = _check_params(purchase_params, PARETO_NBD_PARAMS, "pareto_nbd")
        p_alive = np.exp(_pnbd_pieces(r, alpha, s, beta, xa, ta, Ta)[1])

        def alive_expectation(xs: FloatArray, Ts: FloatArray, t: float) -> FloatArray:
            return _pnbd_alive_expectation(r, alpha, s, beta, xs, Ts, np.full(xs.shape, t))

    else:
        raise ValueError(
            f"purchase_params must hold BG/NBD {list(BGNBD_PARAMS)} or Pareto/NBD "
            f"{list(PARETO_NBD_PARAMS)} parameters, got {sorted(purchase_params)}"
        )
    # The alive-expectation depends on (x, T) only: evaluate it once per distinct pair.
    (xu, Tu), inverse = _unique_rows(xa, Ta)
    cumulative = np.stack([alive_expectation(xu, Tu, float(h)) for h in horizons[1:]], axis=1)
    increments = np.diff(cumulative, axis=1, prepend=0.0)
    discounted_purchases = (increments @ discount)[inverse] * p_alive
    return discounted_purchases * spend * margin


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
    spend = _as_1d_float("total_spend", total_spend)
    Ta = _as_1d_float("T", T)
    if spend.shape != Ta.shape:
        raise ValueError("total_spend and T must have the same length")
    _require_finite("total_spend", spend)
    _require_finite("T", Ta)
    if (Ta < 0).any():
        raise ValueError("T must be >= 0")
    if not (min_tenure_days > 0 and days_per_month > 0 and math.isfinite(margin)):
        raise ValueError("min_tenure_days and days_per_month must be > 0, margin finite")
    annuity = float(_discount_factors(months, monthly_discount_rate).sum())
    monthly = spend / np.maximum(Ta, min_tenure_days) * days_per_month
    clv = monthly * margin * annuity
    if t_x is not None:
        ta = _as_1d_float("t_x", t_x)
        if ta.shape != Ta.shape:
            raise ValueError("t_x and T must have the same length")
        _require_finite("t_x", ta)
        if (ta > Ta).any() or (ta < 0).any():
            raise ValueError("t_x must satisfy 0 <= t_x <= T")
        clv = np.where(Ta - ta > inactive_after_days, 0.0, clv)
    return clv
