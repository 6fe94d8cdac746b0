"""K-means clusters: k by silhouette, readable unique names, determinism."""

import numpy as np
import polars as pl
import pytest

from segmentation.segments import clusters
from segmentation.segments.clusters import (
    NOT_CLUSTERED,
    _silhouette_scores,
    cluster_customers,
    name_clusters,
)
from segmentation.segments.rfm import NO_PURCHASE
from segmentation.segments.settings import ClusterSettings
from tests.unit.segment_frames import NEXT_SNAPSHOT, POTENTIAL, feature_rows

SETTINGS = ClusterSettings(k_min=2, k_max=5, sample_size=100, silhouette_sample_size=100, seed=7)

# (prefix, recency_days, orders, net_revenue, clv_12m): three well separated groups.
GROUPS = (
    ("vip", 5, 20, 5000.0, 2000.0),
    ("mid", 100, 5, 500.0, 100.0),
    ("old", 600, 1, 30.0, 1.0),
)


def _blobs(per_group: int = 30, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for prefix, recency, orders, revenue, clv in GROUPS:
        for index in range(per_group):
            wobble = float(rng.uniform(0.9, 1.1))
            rows.append(
                {
                    "customer_id": f"{prefix}{index:03d}",
                    "recency_days": int(recency * wobble),
                    "orders": max(1, int(orders * wobble)),
                    "net_revenue": revenue * wobble,
                    "clv_12m": clv * wobble,
                }
            )
    rows += [{**POTENTIAL, "customer_id": f"pot{index}"} for index in range(5)]
    return feature_rows(rows)


def test_separated_groups_get_their_own_named_cluster() -> None:
    result = cluster_customers(_blobs(), SETTINGS)
    clusters = result.assignments.with_columns(pl.col("customer_id").str.slice(0, 3).alias("group"))
    names = clusters.group_by("group").agg(pl.col("cluster").unique()).sort("group")
    assert names.rows() == [
        ("mid", ["Mid value, lapsing"]),
        ("old", ["Low value, lapsed"]),
        ("pot", [NO_PURCHASE]),
        ("vip", ["High value, recent"]),
    ]
    profiles = result.profiles
    assert profiles.get_column("k").unique().to_list() == [3]
    assert profiles.get_column("customers").sum() == 90
    assert profiles.get_column("cluster").is_unique().all()
    vip = profiles.filter(cluster="High value, recent").row(0, named=True)
    assert vip["median_orders"] == pytest.approx(20, abs=2)


def test_clusters_are_deterministic_and_independent_of_row_order() -> None:
    frame = _blobs(seed=1)
    first = cluster_customers(frame, SETTINGS)
    again = cluster_customers(frame, SETTINGS)
    shuffled = cluster_customers(frame.sample(fraction=1.0, shuffle=True, seed=3), SETTINGS)
    assert first.assignments.equals(again.assignments)
    assert first.assignments.equals(shuffled.assignments)
    assert first.profiles.equals(shuffled.profiles)


def test_a_sample_smaller_than_the_purchasers_still_labels_everyone() -> None:
    frame = _blobs(per_group=60)
    small = ClusterSettings(k_min=2, k_max=4, sample_size=100, silhouette_sample_size=100)
    result = cluster_customers(frame, small)
    assert result.assignments.height == frame.height
    assert result.assignments.get_column("cluster").null_count() == 0
    assert result.profiles.get_column("customers").sum() == 180


def test_each_snapshot_is_clustered_separately() -> None:
    frame = _blobs()
    later = frame.with_columns(pl.lit(NEXT_SNAPSHOT).alias("snapshot_date"))
    result = cluster_customers(pl.concat([frame, later]), SETTINGS)
    assert result.profiles.get_column("snapshot_date").unique().len() == 2
    by_snapshot = result.assignments.partition_by("snapshot_date")
    assert by_snapshot[0].get_column("cluster").equals(by_snapshot[1].get_column("cluster"))


def test_disabled_clustering_labels_purchasers_not_clustered() -> None:
    result = cluster_customers(_blobs(), ClusterSettings(enabled=False))
    assert set(result.assignments.get_column("cluster")) == {NOT_CLUSTERED, NO_PURCHASE}
    assert result.profiles.is_empty()


@pytest.mark.parametrize(
    ("purchasers", "expected_k"),
    [(1, 1), (2, 2)],
)
def test_too_few_distinct_purchasers(purchasers: int, expected_k: int) -> None:
    rows = [
        {"customer_id": f"c{i}", "recency_days": 10 + 300 * i, "net_revenue": 100.0 * (i + 1)}
        for i in range(purchasers)
    ]
    result = cluster_customers(feature_rows(rows), SETTINGS)
    assert result.profiles.get_column("k").unique().to_list() == [expected_k]
    assert result.assignments.get_column("cluster").n_unique() == expected_k
    assert result.profiles.get_column("silhouette").null_count() == result.profiles.height


def test_no_purchasers_at_all() -> None:
    frame = feature_rows([{**POTENTIAL, "customer_id": "p"}])
    result = cluster_customers(frame, SETTINGS)
    assert result.assignments.get_column("cluster").to_list() == [NO_PURCHASE]
    assert result.profiles.is_empty()


def test_names_stay_unique_when_profiles_look_alike() -> None:
    # Six clusters: value and recency thirds alone would repeat names.
    profile = pl.DataFrame(
        {
            "label": [0, 1, 2, 3, 4, 5],
            "median_clv_12m": [100.0, 90.0, 50.0, 40.0, 5.0, 5.0],
            "median_net_revenue": [500.0, 400.0, 200.0, 150.0, 20.0, 20.0],
            "median_recency_days": [10.0, 12.0, 100.0, 110.0, 400.0, 400.0],
            "median_orders": [10.0, 3.0, 4.0, 4.0, 1.0, 1.0],
        }
    )
    names = name_clusters(profile)
    assert len(set(names.values())) == 6
    assert names[0] == "High value, recent, frequent"
    assert names[1] == "High value, recent, regular"
    assert names[2] == "Mid value, lapsing, frequent"
    assert names[4] == "Low value, lapsed, infrequent #1"
    assert names[5] == "Low value, lapsed, infrequent #2"


@pytest.mark.parametrize(("points", "silhouette_size"), [(1_500, 600), (400, 400)])
def test_silhouette_scores_equal_scikit_learns_bit_for_bit(
    points: int, silhouette_size: int
) -> None:
    # k is chosen by comparing these scores, so they must be scikit-learn's exactly, not
    # approximately; a one-point cluster is among them.
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(3)
    matrix = np.concatenate(
        [rng.normal(0, 1, (points // 2, 4)), rng.normal(3, 1, (points // 2, 4))]
    )
    labelings = [rng.integers(0, k, points) for k in (2, 3, 5)]
    labelings.append(np.where(np.arange(points) == 0, 9, labelings[0]))
    expected = [
        silhouette_score(matrix, labels, sample_size=silhouette_size, random_state=5)
        for labels in labelings
    ]
    assert _silhouette_scores(matrix, labelings, silhouette_size, 5) == expected


def test_silhouette_scores_follow_scikit_learns_distance_chunks() -> None:
    import sklearn
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(4)
    matrix = rng.normal(0, 1, (1_200, 4))
    labelings = [rng.integers(0, k, 1_200) for k in (3, 4)]
    with sklearn.config_context(working_memory=1):  # a few hundred rows per chunk
        expected = [
            silhouette_score(matrix, labels, sample_size=1_000, random_state=1)
            for labels in labelings
        ]
        assert _silhouette_scores(matrix, labelings, 1_000, 1) == expected


def test_fitting_candidates_side_by_side_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = _blobs(per_group=80, seed=2)
    settings = ClusterSettings(k_min=2, k_max=6, sample_size=150, silhouette_sample_size=120)
    monkeypatch.setattr(clusters, "_usable_cpus", lambda: 1)
    one_at_a_time = cluster_customers(frame, settings)
    monkeypatch.setattr(clusters, "_usable_cpus", lambda: 4)
    side_by_side = cluster_customers(frame, settings)
    assert side_by_side.assignments.equals(one_at_a_time.assignments)
    assert side_by_side.profiles.equals(one_at_a_time.profiles)


def test_duplicate_rows_are_refused() -> None:
    frame = _blobs()
    with pytest.raises(ValueError, match="duplicate"):
        cluster_customers(pl.concat([frame, frame.tail(1)]), SETTINGS)
