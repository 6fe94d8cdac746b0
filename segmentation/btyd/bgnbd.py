"""BG/NBD model: log-likelihood, P(alive), expected purchases and maximum-likelihood fit.

Reference: P. S. Fader, B. G. S. Hardie and K. L. Lee (2005), "'Counting Your Customers' the Easy
Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284. Equations (6)
likelihood, (7) E[X(t)], (10) E[Y(t) | x, t_x, T]; P(alive) from the companion note "Computing
P(alive) using the BG/NBD model" (Fader, Hardie & Lee, 2008).

Numerics:
    * the likelihood is evaluated in log space (gammaln/betaln/logaddexp), the softplus term as
      ``u + log1p(exp(-u))``, exact without clipping: ``u >= log(a) - log(b+x-1)`` is far above
      -700 inside the search box (t_x <= T), so exp(-u) can only underflow, harmlessly to 0;
      P(alive) is ``1 / (1 + exp(u))`` (overflow gives 0, as it should);
    * the conditional expectation uses the Euler-transformed 2F1 (bounded for large x), written in
      kappa = t/(alpha+T) (z = kappa/(1+kappa), (1-z)^(a-1) = exp(-(a-1) log1p(kappa)), relative
      error vs mpmath ~4e-13), and interpolates it near its removable 0/0 points (a = 1,
      a+b+x-1 = 0); adaptive quadrature of
      ``E_{p~Beta(a, b+x)}[(1 - (1 + p t/(alpha+T))^-(r+x)) / p]`` is the last resort. It depends
      on (x, T, t) only: predictions evaluate it once per distinct (x, T) pair for all horizons at
      once (:func:`segmentation.btyd.clv.bgnbd_gamma_gamma_predictions`) and broadcast it back to
      the customers;
    * the fit aggregates the likelihood terms that depend only on x (or only on T, or on (x, T)
      pairs), so that only a softplus term per repeat buyer remains, evaluated in cache-sized
      blocks ordered by x (:class:`BgnbdObjective`); it runs damped Newton with the analytic
      Hessian (:func:`segmentation.btyd.optimise.fit_newton`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import integrate
from scipy.special import betaln, digamma, gammaln, hyp2f1

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
    BLOCK,
    FitResult,
    Objective,
    degenerate_fit,
    fit_newton,
    to_log_scale,
)
from segmentation.btyd.special import FloatArray, dot, lagrange_weights, trigamma

BGNBD_PARAMS: tuple[str, ...] = ("r", "alpha", "a", "b")
_BGNBD_MIN_DEDUPE = 1_000_000


def bgnbd_log_odds_dead(
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


def p_alive_from_log_odds(log_odds: FloatArray) -> FloatArray:
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
    r, alpha, a, b = check_params(params, BGNBD_PARAMS, "bgnbd")
    xa, ta, Ta = validate_rfm(x, t_x, T)
    log_a3 = -(r + xa) * np.log(alpha + Ta)
    u = bgnbd_log_odds_dead(r, alpha, a, b, xa, ta, Ta)
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
    r, alpha, a, b = check_params(params, BGNBD_PARAMS, "bgnbd")
    xa, ta, Ta = validate_rfm(x, t_x, T)
    return p_alive_from_log_odds(bgnbd_log_odds_dead(r, alpha, a, b, xa, ta, Ta))


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
    """Closed form of :func:`bgnbd_alive_expectation` (NaN where scipy fails), in terms of
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


def bgnbd_alive_expectation(
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
        weights = lagrange_weights(a_nodes, a)
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
            weights = lagrange_weights(b_nodes, b)
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
    r, alpha, a, b = check_params(params, BGNBD_PARAMS, "bgnbd")
    ta = np.asarray(t, dtype=np.float64)
    require_finite("t", ta.ravel())
    if (ta < 0).any():
        raise ValueError("t must be >= 0")
    flat = ta.ravel()
    zeros = np.zeros(flat.shape)
    return bgnbd_alive_expectation(r, alpha, a, b, zeros, zeros, flat).reshape(ta.shape)


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
        (xu, Tu), inverse = unique_rows(x, T)
        return fn(xu, Tu, np.full(xu.shape, t[0]))[inverse]
    (xu, Tu, tu), inverse = unique_rows(x, T, t)
    return fn(xu, Tu, tu)[inverse]


def bgnbd_conditional_expected_purchases(
    params: Mapping[str, float], t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> FloatArray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next t days, FHL (2005) eq. (10).

    ``E = (a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))]
    * P(alive | x, t_x, T)``. See :func:`bgnbd_alive_expectation` for the stable evaluation; the
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
    r, alpha, a, b = check_params(params, BGNBD_PARAMS, "bgnbd")
    tb, xb, txb, Tb, shape = broadcast_rfm_t(t, x, t_x, T)
    p_alive = p_alive_from_log_odds(bgnbd_log_odds_dead(r, alpha, a, b, xb, txb, Tb))
    h = _dedup_alive_expectation(
        lambda xs, Ts, ts: bgnbd_alive_expectation(r, alpha, a, b, xs, Ts, ts), xb, Tb, tb
    )
    return (h * p_alive).reshape(shape)


def _stable_order(x: FloatArray) -> NDArray[np.intp]:
    """Stable sort order of validated counts (whole numbers >= 0): below 2^16 numpy's O(n)
    radix sort on uint16 applies."""
    if x.size and x.max() < 65536:
        return np.argsort(x.astype(np.uint16), kind="stable")
    return np.argsort(x, kind="stable")


class BgnbdObjective(Objective):
    """Mean negative BG/NBD log-likelihood, analytic gradient and Hessian in log-parameters.

    With u = log(A4/A3) the log-likelihood of a customer is
    ``[lgamma(r+x) - lgamma(r) + r log(alpha) + log B(a, b+x) - log B(a, b)] - (r+x) log(alpha+T)
    + [x > 0] softplus(u)``, ``u = log(a) - log(b+x-1) + (r+x) (log(alpha+T) - log(alpha+t_x))``.
    The first bracket is summed per distinct x, the second per distinct T; only the softplus term
    needs a pass over the repeat-buyer units. Those are kept ordered by x, so that the per-unit
    products reduce to per-x sums with one ``np.add.reduceat`` (the derivatives of u in b, and the
    factor r+x, depend on x only), and are processed in blocks of ``BLOCK`` units so that the
    temporaries stay in cache. log(alpha + T), 1/(alpha + T), ... come from tables over the
    distinct T and t_x values (gathers instead of logarithms per unit).
    """

    def __init__(self, x: FloatArray, t_x: FloatArray, T: FloatArray, w: FloatArray) -> None:
        self.Ts, iT = factorize(T)
        # one stable sort by x: the x == 0 customers first, then the repeat buyers ordered by x
        order = _stable_order(x)
        n0 = x.size - int(np.count_nonzero(x))
        tail = order[n0:]
        self.ux, self.uw, self.uT = x.take(tail), w.take(tail), iT.take(tail)
        self.txs, self.utx = factorize(t_x.take(tail))
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
        for lo in range(0, n, BLOCK):
            hi = min(lo + BLOCK, n)
            local = np.flatnonzero(new_x[lo:hi])
            if local.size == 0 or local[0] != 0:
                local = np.concatenate(([0], local))
            self.blocks.append((lo, hi, local, self.useg[lo:hi].take(local)))

    def subsample(self, target: int) -> BgnbdObjective | None:
        """The same objective on every k-th repeat-buyer unit (weights times k); the x == 0 part
        is kept whole (it costs nothing per evaluation). The units are ordered by x, so the
        sample is stratified by x."""
        k = self.units // max(target, 1)
        if k < 2:
            return None
        size = self.Ts.size
        sub = object.__new__(BgnbdObjective)
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
        ll = dot(nx, gammaln(r + xs) + betaln(a, b + xs)) - W * (
            gammaln(r) + betaln(a, b) - r * math.log(alpha)
        )
        if order >= 1:
            dig_ab, dig_abx = digamma(a + b), digamma(a + b + xs)
            g[0] = dot(nx, digamma(r + xs)) - W * (digamma(r) - math.log(alpha))
            g[1] = W * r / alpha
            g[2] = W * dig_ab - dot(nx, dig_abx)
            g[3] = dot(nx, digamma(b + xs) - dig_abx) - W * (digamma(b) - dig_ab)
        if order >= 2:
            tri_ab, tri_abx = trigamma(a + b), trigamma(a + b + xs)
            h[0, 0] = dot(nx, trigamma(r + xs)) - W * trigamma(r)
            h[0, 1] = W / alpha
            h[1, 1] = -W * r / alpha**2
            h[2, 2] = h[2, 3] = W * tri_ab - dot(nx, tri_abx)
            h[3, 3] = dot(nx, trigamma(b + xs) - tri_abx) - W * (trigamma(b) - tri_ab)
        # Terms per distinct T.
        inv_T = 1.0 / (alpha + self.Ts)
        log_T = np.log(alpha + self.Ts)
        coef = r * self.wT + self.xwT
        ll -= dot(coef, log_T)
        if order >= 1:
            g[0] -= dot(self.wT, log_T)
            g[1] -= dot(coef, inv_T)
        if order >= 2:
            h[0, 1] -= dot(self.wT, inv_T)
            h[1, 1] += dot(coef, inv_T * inv_T)
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
                g[1] += dot(rx, sums[2])
                g[2] += s_ws / a
                g[3] -= dot(bx, sums[0])
            if order >= 2:
                s_v = float(sums[4].sum())
                h[0, 0] += float(sums[7].sum())
                h[0, 1] += dot(rx, sums[8]) + float(sums[2].sum())
                h[1, 1] += dot(rx * rx, sums[9]) - dot(rx, sums[3])
                h[0, 2] += float(sums[5].sum()) / a
                h[1, 2] += dot(rx, sums[6]) / a
                h[2, 2] += (s_v - s_ws) / a**2
                h[0, 3] -= dot(bx, sums[5])
                h[1, 3] -= dot(rx * bx, sums[6])
                h[2, 3] -= dot(bx, sums[4]) / a
                h[3, 3] += dot(bx * bx, sums[4] + sums[0])
        return to_log_scale(ll, g, h, theta, W, order)

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
            self._buf = np.empty((10, min(BLOCK, self.units)))
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
            ll += dot(w, u) + dot(w, np.log1p(ez))
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
    xa, ta, Ta, w = prepare_rfm_fit(x, t_x, T, weights, dedupe, _BGNBD_MIN_DEDUPE)
    n = int(round(float(w.sum())))
    reason = repeat_buyer_problem(xa, w, min_repeat_buyers)
    if reason:
        return degenerate_fit("bgnbd", BGNBD_PARAMS, n, reason)
    objective = BgnbdObjective(xa, ta, Ta, w)
    rate = rate_guess(xa, Ta, w)
    starts = [
        np.log([1.0, 1.0 / rate, 1.0, 3.0]),
        np.log([0.3, 0.3 / rate, 0.5, 1.0]),
        np.log([3.0, 3.0 / rate, 3.0, 10.0]),
    ]
    return fit_newton(objective, starts, "bgnbd", BGNBD_PARAMS, n)
