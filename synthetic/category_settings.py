"""What the product categories, the customers' category profiles, their needs and their
lifestyles are drawn from: the catalogue's categories, subcategories and levels, and the true
parameters of the category affinities (recorded in ``true_params.json`` under ``categories``).

Every customer has a latent lifestyle (a shopper type) and, given it, a category profile
``pi ~ Dirichlet(concentration * m_t)`` whose mean ``m_t`` leans towards the lifestyle's focus
categories: ``m_t = (1 - focus_weight) * category_weights + focus_weight * uniform(focus_t)``.
Categories that one lifestyle focuses on together are bought together more often than their
shares predict (lift above 1), the others less (see :mod:`synthetic.categories`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: The catalogue's categories, in the order of every per-category tuple.
CATEGORIES: tuple[str, ...] = (
    "home",
    "kitchen",
    "garden",
    "toys",
    "stationery",
    "fashion",
    "beauty",
    "electronics",
    "food",
    "gifts",
)
#: Each category's subcategories (a product's subcategory is drawn uniformly among them).
SUBCATEGORIES: dict[str, tuple[str, ...]] = {
    "home": ("decor", "lighting", "textiles", "storage"),
    "kitchen": ("cookware", "tableware", "utensils", "baking"),
    "garden": ("plants", "tools", "outdoor living"),
    "toys": ("games", "puzzles", "plush", "crafts"),
    "stationery": ("paper", "pens", "cards", "wrapping"),
    "fashion": ("bags", "accessories", "scarves", "jewellery"),
    "beauty": ("skincare", "fragrance", "bath", "cosmetics"),
    "electronics": ("audio", "gadgets", "chargers", "smart home"),
    "food": ("confectionery", "tea and coffee", "snacks", "hampers"),
    "gifts": ("seasonal", "personalised", "novelty", "gift sets"),
}
#: Price levels (within a category: the cheapest third, the middle third, the dearest third).
PRICE_LEVELS: tuple[str, ...] = ("budget", "standard", "premium")
#: Need levels of a product, and the latent need classes of customers (same names, same order).
NEED_LEVELS: tuple[str, ...] = ("basic", "core")
#: Lifestyles (shopper types), the values of the customers' survey answer.
LIFESTYLES: tuple[str, ...] = (
    "home_maker",
    "trend_follower",
    "family_focused",
    "gift_giver",
    "value_seeker",
)


@dataclass(frozen=True)
class CategorySettings:
    """True parameters of the categories, the category profiles, the needs and the lifestyles.

    Attributes:
        category_weights: The population's base share of each category (order of
            :data:`CATEGORIES`, sum 1).
        lifestyle_shares: Share of customers of each lifestyle (order of :data:`LIFESTYLES`).
        lifestyle_focus: Per lifestyle, the categories its profile leans towards.
        focus_weight: Weight of the focus categories in a lifestyle's mean profile (the rest
            is ``category_weights``).
        profile_concentration: Dirichlet concentration of a customer's profile around the
            lifestyle's mean (smaller: customers of one lifestyle differ more).
        core_needs_share: Per lifestyle, the share of core-needs customers (the others are
            basic-needs customers).
        core_line_share: Probability that a line item is a core item, for a basic-needs and
            for a core-needs customer.
        core_product_share: Share of each category's products whose need level is core
            (dearer products are more likely core).
        survey_response_share: Share of customers who answered the lifestyle survey.
        survey_accuracy: Probability that an answer names the customer's own lifestyle (else
            one of the others, uniformly).
    """

    category_weights: tuple[float, ...] = (
        0.12,
        0.12,
        0.08,
        0.10,
        0.10,
        0.10,
        0.10,
        0.08,
        0.12,
        0.08,
    )
    lifestyle_shares: tuple[float, ...] = (0.25, 0.20, 0.20, 0.15, 0.20)
    lifestyle_focus: tuple[tuple[str, ...], ...] = (
        ("home", "kitchen", "garden"),
        ("fashion", "beauty", "electronics"),
        ("toys", "food", "stationery"),
        ("gifts", "beauty", "stationery"),
        ("food", "kitchen"),
    )
    focus_weight: float = 0.6
    profile_concentration: float = 6.0
    core_needs_share: tuple[float, ...] = (0.45, 0.60, 0.30, 0.50, 0.10)
    core_line_share: tuple[float, float] = (0.10, 0.80)
    core_product_share: float = 0.5
    survey_response_share: float = 0.4
    survey_accuracy: float = 0.7

    def check(self, n_products: int, max_lines: int) -> None:
        """Raise ``ValueError`` when a setting is out of range, or when the catalogue is too
        small for every category and need level to hold an order's largest number of lines
        (a line repeating a product of its order moves to another product of its cell)."""
        k, n_life = len(CATEGORIES), len(LIFESTYLES)
        for name_, shares, size in (
            ("category_weights", self.category_weights, k),
            ("lifestyle_shares", self.lifestyle_shares, n_life),
        ):
            if len(shares) != size or not math.isclose(sum(shares), 1.0):
                raise ValueError(f"categories {name_} must be {size} shares adding up to 1")
            if min(shares) <= 0.0:
                raise ValueError(f"categories {name_} must be positive")
        if len(self.lifestyle_focus) != n_life or len(self.core_needs_share) != n_life:
            raise ValueError("categories lifestyle_focus / core_needs_share: one per lifestyle")
        unknown = {c for focus in self.lifestyle_focus for c in focus} - set(CATEGORIES)
        if unknown or not all(self.lifestyle_focus):
            raise ValueError(f"categories lifestyle_focus: unknown or no categories {unknown}")
        probabilities = {
            "focus_weight": self.focus_weight,
            "survey_response_share": self.survey_response_share,
            "survey_accuracy": self.survey_accuracy,
            **{f"core_needs_share[{i}]": v for i, v in enumerate(self.core_needs_share)},
            **{f"core_line_share[{i}]": v for i, v in enumerate(self.core_line_share)},
        }
        for name_, value in probabilities.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"categories {name_} must be in [0, 1], got {value}")
        if len(self.core_line_share) != len(NEED_LEVELS):
            raise ValueError("categories core_line_share needs one share per need class")
        if not (math.isfinite(self.profile_concentration) and self.profile_concentration > 0):
            raise ValueError("categories profile_concentration must be positive")
        if not 0.0 < self.core_product_share < 1.0:
            raise ValueError("categories core_product_share must be in (0, 1)")
        if n_products < k * 2 * max_lines:
            raise ValueError(
                f"categories need at least {k * 2 * max_lines} products ({k} categories x 2 "
                f"need levels x max_lines {max_lines}), got n_products {n_products}"
            )
