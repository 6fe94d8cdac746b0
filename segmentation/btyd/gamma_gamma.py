"""Gamma-Gamma model of the spend per purchase: log-likelihood, expected spend and fit.

References: P. S. Fader, B. G. S. Hardie and K. L. Lee (2005), "RFM and CLV: Using Iso-Value
Curves for Customer Base Analysis", Journal of Marketing Research 42(4), 415-430 (section "Adding
monetary value"; Fader & Hardie (2013) "The Gamma-Gamma Model of Monetary Value"); R. Colombo and
W. Jiang (1999), "A stochastic RFM model", Journal of Interactive Marketing 13(3).

``m`` is the mean value of the x repeat purchases (the first purchase is excluded). The fit has an
analytic gradient and Hessian and runs damped Newton
(:func:`segmentation.btyd.optimise.fit_newton`) from closed-form log-moment estimates
(``Var(log m | x) = psi'(p x) + psi'(q)``), which are about as close to the optimum as a
subsample fit would be.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, gammaln, zeta

from segmentation.btyd.data import (
    DEFAULT_MIN_REPEAT_BUYERS,
    as_1d_float,
    check_params,
    factorize,
    require_finite,
    validate_weights,
)
from segmentation.btyd.optimise import (
    BLOCK,
    LOG_LOWER,
    LOG_UPPER,
    SUBSAMPLE_UNITS,
    FitResult,
    Objective,
    degenerate_fit,
    fit_newton,
    to_log_scale,
)
from segmentation.btyd.special import FloatArray, dot, trigamma

GAMMA_GAMMA_PARAMS: tuple[str, ...] = ("p", "q", "gamma")
_GG_MOMENT_UNITS = 100_000


def _validate_monetary(x: ArrayLike, m: ArrayLike) -> tuple[FloatArray, FloatArray]:
    xa, ma = as_1d_float("x", x), as_1d_float("m", m)
    if xa.shape != ma.shape:
        raise ValueError(f"x and m must have the same length: {xa.size}, {ma.size}")
    require_finite("x", xa)
    if (xa < 0).any() or (xa != np.floor(xa)).any():
        raise ValueError("x (number of repeat purchases) must be whole numbers >= 0")
    with np.errstate(invalid="ignore"):
        if ((ma > 0) & (ma < np.inf)).all():
            return xa, ma
    m_rep = ma[xa > 0]
    require_finite("m (where x > 0)", m_rep)
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
    p, q, gamma = check_params(params, GAMMA_GAMMA_PARAMS, "gamma_gamma")
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
    p, q, gamma = check_params(params, GAMMA_GAMMA_PARAMS, "gamma_gamma")
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
    p, q, gamma = check_params(params, GAMMA_GAMMA_PARAMS, "gamma_gamma")
    xa, ma = _validate_monetary(x, m)
    m_used = np.where(xa > 0, ma, 0.0)
    denom = p * xa + q - 1.0
    with np.errstate(all="ignore"):
        return np.where(denom > 0, p * (gamma + m_used * xa) / denom, np.nan)


class _GammaGammaObjective(Objective):
    """Mean negative Gamma-Gamma log-likelihood, analytic gradient and Hessian in log-parameters.

    Only ``y = gamma + m x`` needs a pass over the customers per evaluation (log y, 1/y, 1/y^2
    against the weights w and w x, in blocks of ``BLOCK``); the gammaln/digamma terms depend on x
    only and the ``log m`` terms are constants.
    """

    def __init__(self, x: FloatArray, m: FloatArray, w: FloatArray) -> None:
        self.x, self.m, self.w = x, m, w
        self.units = x.size
        self.total_weight = float(w.sum())
        self.mx = m * x
        self.wx = w * x
        log_m = np.log(m)
        self.s_wx_logm = dot(self.wx, log_m)
        self.s_w_logm = dot(w, log_m)
        xs, ix = factorize(x)
        nx = np.bincount(ix, weights=w, minlength=xs.size)
        keep = nx > 0
        self.xs, self.nx = xs[keep], nx[keep]
        self.s_xlogx = dot(self.nx, self.xs * np.log(self.xs))

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
        xs, ix = factorize(x)
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
            z_mean, v_mean = dot(n, z) / total, dot(n, var) / total
            dz = z - z_mean
            denom = dot(n, dz * dz)
            if not denom > 0:
                return None
            slope = dot(n, dz * (var - v_mean)) / denom
            intercept = v_mean - slope * z_mean
            if not (slope > 0 and intercept > 0):
                return None
            z = zeta(2.0, xs / slope) / slope
        p = 1.0 / slope
        q = 0.5 + 1.0 / intercept
        for _ in range(8):  # psi'(q) = intercept (psi' is decreasing and convex)
            q = max(q + (zeta(2.0, q) - intercept) / (2.0 * zeta(3.0, q)), 0.5 * q)
        log_gamma = dot(n, s1 / n - digamma(p * xs) + np.log(xs)) / total + float(digamma(q))
        start = np.array([math.log(p), math.log(q), log_gamma])
        if not np.all(np.isfinite(start)):
            return None
        return np.clip(start, LOG_LOWER + 1.0, LOG_UPPER - 1.0)

    def evaluate(self, phi: FloatArray, order: int) -> tuple[float, FloatArray, FloatArray | None]:
        theta = np.exp(phi)
        p, q, gamma = (float(v) for v in theta)
        xs, nx, W = self.xs, self.nx, self.total_weight
        # sums of w and w x times log y, 1/y and 1/y^2
        s = np.zeros((2, 3))
        for lo in range(0, self.mx.size, BLOCK):
            y = self.mx[lo : lo + BLOCK] + gamma
            w, wx = self.w[lo : lo + BLOCK], self.wx[lo : lo + BLOCK]
            log_y = np.log(y)
            s[0, 0] += dot(w, log_y)
            s[1, 0] += dot(wx, log_y)
            if order >= 1:
                inv_y = np.reciprocal(y, out=y)
                s[0, 1] += dot(w, inv_y)
                s[1, 1] += dot(wx, inv_y)
                if order >= 2:
                    inv_y *= inv_y
                    s[0, 2] += dot(w, inv_y)
                    s[1, 2] += dot(wx, inv_y)
        px = p * xs
        ll = dot(nx, gammaln(px + q) - gammaln(px))
        ll += W * (q * math.log(gamma) - gammaln(q))
        ll += p * self.s_xlogx + p * self.s_wx_logm - self.s_w_logm - p * s[1, 0] - q * s[0, 0]
        g = np.zeros(3)
        h = np.zeros((3, 3))
        if order >= 1:
            dig = digamma(px + q)
            g[0] = dot(nx, xs * (dig - digamma(px))) + self.s_xlogx + self.s_wx_logm - s[1, 0]
            g[1] = dot(nx, dig) + W * (math.log(gamma) - digamma(q)) - s[0, 0]
            g[2] = W * q / gamma - p * s[1, 1] - q * s[0, 1]
        if order >= 2:
            tri = trigamma(px + q)
            h[0, 0] = dot(nx, xs * xs * (tri - trigamma(px)))
            h[0, 1] = dot(nx, xs * tri)
            h[0, 2] = -s[1, 1]
            h[1, 1] = dot(nx, tri) - W * trigamma(q)
            h[1, 2] = W / gamma - s[0, 1]
            h[2, 2] = -W * q / gamma**2 + p * s[1, 2] + q * s[0, 2]
        return to_log_scale(ll, g, h, theta, W, order)

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
    w = validate_weights(weights, xa.size)
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
        return degenerate_fit("gamma_gamma", GAMMA_GAMMA_PARAMS, n, reason)
    objective = _GammaGammaObjective(xr, mr, wr)
    mean_m = dot(wr, mr) / float(wr.sum())
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
    return fit_newton(
        objective,
        starts,
        "gamma_gamma",
        GAMMA_GAMMA_PARAMS,
        n,
        first_level=None if moments is not None else SUBSAMPLE_UNITS,
    )
