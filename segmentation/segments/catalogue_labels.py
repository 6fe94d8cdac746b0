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

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

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
from segmentation.segments.psychographics import (
    ShareClusters,
    needs_class_label,
    psychographic_classes,
)
from segmentation.segments.recommendations import next_best_categories, next_best_products
from segmentation.segments.settings import SegmentSettings, feature_column_ranges

CATALOGUE_COLUMNS = (
    *CATALOGUE_LABEL_COLUMNS,
    *RECOMMENDATION_COLUMN_TYPES,
    *CATEGORY_KEY_FEATURE_COLUMNS,
)


@dataclass(frozen=True)
class CataloguePopulation:
    """What the catalogue columns read of each snapshot's whole population, computed apart by
    an engine that labels a part of the customers at a time (None: computed from the rows at
    hand, which are then the whole population).

    Attributes:
        category_counts: The association counts of the category baskets
            (:func:`~segmentation.segments.recommendations.association_counts`).
        product_counts: The association counts of the product baskets.
        share_clusters: The psychographic clusters per snapshot
            (:func:`~segmentation.segments.psychographics.fit_share_clusters`).
    """

    category_counts: pl.DataFrame | None = None
    product_counts: pl.DataFrame | None = None
    share_clusters: Mapping[date, ShareClusters | None] | None = None


def catalogue_labels(
    features: pl.DataFrame,
    settings: SegmentSettings,
    categories: pl.DataFrame | None = None,
    products: pl.DataFrame | None = None,
    population: CataloguePopulation | None = None,
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
        population: What the labels read of the whole population, when ``features`` holds a
            part of it (see :class:`CataloguePopulation`).

    Returns:
        needs_class, psychographic_class, next_best_category, next_best_category_lift,
        next_best_category_support, next_best_product, next_best_product_lift,
        next_best_product_support, top_category, category_breadth, core_spend_share.
    """
    known, ranges = settings.known_columns(), feature_column_ranges()
    rules = compile_psychographic_rules(settings.psychographics, known, ranges)
    eligibility = compile_eligibility(settings.recommendations, known, ranges)
    labels = features.select(needs_class_label(settings.needs), *CATEGORY_KEY_FEATURE_COLUMNS)
    population = population or CataloguePopulation()
    psychographic = psychographic_classes(
        features, settings.psychographics, rules, categories, population.share_clusters
    )
    categories_next = next_best_categories(
        features, categories, settings.recommendations, population.category_counts
    )
    products_next = next_best_products(
        features, settings.recommendations, products, eligibility, population.product_counts
    )
    return (
        pl.concat(
            [labels, psychographic.to_frame(), categories_next, products_next],
            how="horizontal",
        )
        .select(CATALOGUE_COLUMNS)
        .cast(dict(RECOMMENDATION_COLUMN_TYPES))  # type: ignore[arg-type]
    )
