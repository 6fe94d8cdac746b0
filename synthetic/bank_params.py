"""The generated bank's true parameters: its products and their catalogue, the tiers, the
assets-under-management (AUM) process, the risk preferences and the product adoption process
with its known affinities (see :mod:`synthetic.bank`)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

#: The products a customer may hold, in the order of every per-product tuple below (the bit
#: order of a holdings mask).
PRODUCTS: tuple[str, ...] = (
    "deposit",
    "wealth_management",
    "fund",
    "insurance",
    "loan",
    "credit_card",
)
#: Tiers from the lowest, and the AUM from which each holds (the bank's thresholds).
TIERS: tuple[str, ...] = ("mass", "premier", "wealth", "private_banking")
TIER_THRESHOLDS: dict[str, float] = {
    "premier": 50_000.0,
    "wealth": 600_000.0,
    "private_banking": 6_000_000.0,
}
#: Risk preferences from the most careful; a preference's rank is its index + 1.
RISK_LEVELS: tuple[str, ...] = ("conservative", "balanced", "aggressive")
#: Latent AUM paths: steady, growing, and declining from a month on (the win-back target).
AUM_TYPES: tuple[str, ...] = ("steady", "growing", "declining")

#: The catalogue: product -> (family, line, price band, need level, risk rating).  The risk
#: rating ``R<k>`` has rank k; a product may be sold to a customer whose risk preference has a
#: rank of at least k (a conservative customer: R1 only).
CATALOGUE: dict[str, tuple[str, str, str, str, str]] = {
    "deposit": ("savings", "current_and_savings_account", "budget", "basic", "R1"),
    "wealth_management": ("investment", "managed_portfolio", "premium", "core", "R2"),
    "fund": ("investment", "mutual_fund", "premium", "core", "R3"),
    "insurance": ("protection", "life_and_health", "standard", "core", "R1"),
    "loan": ("credit", "mortgage_and_personal_loan", "standard", "core", "R1"),
    "credit_card": ("credit", "card", "standard", "basic", "R1"),
}
#: Columns of ``products.csv`` as the bank's export names them, in the order of the values above
#: after the product code.
CATALOGUE_COLUMNS: tuple[str, ...] = (
    "product_code",
    "family",
    "line",
    "price_band",
    "need",
    "risk_rating",
)


def product_risk_rank(product: str) -> int:
    """The rank of a product's risk rating (``R2`` -> 2)."""
    return int(CATALOGUE[product][4][1:])


#: Per product, the risk rank a customer's preference needs at least.
PRODUCT_RISK_RANK: tuple[int, ...] = tuple(product_risk_rank(p) for p in PRODUCTS)


def _per_product(values: dict[str, float]) -> tuple[float, ...]:
    return tuple(values[p] for p in PRODUCTS)


@dataclass(frozen=True)
class BankSettings:
    """True parameters of the generated bank (all recorded in ``true_params.json``).

    Time runs in calendar months; a customer's state is what the month-end statement shows.

    AUM: at the first month of a customer, ``log A ~ Normal(log aum_median, aum_sigma)``; then
    every month ``log A += drift[type] + beta[risk] * m_t + idio_sd[risk] * e + shock``, with a
    common market factor ``m_t ~ Normal(market_mean, market_sd)``, ``e ~ Normal(0, 1)`` and
    with probability ``shock_rate`` a jump ``Normal(0, shock_sd)`` (an inheritance, a house
    sale).  A ``declining`` customer follows the steady drift until its decline month, then
    ``drift_declining``: the money moves to another bank.  Within the window a customer closes
    its account with probability ``close_rate`` a month (``close_rate_declining`` once
    declining): everything is withdrawn, every product closed, and the account books nothing
    more.

    Products: each month, a customer who does not hold product ``b`` and whose risk preference
    allows it (at the start and at the end of the month) adds it with probability
    ``add_base[b] * tier_add[tier][b] * prod(affinity[a][b] for a held)``: the tier and the
    holdings of the month's start (the previous statement).  ``affinity[a][b]`` is therefore
    the lift of holding ``a`` on the chance to add ``b`` (1 where not listed).  A held product
    is closed with probability ``drop_rate[b]`` a month.  Both draws use the state at the start
    of the month, so a product is never added and closed in one month.

    Attributes:
        existing_share: Share of customers who opened their account before the window.
        burn_in_months: Months an existing customer is simulated before the window (from its
            opening, at most this many), so that the window starts with grown holdings.
        risk_shares: Shares of the risk preferences at opening.
        risk_change_rate: Monthly probability of a new risk assessment, one level up or down.
        aum_median: Median AUM at opening.
        aum_sigma: Log-scale standard deviation of AUM at opening.
        aum_type_shares: Shares of the steady, growing and declining AUM paths.
        drift_steady: Monthly log drift of a steady path (and of a declining one before its
            decline).
        drift_growing: Monthly log drift of a growing path.
        drift_declining: Monthly log drift of a declining path from its decline month on.
        market_mean: Mean of the monthly market factor.
        market_sd: Standard deviation of the monthly market factor.
        beta: Exposure to the market per risk preference.
        idio_sd: Monthly log standard deviation of a customer's own flows per risk preference.
        shock_rate: Monthly probability of a jump of AUM.
        shock_sd: Log standard deviation of a jump.
        opening_product_shares: The one product an account opens with (deposit, credit card
            or loan; others 0).
        add_base: Monthly add probability of each product for a mass customer holding
            nothing else.
        drop_rate: Monthly probability of closing each held product.
        tier_add: Per tier (mass, premier, wealth, private banking), the multiplier of each
            product's add probability.
        affinity: Lift of holding ``a`` (row) on the add probability of ``b`` (column).
        salary_share: Share of customers whose salary is paid into the account every month.
        fx_rate: Monthly probability of a foreign-exchange transfer (a product the catalogue
            does not list).
        close_rate: Monthly probability that a customer closes its account (leaves the bank)
            within the window.
        close_rate_declining: The same for a declining customer from its decline month on.
    """

    existing_share: float = 0.75
    burn_in_months: int = 36
    risk_shares: tuple[float, float, float] = (0.45, 0.35, 0.20)
    risk_change_rate: float = 0.01
    aum_median: float = 20_000.0
    aum_sigma: float = 2.2
    aum_type_shares: tuple[float, float, float] = (0.75, 0.15, 0.10)
    drift_steady: float = 0.002
    drift_growing: float = 0.02
    drift_declining: float = -0.08
    market_mean: float = 0.004
    market_sd: float = 0.025
    beta: tuple[float, float, float] = (0.2, 0.5, 1.0)
    idio_sd: tuple[float, float, float] = (0.02, 0.035, 0.06)
    shock_rate: float = 0.01
    shock_sd: float = 0.8
    opening_product_shares: tuple[float, ...] = _per_product(
        {
            "deposit": 0.85,
            "wealth_management": 0.0,
            "fund": 0.0,
            "insurance": 0.0,
            "loan": 0.05,
            "credit_card": 0.10,
        }
    )
    add_base: tuple[float, ...] = _per_product(
        {
            "deposit": 0.03,
            "wealth_management": 0.006,
            "fund": 0.006,
            "insurance": 0.005,
            "loan": 0.004,
            "credit_card": 0.008,
        }
    )
    drop_rate: tuple[float, ...] = _per_product(
        {
            "deposit": 0.002,
            "wealth_management": 0.015,
            "fund": 0.02,
            "insurance": 0.008,
            "loan": 0.02,
            "credit_card": 0.01,
        }
    )
    tier_add: tuple[tuple[float, ...], ...] = (
        _per_product(dict.fromkeys(PRODUCTS, 1.0)),
        _per_product(
            {
                "deposit": 1.0,
                "wealth_management": 2.0,
                "fund": 1.5,
                "insurance": 1.5,
                "loan": 1.2,
                "credit_card": 1.3,
            }
        ),
        _per_product(
            {
                "deposit": 1.0,
                "wealth_management": 3.0,
                "fund": 2.5,
                "insurance": 2.0,
                "loan": 1.0,
                "credit_card": 1.3,
            }
        ),
        _per_product(
            {
                "deposit": 1.0,
                "wealth_management": 3.0,
                "fund": 3.0,
                "insurance": 2.0,
                "loan": 0.7,
                "credit_card": 1.2,
            }
        ),
    )
    affinity: tuple[tuple[float, ...], ...] = (
        # holding a deposit account
        _per_product(
            {
                "deposit": 1.0,
                "wealth_management": 1.5,
                "fund": 1.3,
                "insurance": 1.2,
                "loan": 1.2,
                "credit_card": 1.5,
            }
        ),
        # wealth management: funds inside the portfolio, protection for what it holds
        _per_product(
            {
                "deposit": 1.0,
                "wealth_management": 1.0,
                "fund": 2.5,
                "insurance": 1.5,
                "loan": 0.8,
                "credit_card": 1.0,
            }
        ),
        # a fund: the next step is a managed portfolio
        _per_product(
            {
                "deposit": 1.0,
                "wealth_management": 2.0,
                "fund": 1.0,
                "insurance": 1.2,
                "loan": 1.0,
                "credit_card": 1.0,
            }
        ),
        # insurance
        _per_product(
            {
                "deposit": 1.0,
                "wealth_management": 1.3,
                "fund": 1.0,
                "insurance": 1.0,
                "loan": 1.2,
                "credit_card": 1.0,
            }
        ),
        # a loan: payment protection, a card, the salary account
        _per_product(
            {
                "deposit": 1.5,
                "wealth_management": 1.0,
                "fund": 1.0,
                "insurance": 2.0,
                "loan": 1.0,
                "credit_card": 1.8,
            }
        ),
        # a credit card: a loan, the account it is paid from
        _per_product(
            {
                "deposit": 1.3,
                "wealth_management": 1.0,
                "fund": 1.0,
                "insurance": 1.1,
                "loan": 1.6,
                "credit_card": 1.0,
            }
        ),
    )
    salary_share: float = 0.85
    fx_rate: float = 0.03
    close_rate: float = 0.002
    close_rate_declining: float = 0.03

    def check(self) -> None:
        """Raise ``ValueError`` when a setting is out of range, or when some holdings and tier
        would make an add probability reach 1."""
        shares = {
            "risk_shares": self.risk_shares,
            "aum_type_shares": self.aum_type_shares,
            "opening_product_shares": self.opening_product_shares,
        }
        for name, values in shares.items():
            if min(values) < 0 or not math.isclose(sum(values), 1.0, abs_tol=1e-9):
                raise ValueError(f"{name} must be non-negative and sum to 1, got {values}")
        probabilities = {
            "existing_share": self.existing_share,
            "risk_change_rate": self.risk_change_rate,
            "shock_rate": self.shock_rate,
            "salary_share": self.salary_share,
            "fx_rate": self.fx_rate,
            "close_rate": self.close_rate,
            "close_rate_declining": self.close_rate_declining,
            **{f"drop_rate[{p}]": v for p, v in zip(PRODUCTS, self.drop_rate, strict=True)},
        }
        for name, value in probabilities.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability, got {value}")
        matrices = {"tier_add": self.tier_add, "affinity": self.affinity}
        expected_rows = {"tier_add": len(TIERS), "affinity": len(PRODUCTS)}
        for name, matrix in matrices.items():
            array = np.asarray(matrix, dtype=np.float64)
            if array.shape != (expected_rows[name], len(PRODUCTS)) or (array <= 0).any():
                raise ValueError(f"{name} must be a positive {expected_rows[name]} x 6 matrix")
        worst = self.max_add_probability()
        if worst >= 1.0:
            raise ValueError(f"an add probability reaches {worst:.3f}: lower add_base or lifts")
        if self.burn_in_months < 0:
            raise ValueError(f"burn_in_months must not be negative, got {self.burn_in_months}")
        positive = {"aum_median": self.aum_median, "aum_sigma": self.aum_sigma}
        positive |= {"market_sd": self.market_sd, "shock_sd": self.shock_sd}
        for name, value in positive.items():
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be positive, got {value}")

    def max_add_probability(self) -> float:
        """The largest add probability any holdings and tier give."""
        lift = np.asarray(self.affinity, dtype=np.float64)
        np.fill_diagonal(lift, 1.0)
        best_lift = np.prod(np.maximum(lift, 1.0), axis=0)
        best_tier = np.asarray(self.tier_add).max(axis=0)
        return float((np.asarray(self.add_base) * best_tier * best_lift).max())

    def as_record(self) -> dict[str, Any]:
        """The settings as ``true_params.json`` records them: per-product values by name."""
        record: dict[str, Any] = {}
        for key, value in dataclasses.asdict(self).items():
            if key in {"opening_product_shares", "add_base", "drop_rate"}:
                record[key] = dict(zip(PRODUCTS, value, strict=True))
            elif key == "tier_add":
                record[key] = {
                    tier: dict(zip(PRODUCTS, row, strict=True))
                    for tier, row in zip(TIERS, value, strict=True)
                }
            elif key == "affinity":
                record[key] = {
                    held: {b: lift for b, lift in zip(PRODUCTS, row, strict=True) if b != held}
                    for held, row in zip(PRODUCTS, value, strict=True)
                }
            elif key in {"risk_shares", "beta", "idio_sd"}:
                record[key] = dict(zip(RISK_LEVELS, value, strict=True))
            elif key == "aum_type_shares":
                record[key] = dict(zip(AUM_TYPES, value, strict=True))
            else:
                record[key] = value
        return record


def tier_codes(aum_cents: np.ndarray) -> np.ndarray:
    """Tier index (0 mass ... 3 private banking) of AUM given in whole cents.

    In cents the thresholds are exact integers, and ``cents / 100 >= threshold`` holds exactly
    when ``cents >= 100 * threshold`` (IEEE division rounds correctly and monotonically), so the
    tier of the Parquet value ``aum`` is the tier computed here.
    """
    cuts = np.array([TIER_THRESHOLDS[t] * 100 for t in TIERS[1:]], dtype=np.int64)
    return np.searchsorted(cuts, aum_cents, side="right").astype(np.int8)
