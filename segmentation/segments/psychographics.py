"""Needs and psychographic classes: labels from the category mix and from rules over customer
columns.

``needs_class`` (``segments.needs``) reads ``core_spend_share``, the share of a customer's
levelled spend in the category window that is on core-level items: ``unknown`` without it (no
products source, or no spend on items with a core or basic level), ``core`` from
``core_min_share``, ``basic`` up to ``basic_max_share``, ``mixed`` between.

``psychographic_class`` (``segments.psychographics``): with rules, the name of the first rule
that holds for the customer (else the ``default``). Without rules, and with a products source,
the customers with positive catalogued spend in the window are clustered per snapshot on their
category spend shares: the shares of the snapshot's ``TOP_CATEGORIES`` categories with the most
spend, plus one share for all the others, so each customer is a point of the simplex. K-means
is seeded and k chosen by silhouette on a seeded sample, as for the behaviour clusters
(:func:`~segmentation.segments.clusters.fit_best_kmeans`); the rows are sorted by customer id
first, so the same month gives the same clusters. A cluster is named from its mean shares:
``<category>-led`` when one category holds at least ``LED_SHARE`` of them, else ``<first> &
<second>``; equal names get ``#1``, ``#2`` by size. Everyone else is ``unknown``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from segmentation.features.contracts import UNKNOWN_CATEGORY
from segmentation.keys import KEY_COLUMNS
from segmentation.segments.category_settings import NeedsSettings, PsychographicSettings
from segmentation.segments.clusters import fit_best_kmeans
from segmentation.segments.columns import snapshot_slices
from segmentation.segments.rule_evaluation import first_match_indices
from segmentation.segments.rule_types import CheckedExpression
from segmentation.segments.settings import ClusterSettings

if TYPE_CHECKING:
    from sklearn.cluster import KMeans

UNKNOWN = "unknown"
NEEDS_CLASSES = ("core", "mixed", "basic", UNKNOWN)
# categories of their own in the share vector; the rest share one component
TOP_CATEGORIES = 10
OTHER_CATEGORIES = "other categories"
# the share columns are named by this prefix and the category (or _OTHER), so that no category
# name can clash with another column
_PREFIX = "share:"
_OTHER = "\x00other"
# a cluster is led by a category holding at least this share of its mean spend
LED_SHARE = 0.5


def needs_class_label(settings: NeedsSettings | None = None) -> pl.Expr:
    """``needs_class`` of each row from ``core_spend_share`` (see the module docstring)."""
    settings = settings or NeedsSettings()
    share = pl.col("core_spend_share")
    return (
        pl.when(share.is_null())
        .then(pl.lit(UNKNOWN))
        .when(share >= settings.core_min_share)
        .then(pl.lit("core"))
        .when(share <= settings.basic_max_share)
        .then(pl.lit("basic"))
        .otherwise(pl.lit("mixed"))
        .alias("needs_class")
    )


def _bought(categories: pl.DataFrame) -> pl.DataFrame:
    """The category rows with positive catalogued spend, sorted by customer and category."""
    return (
        categories.filter((pl.col("category") != UNKNOWN_CATEGORY) & (pl.col("spend") > 0))
        .select("customer_id", "category", "spend")
        .sort("customer_id", "category")
    )


def _share_vectors(
    bought: pl.DataFrame, top: Sequence[str], other: bool
) -> tuple[pl.Series, np.ndarray]:
    """The customers (sorted) of ``bought`` rows and their share vectors over the components
    ``top`` (sorted) and, when ``other``, the other categories together. A customer's vector
    depends on that customer's rows alone."""
    keys = [*top, *([_OTHER] if other else [])]
    shares = (
        bought.with_columns(
            pl.when(pl.col("category").is_in(list(top)))
            .then(pl.col("category"))
            .otherwise(pl.lit(_OTHER))
            .alias("component"),
            (pl.col("spend") / pl.col("spend").sum().over("customer_id")).alias("share"),
        )
        .group_by("customer_id", "component", maintain_order=True)
        .agg(pl.col("share").sum())
        .with_columns((pl.lit(_PREFIX) + pl.col("component")).alias("component"))
        .pivot(on="component", index="customer_id", values="share")
        .sort("customer_id")
    )
    columns = [f"{_PREFIX}{key}" for key in keys]
    matrix = shares.select(
        (pl.col(name) if name in shares.columns else pl.lit(0.0)).fill_null(0.0).alias(name)
        for name in columns
    ).to_numpy()
    return shares.get_column("customer_id"), matrix


def _share_matrix(
    categories: pl.DataFrame,
) -> tuple[pl.Series, np.ndarray, list[str], list[str], bool]:
    """The customers (sorted) with positive catalogued spend in one snapshot's category rows,
    their share vectors, the components' names, the top categories and whether the other
    categories have a component."""
    bought = _bought(categories)
    totals = (
        bought.group_by("category")
        .agg(pl.col("spend").sum())
        .sort(["spend", "category"], descending=[True, False])
    )
    top = sorted(totals.get_column("category").head(TOP_CATEGORIES).to_list())
    other = totals.height > len(top)
    customers, matrix = _share_vectors(bought, top, other)
    names = [*top, *([OTHER_CATEGORIES] if other else [])]
    return customers, matrix, names, top, other


def name_share_clusters(centres: np.ndarray, components: list[str], sizes: list[int]) -> list[str]:
    """Readable, unique names of clusters from their mean share vectors (one row per cluster,
    in label order) and sizes: ``<category>-led`` or ``<first> & <second>``."""
    names = []
    for centre in centres:
        # the largest shares first; ties in component order
        order = sorted(range(len(components)), key=lambda index: (-centre[index], index))
        first = components[order[0]]
        if centre[order[0]] >= LED_SHARE or len(order) == 1:
            names.append(f"{first}-led")
        else:
            names.append(f"{first} & {components[order[1]]}")
    counts = Counter(names)
    seen: Counter[str] = Counter()
    for label in sorted(range(len(names)), key=lambda index: (-sizes[index], index)):
        if counts[names[label]] > 1:
            seen[names[label]] += 1
            names[label] = f"{names[label]} #{seen[names[label]]}"
    return names


@dataclass(frozen=True)
class ShareClusters:
    """One snapshot's psychographic clusters, fitted on all its customers' share vectors.

    Attributes:
        top: The categories with a component of their own (sorted).
        other: Whether the other categories share one more component.
        model: The fitted k-means.
        names: The name of each label the snapshot's customers have.
    """

    top: tuple[str, ...]
    other: bool
    model: KMeans
    names: dict[int, str]


def fit_share_clusters(
    categories: pl.DataFrame, settings: PsychographicSettings
) -> ShareClusters | None:
    """The psychographic clusters of one snapshot's category rows (all its customers'): the
    seeded sample, k-means and the names; None without positive catalogued spend."""
    customers, matrix, components, top, other = _share_matrix(categories)
    if customers.is_empty():
        return None
    clusters = settings.clusters
    model, _, _ = fit_best_kmeans(
        matrix,
        ClusterSettings(
            k_min=clusters.k_min,
            k_max=clusters.k_max,
            sample_size=clusters.sample_size,
            silhouette_sample_size=clusters.silhouette_sample_size,
            seed=clusters.seed,
        ),
    )
    labels = model.predict(matrix)
    present = sorted(set(labels.tolist()))
    centres = np.stack([matrix[labels == label].mean(axis=0) for label in present])
    sizes = [int((labels == label).sum()) for label in present]
    names = dict(zip(present, name_share_clusters(centres, components, sizes), strict=True))
    return ShareClusters(tuple(top), other, model, names)


def share_cluster_classes(
    keys: pl.DataFrame, categories: pl.DataFrame, fitted: ShareClusters | None
) -> pl.Series:
    """The psychographic cluster of every row of ``keys`` (one snapshot), in its order, from
    its customers' category rows and the snapshot's clusters: each customer's own share vector
    assigned by the fitted k-means, so any part of the customers gets the labels all of them
    get; ``unknown`` without positive catalogued spend."""
    unknown = pl.repeat(UNKNOWN, keys.height, dtype=pl.String, eager=True)
    if fitted is None:
        return unknown
    customers, matrix = _share_vectors(_bought(categories), fitted.top, fitted.other)
    if customers.is_empty():
        return unknown
    labels = fitted.model.predict(matrix)
    named = pl.DataFrame(
        {
            "customer_id": customers,
            "psychographic_class": [fitted.names[label] for label in labels.tolist()],
        },
        schema={"customer_id": pl.String, "psychographic_class": pl.String},
    )
    joined = keys.select("customer_id").join(
        named, on="customer_id", how="left", maintain_order="left"
    )
    return joined.get_column("psychographic_class").fill_null(UNKNOWN)


def psychographic_classes(
    features: pl.DataFrame,
    settings: PsychographicSettings,
    rules: list[CheckedExpression],
    categories: pl.DataFrame | None,
    fitted: Mapping[date, ShareClusters | None] | None = None,
) -> pl.Series:
    """``psychographic_class`` of every row of ``features`` (sorted by snapshot and customer),
    in its order.

    Args:
        features: ``features.customer_features`` rows with every column the rules use.
        settings: The psychographic settings.
        rules: The checked rules of ``settings`` (in order).
        categories: ``features.customer_categories`` rows of the same snapshots; None without
            a products source (then, without rules, everyone is ``unknown``).
        fitted: The clusters of each snapshot fitted on its whole population
            (:func:`fit_share_clusters`) when ``features`` and ``categories`` hold a part of
            it; default: fitted here on ``categories``.
    """
    if rules:
        index = first_match_indices(features, {"psychographic_class": rules}).to_series()
        names = [rule.name for rule in settings.rules]
        return index.replace_strict(
            list(range(len(names))), names, default=settings.default, return_dtype=pl.String
        ).alias("psychographic_class")
    if categories is None or not settings.clusters.enabled:
        return pl.repeat(UNKNOWN, features.height, dtype=pl.String, eager=True).alias(
            "psychographic_class"
        )
    parts = []
    for keys in snapshot_slices(features.select(KEY_COLUMNS)):
        snapshot = keys.get_column("snapshot_date")[0]
        rows = categories.filter(pl.col("snapshot_date") == snapshot)
        clusters = fit_share_clusters(rows, settings) if fitted is None else fitted.get(snapshot)
        parts.append(share_cluster_classes(keys, rows, clusters))
    if not parts:
        return pl.Series("psychographic_class", [], dtype=pl.String)
    return pl.concat(parts).alias("psychographic_class")
