"""The catalogue as its export stores it (``products.csv``: all text, the source's own column
names), its dirty rows, and the true parameters of the categories, the affinities, the needs
and the lifestyles as recorded in ``true_params.json`` under ``categories``."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from synthetic.catalogue import Catalogue
from synthetic.categories import (
    CategoryCatalogue,
    answer_given_lifestyle,
    build_category_catalogue,
    mean_profiles,
    pair_lift,
)
from synthetic.category_settings import (
    CATEGORIES,
    LIFESTYLES,
    NEED_LEVELS,
    PRICE_LEVELS,
    SUBCATEGORIES,
)
from synthetic.dirty_sources import interleave, pick_dirty_rows
from synthetic.settings import GeneratorConfig

#: The columns of ``products.csv``.
PRODUCT_COLUMNS: tuple[str, ...] = ("sku", "category", "sub", "tier", "need", "list_price")
#: The canonical column -> the products file's column (the ``columns`` of the source).
PRODUCT_COLUMN_MAP = {
    "product_id": "sku",
    "category": "category",
    "subcategory": "sub",
    "price_level": "tier",
    "need_level": "need",
}
#: Kinds of dirty product rows: an identical copy, a copy of the product id with another
#: category, a copy without a category, a copy without a product id.
PRODUCT_DIRTY_KINDS: tuple[str, ...] = (
    "duplicate",
    "conflicting_values",
    "missing_category",
    "missing_product_id",
)
LIFT_DEFINITION = (
    "two line items of one customer: P(a, b) / (P(a) P(b)) = E[pi_a pi_b] / (E[pi_a] E[pi_b]) "
    "over the customers' category profiles pi"
)


@dataclass(frozen=True)
class Products:
    """The catalogue's categories and ``products.csv``: its rows, the dirty ones by kind and
    the product ids with a conflicting copy."""

    catalogue: CategoryCatalogue
    frame: pl.DataFrame
    dirty_rows: dict[str, int]
    conflicting: list[str]


def build_products(cfg: GeneratorConfig, cat: Catalogue) -> Products:
    """The run's catalogue categories and products file (the same for every chunk)."""
    cc = build_category_catalogue(cfg, cat)
    return Products(cc, *_products_frame(cfg, cat, cc))


def _products_frame(
    cfg: GeneratorConfig, cat: Catalogue, cc: CategoryCatalogue
) -> tuple[pl.DataFrame, dict[str, int], list[str]]:
    """``products.csv``'s rows (one per product, by product id, with dirty copies right after
    their source rows when ``dirty_rate > 0``), the dirty rows by kind and the product ids that
    have a conflicting copy (a landing rejects all their rows, so their sales are
    uncatalogued)."""
    clean = pl.DataFrame(
        {
            "sku": cat.ids,
            "category": pl.Series(CATEGORIES, dtype=pl.String).gather(cc.category),
            "sub": cc.subcategory,
            "tier": pl.Series(PRICE_LEVELS, dtype=pl.String).gather(cc.price_level),
            "need": pl.Series(NEED_LEVELS, dtype=pl.String).gather(cc.need),
            "list_price": [f"{price:.2f}" for price in cat.price],
        }
    )
    if cfg.dirty_rate == 0.0:
        return clean, {}, []
    rng = np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(4, 1)))
    kind, src, pick, counts = pick_dirty_rows(
        rng, clean.height, cfg.dirty_rate, PRODUCT_DIRTY_KINDS
    )
    code = {k: i for i, k in enumerate(PRODUCT_DIRTY_KINDS)}
    k = len(CATEGORIES)
    other = (cc.category[src] + 1 + pick % (k - 1)) % k
    is_kind = {name: pl.Series(kind == i) for name, i in code.items()}
    dirty = clean[src].with_columns(
        pl.when(is_kind["missing_product_id"])
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(pl.col("sku"))
        .alias("sku"),
        pl.when(is_kind["conflicting_values"])
        .then(pl.Series(CATEGORIES, dtype=pl.String).gather(other))
        .when(is_kind["missing_category"])
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(pl.col("category"))
        .alias("category"),
    )
    conflicting = sorted(set(cat.ids.gather(src[kind == code["conflicting_values"]])))
    return interleave(clean, dirty, src), counts, conflicting


def _plain(value: Any) -> Any:
    """JSON's view of a value (tuples become lists), as ``true_params.json`` reads back."""
    return json.loads(json.dumps(value))


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _catalogue(cc: CategoryCatalogue) -> dict[str, Any]:
    per_category = np.bincount(cc.category, minlength=len(CATEGORIES))
    core_per_category = np.bincount(cc.category, weights=cc.need, minlength=len(CATEGORIES))
    per_level = np.bincount(cc.price_level, minlength=len(PRICE_LEVELS))
    core_per_level = np.bincount(cc.price_level, weights=cc.need, minlength=len(PRICE_LEVELS))
    return {
        "products": int(cc.category.size),
        "products_per_category": dict(zip(CATEGORIES, map(int, per_category), strict=True)),
        "core_products_per_category": dict(
            zip(CATEGORIES, map(int, core_per_category), strict=True)
        ),
        "core_share_by_price_level": {
            level: float(core_per_level[i] / per_level[i]) for i, level in enumerate(PRICE_LEVELS)
        },
        "subcategories": {c: list(SUBCATEGORIES[c]) for c in CATEGORIES},
    }


def _by_category(matrix: np.ndarray) -> dict[str, dict[str, float]]:
    return {
        a: {b: float(matrix[i, j]) for j, b in enumerate(CATEGORIES) if j != i}
        for i, a in enumerate(CATEGORIES)
    }


def _expected(cfg: GeneratorConfig) -> dict[str, Any]:
    cs = cfg.categories
    share, lift = pair_lift(cs)
    m = mean_profiles(cs)
    w = np.asarray(cs.lifestyle_shares)
    confusion = answer_given_lifestyle(cs)
    joint = w[:, None] * confusion
    lifestyle_given_answer = joint / joint.sum(axis=0)
    share_given_answer = lifestyle_given_answer.T @ m
    core_needs = float(w @ np.asarray(cs.core_needs_share))
    basic_q, core_q = cs.core_line_share
    return {
        "line_share": dict(zip(CATEGORIES, map(float, share), strict=True)),
        "pair_lift": _by_category(lift),
        "lift_definition": LIFT_DEFINITION,
        "mean_profile_by_lifestyle": {
            t: dict(zip(CATEGORIES, map(float, m[i]), strict=True))
            for i, t in enumerate(LIFESTYLES)
        },
        "lifestyle_shares": dict(zip(LIFESTYLES, cs.lifestyle_shares, strict=True)),
        "core_needs_share": core_needs,
        "core_needs_share_by_lifestyle": dict(zip(LIFESTYLES, cs.core_needs_share, strict=True)),
        "core_line_share": dict(zip(NEED_LEVELS, cs.core_line_share, strict=True)),
        "core_line_share_overall": core_needs * core_q + (1.0 - core_needs) * basic_q,
        "survey": {
            "column": "lifestyle",
            "response_share": cs.survey_response_share,
            "accuracy": cs.survey_accuracy,
            "answer_given_lifestyle": {
                t: dict(zip(LIFESTYLES, map(float, confusion[i]), strict=True))
                for i, t in enumerate(LIFESTYLES)
            },
            "line_share_given_answer": {
                s: dict(zip(CATEGORIES, map(float, share_given_answer[i]), strict=True))
                for i, s in enumerate(LIFESTYLES)
            },
        },
    }


def _realized(counts: dict[str, float]) -> dict[str, Any]:
    k = len(CATEGORIES)
    buyers = np.zeros((k, k))
    for a in range(k):
        for b in range(a, k):
            buyers[a, b] = buyers[b, a] = counts.get(f"buyers.{CATEGORIES[a]}.{CATEGORIES[b]}", 0)
    purchasers = counts.get("purchasers", 0)
    alone = np.diag(buyers)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = buyers * purchasers / np.outer(alone, alone)
    customers = sum(counts.get(f"customers.{t}", 0) for t in LIFESTYLES)
    core = sum(counts.get(f"core_needs.{t}", 0) for t in LIFESTYLES)
    return {
        "core_needs_share": _ratio(core, customers),
        "core_line_share": {
            need: _ratio(
                counts.get(f"core_lines_of_{need}_needs", 0),
                counts.get(f"lines_of_{need}_needs", 0),
            )
            for need in NEED_LEVELS
        },
        "survey_response_share": _ratio(counts.get("respondents", 0), customers),
        "survey_accuracy": _ratio(
            counts.get("answers_naming_own_lifestyle", 0), counts.get("respondents", 0)
        ),
        "customer_buyer_share": {c: _ratio(alone[i], purchasers) for i, c in enumerate(CATEGORIES)},
        # whether a purchaser bought both at all in the window: a lift of buyers, which
        # depends on how many line items customers have (the line-item lift does not)
        "customer_pair_lift": _by_category(np.nan_to_num(lift)) if purchasers else {},
    }


def category_true_params(
    cfg: GeneratorConfig, products: Products, counts: dict[str, float]
) -> dict[str, Any]:
    """The ``categories`` entry of ``true_params.json``."""
    plain_counts = {k: int(v) for k, v in counts.items() if not k.startswith("buyers.")}
    return _plain(
        {
            "source": {"path": "products.csv", "columns": PRODUCT_COLUMN_MAP},
            "settings": dataclasses.asdict(cfg.categories),
            "categories": list(CATEGORIES),
            "lifestyles": list(LIFESTYLES),
            "catalogue": _catalogue(products.catalogue),
            "expected": _expected(cfg),
            "counts": plain_counts,
            "realized": _realized(counts),
            "dirty_rows": products.dirty_rows,
            "conflicting_product_ids": products.conflicting,
        }
    )
