"""The columns the segments table ends with, from the product catalogue, the holdings and the
psychographic rules: ``needs_class``, ``psychographic_class``, the next best category and product
with their lift and support, and the category features the playbook acts on.

Without a products source the categories are not known: ``needs_class`` is ``unknown``, the
next best category and the category features are null, and ``psychographic_class`` is
``unknown`` unless psychographic rules are configured. Without ``products_held_column`` the next
best product is null. See :mod:`segmentation.segments.psychographics` and
:mod:`segmentation.segments.recommendations` for the rules.
"""

from __future__ import annotations

import polars as pl

from segmentation.segments.category_settings import (
    compile_eligibility,
    compile_psychographic_rules,
)
from segmentation.segments.columns import (
    CATALOGUE_LABEL_COLUMNS,
    CATEGORY_KEY_FEATURE_COLUMNS,
    RECOMMENDATION_COLUMN_TYPES,
)
from segmentation.segments.psychographics import needs_class_label, psychographic_classes
from segmentation.segments.recommendations import next_best_categories, next_best_products
from segmentation.segments.settings import SegmentSettings, feature_column_ranges

CATALOGUE_COLUMNS = (
    *CATALOGUE_LABEL_COLUMNS,
    *RECOMMENDATION_COLUMN_TYPES,
    *CATEGORY_KEY_FEATURE_COLUMNS,
)


def catalogue_labels(
    features: pl.DataFrame,
    settings: SegmentSettings,
    categories: pl.DataFrame | None = None,
    products: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The catalogue columns of every row of ``features``, in its row order.

    Args:
        features: ``features.customer_features`` rows sorted by snapshot and customer, with
            the category columns (missing ones count as null) and every column the
            psychographic and eligibility rules use.
        settings: The segment settings (``needs``, ``recommendations``, ``psychographics``).
        categories: ``features.customer_categories`` rows of the same snapshots; None without
            a products source.
        products: ``raw.products`` for the eligibility rule's ``product_*`` columns.

    Returns:
        needs_class, psychographic_class, next_best_category, next_best_category_lift,
        next_best_category_support, next_best_product, next_best_product_lift,
        next_best_product_support, top_category, category_breadth, core_spend_share.
    """
    known, ranges = settings.known_columns(), feature_column_ranges()
    rules = compile_psychographic_rules(settings.psychographics, known, ranges)
    eligibility = compile_eligibility(settings.recommendations, known, ranges)
    labels = features.select(needs_class_label(settings.needs), *CATEGORY_KEY_FEATURE_COLUMNS)
    psychographic = psychographic_classes(features, settings.psychographics, rules, categories)
    categories_next = next_best_categories(features, categories, settings.recommendations)
    products_next = next_best_products(features, settings.recommendations, products, eligibility)
    return (
        pl.concat(
            [labels, psychographic.to_frame(), categories_next, products_next],
            how="horizontal",
        )
        .select(CATALOGUE_COLUMNS)
        .cast(dict(RECOMMENDATION_COLUMN_TYPES))  # type: ignore[arg-type]
    )
