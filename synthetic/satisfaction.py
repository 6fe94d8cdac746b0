"""Latent satisfaction classes tied to the BG/NBD dropout probability.

Every customer belongs to one class, promoter, passive or detractor, with known shares, and
detractors drop out faster: a detractor's dropout probability ``p`` is on average
``detractor_dropout_factor`` times a promoter's.  The joint law is a Gaussian copula between
the class and ``p``: with ``z_p = Phi^-1(F_Beta(p; a, b))`` and an independent standard normal
``e``, the score ``s = rho * z_p + sqrt(1 - rho^2) * e`` (standard normal) is cut at the
class shares' quantiles (low: promoter, high: detractor).  ``rho`` is solved so that
``E[p | detractor] / E[p | promoter]`` equals the factor.

Read one way this is "draw the class first, then the dropout probability from the class's
distribution ``f(p | class)``"; the generator samples the other way round (``p`` from the
BG/NBD stream as before, then the class given ``p`` from a stream of its own), which has the
same joint distribution and leaves every purchase exactly as without classes.  The marginal of
``p`` stays ``Beta(a, b)``, so the BG/NBD of the whole base is unchanged, while per class
``p`` (and the death rate ``lambda * p`` per day, since ``lambda`` is independent of both) is
shifted by a known amount.  With the effect off (``rho = 0``) the class is independent of
``p``.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import optimize, special

from synthetic.settings import SATISFACTION_CLASSES

# |rho| < 1: the copula is degenerate at 1
_RHO_LIMIT = 0.999
# the normal scores integrated over: +-9 sd (the tails beyond weigh < 1e-18), in steps of 1e-3
_Z_LIMIT = 9.0
_Z_POINTS = 18_001


def _cuts(shares: tuple[float, ...]) -> tuple[float, float]:
    return float(special.ndtri(shares[0])), float(special.ndtri(shares[0] + shares[1]))


@functools.lru_cache(maxsize=8)
def _quantile_grid(a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Normal scores ``z`` on a fine grid, and ``p = F_Beta^-1(Phi(z))`` with the normal
    density folded into trapezoid weights: ``E[g(p, z)] ~ sum(w * p * g)``."""
    z = np.linspace(-_Z_LIMIT, _Z_LIMIT, _Z_POINTS)
    p = special.betaincinv(a, b, special.ndtr(z))
    w = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) * (z[1] - z[0])
    w[[0, -1]] *= 0.5
    return z, p * w


def _conditional_means(
    rho: float, a: float, b: float, shares: tuple[float, ...]
) -> tuple[float, float, float]:
    """E[p | class] for each class: p is a monotone function of a standard normal ``z``, and
    given ``z`` the class follows from ``rho * z + sqrt(1 - rho^2) * e`` and the cuts."""
    z, pw = _quantile_grid(a, b)
    lo, hi = _cuts(shares)
    mean, sd = rho * z, math.sqrt(1.0 - rho * rho)
    below_lo = special.ndtr((lo - mean) / sd)
    below_hi = special.ndtr((hi - mean) / sd)
    probs = (below_lo, below_hi - below_lo, 1.0 - below_hi)
    means = [float(np.sum(pw * prob)) / share for prob, share in zip(probs, shares, strict=True)]
    return means[0], means[1], means[2]


@functools.lru_cache(maxsize=32)
def copula_rho(factor: float, a: float, b: float, shares: tuple[float, ...]) -> float:
    """The copula correlation giving ``E[p | detractor] / E[p | promoter] = factor``.

    Raises:
        ValueError: The factor cannot be reached with these BG/NBD parameters and shares.
    """
    if factor == 1.0:
        return 0.0

    def gap(rho: float) -> float:
        pro, _, det = _conditional_means(rho, a, b, shares)
        return math.log(det / pro) - math.log(factor)

    lo, hi = (0.0, _RHO_LIMIT) if factor > 1.0 else (-_RHO_LIMIT, 0.0)
    if gap(lo) * gap(hi) > 0:
        reach = [math.exp(gap(r) + math.log(factor)) for r in (-_RHO_LIMIT, _RHO_LIMIT)]
        raise ValueError(
            f"detractor_dropout_factor {factor} is out of reach: with Beta({a}, {b}) dropout "
            f"probabilities and these class shares it must lie in "
            f"({reach[0]:.3g}, {reach[1]:.3g})"
        )
    return float(optimize.brentq(gap, lo, hi, xtol=1e-10))


def structural_truth(
    factor: float, effect: bool, a: float, b: float, shares: tuple[float, ...]
) -> dict[str, object]:
    """The class model's true values for ``true_params.json``."""
    rho = copula_rho(factor, a, b, tuple(shares)) if effect else 0.0
    means = _conditional_means(rho, a, b, tuple(shares))
    return {
        "classes": list(SATISFACTION_CLASSES),
        "class_shares": dict(zip(SATISFACTION_CLASSES, shares, strict=True)),
        "effect": effect,
        "copula_rho": rho,
        "mean_p_dropout": dict(zip(SATISFACTION_CLASSES, means, strict=True)),
        # the per-day death rate is lambda * p and lambda is independent of class and p, so
        # this is also the ratio of the classes' mean death rates
        "dropout_ratio_detractor_promoter": means[2] / means[0],
        "dropout_ratio_passive_promoter": means[1] / means[0],
    }


def draw_classes(
    rng: np.random.Generator,
    p_dropout: np.ndarray,
    rho: float,
    a: float,
    b: float,
    shares: tuple[float, ...],
) -> np.ndarray:
    """Each customer's class code (0 promoter, 1 passive, 2 detractor) given its dropout
    probability, from its own random stream."""
    u = np.clip(special.betainc(a, b, p_dropout), 1e-15, 1.0 - 1e-15)
    noise = rng.standard_normal(p_dropout.size)
    score = rho * special.ndtri(u) + math.sqrt(1.0 - rho * rho) * noise
    lo, hi = _cuts(shares)
    return ((score >= lo).astype(np.int8) + (score >= hi)).astype(np.int8)
