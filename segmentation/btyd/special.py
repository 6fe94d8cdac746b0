"""Special functions and inner products shared by the BTYD models.

* :func:`log_hyp2f1_1bc`: log 2F1(1, b; c; z), the hypergeometric function of the Pareto/NBD
  likelihood after an Euler transformation, for which ``1 <= 2F1 <= 1/(1-z)``, so nothing
  overflows. scipy's ``hyp2f1`` is used where its result is trustworthy (z <= 0.95, inside the
  bounds), and a 128-node Gauss-Legendre rule on a log-stretched integral representation
  (accurate to ~1e-12 in log, checked against mpmath) elsewhere: near z = 1 scipy returns NaN/inf
  for large b and can be silently wrong by orders of magnitude when c - a - b is close to an
  integer;
* :func:`trigamma` for the analytic Hessians, :func:`lagrange_weights` for interpolating across
  removable 0/0 points;
* :func:`dot`: scalar work is kept off BLAS (``np.einsum`` inner products): with a threaded
  OpenBLAS on a busy 2-core machine, tiny BLAS calls were measured up to 100x slower; the L-BFGS-B
  internals still call BLAS, so ``OPENBLAS_NUM_THREADS=1`` makes small fits faster still.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy.special import hyp2f1, logsumexp, zeta

FloatArray = NDArray[np.float64]


def dot(u: FloatArray, v: FloatArray) -> float:
    """Inner product without BLAS (einsum's single-threaded loop).

    On a loaded 2-core machine a threaded BLAS ``u @ v`` on 1-D vectors was measured 2-100x slower
    (thread-pool contention).
    """
    return float(np.einsum("i,i->", u, v))


def trigamma(v: FloatArray | float) -> FloatArray:
    """psi'(v) as the Hurwitz zeta function zeta(2, v) (a ufunc, unlike ``polygamma``)."""
    return zeta(2.0, v)


def lagrange_weights(nodes: FloatArray, at: float) -> FloatArray:
    """Weights of the Lagrange polynomial through ``nodes``, evaluated at ``at``."""
    weights = np.ones(nodes.size)
    for j in range(nodes.size):
        for k in range(nodes.size):
            if k != j:
                weights[j] *= (at - nodes[k]) / (nodes[j] - nodes[k])
    return weights


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


def log_hyp2f1_1bc(b: FloatArray, c: FloatArray, z: FloatArray, eps: FloatArray) -> FloatArray:
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
