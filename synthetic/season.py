"""The seasonal purchase intensity: calendar time <-> operational time, in which each
customer's BG/NBD holds exactly (see :mod:`synthetic.generate`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Season:
    """Calendar <-> operational time map for the seasonal intensity (days since start)."""

    amplitude: float
    peak_offset: float
    period: float

    @property
    def omega(self) -> float:
        return 2.0 * math.pi / self.period

    def rate(self, t: np.ndarray) -> np.ndarray:
        return 1.0 + self.amplitude * np.cos(self.omega * (t - self.peak_offset))

    def to_operational(self, t: np.ndarray) -> np.ndarray:
        """Cumulative intensity ``Lambda(t)`` with ``Lambda(0) = 0``."""
        if self.amplitude == 0.0:
            return np.asarray(t, dtype=np.float64)
        w = self.omega
        k = self.amplitude / w
        return t + k * (np.sin(w * (t - self.peak_offset)) - math.sin(-w * self.peak_offset))

    def to_calendar(self, tau: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_operational`: vectorised Newton iterations safeguarded by
        bisection (``|Lambda(t) - t| <= 2 A / omega`` gives the initial bracket)."""
        tau = np.asarray(tau, dtype=np.float64)
        if self.amplitude == 0.0 or tau.size == 0:
            return tau
        half_width = 2.0 * self.amplitude / self.omega + 1e-9
        lo, hi = tau - half_width, tau + half_width
        # initial guess: linear interpolation in a 1/64-day table of Lambda (error < 1e-6 d)
        grid = np.arange(
            math.floor(float(tau.min()) - half_width) - 1.0,
            math.ceil(float(tau.max()) + half_width) + 1.0,
            1.0 / 64.0,
        )
        t = np.interp(tau, self.to_operational(grid), grid)
        for _ in range(200):
            f = self.to_operational(t) - tau
            if np.max(np.abs(f)) < 1e-11:
                break
            lo = np.where(f < 0, t, lo)
            hi = np.where(f > 0, t, hi)
            t_new = t - f / self.rate(t)
            outside = (t_new < lo) | (t_new > hi)
            t = np.where(outside, 0.5 * (lo + hi), t_new)
        return t
