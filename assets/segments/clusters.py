"""Behavioural clusters: k-means on purchasers, k chosen by silhouette, readable cluster names.

Per snapshot, purchasers (non-null ``recency_days``) are sorted by customer id and described by
``log1p`` of recency_days, orders, net_revenue and clv_12m (each clipped at 0 first; a null
counts as 0), standardised. A seeded sample of at most ``sample_size`` purchasers is drawn; for
every k in [k_min, k_max] (capped below the number of distinct points) k-means is fitted on the
sample and scored by the silhouette coefficient (on at most ``silhouette_sample_size`` points);
the best k wins (ties: the smaller k). Every purchaser is then assigned to the nearest centre of
that model. The same input and seed always give the same result, whatever the input row order.

Each cluster is profiled (size and medians of the four raw features) and named from its rank
among the snapshot's clusters: value (median clv_12m, then net_revenue) in thirds as
``High value`` / ``Mid value`` / ``Low value`` and recency (median recency_days) in thirds as
``recent`` / ``lapsing`` / ``lapsed``, e.g. ``High value, recent``. Clusters that would share a
name get their frequency third (``frequent`` / ``regular`` / ``infrequent``) appended and, if
still equal, a ``#n`` suffix in value order, so names are unique within a snapshot. Customers
who never purchased get ``No Purchase``; with clustering disabled purchasers get
``Not Clustered``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from assets.segments.rfm import NO_PURCHASE, is_purchaser
from assets.segments.settings import ClusterSettings

if TYPE_CHECKING:
    from sklearn.cluster import KMeans

NOT_CLUSTERED = "Not Clustered"
CLUSTER_FEATURES = ("recency_days", "orders", "net_revenue", "clv_12m")
_VALUE_LEVELS = ("High value", "Mid value", "Low value")
_RECENCY_LEVELS = ("recent", "lapsing", "lapsed")
_FREQUENCY_LEVELS = ("frequent", "regular", "infrequent")
_KMEANS_RESTARTS = 4

PROFILE_SCHEMA = {
    "snapshot_date": pl.Date,
    "cluster": pl.String,
    "customers": pl.Int64,
    "k": pl.Int64,
    "silhouette": pl.Float64,
    "median_recency_days": pl.Float64,
    "median_orders": pl.Float64,
    "median_net_revenue": pl.Float64,
    "median_clv_12m": pl.Float64,
}


@dataclass(frozen=True)
class ClusterResult:
    """Cluster labels and profiles.

    Attributes:
        assignments: snapshot_date, customer_id, cluster (one row per input row).
        profiles: One row per snapshot and cluster of purchasers: size, chosen k, its
            silhouette score (null when k was not chosen by silhouette) and feature medians.
    """

    assignments: pl.DataFrame
    profiles: pl.DataFrame


def _design_matrix(purchasers: pl.DataFrame) -> np.ndarray:
    columns = [
        pl.col(name).cast(pl.Float64).fill_null(0.0).clip(lower_bound=0.0).log1p()
        for name in CLUSTER_FEATURES
    ]
    return purchasers.select(columns).to_numpy()


def _choose_model(
    matrix: np.ndarray, settings: ClusterSettings
) -> tuple[KMeans, int, float | None]:
    """Fit k-means on a seeded sample for each candidate k; keep the best silhouette."""
    # Imported here: scikit-learn takes seconds to import and only clustering needs it.
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    rows = matrix.shape[0]
    if rows > settings.sample_size:
        picked = np.random.default_rng(settings.seed).choice(rows, settings.sample_size, False)
        sample = matrix[np.sort(picked)]
    else:
        sample = matrix
    distinct = np.unique(sample, axis=0).shape[0]
    candidates = [k for k in range(settings.k_min, settings.k_max + 1) if k < distinct]
    if not candidates:
        k = max(1, min(settings.k_min, distinct))
        model = KMeans(n_clusters=k, random_state=settings.seed, n_init=_KMEANS_RESTARTS)
        return model.fit(sample), k, None
    best: tuple[float, int, KMeans] | None = None
    for k in candidates:
        model = KMeans(n_clusters=k, random_state=settings.seed, n_init=_KMEANS_RESTARTS)
        labels = model.fit_predict(sample)
        if np.unique(labels).size < 2:
            continue
        score = float(
            silhouette_score(
                sample,
                labels,
                sample_size=min(settings.silhouette_sample_size, sample.shape[0]),
                random_state=settings.seed,
            )
        )
        if best is None or score > best[0]:
            best = (score, k, model)
    if best is None:
        model = KMeans(n_clusters=1, random_state=settings.seed, n_init=_KMEANS_RESTARTS)
        return model.fit(sample), 1, None
    return best[2], best[1], best[0]


def _thirds(order: list[int], count: int) -> dict[int, int]:
    """Position in ``order`` (best first) -> level 0/1/2 by mid-rank thirds."""
    return {
        item: min(2, (3 * (2 * position + 1)) // (2 * count)) for position, item in enumerate(order)
    }


def name_clusters(profile: pl.DataFrame) -> dict[int, str]:
    """Readable, unique names for the clusters of one snapshot.

    Args:
        profile: One row per cluster with ``label`` and the ``median_*`` columns.

    Returns:
        cluster label -> name.
    """
    rows = profile.sort("label").to_dicts()
    labels = [row["label"] for row in rows]
    if len(rows) == 1:
        return {labels[0]: "All purchasers"}
    by_label = {row["label"]: row for row in rows}
    by_value = sorted(
        labels,
        key=lambda label: (
            -by_label[label]["median_clv_12m"],
            -by_label[label]["median_net_revenue"],
            by_label[label]["median_recency_days"],
            label,
        ),
    )
    by_recency = sorted(labels, key=lambda label: (by_label[label]["median_recency_days"], label))
    by_frequency = sorted(labels, key=lambda label: (-by_label[label]["median_orders"], label))
    value = _thirds(by_value, len(labels))
    recency = _thirds(by_recency, len(labels))
    frequency = _thirds(by_frequency, len(labels))
    names = {
        label: f"{_VALUE_LEVELS[value[label]]}, {_RECENCY_LEVELS[recency[label]]}"
        for label in labels
    }
    counts = Counter(names.values())
    for label in labels:
        if counts[names[label]] > 1:
            names[label] = f"{names[label]}, {_FREQUENCY_LEVELS[frequency[label]]}"
    counts = Counter(names.values())
    seen: Counter[str] = Counter()
    for label in by_value:
        if counts[names[label]] > 1:
            seen[names[label]] += 1
            names[label] = f"{names[label]} #{seen[names[label]]}"
    return names


def _cluster_snapshot(
    purchasers: pl.DataFrame, settings: ClusterSettings
) -> tuple[pl.DataFrame, pl.DataFrame]:
    purchasers = purchasers.sort("customer_id")
    snapshot_date = purchasers.get_column("snapshot_date")[0]
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    matrix = _design_matrix(purchasers)
    standardised = StandardScaler().fit_transform(matrix)
    # One OpenMP thread: on small machines k-means' spinning worker threads compete with the
    # polars and DuckDB pools and run many times slower; the data here is small anyway.
    with threadpool_limits(limits=1, user_api="openmp"):
        model, k, silhouette = _choose_model(standardised, settings)
        labels = model.predict(standardised)
    labelled = purchasers.with_columns(pl.Series("label", labels, dtype=pl.Int64))
    profile = labelled.group_by("label").agg(
        pl.len().cast(pl.Int64).alias("customers"),
        *[
            pl.col(name).cast(pl.Float64).median().fill_null(0.0).alias(f"median_{name}")
            for name in CLUSTER_FEATURES
        ],
    )
    names = name_clusters(profile)
    name_of = pl.col("label").replace_strict(names, return_dtype=pl.String)
    assignments = labelled.select("snapshot_date", "customer_id", name_of.alias("cluster"))
    profiles = profile.select(
        pl.lit(snapshot_date, dtype=pl.Date).alias("snapshot_date"),
        name_of.alias("cluster"),
        "customers",
        pl.lit(k, dtype=pl.Int64).alias("k"),
        pl.lit(silhouette, dtype=pl.Float64).alias("silhouette"),
        *[f"median_{name}" for name in CLUSTER_FEATURES],
    )
    return assignments, profiles


def cluster_customers(
    features: pl.DataFrame, settings: ClusterSettings | None = None
) -> ClusterResult:
    """Cluster the purchasers of every snapshot in ``features`` independently.

    Args:
        features: ``features.customer_features`` rows (snapshot_date, customer_id,
            recency_days, orders, net_revenue, clv_12m).
        settings: Cluster settings; defaults apply when omitted.

    Returns:
        A :class:`ClusterResult`; its assignments have one row per input row, sorted by
        snapshot_date and customer_id.
    """
    settings = settings or ClusterSettings()
    keys = features.select("snapshot_date", "customer_id")
    purchasers = features.filter(is_purchaser()).select(
        "snapshot_date", "customer_id", *CLUSTER_FEATURES
    )
    assignment_parts = []
    profile_parts = [pl.DataFrame(schema=PROFILE_SCHEMA)]
    if settings.enabled:
        for (_,), group in purchasers.sort("snapshot_date").group_by(
            ["snapshot_date"], maintain_order=True
        ):
            assignments, profiles = _cluster_snapshot(group, settings)
            assignment_parts.append(assignments)
            profile_parts.append(profiles.select(list(PROFILE_SCHEMA)))
    else:
        assignment_parts.append(
            purchasers.select(
                "snapshot_date", "customer_id", pl.lit(NOT_CLUSTERED).alias("cluster")
            )
        )
    labelled = pl.concat(
        [
            pl.DataFrame(
                schema={"snapshot_date": pl.Date, "customer_id": pl.String, "cluster": pl.String}
            )
        ]
        + [part.cast({"snapshot_date": pl.Date}) for part in assignment_parts]
    )
    assignments = (
        keys.join(labelled, on=["snapshot_date", "customer_id"], how="left", validate="1:1")
        .with_columns(pl.col("cluster").fill_null(NO_PURCHASE))
        .sort("snapshot_date", "customer_id")
    )
    profiles = pl.concat(profile_parts).sort("snapshot_date", "cluster")
    return ClusterResult(assignments=assignments, profiles=profiles)
