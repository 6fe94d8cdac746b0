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
    * likelihoods are evaluated in log space (gammaln/betaln/logaddexp); the BG/NBD softplus term
      as ``u + log1p(exp(-u))``, exact without clipping: ``u >= log(a) - log(b+x-1)`` is far above
      -700 inside the search box (t_x <= T), so exp(-u) can only underflow, harmlessly to 0;
      P(alive) is ``1 / (1 + exp(u))`` (overflow gives 0, as it should);
    * the Pareto/NBD likelihood is written as a sum of two positive terms (no cancellation),
      ``C * [(r+x) J(r+x+1, s; T) + s J(r+x, s+1; t_x)]`` with
      ``J(p, q; u) = int_u^inf (alpha+v)^-p (beta+v)^-q dv``, which is the Fader-Hardie (2005)
      expression regrouped; J is evaluated through 2F1(1, b; c; z) after an Euler transformation,
      for which ``1 <= 2F1 <= 1/(1-z)``, so nothing overflows. scipy's ``hyp2f1`` is used where its
      result is trustworthy (z <= 0.95, inside the bounds), and a 128-node Gauss-Legendre rule on a
      log-stretched integral representation (accurate to ~1e-12 in log, checked against mpmath)
      elsewhere: near z = 1 scipy returns NaN/inf for large b and can be silently wrong by orders
      of magnitude when c - a - b is close to an integer;
    * the BG/NBD conditional expectation uses the Euler-transformed 2F1 (bounded for large x),
      written in kappa = t/(alpha+T) (z = kappa/(1+kappa), (1-z)^(a-1) = exp(-(a-1) log1p(kappa)),
      relative error vs mpmath ~4e-13), and interpolates it near its removable 0/0 points
      (a = 1, a+b+x-1 = 0); adaptive quadrature of
      ``E_{p~Beta(a, b+x)}[(1 - (1 + p t/(alpha+T))^-(r+x)) / p]`` is the last resort. It depends
      on (x, T, t) only: predictions evaluate it once per distinct (x, T) pair for all horizons
      at once (:func:`bgnbd_gamma_gamma_predictions`) and broadcast it back to the customers.

Fitting (:func:`fit_bgnbd`, :func:`fit_gamma_gamma`, :func:`fit_pareto_nbd`):
    * maximum likelihood on log-parameters; the result is the exact MLE (``FitResult.max_abs_grad``
      reports max |d(mean log-likelihood per customer)/d log(theta)|, and ``message`` the size of
      the remaining Newton step ``H^-1 g``, i.e. the estimated relative error of the parameters);
    * BG/NBD and Gamma-Gamma have analytic gradients and Hessians and are fitted by damped Newton
      (absolute eigenvalues of the Hessian far from the optimum, Armijo backtracking). BG/NBD first
      approaches the optimum on systematic subsamples of the repeat-buyer units (every k-th unit,
      weights times k: 12,000 units, then 8 times more while that is at most a quarter of the
      data): a subsample's optimum is within its sampling error of the full-data optimum, so the
      full data need only two or three Newton steps (quadratic convergence). Gamma-Gamma starts
      from closed-form log-moment estimates instead (``Var(log m | x) = psi'(p x) + psi'(q)``),
      which are about as close. Newton stops once the remaining step is at most 1e-8 in every
      log-parameter (max |gradient| then ~1e-10); a step of at most 1e-4 is expected to be the last
      one, and the point it reaches is evaluated without a new Hessian (the previous one certifies
      the remaining step). On the 100,000-buyer benchmark summary that is 5 + 2 + 1 evaluations of
      BG/NBD (subsample, full with Hessian, full gradient only) and 2 + 1 of Gamma-Gamma;
    * when Newton does not converge (flat or unidentified likelihoods), and always for Pareto/NBD,
      L-BFGS-B from several starts (finite-difference gradients for Pareto/NBD, whose L-BFGS-B
      runs in coordinates whitened by the starting Hessian) is followed by Newton polishing with
      the analytic (BG/NBD, Gamma-Gamma) or a finite-difference (Pareto/NBD) Hessian;
    * scalar work is kept off BLAS (``np.einsum`` inner products): with a threaded OpenBLAS on a
      busy 2-core machine, tiny BLAS calls were measured up to 100x slower; the L-BFGS-B internals
      still call BLAS, so ``OPENBLAS_NUM_THREADS=1`` makes small fits faster still;
    * the BG/NBD and Pareto/NBD likelihoods depend only on (x, t_x, T); terms that depend only on x
      (or only on T, or on (x, T) pairs) are aggregated, so that for BG/NBD only a softplus term
      per repeat buyer remains, evaluated in cache-sized blocks ordered by x. Collapsing the
      customers to distinct triples (:func:`compress`) takes a sort, which the few Newton
      evaluations only repay on large inputs (measured on 665,000 buyers with 400,000 distinct
      repeat-buyer triples: 97 ms with, 79 ms without); ``fit_bgnbd`` therefore collapses
      unweighted whole-number inputs from 1,000,000 customers on, ``fit_pareto_nbd`` (expensive
      evaluations) always;
    * degenerate inputs (no or fewer than ``min_repeat_buyers`` repeat buyers, empty input) do not
      raise: they return ``converged=False``, NaN parameters and the reason in ``message``; NaN/inf
      or otherwise invalid inputs raise ``ValueError``.

Run ``uv run python -m benchmarks.clv_fit`` for a benchmark (5M customers).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import integrate, optimize
from scipy.special import betaln, digamma, gammaln, hyp2f1, logsumexp, zeta

__all__ = [
    "BGNBD_PARAMS",
    "DAYS_PER_MONTH",
    "DEFAULT_MIN_REPEAT_BUYERS",
    "GAMMA_GAMMA_PARAMS",
    "PARETO_NBD_PARAMS",
    "FitResult",
    "ClvPredictions",
    "bgnbd_conditional_expected_purchases",
    "bgnbd_expected_purchases",
    "bgnbd_gamma_gamma_predictions",
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
_STEP_TOL_NEWTON = 1e-8
# Units processed per block in the likelihood loops (temporaries of 256 KiB stay in cache).
_BLOCK = 1 << 15
# Size of the subsample on which the Newton fits first approach the optimum.
_SUBSAMPLE_UNITS = 12_000
_GG_MOMENT_UNITS = 100_000
_BGNBD_MIN_DEDUPE = 1_000_000
_SUBSAMPLE_STEP_TOL = 1e-2


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

    Non-negative whole numbers are packed into one int64 key; when the key range is small (at most
    ``max(4 n, 2^20)``, e.g. (x, T) pairs in days) the distinct keys are found with a dense
    ``np.bincount`` and a lookup table (no sort), otherwise with one ``np.unique`` over integers.
    Other data fall back to ``np.unique(axis=0)``. Rows come out in lexicographic order either way.
    """
    n = cols[0].size
    if n == 0:
        return [c.copy() for c in cols], np.zeros(0, dtype=np.intp)
    if all(_is_small_nonneg_int(c, 1 << 40) for c in cols):
        spans = [int(c.max()) + 1 for c in cols]
        if math.prod(spans) < (1 << 62):
            key = cols[0].astype(np.int64)
            for c, span in zip(cols[1:], spans[1:], strict=True):
                key *= span
                key += c.astype(np.int64)
            if math.prod(spans) <= max(4 * n, 1 << 20):
                uniq = np.flatnonzero(np.bincount(key, minlength=math.prod(spans)))
                lookup = np.zeros(math.prod(spans), dtype=np.intp)
                lookup[uniq] = np.arange(uniq.size)
                inverse = lookup.take(key)
            else:
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


def _distinct_counts(
    x: FloatArray, t_x: FloatArray, T: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, NDArray[np.int64]] | None:
    """Distinct (x, t_x, T) rows in lexicographic order and how often each occurs, for whole
    numbers (None otherwise): the rows are packed into one integer key (int32 when it fits) and
    the keys sorted in place, which is several times faster than ``np.unique`` with an inverse
    (not needed for counting)."""
    cols = (x, t_x, T)
    if not all(_is_small_nonneg_int(c, 1 << 40) for c in cols):
        return None
    spans = [int(c.max()) + 1 for c in cols]
    if math.prod(spans) >= 1 << 62:
        return None
    key = x.astype(np.int64)
    for c, span in zip(cols[1:], spans[1:], strict=True):
        key *= span
        key += c.astype(np.int64)
    if math.prod(spans) < 1 << 31:
        key = key.astype(np.int32)
    key.sort()
    new = np.ones(key.size, dtype=bool)
    np.not_equal(key[1:], key[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, key.size)).astype(np.int64)
    rest = key.take(starts).astype(np.int64)
    out: list[FloatArray] = []
    for span in reversed(spans[1:]):
        out.append((rest % span).astype(np.float64))
        rest //= span
    return rest.astype(np.float64), out[1], out[0], counts


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
    if weights is None:
        counted = _distinct_counts(xa, ta, Ta)
        if counted is not None:
            return counted
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
    units: int = 0

    def __call__(self, phi: FloatArray) -> tuple[float, FloatArray]:
        raise NotImplementedError

    def precise(self, phi: FloatArray) -> tuple[float, FloatArray]:
        return self(phi)

    def hessian(self, phi: FloatArray, f0: float) -> FloatArray:
        return _fd_hessian(self, phi)

    def evaluate(self, phi: FloatArray, order: int) -> tuple[float, FloatArray, FloatArray | None]:
        """Value, gradient (order >= 1) and Hessian (order 2); analytic objectives only."""
        raise NotImplementedError

    def subsample(self, target: int) -> _Objective | None:
        """The objective on every k-th unit, k = units // target (weights times k), or None."""
        return None


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
    # in place, one temporary: these arrays are as long as the customer base
    out = np.add(T, alpha)
    np.log(out, out=out)
    tmp = np.add(t_x, alpha)
    np.log(tmp, out=tmp)
    out -= tmp
    out *= np.add(x, r, out=tmp)
    with np.errstate(invalid="ignore", divide="ignore"):  # log(b - 1) at x == 0, replaced below
        np.log(np.add(x, b - 1.0, out=tmp), out=tmp)
    out -= tmp
    out += math.log(a)
    np.copyto(out, -np.inf, where=x == 0)
    return out


def _p_alive_from_log_odds(log_odds: FloatArray) -> FloatArray:
    """1 / (1 + exp(u)), in place (exp overflows harmlessly to inf: P(alive) = 0)."""
    with np.errstate(over="ignore"):
        p = np.exp(log_odds)
    p += 1.0
    return np.reciprocal(p, out=p)


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
    return _p_alive_from_log_odds(_bgnbd_log_odds_dead(r, alpha, a, b, xa, ta, Ta))


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
    r: float, a: float, b: float, x: FloatArray, kappa: FloatArray, log1p_kappa: FloatArray
) -> FloatArray:
    """Closed form of :func:`_bgnbd_alive_expectation` (NaN where scipy fails), in terms of
    kappa = t / (alpha+T) > 0: z = kappa / (1+kappa), (1-z)^(a-1) = exp(-(a-1) log1p(kappa))."""
    c = a + b + x - 1.0
    with np.errstate(all="ignore"):
        scaled = (1.0 - a) * log1p_kappa
        f = hyp2f1(a + b - 1.0 - r, a - 1.0, c, kappa / (1.0 + kappa))
        if (f > 0).all():
            val = np.log(f)
            val += scaled
            np.expm1(val, out=val)
            val *= -c / (a - 1.0)
            return val
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
    pos = t > 0
    every = bool(pos.all())
    if not (every or pos.any()):
        return np.zeros(x.shape)
    xp, Tp, tp = (x, T, t) if every else (x[pos], T[pos], t[pos])
    kappa = tp / (alpha + Tp)
    log1p_kappa = np.log1p(kappa)
    rx = r + xp
    hi = rx * kappa
    lo = rx * log1p_kappa
    np.negative(lo, out=lo)
    np.expm1(lo, out=lo)
    np.negative(lo, out=lo)  # 1 - (1+kappa)^-(r+x)
    near_a1 = abs(a - 1.0) < 1e-3
    if near_a1:
        a_nodes = 1.0 + _INTERP_OFFSETS
        weights = _lagrange_weights(a_nodes, a)
        val = sum(
            w * _bgnbd_alive_closed(r, ak, b, xp, kappa, log1p_kappa)
            for w, ak in zip(weights, a_nodes, strict=True)
        )
    else:
        val = _bgnbd_alive_closed(r, a, b, xp, kappa, log1p_kappa)
    c = a + b + xp - 1.0
    near_c0 = np.abs(c) < 1e-3  # only possible for x == 0 with a + b close to 1
    if near_c0.any():
        c0 = float(c[near_c0][0])
        b_nodes = b + (_INTERP_OFFSETS - c0)
        if near_a1 or b_nodes.min() <= 0:
            val[near_c0] = np.nan  # QAWS below
        else:
            weights = _lagrange_weights(b_nodes, b)
            args = (xp[near_c0], kappa[near_c0], log1p_kappa[near_c0])
            val[near_c0] = sum(
                w * _bgnbd_alive_closed(r, a, bk, *args)
                for w, bk in zip(weights, b_nodes, strict=True)
            )
    ok = np.isfinite(val) & (val >= lo * (1 - 1e-9)) & (val <= hi * (1 + 1e-9))
    if not ok.all():
        for i in np.flatnonzero(~ok):
            val[i] = _bgnbd_alive_expectation_qaws(r + xp[i], a, b + xp[i], float(kappa[i]))
    np.maximum(val, lo, out=val)
    np.minimum(val, hi, out=val)
    if every:
        return val
    out = np.zeros(x.shape)
    out[pos] = val
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
    p_alive = _p_alive_from_log_odds(_bgnbd_log_odds_dead(r, alpha, a, b, xb, txb, Tb))
    h = _dedup_alive_expectation(
        lambda xs, Ts, ts: _bgnbd_alive_expectation(r, alpha, a, b, xs, Ts, ts), xb, Tb, tb
    )
    return (h * p_alive).reshape(shape)


class _BgnbdObjective(_Objective):
    """Mean negative BG/NBD log-likelihood, analytic gradient and Hessian in log-parameters.

    With u = log(A4/A3) the log-likelihood of a customer is
    ``[lgamma(r+x) - lgamma(r) + r log(alpha) + log B(a, b+x) - log B(a, b)] - (r+x) log(alpha+T)
    + [x > 0] softplus(u)``, ``u = log(a) - log(b+x-1) + (r+x) (log(alpha+T) - log(alpha+t_x))``.
    The first bracket is summed per distinct x, the second per distinct T; only the softplus term
    needs a pass over the repeat-buyer units. Those are kept ordered by x, so that the per-unit
    products reduce to per-x sums with one ``np.add.reduceat`` (the derivatives of u in b, and the
    factor r+x, depend on x only), and are processed in blocks of ``_BLOCK`` units so that the
    temporaries stay in cache. log(alpha + T), 1/(alpha + T), ... come from tables over the
    distinct T and t_x values (gathers instead of logarithms per unit).
    """

    def __init__(self, x: FloatArray, t_x: FloatArray, T: FloatArray, w: FloatArray) -> None:
        self.Ts, iT = _factorize(T)
        # one stable sort by x: the x == 0 customers first, then the repeat buyers ordered by x
        order = _stable_order(x)
        n0 = x.size - int(np.count_nonzero(x))
        tail = order[n0:]
        self.ux, self.uw, self.uT = x.take(tail), w.take(tail), iT.take(tail)
        self.txs, self.utx = _factorize(t_x.take(tail))
        self.w0 = float(w.sum()) - float(self.uw.sum()) if n0 else 0.0
        self._aggregate(np.bincount(iT, weights=w, minlength=self.Ts.size))

    def _aggregate(self, wT: FloatArray) -> None:
        """Per-x and per-T weights and the block plan (``wT``: total weight per distinct T)."""
        ux, uw = self.ux, self.uw
        n = self.units = ux.size
        new_x = np.empty(n, dtype=bool)
        new_x[:1] = True
        np.not_equal(ux[1:], ux[:-1], out=new_x[1:])
        starts = np.flatnonzero(new_x)
        self.useg = np.cumsum(new_x) - 1
        self.seg_x = ux.take(starts)
        self.seg_w = np.add.reduceat(uw, starts) if n else np.zeros(0)
        xs, nx = self.seg_x, self.seg_w
        if self.w0 > 0:
            xs, nx = np.concatenate(([0.0], xs)), np.concatenate(([self.w0], nx))
        self.xs, self.nx = xs, nx
        self.total_weight = float(self.w0 + self.seg_w.sum())
        self.wT = wT
        self.xwT = np.bincount(self.uT, weights=uw * ux, minlength=self.Ts.size)
        self.blocks: list[tuple[int, int, NDArray[np.intp], NDArray[np.intp]]] = []
        for lo in range(0, n, _BLOCK):
            hi = min(lo + _BLOCK, n)
            local = np.flatnonzero(new_x[lo:hi])
            if local.size == 0 or local[0] != 0:
                local = np.concatenate(([0], local))
            self.blocks.append((lo, hi, local, self.useg[lo:hi].take(local)))

    def subsample(self, target: int) -> _BgnbdObjective | None:
        """The same objective on every k-th repeat-buyer unit (weights times k); the x == 0 part
        is kept whole (it costs nothing per evaluation). The units are ordered by x, so the
        sample is stratified by x."""
        k = self.units // max(target, 1)
        if k < 2:
            return None
        size = self.Ts.size
        sub = object.__new__(_BgnbdObjective)
        sub.Ts, sub.txs, sub.w0 = self.Ts, self.txs, self.w0
        sub.ux, sub.uT, sub.utx = self.ux[::k].copy(), self.uT[::k].copy(), self.utx[::k].copy()
        sub.uw = self.uw[::k] * float(k)
        once_T = self.wT - np.bincount(self.uT, weights=self.uw, minlength=size)
        sub._aggregate(once_T + np.bincount(sub.uT, weights=sub.uw, minlength=size))
        return sub

    def evaluate(self, phi: FloatArray, order: int) -> tuple[float, FloatArray, FloatArray | None]:
        """Mean negative log-likelihood, gradient (order >= 1) and Hessian (order 2) in phi."""
        theta = np.exp(phi)
        r, alpha, a, b = (float(v) for v in theta)
        xs, nx, W = self.xs, self.nx, self.total_weight
        g = np.zeros(4)
        h = np.zeros((4, 4))
        # Terms per distinct x.
        ll = _dot(nx, gammaln(r + xs) + betaln(a, b + xs)) - W * (
            gammaln(r) + betaln(a, b) - r * math.log(alpha)
        )
        if order >= 1:
            dig_ab, dig_abx = digamma(a + b), digamma(a + b + xs)
            g[0] = _dot(nx, digamma(r + xs)) - W * (digamma(r) - math.log(alpha))
            g[1] = W * r / alpha
            g[2] = W * dig_ab - _dot(nx, dig_abx)
            g[3] = _dot(nx, digamma(b + xs) - dig_abx) - W * (digamma(b) - dig_ab)
        if order >= 2:
            tri_ab, tri_abx = _trigamma(a + b), _trigamma(a + b + xs)
            h[0, 0] = _dot(nx, _trigamma(r + xs)) - W * _trigamma(r)
            h[0, 1] = W / alpha
            h[1, 1] = -W * r / alpha**2
            h[2, 2] = h[2, 3] = W * tri_ab - _dot(nx, tri_abx)
            h[3, 3] = _dot(nx, _trigamma(b + xs) - tri_abx) - W * (_trigamma(b) - tri_ab)
        # Terms per distinct T.
        inv_T = 1.0 / (alpha + self.Ts)
        log_T = np.log(alpha + self.Ts)
        coef = r * self.wT + self.xwT
        ll -= _dot(coef, log_T)
        if order >= 1:
            g[0] -= _dot(self.wT, log_T)
            g[1] -= _dot(coef, inv_T)
        if order >= 2:
            h[0, 1] -= _dot(self.wT, inv_T)
            h[1, 1] += _dot(coef, inv_T * inv_T)
        # Softplus terms per repeat-buyer unit, reduced to per-x sums.
        if self.ux.size:
            with np.errstate(under="ignore"):
                ll_sp, sums = self._softplus_sums(r, alpha, a, b, log_T, inv_T, order)
            ll += ll_sp
            if order >= 1:
                rx = r + self.seg_x
                bx = 1.0 / (b + self.seg_x - 1.0)
                s_ws = float(sums[0].sum())
                g[0] += float(sums[1].sum())
                g[1] += _dot(rx, sums[2])
                g[2] += s_ws / a
                g[3] -= _dot(bx, sums[0])
            if order >= 2:
                s_v = float(sums[4].sum())
                h[0, 0] += float(sums[7].sum())
                h[0, 1] += _dot(rx, sums[8]) + float(sums[2].sum())
                h[1, 1] += _dot(rx * rx, sums[9]) - _dot(rx, sums[3])
                h[0, 2] += float(sums[5].sum()) / a
                h[1, 2] += _dot(rx, sums[6]) / a
                h[2, 2] += (s_v - s_ws) / a**2
                h[0, 3] -= _dot(bx, sums[5])
                h[1, 3] -= _dot(rx * bx, sums[6])
                h[2, 3] -= _dot(bx, sums[4]) / a
                h[3, 3] += _dot(bx * bx, sums[4] + sums[0])
        return _to_log_scale(ll, g, h, theta, W, order)

    def _softplus_sums(
        self,
        r: float,
        alpha: float,
        a: float,
        b: float,
        log_T: FloatArray,
        inv_T: FloatArray,
        order: int,
    ) -> tuple[float, FloatArray]:
        """sum w softplus(u), and per-x sums of w s (with s = expit(u)) and v = w s (1 - s) times
        d = du/dr, e = d(log(alpha+T) - log(alpha+t_x))/dalpha and e2 = -de/dalpha (rows in the
        order used by :meth:`evaluate`)."""
        log_tx = np.log(alpha + self.txs)
        inv_tx = 1.0 / (alpha + self.txs)
        if order >= 2:
            inv2_T, inv2_tx = inv_T * inv_T, inv_tx * inv_tx
        cx = math.log(a) - np.log(b + self.seg_x - 1.0)
        # u >= min(cx) as t_x <= T; only absurd x make exp(-u) overflow
        clip = bool(cx.min() < -700.0)
        rows = (1, 3, 10)[order]
        sums = np.zeros((rows, self.seg_x.size))
        if getattr(self, "_buf", None) is None:
            # reused across evaluations: fresh multi-MiB buffers cost page faults every time
            self._buf = np.empty((10, min(_BLOCK, self.units)))
        buf = self._buf
        ll = 0.0
        for lo, hi, local, segs in self.blocks:
            n = hi - lo
            x, w, iT, itx = self.ux[lo:hi], self.uw[lo:hi], self.uT[lo:hi], self.utx[lo:hi]
            d = log_T.take(iT)
            d -= log_tx.take(itx)
            u = x + r
            u *= d
            u += cx.take(self.useg[lo:hi])
            if clip:
                np.maximum(u, -700.0, out=u)
            # softplus(u) = u + log1p(exp(-u)); exp(-u) underflows harmlessly to 0 for large u
            ez = np.exp(-u)
            ll += _dot(w, u) + _dot(w, np.log1p(ez))
            if order == 0:
                continue
            den = ez + 1.0
            ws = np.divide(w, den, out=buf[0, :n])  # w expit(u)
            e = inv_T.take(iT)
            e -= inv_tx.take(itx)
            np.multiply(ws, d, out=buf[1, :n])
            np.multiply(ws, e, out=buf[2, :n])
            if order >= 2:
                e2 = inv2_T.take(iT)
                e2 -= inv2_tx.take(itx)
                np.multiply(ws, e2, out=buf[3, :n])
                v = np.multiply(ws, ez, out=buf[4, :n])  # w s (1 - s) = w s exp(-u) / (1 + exp(-u))
                v /= den
                vd = np.multiply(v, d, out=buf[5, :n])
                ve = np.multiply(v, e, out=buf[6, :n])
                np.multiply(vd, d, out=buf[7, :n])
                np.multiply(vd, e, out=buf[8, :n])
                np.multiply(ve, e, out=buf[9, :n])
            sums[:, segs] += np.add.reduceat(buf[:rows, :n], local, axis=1)
        return ll, sums

    def __call__(self, phi: FloatArray) -> tuple[float, FloatArray]:
        f, g, _ = self.evaluate(phi, 1)
        return f, g

    def hessian(self, phi: FloatArray, f0: float) -> FloatArray:
        hess = self.evaluate(phi, 2)[2]
        assert hess is not None
        return hess


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
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    weights: ArrayLike | None,
    dedupe: bool,
    min_dedupe: int = 0,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    xa, ta, Ta = _validate_rfm(x, t_x, T)
    w = _validate_weights(weights, xa.size)
    pos = w > 0
    if not pos.all():
        xa, ta, Ta, w = xa[pos], ta[pos], Ta[pos], w[pos]
    if dedupe and xa.size and xa.size >= min_dedupe:
        counted = _distinct_counts(xa, ta, Ta) if weights is None else None
        if counted is not None:
            xa, ta, Ta = counted[:3]
            w = counted[3].astype(np.float64)
        elif not min_dedupe:
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
        dedupe: Allow collapsing the customers to distinct (x, t_x, T) triples (same result);
            done for unweighted whole-number inputs from 1,000,000 customers on, where the sort
            pays for itself.

    Returns:
        FitResult with ``model="bgnbd"`` and params ``r, alpha, a, b`` (alpha in days). Degenerate
        inputs give ``converged=False``, NaN params and the reason in ``message``.

    Raises:
        ValueError: On NaN/inf or otherwise invalid inputs (see :func:`compress`).
    """
    xa, ta, Ta, w = _prepare_rfm_fit(x, t_x, T, weights, dedupe, _BGNBD_MIN_DEDUPE)
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
    return _fit_newton(objective, starts, "bgnbd", BGNBD_PARAMS, n)


def _repeat_buyer_problem(x: FloatArray, w: FloatArray, min_repeat_buyers: int) -> str:
    if x.size == 0:
        return "no customers with positive weight"
    n_rep = _dot(w, (x > 0).astype(np.float64))
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


def _trigamma(v: FloatArray | float) -> FloatArray:
    """psi'(v) as the Hurwitz zeta function zeta(2, v) (a ufunc, unlike ``polygamma``)."""
    return zeta(2.0, v)


def _stable_order(x: FloatArray) -> NDArray[np.intp]:
    """Stable sort order of validated counts (whole numbers >= 0): below 2^16 numpy's O(n)
    radix sort on uint16 applies."""
    if x.size and x.max() < 65536:
        return np.argsort(x.astype(np.uint16), kind="stable")
    return np.argsort(x, kind="stable")


def _to_log_scale(
    ll: float, g: FloatArray, h: FloatArray, theta: FloatArray, total: float, order: int
) -> tuple[float, FloatArray, FloatArray | None]:
    """(-ll, -grad, -Hessian) / total in log-parameters, from the derivatives in theta (the Hessian
    given by its upper triangle)."""
    f = -ll / total
    g_phi = g * theta
    if order < 2:
        return f, -g_phi / total, None
    k = theta.size
    h_phi = h + h.T
    h_phi.flat[:: k + 1] *= 0.5
    h_phi *= theta[:, None] * theta
    h_phi.flat[:: k + 1] += g_phi
    h_phi *= -1.0 / total
    return f, -g_phi / total, h_phi


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
    best.iterations = total_iterations
    return _result(objective, best, model, names, n_customers)


def _result(
    objective: _Objective, best: _OptState, model: str, names: tuple[str, ...], n_customers: int
) -> FitResult:
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
        iterations=best.iterations,
        max_abs_grad=gmax,
    )


def _newton(
    objective: _Objective, phi: FloatArray, step_tol: float, max_iter: int = 100
) -> _OptState:
    """Damped Newton iterations with the analytic Hessian of ``objective.evaluate``.

    Far from the optimum a Hessian that is not positive definite is replaced by its absolute
    eigenvalues, steps are capped at 2 in log-parameters and backtracked (Armijo). Stops when the
    Newton step ``H^-1 g`` (the estimated relative error of every parameter) is at most
    ``step_tol``, when below 1e-6 it no longer shrinks (rounding noise of the gradient), or at a
    search bound. A step of at most 1e-4 is expected to be the last one
    (quadratic convergence), so the point it leads to is evaluated without a new Hessian: the
    previous one is accurate enough to certify the remaining step.
    """
    lower, upper = _LOG_LOWER, _LOG_UPPER
    f, g, hess = objective.evaluate(phi, 2)
    iterations = 0
    note = ""
    previous = math.inf
    while True:
        if not (math.isfinite(f) and np.all(np.isfinite(g)) and np.all(np.isfinite(hess))):
            note = "non-finite log-likelihood, gradient or Hessian"
            hess_pd, rel_step = False, math.nan
            break
        eigval, eigvec = np.linalg.eigh(hess)
        hess_pd = bool(eigval[0] > 0)
        if hess_pd:
            step = -(eigvec @ ((eigvec.T @ g) / eigval))
            rel_step = size = float(np.max(np.abs(step)))
            if size <= step_tol or (size <= 1e-6 and size > 0.25 * previous):
                break
            previous = size
        else:
            floor = max(1e-8 * float(np.max(np.abs(eigval))), 1e-12)
            step = -(eigvec @ ((eigvec.T @ g) / np.maximum(np.abs(eigval), floor)))
            rel_step, size, previous = math.nan, float(np.max(np.abs(step))), math.inf
        if np.any(phi <= lower + 1e-6) or np.any(phi >= upper - 1e-6):
            break
        if iterations >= max_iter:
            note = f"Newton: no convergence in {max_iter} iterations"
            break
        if size > 2.0:
            step *= 2.0 / size
        order = 1 if hess_pd and size <= 1e-4 else 2
        slope = float(np.einsum("i,i->", g, step))
        gmax = float(np.max(np.abs(g)))
        t = 1.0
        for _ in range(30):
            cand = np.clip(phi + t * step, lower, upper)
            f_new, g_new, h_new = objective.evaluate(cand, order)
            if math.isfinite(f_new) and np.all(np.isfinite(g_new)):
                if f_new <= f + 1e-4 * t * slope:
                    break
                # at the rounding level of f, accept a step that reduces the gradient
                if -t * slope <= 1e-13 * (1.0 + abs(f)) and np.max(np.abs(g_new)) < gmax:
                    break
            t *= 0.25
        else:
            note = "Newton: line search failed"
            break
        phi, f, g = cand, f_new, g_new
        if h_new is not None:
            hess = h_new
        iterations += 1
    return _OptState(phi, f, g, iterations, hess_pd, rel_step, note)


def _fit_newton(
    objective: _Objective,
    starts: list[FloatArray],
    model: str,
    names: tuple[str, ...],
    n_customers: int,
    first_level: int | None = _SUBSAMPLE_UNITS,
) -> FitResult:
    """Newton from the first start, approaching the optimum on growing subsamples of the units
    (``first_level``, 8x that, ... while at most a quarter of the units; none if None) before
    the full data; the L-BFGS-B multi-start path of :func:`_fit` when that does not converge.

    Each level's optimum is within its sampling error of the full-data optimum, so the full data
    need only the last two or three Newton steps (quadratic convergence).
    """
    phi = starts[0]
    iterations = 0
    size = first_level or objective.units
    while 4 * size <= objective.units:
        sub = objective.subsample(size)
        if sub is None:
            break
        approach = _newton(sub, phi, _SUBSAMPLE_STEP_TOL, max_iter=50)
        iterations += approach.iterations
        if (
            approach.hess_pd
            and approach.rel_step <= 1e-2
            and "search bound" not in (_converged_problem(approach, names))
        ):
            phi = approach.phi
        size *= 8
    state = _newton(objective, phi, _STEP_TOL_NEWTON)
    state.iterations += iterations
    if _converged_problem(state, names):
        return _fit(objective, starts, model, names, n_customers)
    return _result(objective, state, model, names, n_customers)


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
    with np.errstate(invalid="ignore"):
        if ((ma > 0) & (ma < np.inf)).all():
            return xa, ma
    m_rep = ma[xa > 0]
    _require_finite("m (where x > 0)", m_rep)
    if (m_rep <= 0).any():
        raise ValueError(
            f"m must be > 0 where x > 0 ({int((m_rep <= 0).sum())} customer(s) have mean repeat "
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
    """Mean negative Gamma-Gamma log-likelihood, analytic gradient and Hessian in log-parameters.

    Only ``y = gamma + m x`` needs a pass over the customers per evaluation (log y, 1/y, 1/y^2
    against the weights w and w x, in blocks of ``_BLOCK``); the gammaln/digamma terms depend on x
    only and the ``log m`` terms are constants.
    """

    def __init__(self, x: FloatArray, m: FloatArray, w: FloatArray) -> None:
        self.x, self.m, self.w = x, m, w
        self.units = x.size
        self.total_weight = float(w.sum())
        self.mx = m * x
        self.wx = w * x
        log_m = np.log(m)
        self.s_wx_logm = _dot(self.wx, log_m)
        self.s_w_logm = _dot(w, log_m)
        xs, ix = _factorize(x)
        nx = np.bincount(ix, weights=w, minlength=xs.size)
        keep = nx > 0
        self.xs, self.nx = xs[keep], nx[keep]
        self.s_xlogx = _dot(self.nx, self.xs * np.log(self.xs))

    def subsample(self, target: int) -> _GammaGammaObjective | None:
        k = self.units // max(target, 1)
        if k < 2:
            return None
        return _GammaGammaObjective(self.x[::k].copy(), self.m[::k].copy(), self.w[::k] * float(k))

    def moment_start(self, max_units: int) -> FloatArray | None:
        """Log-moment estimates of (p, q, gamma), from every k-th customer (k = units //
        max_units), as log-parameters; None when they do not exist.

        Given nu, the mean m of x transactions is Gamma(p x, nu x), and nu ~ Gamma(q, gamma), so
        ``Var(log m | x) = psi'(p x) + psi'(q)`` and
        ``E(log m | x) = psi(p x) - log x - psi(q) + log gamma``. The variances per x are regressed
        on ``p psi'(p x)`` (~ 1/x; slope 1/p, intercept psi'(q)), refined a few times, then
        gamma follows from the mean. Close to the maximum-likelihood estimates in practice (within
        about 1 % on 75,000 customers), which saves most Newton steps.
        """
        k = max(self.units // max(max_units, 1), 1)
        x, w = self.x[::k], self.w[::k]
        log_m = np.log(self.m[::k])
        xs, ix = _factorize(x)
        n = np.bincount(ix, weights=w, minlength=xs.size)
        s1 = np.bincount(ix, weights=w * log_m, minlength=xs.size)
        s2 = np.bincount(ix, weights=w * log_m * log_m, minlength=xs.size)
        keep = n >= 2.0
        if int(keep.sum()) < 2:
            return None
        xs, n, s1, s2 = xs[keep], n[keep], s1[keep], s2[keep]
        var = (s2 - s1 * s1 / n) / (n - 1.0)
        total = float(n.sum())
        z = 1.0 / xs
        slope = intercept = math.nan
        for _ in range(4):
            z_mean, v_mean = _dot(n, z) / total, _dot(n, var) / total
            dz = z - z_mean
            denom = _dot(n, dz * dz)
            if not denom > 0:
                return None
            slope = _dot(n, dz * (var - v_mean)) / denom
            intercept = v_mean - slope * z_mean
            if not (slope > 0 and intercept > 0):
                return None
            z = zeta(2.0, xs / slope) / slope
        p = 1.0 / slope
        q = 0.5 + 1.0 / intercept
        for _ in range(8):  # psi'(q) = intercept (psi' is decreasing and convex)
            q = max(q + (zeta(2.0, q) - intercept) / (2.0 * zeta(3.0, q)), 0.5 * q)
        log_gamma = _dot(n, s1 / n - digamma(p * xs) + np.log(xs)) / total + float(digamma(q))
        start = np.array([math.log(p), math.log(q), log_gamma])
        if not np.all(np.isfinite(start)):
            return None
        return np.clip(start, _LOG_LOWER + 1.0, _LOG_UPPER - 1.0)

    def evaluate(self, phi: FloatArray, order: int) -> tuple[float, FloatArray, FloatArray | None]:
        theta = np.exp(phi)
        p, q, gamma = (float(v) for v in theta)
        xs, nx, W = self.xs, self.nx, self.total_weight
        # sums of w and w x times log y, 1/y and 1/y^2
        s = np.zeros((2, 3))
        for lo in range(0, self.mx.size, _BLOCK):
            y = self.mx[lo : lo + _BLOCK] + gamma
            w, wx = self.w[lo : lo + _BLOCK], self.wx[lo : lo + _BLOCK]
            log_y = np.log(y)
            s[0, 0] += _dot(w, log_y)
            s[1, 0] += _dot(wx, log_y)
            if order >= 1:
                inv_y = np.reciprocal(y, out=y)
                s[0, 1] += _dot(w, inv_y)
                s[1, 1] += _dot(wx, inv_y)
                if order >= 2:
                    inv_y *= inv_y
                    s[0, 2] += _dot(w, inv_y)
                    s[1, 2] += _dot(wx, inv_y)
        px = p * xs
        ll = _dot(nx, gammaln(px + q) - gammaln(px))
        ll += W * (q * math.log(gamma) - gammaln(q))
        ll += p * self.s_xlogx + p * self.s_wx_logm - self.s_w_logm - p * s[1, 0] - q * s[0, 0]
        g = np.zeros(3)
        h = np.zeros((3, 3))
        if order >= 1:
            dig = digamma(px + q)
            g[0] = _dot(nx, xs * (dig - digamma(px))) + self.s_xlogx + self.s_wx_logm - s[1, 0]
            g[1] = _dot(nx, dig) + W * (math.log(gamma) - digamma(q)) - s[0, 0]
            g[2] = W * q / gamma - p * s[1, 1] - q * s[0, 1]
        if order >= 2:
            tri = _trigamma(px + q)
            h[0, 0] = _dot(nx, xs * xs * (tri - _trigamma(px)))
            h[0, 1] = _dot(nx, xs * tri)
            h[0, 2] = -s[1, 1]
            h[1, 1] = _dot(nx, tri) - W * _trigamma(q)
            h[1, 2] = W / gamma - s[0, 1]
            h[2, 2] = -W * q / gamma**2 + p * s[1, 2] + q * s[0, 2]
        return _to_log_scale(ll, g, h, theta, W, order)

    def __call__(self, phi: FloatArray) -> tuple[float, FloatArray]:
        f, g, _ = self.evaluate(phi, 1)
        return f, g

    def hessian(self, phi: FloatArray, f0: float) -> FloatArray:
        hess = self.evaluate(phi, 2)[2]
        assert hess is not None
        return hess


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
    xr, mr, wr = (xa, ma, w) if use.all() else (xa[use], ma[use], w[use])
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
    # The log-moment start is about as close to the full-data optimum as a subsample fit would
    # be (measured), so with it Newton goes straight to the full data.
    moments = objective.moment_start(_GG_MOMENT_UNITS)
    if moments is not None:
        starts.insert(0, moments)
    return _fit_newton(
        objective,
        starts,
        "gamma_gamma",
        GAMMA_GAMMA_PARAMS,
        n,
        first_level=None if moments is not None else _SUBSAMPLE_UNITS,
    )


# --------------------------------------------------------------------------------------------------
# CLV
# --------------------------------------------------------------------------------------------------


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
    (xu, Tu), inverse = _unique_rows(x, T)
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
    xa, ta, Ta = _validate_rfm(x, t_x, T)
    spend = gamma_gamma_conditional_expected_spend(spend_params, xa, m)
    r, alpha, s, beta = _check_params(purchase_params, PARETO_NBD_PARAMS, "pareto_nbd")
    p_alive = np.exp(_pnbd_pieces(r, alpha, s, beta, xa, ta, Ta)[1])
    cumulative, inverse = _alive_table(
        lambda xs, Ts, ts: _pnbd_alive_expectation(r, alpha, s, beta, xs, Ts, ts),
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
    r, alpha, a, b = _check_params(purchase_params, BGNBD_PARAMS, "bgnbd")
    xa, ta, Ta = _validate_rfm(x, t_x, T)
    spend = gamma_gamma_conditional_expected_spend(spend_params, xa, m)
    hs = _as_1d_float("horizons", horizons)
    _require_finite("horizons", hs)
    if (hs < 0).any():
        raise ValueError("horizons must be >= 0")
    p_alive = _p_alive_from_log_odds(_bgnbd_log_odds_dead(r, alpha, a, b, xa, ta, Ta))
    monthly = days_per_month * np.arange(1, months + 1, dtype=np.float64)
    grid, index = _horizon_grid(np.concatenate([hs, monthly]))
    table, inverse = _alive_table(
        lambda xs, Ts, ts: _bgnbd_alive_expectation(r, alpha, a, b, xs, Ts, ts), xa, Ta, grid
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
