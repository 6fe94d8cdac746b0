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

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from segmentation.keys import in_key_order, sorted_by_keys
from segmentation.segments.columns import snapshot_slices
from segmentation.segments.rfm import NO_PURCHASE, is_purchaser
from segmentation.segments.settings import ClusterSettings

if TYPE_CHECKING:
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

NOT_CLUSTERED = "Not Clustered"
CLUSTER_FEATURES = ("recency_days", "orders", "net_revenue", "clv_12m")
_VALUE_LEVELS = ("High value", "Mid value", "Low value")
_RECENCY_LEVELS = ("recent", "lapsing", "lapsed")
_FREQUENCY_LEVELS = ("frequent", "regular", "infrequent")
_KMEANS_RESTARTS = 4
# columns of the silhouette distances transposed at a time (a few MB, cache-sized)
_SILHOUETTE_BLOCK = 64

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


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _fit_kmeans(sample: np.ndarray, k: int, seed: int) -> KMeans:
    # Imported here: scikit-learn takes seconds to import and only clustering needs it.
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    # One OpenMP thread (a per-thread setting, hence set in the thread that fits): on small
    # machines k-means' spinning worker threads compete with the polars and DuckDB pools and
    # run many times slower, and one thread keeps the sums in a fixed order.
    with threadpool_limits(limits=1, user_api="openmp"):
        return KMeans(n_clusters=k, random_state=seed, n_init=_KMEANS_RESTARTS).fit(sample)


def _fit_candidates(sample: np.ndarray, candidates: list[int], seed: int) -> list[KMeans]:
    """One fitted k-means per candidate k. The fits are independent (each seeds its own
    generator and runs single-threaded), so they run side by side on the available cores
    with the same results as one after the other."""
    from threadpoolctl import threadpool_limits

    workers = min(len(candidates), _usable_cpus())
    # scikit-learn limits BLAS to one thread around each fit and restores the limit it found
    # afterwards; fits overlapping in time would restore each other's limits, so hold it at
    # one for the whole batch and restore it once (the k-means++ seeding, outside scikit-learn's
    # limit, also runs faster on one thread than with BLAS threads spinning).
    with threadpool_limits(limits=1, user_api="blas"):
        if workers <= 1:
            return [_fit_kmeans(sample, k, seed) for k in candidates]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda k: _fit_kmeans(sample, k, seed), candidates))


def _silhouette_scores(
    sample: np.ndarray, labelings: list[np.ndarray], sample_size: int, seed: int
) -> list[float]:
    """``sklearn.metrics.silhouette_score(sample, labels, sample_size=..., random_state=seed)``
    of every labeling, with the same result bit for bit, from one pass over the distances.

    The silhouette sample is the same for every labeling (the same seeded permutation), so its
    pairwise distances are computed once, in the chunks scikit-learn computes them in, instead
    of once per k. The sums of each point's distances to each cluster are accumulated in the
    same order as scikit-learn's (column by column), so every score is identical.
    """
    from sklearn.metrics import pairwise_distances_chunked, silhouette_score

    indices = np.random.RandomState(seed).permutation(sample.shape[0])[:sample_size]
    points = sample[indices]
    size = points.shape[0]
    encoded = []
    for labels in labelings:
        classes, codes = np.unique(labels[indices], return_inverse=True)
        if not 1 < classes.size < size:
            # not scoreable: let scikit-learn raise its own error
            silhouette_score(sample, labels, sample_size=sample_size, random_state=seed)
        encoded.append((codes, np.bincount(codes), np.zeros((classes.size, size))))
    # per column j: the label of j under each labeling
    codes_by_column = np.stack([codes for codes, _, _ in encoded], axis=1).tolist()
    start = 0
    for chunk in pairwise_distances_chunked(points):
        rows = chunk.shape[0]
        # sums[c, start:start + rows] of each labeling, one view per cluster
        targets = [[row[start : start + rows] for row in sums] for _, _, sums in encoded]
        for first in range(0, size, _SILHOUETTE_BLOCK):
            # column j of the chunk becomes row j of the block: a contiguous vector to add
            last = first + _SILHOUETTE_BLOCK
            block = np.ascontiguousarray(chunk[:, first:last].T)
            for column, codes in zip(block, codes_by_column[first:last], strict=True):
                for views, code in zip(targets, codes, strict=True):
                    np.add(views[code], column, out=views[code])
        start += rows
    scores = []
    everyone = np.arange(size)
    for codes, counts, sums in encoded:
        intra = sums[codes, everyone]
        sums[codes, everyone] = np.inf
        sums /= counts[:, np.newaxis]
        inter = sums.min(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            intra /= (counts - 1).take(codes, mode="clip")
            values = inter - intra
            values /= np.maximum(intra, inter)
        scores.append(float(np.mean(np.nan_to_num(values))))
    return scores


def _choose_model(
    matrix: np.ndarray, settings: ClusterSettings
) -> tuple[KMeans, int, float | None]:
    """Fit k-means on a seeded sample for each candidate k; keep the best silhouette."""
    rows = matrix.shape[0]
    if rows > settings.sample_size:
        picked = np.random.default_rng(settings.seed).choice(rows, settings.sample_size, False)
        sample = matrix[np.sort(picked)]
    else:
        sample = matrix
    # only whether there are more distinct points than each candidate k matters: count them
    # all only when the first few do not settle that
    distinct = np.unique(sample[: 4 * settings.k_max], axis=0).shape[0]
    if distinct <= settings.k_max:
        distinct = np.unique(sample, axis=0).shape[0]
    candidates = [k for k in range(settings.k_min, settings.k_max + 1) if k < distinct]
    if not candidates:
        k = max(1, min(settings.k_min, distinct))
        return _fit_kmeans(sample, k, settings.seed), k, None
    models = _fit_candidates(sample, candidates, settings.seed)
    scoreable = [
        (k, model)
        for k, model in zip(candidates, models, strict=True)
        if np.unique(model.labels_).size >= 2
    ]
    if not scoreable:
        return _fit_kmeans(sample, 1, settings.seed), 1, None
    scores = _silhouette_scores(
        sample,
        [model.labels_ for _, model in scoreable],
        min(settings.silhouette_sample_size, sample.shape[0]),
        settings.seed,
    )
    # the best score wins, ties go to the smaller k
    (best_k, best_model), best_score = scoreable[0], scores[0]
    for (k, model), score in zip(scoreable[1:], scores[1:], strict=True):
        if score > best_score:
            best_k, best_model, best_score = k, model, score
    return best_model, best_k, best_score


def fit_best_kmeans(
    matrix: np.ndarray, settings: ClusterSettings
) -> tuple[KMeans, int, float | None]:
    """Seeded k-means of ``matrix``'s rows with k in [k_min, k_max] chosen by silhouette on a
    seeded sample, as the behaviour clusters are chosen: the model, its k and its silhouette
    (None when k was not chosen by silhouette)."""
    return _choose_model(matrix, settings)


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


@dataclass(frozen=True)
class SnapshotClusters:
    """The clusters of one snapshot's purchasers, fitted on all of them.

    Attributes:
        scaler: The standardisation of the design matrix (fitted on every purchaser).
        model: The chosen k-means model.
        names: Cluster label -> name.
        labels: The cluster label of every purchaser fitted on, in their (customer id) order.
        profiles: One row per cluster (:data:`PROFILE_SCHEMA`).
    """

    scaler: StandardScaler
    model: KMeans
    names: dict[int, str]
    labels: np.ndarray
    profiles: pl.DataFrame

    def predict(self, purchasers: pl.DataFrame) -> np.ndarray:
        """The cluster label of each of ``purchasers`` (any of the snapshot's, any order): the
        nearest centre of the model, one row at a time."""
        if purchasers.is_empty():
            return np.zeros(0, dtype=np.int64)
        return self.model.predict(self.scaler.transform(_design_matrix(purchasers)))


def fit_snapshot_clusters(purchasers: pl.DataFrame, settings: ClusterSettings) -> SnapshotClusters:
    """Standardise, sample, fit and name the clusters of one snapshot's purchasers.

    Args:
        purchasers: The snapshot's purchasers (non-null recency_days; none missing) with the
            :data:`CLUSTER_FEATURES`, sorted by customer_id: the seeded sample is drawn by
            position in that order.
        settings: The cluster settings.
    """
    snapshot_date = purchasers.get_column("snapshot_date")[0]
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler()
    standardised = scaler.fit_transform(_design_matrix(purchasers))
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
    names_of = name_clusters(profile)
    name_of = pl.col("label").replace_strict(names_of, return_dtype=pl.String)
    profiles = profile.select(
        pl.lit(snapshot_date, dtype=pl.Date).alias("snapshot_date"),
        name_of.alias("cluster"),
        "customers",
        pl.lit(k, dtype=pl.Int64).alias("k"),
        pl.lit(silhouette, dtype=pl.Float64).alias("silhouette"),
        *[f"median_{name}" for name in CLUSTER_FEATURES],
    )
    return SnapshotClusters(scaler, model, names_of, labels, profiles)


def cluster_names(
    snapshot: pl.DataFrame, fitted: SnapshotClusters | None, labels: np.ndarray | None = None
) -> pl.Series:
    """The cluster name of every row of one snapshot's rows, in their order: ``No Purchase``
    for customers who never purchased, else the name of the purchaser's cluster.

    Args:
        snapshot: Rows of one snapshot with the :data:`CLUSTER_FEATURES`.
        fitted: The snapshot's clusters; None when it has no purchasers.
        labels: The purchasers' labels if known (the rows ``fitted`` was fitted on); default:
            predicted by ``fitted``.
    """
    is_buyer = snapshot.select(is_purchaser()).to_series()
    if fitted is None or not is_buyer.any():
        if is_buyer.any():
            raise ValueError("purchasers of a snapshot without fitted clusters")
        names = pl.repeat(NO_PURCHASE, snapshot.height, dtype=pl.String, eager=True)
        return names.alias("cluster")
    if labels is None:
        labels = fitted.predict(snapshot.filter(is_buyer))
    # position 0 of the lookup is for customers who never purchased, label l is at l + 1
    lookup = pl.Series(
        [NO_PURCHASE, *(fitted.names.get(label, "") for label in range(int(labels.max()) + 1))],
        dtype=pl.String,
    )
    positions = np.zeros(snapshot.height, dtype=np.int64)
    positions[is_buyer.to_numpy()] = labels + 1
    return lookup.gather(positions).alias("cluster")


def unclustered_names(snapshot: pl.DataFrame) -> pl.Series:
    """The cluster column with clustering disabled: ``Not Clustered`` for purchasers."""
    return snapshot.select(
        pl.when(is_purchaser())
        .then(pl.lit(NOT_CLUSTERED))
        .otherwise(pl.lit(NO_PURCHASE))
        .alias("cluster")
    ).to_series()


def _cluster_snapshot(
    snapshot: pl.DataFrame, settings: ClusterSettings
) -> tuple[pl.Series, pl.DataFrame]:
    """The cluster name of every row of one snapshot (rows sorted by customer_id) and the
    profiles of its clusters."""
    is_buyer = snapshot.select(is_purchaser()).to_series()
    purchasers = snapshot.filter(is_buyer)
    if purchasers.is_empty():
        return cluster_names(snapshot, None), pl.DataFrame(schema=PROFILE_SCHEMA)
    fitted = fit_snapshot_clusters(purchasers, settings)
    return cluster_names(snapshot, fitted, fitted.labels), fitted.profiles


def cluster_sorted(features: pl.DataFrame, settings: ClusterSettings) -> ClusterResult:
    """:func:`cluster_customers` of features already sorted by snapshot_date and customer_id
    (unique); the assignments are in the same row order."""
    features = features.select("snapshot_date", "customer_id", *CLUSTER_FEATURES)
    names: list[pl.Series] = []
    profile_parts = [pl.DataFrame(schema=PROFILE_SCHEMA)]
    for snapshot in snapshot_slices(features):
        if settings.enabled:
            snapshot_names, profiles = _cluster_snapshot(snapshot, settings)
            profile_parts.append(profiles.select(list(PROFILE_SCHEMA)))
        else:
            snapshot_names = unclustered_names(snapshot)
        names.append(snapshot_names)
    cluster = pl.concat(names) if names else pl.Series("cluster", [], dtype=pl.String)
    assignments = features.select("snapshot_date", "customer_id").with_columns(cluster)
    profiles = pl.concat(profile_parts).sort("snapshot_date", "cluster")
    return ClusterResult(assignments=assignments, profiles=profiles)


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

    Raises:
        ValueError: If ``features`` has duplicate (snapshot_date, customer_id) rows.
    """
    settings = settings or ClusterSettings()
    if sorted_by_keys(features):
        return cluster_sorted(features, settings)
    narrow = features.select("snapshot_date", "customer_id", *CLUSTER_FEATURES)
    return cluster_sorted(in_key_order(narrow, "features"), settings)
