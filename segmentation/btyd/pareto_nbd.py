"""Pareto/NBD model: log-likelihood, P(alive), expected purchases and maximum-likelihood fit.

References: D. C. Schmittlein, D. G. Morrison and R. Colombo (1987), "Counting Your Customers:
Who Are They and What Will They Do Next?", Management Science 33(1), 1-24; likelihood, P(alive)
and conditional expectation as in P. S. Fader and B. G. S. Hardie (2005), "A Note on Deriving the
Pareto/NBD Model and Related Expressions" (equations (17)-(22)).

Numerics: the likelihood is evaluated in log space and written as a sum of two positive terms (no
cancellation), ``C * [(r+x) J(r+x+1, s; T) + s J(r+x, s+1; t_x)]`` with
``J(p, q; u) = int_u^inf (alpha+v)^-p (beta+v)^-q dv``, which is the Fader-Hardie (2005)
expression regrouped; J is evaluated through 2F1(1, b; c; z) after an Euler transformation
(:func:`segmentation.btyd.special.log_hyp2f1_1bc`). The fit has finite-difference gradients and
runs L-BFGS-B from several starts (:func:`segmentation.btyd.optimise.fit_multistart`), the first
taken from a quick BG/NBD fit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize
from scipy.special import gammaln

from segmentation.btyd.bgnbd import BgnbdObjective
from segmentation.btyd.data import (
    DEFAULT_MIN_REPEAT_BUYERS,
    broadcast_rfm_t,
    check_params,
    factorize,
    prepare_rfm_fit,
    rate_guess,
    repeat_buyer_problem,
    require_finite,
    unique_rows,
    validate_rfm,
)
from segmentation.btyd.optimise import (
    LOG_LOWER,
    LOG_UPPER,
    FitResult,
    Objective,
    degenerate_fit,
    fd_gradient,
    fd_hessian_from_values,
    fit_multistart,
)
from segmentation.btyd.special import FloatArray, dot, log_hyp2f1_1bc

PARETO_NBD_PARAMS: tuple[str, ...] = ("r", "alpha", "s", "beta")


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
                -(r + x + 1.0) * log_a - (s - 1.0) * log_b + log_hyp2f1_1bc(r + x + 1.0, c, z, eps)
            )
        return -(r + x) * log_a - s * log_b + log_hyp2f1_1bc(r + x, c, z, eps)
    z = (beta - alpha) / (beta + tau)
    eps = (alpha + tau) / (beta + tau)
    log_a, log_b = np.log(alpha + tau), np.log(beta + tau)
    if which == "T":
        return -s * log_b - (r + x) * log_a + log_hyp2f1_1bc(np.full(x.shape, s), c, z, eps)
    return (
        -(s + 1.0) * log_b
        - (r + x - 1.0) * log_a
        + log_hyp2f1_1bc(np.full(x.shape, s + 1.0), c, z, eps)
    )


def pnbd_pieces(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Return (log L, log P(alive)) per customer, deduplicating the 2F1 work on (x, T), (x, t_x)."""
    (xa_u, Ta_u), inv_a = unique_rows(x, T) if x.size > 2048 else ([x, T], np.arange(x.size))
    (xb_u, tb_u), inv_b = unique_rows(x, t_x) if x.size > 2048 else ([x, t_x], np.arange(x.size))
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
    r, alpha, s, beta = check_params(params, PARETO_NBD_PARAMS, "pareto_nbd")
    xa, ta, Ta = validate_rfm(x, t_x, T)
    return pnbd_pieces(r, alpha, s, beta, xa, ta, Ta)[0]


def pareto_nbd_p_alive(
    params: Mapping[str, float], x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> FloatArray:
    """P(alive | x, t_x, T) under Pareto/NBD (Fader & Hardie 2005 note, eq. (19)).

    ``P = Gamma(r+x) alpha^r beta^s / Gamma(r) (alpha+T)^-(r+x) (beta+T)^-s / L``.
    """
    r, alpha, s, beta = check_params(params, PARETO_NBD_PARAMS, "pareto_nbd")
    xa, ta, Ta = validate_rfm(x, t_x, T)
    return np.exp(pnbd_pieces(r, alpha, s, beta, xa, ta, Ta)[1])


def pnbd_alive_expectation(
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
    r, alpha, s, beta = check_params(params, PARETO_NBD_PARAMS, "pareto_nbd")
    tb, xb, txb, Tb, shape = broadcast_rfm_t(t, x, t_x, T)
    log_p_alive = pnbd_pieces(r, alpha, s, beta, xb, txb, Tb)[1]
    h = pnbd_alive_expectation(r, alpha, s, beta, xb, Tb, tb)
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
    r, alpha, s, beta = check_params(params, PARETO_NBD_PARAMS, "pareto_nbd")
    ta = np.asarray(t, dtype=np.float64)
    require_finite("t", ta.ravel())
    if (ta < 0).any():
        raise ValueError("t must be >= 0")
    zeros = np.zeros(ta.shape)
    return pnbd_alive_expectation(r, alpha, s, beta, zeros, zeros, ta)


class _ParetoNbdObjective(Objective):
    """Mean negative Pareto/NBD log-likelihood with a central finite-difference gradient.

    The hypergeometric work depends only on (x, T) pairs (J_T) and (x, t_x) pairs (J_tx); both pair
    sets are deduplicated once, so an evaluation costs one 2F1 per distinct pair plus cheap
    per-triple arithmetic.
    """

    precondition = True

    def __init__(self, x: FloatArray, t_x: FloatArray, T: FloatArray, w: FloatArray) -> None:
        self.total_weight = float(w.sum())
        self.x, self.w = x, w
        (self.xa, self.Ta), self.inv_a = unique_rows(x, T)
        (self.xb, self.tb), self.inv_b = unique_rows(x, t_x)
        self.xs, ix = factorize(x)
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
        ll = dot(self.w, log_bracket) + dot(
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
        return self.value(phi), fd_gradient(self.value, phi)

    def hessian(self, phi: FloatArray, f0: float) -> FloatArray:
        return fd_hessian_from_values(self.value, phi, f0)


def _pareto_start_from_bgnbd(
    x: FloatArray, t_x: FloatArray, T: FloatArray, w: FloatArray
) -> FloatArray:
    """Starting point from a quick BG/NBD fit (cheap: analytic gradient).

    Both models share the NBD purchase process, so (r, alpha) carry over; the Pareto/NBD dropout
    rate mu ~ Gamma(s, beta) is matched to the BG/NBD mean dropout rate per day,
    E[lambda] E[p] = (r/alpha) a/(a+b), with s = 1.
    """
    bg = BgnbdObjective(x, t_x, T, w)
    rate = rate_guess(x, T, w)
    with np.errstate(all="ignore"):
        res = optimize.minimize(
            bg,
            np.log([1.0, 1.0 / rate, 1.0, 3.0]),
            jac=True,
            method="L-BFGS-B",
            bounds=[(LOG_LOWER, LOG_UPPER)] * 4,
            options={"maxiter": 200, "ftol": 1e-10, "gtol": 1e-6},
        )
    r, alpha, a, b = np.exp(res.x)
    mean_mu = (r / alpha) * a / (a + b)
    return np.clip(np.log([r, alpha, 1.0, 1.0 / mean_mu]), LOG_LOWER + 1.0, LOG_UPPER - 1.0)


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
    xa, ta, Ta, w = prepare_rfm_fit(x, t_x, T, weights, dedupe)
    n = int(round(float(w.sum())))
    reason = repeat_buyer_problem(xa, w, min_repeat_buyers)
    if reason:
        return degenerate_fit("pareto_nbd", PARETO_NBD_PARAMS, n, reason)
    objective = _ParetoNbdObjective(xa, ta, Ta, w)
    rate = rate_guess(xa, Ta, w)
    mean_T = max(dot(w, Ta) / float(w.sum()), 1.0)
    starts = [
        _pareto_start_from_bgnbd(xa, ta, Ta, w),
        np.log([1.0, 1.0 / rate, 1.0, mean_T]),
        np.log([0.3, 0.3 / rate, 0.5, 0.5 * mean_T]),
        np.log([3.0, 3.0 / rate, 3.0, 3.0 * mean_T]),
    ]
    return fit_multistart(objective, starts, "pareto_nbd", PARETO_NBD_PARAMS, n)
