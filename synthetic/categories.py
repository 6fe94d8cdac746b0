"""Product categories and the customers' category affinities (``with_categories``).

The catalogue's products get a category (equal numbers per category), a subcategory, a price
level (the cheapest, middle and dearest third of the category's list prices) and a need level
(``core_product_share`` of each category's products are core, dearer ones more likely), from
the stream ``SeedSequence(seed, spawn_key=(4, 0))``; their list prices and popularity stay what
:func:`synthetic.catalogue.build_catalogue` drew.

Every customer has a latent lifestyle ``t``, a category profile ``pi ~ Dirichlet(c * m_t)``
(see :mod:`synthetic.category_settings`), a need class (basic or core, with a share that
depends on the lifestyle) and, for ``survey_response_share`` of them, a survey answer naming a
lifestyle (their own with probability ``survey_accuracy``).  Each line item then draws its
category from the customer's profile, whether it is a core item from the need class, and its
product within that category and need level by Zipf popularity restricted by price, as the
generator without categories does over the whole catalogue.  These draws come from the chunk's
stream ``(5, chunk)``; the orders, their timing and their values are drawn exactly as before,
so only the products (and the quantities and unit prices that follow from their list prices)
change.

The affinity of two categories is defined on line items: for two line items of one customer,
``lift(a, b) = P(a, b) / (P(a) P(b)) = E[pi_a pi_b] / (E[pi_a] E[pi_b])``, which for the
Dirichlet mixture is ``c / (c + 1) * sum_t w_t m_ta m_tb / (E[pi_a] E[pi_b])`` (customers'
line counts do not enter it).  It is estimated without bias from customers with ``n >= 2``
line items as the mean of ``n_a n_b / (n (n - 1))`` over the product of the means of
``n_a / n``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from synthetic.catalogue import Catalogue
from synthetic.category_settings import (
    CATEGORIES,
    LIFESTYLES,
    NEED_LEVELS,
    PRICE_LEVELS,
    SUBCATEGORIES,
    CategorySettings,
)
from synthetic.settings import GeneratorConfig

# a cell is one category and need level; prices (at most 250) are keyed by cell * _PRICE_SPAN
_PRICE_SPAN = 1_000.0
_N_NEEDS = len(NEED_LEVELS)


@dataclass(frozen=True)
class CategoryCatalogue:
    """Each product's category, subcategory, price and need level (codes), and the products
    ordered by (category, need level, list price) in the layout the line items draw from."""

    category: np.ndarray  # index into CATEGORIES
    subcategory: pl.Series
    price_level: np.ndarray  # index into PRICE_LEVELS
    need: np.ndarray  # index into NEED_LEVELS
    cell_order: np.ndarray  # product indices by (cell, price)
    cell_start: np.ndarray  # per cell, its first position in cell_order
    cell_size: np.ndarray
    price_key: np.ndarray  # cell * _PRICE_SPAN + list price, in cell_order
    cdf_key: np.ndarray  # cell + cumulative popularity within the cell, in cell_order


def _segment_starts(counts: np.ndarray) -> np.ndarray:
    return np.cumsum(counts) - counts


def build_category_catalogue(cfg: GeneratorConfig, cat: Catalogue) -> CategoryCatalogue:
    """The catalogue's categories and levels, from the stream ``(4, 0)`` (the same for every
    chunk)."""
    cs, n, k = cfg.categories, cfg.settings.n_products, len(CATEGORIES)
    rng = np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(4, 0)))
    sizes = n // k + (np.arange(k) < n % k)
    category = np.repeat(np.arange(k), sizes)[rng.permutation(n)]
    n_sub = np.array([len(SUBCATEGORIES[c]) for c in CATEGORIES])
    sub_idx = np.floor(rng.random(n) * n_sub[category]).astype(np.int64)
    names = pl.Series([s for c in CATEGORIES for s in SUBCATEGORIES[c]], dtype=pl.String)
    subcategory = names.gather(_segment_starts(n_sub)[category] + sub_idx).alias("subcategory")
    starts = _segment_starts(sizes)
    by_price = np.lexsort((cat.price, category))
    rank = np.empty(n, dtype=np.int64)
    rank[by_price] = np.arange(n) - starts[category[by_price]]
    size = sizes[category]
    price_level = (len(PRICE_LEVELS) * rank) // size
    # core products: a weighted draw without replacement (Gumbel top-k), dearer ones weigh more
    max_lines = cfg.settings.max_lines
    n_core = np.clip(np.rint(sizes * cs.core_product_share), max_lines, sizes - max_lines)
    key = np.log(0.25 + (rank + 0.5) / size) + rng.gumbel(size=n)
    by_key = np.lexsort((-key, category))
    need = np.zeros(n, dtype=np.int64)
    need[by_key] = (np.arange(n) - starts[category[by_key]]) < n_core[category[by_key]]

    cell = category * _N_NEEDS + need
    cell_order = np.lexsort((cat.price, cell))
    cell_size = np.bincount(cell, minlength=k * _N_NEEDS)
    cell_start = _segment_starts(cell_size)
    cell_of = cell[cell_order]
    cum = np.cumsum(cat.popularity[cell_order])
    before = np.concatenate(([0.0], cum))[cell_start]
    total = (cum[cell_start + cell_size - 1] - before)[cell_of]
    within = (cum - before[cell_of]) / total
    within[cell_start + cell_size - 1] = 1.0
    return CategoryCatalogue(
        category=category,
        subcategory=subcategory,
        price_level=price_level,
        need=need,
        cell_order=cell_order,
        cell_start=cell_start,
        cell_size=cell_size,
        price_key=cell_of * _PRICE_SPAN + cat.price[cell_order],
        cdf_key=cell_of + within,
    )


def mean_profiles(cs: CategorySettings) -> np.ndarray:
    """Each lifestyle's mean category profile ``m_t`` (lifestyles x categories)."""
    base = np.asarray(cs.category_weights, dtype=np.float64)
    focus = np.zeros((len(LIFESTYLES), len(CATEGORIES)))
    for t, cats in enumerate(cs.lifestyle_focus):
        focus[t, [CATEGORIES.index(c) for c in cats]] = 1.0 / len(cats)
    return (1.0 - cs.focus_weight) * base + cs.focus_weight * focus


def pair_lift(cs: CategorySettings) -> tuple[np.ndarray, np.ndarray]:
    """The population's expected line share of each category ``E[pi_a]`` and the lift of
    each pair of categories (the diagonal is the lift of a category with itself)."""
    m, w = mean_profiles(cs), np.asarray(cs.lifestyle_shares, dtype=np.float64)
    c = cs.profile_concentration
    share = w @ m
    second = c / (c + 1.0) * (m.T * w) @ m
    second[np.diag_indices_from(second)] += share / (c + 1.0)  # E[pi_a^2] of a Dirichlet
    return share, second / np.outer(share, share)


def answer_given_lifestyle(cs: CategorySettings) -> np.ndarray:
    """P(survey answer | lifestyle) of a respondent (lifestyles x lifestyles)."""
    n_life = len(LIFESTYLES)
    wrong = (1.0 - cs.survey_accuracy) / (n_life - 1)
    return np.where(np.eye(n_life, dtype=bool), cs.survey_accuracy, wrong)


@dataclass(frozen=True)
class CustomerMix:
    """One chunk's customers' lifestyles, category profiles, need classes and survey answers
    (-1: no answer), and the stream their line items draw from."""

    lifestyle: np.ndarray
    profile: np.ndarray  # customers x categories, rows adding up to 1
    need: np.ndarray
    answer: np.ndarray
    rng_lines: np.random.Generator


def draw_customer_mix(cfg: GeneratorConfig, chunk_index: int, n: int) -> CustomerMix:
    """The chunk's latent lifestyles, profiles, needs and survey answers (stream ``(5,
    chunk)``)."""
    cs, n_life = cfg.categories, len(LIFESTYLES)
    ss = np.random.SeedSequence(cfg.seed, spawn_key=(5, chunk_index))
    rng_profile, rng_survey, rng_lines = (np.random.default_rng(s) for s in ss.spawn(3))
    cdf = np.cumsum(cs.lifestyle_shares)
    lifestyle = np.minimum(
        np.searchsorted(cdf / cdf[-1], rng_profile.random(n), "right"), n_life - 1
    )
    alpha = cs.profile_concentration * mean_profiles(cs)[lifestyle]
    draws = rng_profile.standard_gamma(alpha)
    profile = draws / np.maximum(draws.sum(axis=1, keepdims=True), np.finfo(np.float64).tiny)
    need = (rng_profile.random(n) < np.asarray(cs.core_needs_share)[lifestyle]).astype(np.int64)
    responded = rng_survey.random(n) < cs.survey_response_share
    correct = rng_survey.random(n) < cs.survey_accuracy
    other = (
        lifestyle + 1 + np.floor(rng_survey.random(n) * (n_life - 1)).astype(np.int64)
    ) % n_life
    answer = np.where(responded, np.where(correct, lifestyle, other), -1)
    return CustomerMix(lifestyle, profile, need, answer, rng_lines)


def draw_line_products(
    cc: CategoryCatalogue,
    cs: CategorySettings,
    mix: CustomerMix,
    line_customer: np.ndarray,
    target: np.ndarray,
    line_ord: np.ndarray,
    line_start: np.ndarray,
    max_lines: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each line item's product, category and need level: the category from the customer's
    profile, core or basic from the customer's need class, the product by popularity among the
    category's products of that level whose list price is at most ``1.5 * target`` (the
    cheapest one if none is).  A line repeating a product of an earlier line of its order moves
    to the next dearer product of its cell (cyclically), so category and level stay."""
    rng, n_lines = mix.rng_lines, line_customer.size
    u = rng.random(n_lines)
    category = np.zeros(n_lines, dtype=np.int64)
    cdf = np.cumsum(mix.profile, axis=1)
    for j in range(len(CATEGORIES) - 1):
        category += u > cdf[:, j][line_customer]
    p_core = np.asarray(cs.core_line_share)[mix.need]
    need = (rng.random(n_lines) < p_core[line_customer]).astype(np.int64)
    cell = category * _N_NEEDS + need
    start, size = cc.cell_start[cell], cc.cell_size[cell]
    cap = np.minimum(1.5 * target, _PRICE_SPAN - 1.0)
    n_eligible = np.searchsorted(cc.price_key, cell * _PRICE_SPAN + cap, side="right") - start
    last = start + np.maximum(n_eligible, 1) - 1
    cdf_cap = cc.cdf_key[last] - cell
    pos = np.searchsorted(cc.cdf_key, cell + rng.random(n_lines) * cdf_cap, side="right")
    pos = np.clip(pos, start, last)

    line_no = np.arange(n_lines) - line_start[line_ord]
    longest = int(line_no.max(initial=0)) + 1
    # each line settles once the earlier lines of its order have: at most 1 + 2 + ... moves
    for _ in range(longest * longest + 1):
        dup = np.zeros(n_lines, dtype=bool)
        for lag in range(1, longest):
            dup[lag:] |= (pos[lag:] == pos[:-lag]) & (line_no[lag:] >= lag)
        if not dup.any():
            break
        pos[dup] = start[dup] + (pos[dup] - start[dup] + 1) % size[dup]
    else:  # pragma: no cover - cells hold at least max_lines products (CategorySettings.check)
        raise RuntimeError(f"an order repeats a product within {max_lines} lines")
    return cc.cell_order[pos], category, need


def mix_counts(
    mix: CustomerMix,
    line_customer: np.ndarray,
    category: np.ndarray,
    need: np.ndarray,
) -> dict[str, float]:
    """The chunk's counts for ``true_params.json`` (added up over chunks)."""
    n, k = mix.lifestyle.size, len(CATEGORIES)
    counts: dict[str, float] = {}
    per_life = np.bincount(mix.lifestyle, minlength=len(LIFESTYLES))
    core_life = np.bincount(mix.lifestyle, weights=mix.need, minlength=len(LIFESTYLES))
    for t, name in enumerate(LIFESTYLES):
        counts[f"customers.{name}"] = int(per_life[t])
        counts[f"core_needs.{name}"] = int(core_life[t])
    responded = mix.answer >= 0
    counts["respondents"] = int(responded.sum())
    counts["answers_naming_own_lifestyle"] = int((mix.answer == mix.lifestyle).sum())
    for c, name in enumerate(CATEGORIES):
        counts[f"lines.{name}"] = int((category == c).sum())
    line_need = mix.need[line_customer]
    for code, name in enumerate(NEED_LEVELS):
        counts[f"lines_of_{name}_needs"] = int((line_need == code).sum())
        counts[f"core_lines_of_{name}_needs"] = int(need[line_need == code].sum())
    bought = np.zeros((n, k), dtype=np.int64)
    bought[line_customer, category] = 1
    counts["purchasers"] = int(bought.any(axis=1).sum())
    both = bought.T @ bought
    for a in range(k):
        for b in range(a, k):
            counts[f"buyers.{CATEGORIES[a]}.{CATEGORIES[b]}"] = int(both[a, b])
    return counts


def mix_latent(mix: CustomerMix) -> pl.DataFrame:
    """The latent columns of the chunk's customers: lifestyle, need class, profile."""
    return pl.DataFrame(
        {
            "lifestyle": pl.Series(LIFESTYLES, dtype=pl.String).gather(mix.lifestyle),
            "need_class": pl.Series(NEED_LEVELS, dtype=pl.String).gather(mix.need),
            **{f"profile_{c}": mix.profile[:, j] for j, c in enumerate(CATEGORIES)},
        }
    )


def survey_answers(mix: CustomerMix) -> pl.Series:
    """The customers file's ``lifestyle`` column: the survey answer, null without one."""
    answers = pl.Series(LIFESTYLES, dtype=pl.String).gather(np.maximum(mix.answer, 0))
    return answers.scatter(np.flatnonzero(mix.answer < 0), None).alias("lifestyle")
