"""Label dimensions, the assembled segments table and the segment summary."""

import polars as pl
import pytest

from segmentation.segments.build import (
    build_customer_segments,
    segment_dimensions,
    summarize_segments,
)
from segmentation.segments.contracts import CustomerSegmentsContract, SegmentSummaryContract
from segmentation.segments.labels import CHURN_RISK_LABELS, LOYALTY_LABELS, label_customers
from segmentation.segments.settings import (
    AttributeDimension,
    AttributeRule,
    ChurnRiskSettings,
    ClusterSettings,
    LoyaltySettings,
    SegmentSettings,
)
from tests.unit.segment_frames import NEXT_SNAPSHOT, POTENTIAL, feature_rows, random_features

FAST_CLUSTERS = ClusterSettings(k_min=2, k_max=4, sample_size=500, silhouette_sample_size=300)


@pytest.mark.parametrize(
    ("lifecycle_stage", "frequency", "p_alive", "recency_days", "expected"),
    [
        ("mature", 2, 0.5, 30, "loyal"),
        ("mature", 1, 0.9, 30, "hesitant"),  # not enough repeat purchases
        ("declining", 5, 0.49, 30, "hesitant"),  # probably no longer alive
        ("mature", 5, None, 180, "loyal"),  # no p_alive: recency decides
        ("mature", 5, None, 181, "hesitant"),
        ("lost", 9, 0.99, 30, "lost"),  # the lifecycle stage wins
        ("potential", 0, None, None, "hesitant"),
    ],
)
def test_loyalty(
    lifecycle_stage: str,
    frequency: int,
    p_alive: float | None,
    recency_days: int | None,
    expected: str,
) -> None:
    frame = feature_rows(
        [
            {
                "customer_id": "x",
                "lifecycle_stage": lifecycle_stage,
                "frequency": frequency,
                "p_alive": p_alive,
                "recency_days": recency_days,
            }
        ]
    )
    labels = label_customers(frame, LoyaltySettings(min_repeat_purchases=2, min_p_alive=0.5))
    assert labels.get_column("loyalty").item() == expected


@pytest.mark.parametrize(
    ("p_alive", "recency_days", "expected"),
    [
        (0.9, 10, "low"),
        (0.29, 10, "high"),  # p_alive below the high threshold
        (0.3, 10, "medium"),
        (0.59, 10, "medium"),
        (0.6, 90, "low"),
        (0.95, 91, "medium"),  # recency alone raises the risk (one-time buyers have p_alive 1)
        (0.95, 181, "high"),
        (None, 90, "low"),  # without p_alive only recency counts
        (None, 91, "medium"),
        (None, 181, "high"),
        (None, None, "no_purchase"),
    ],
)
def test_churn_risk(p_alive: float | None, recency_days: int | None, expected: str) -> None:
    frame = feature_rows([{"customer_id": "x", "p_alive": p_alive, "recency_days": recency_days}])
    settings = ChurnRiskSettings(
        high_p_alive=0.3, medium_p_alive=0.6, high_recency_days=180, medium_recency_days=90
    )
    assert label_customers(frame, churn_risk=settings).get_column("churn_risk").item() == expected


def test_churn_thresholds_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="high_p_alive must not be above medium_p_alive"):
        ChurnRiskSettings(high_p_alive=0.7, medium_p_alive=0.6)


def _settings() -> SegmentSettings:
    return SegmentSettings(
        attributes=[
            AttributeDimension(
                dimension="income_band",
                rules=[
                    AttributeRule(name="high", when="income >= 100000"),
                    AttributeRule(name="low", when="income < 100000"),
                ],
            ),
            AttributeDimension(dimension="region", column="region"),
        ],
        clusters=FAST_CLUSTERS,
    )


def test_every_customer_gets_exactly_one_label_per_dimension() -> None:
    features = random_features(400, seed=3, snapshots=(NEXT_SNAPSHOT,))
    features = pl.concat([features, random_features(300, seed=4)])
    settings = _settings()
    segments = build_customer_segments(features, settings)
    CustomerSegmentsContract.validate(segments)
    assert segments.height == features.height
    assert segments.select("snapshot_date", "customer_id").is_unique().all()
    dimensions = segment_dimensions(settings)
    assert dimensions == [
        "rfm_segment",
        "value_tier",
        "abc_class",
        "lifecycle_stage",
        "loyalty",
        "churn_risk",
        "attr_income_band",
        "attr_region",
        "cluster",
    ]
    assert segments.select(pl.col(dimensions).null_count()).sum_horizontal().item() == 0
    assert set(segments.get_column("loyalty")) <= set(LOYALTY_LABELS)
    assert set(segments.get_column("churn_risk")) <= set(CHURN_RISK_LABELS)
    no_purchase = segments.filter(pl.col("recency_days").is_null())
    assert set(no_purchase.get_column("rfm_segment")) == {"No Purchase"}
    assert set(no_purchase.get_column("cluster")) == {"No Purchase"}
    assert set(no_purchase.get_column("churn_risk")) == {"no_purchase"}


def test_segments_do_not_depend_on_row_order() -> None:
    features = random_features(300, seed=5)
    settings = _settings()
    expected = build_customer_segments(features, settings)
    shuffled = features.sample(fraction=1.0, shuffle=True, seed=11)
    assert build_customer_segments(shuffled, settings).equals(expected)


def test_duplicate_rows_are_refused() -> None:
    features = feature_rows([{"customer_id": "a"}, {"customer_id": "a"}])
    with pytest.raises(ValueError, match="duplicate"):
        build_customer_segments(features, _settings())


def test_summary_by_hand() -> None:
    features = feature_rows(
        [
            {"customer_id": "a", "value_tier": "high", "net_revenue": 600.0, "clv_12m": 100.0},
            {"customer_id": "b", "value_tier": "high", "net_revenue": 200.0, "clv_12m": 50.0},
            {"customer_id": "c", "value_tier": "low", "net_revenue": 200.0, "clv_12m": 10.0},
            {**POTENTIAL, "customer_id": "d"},
        ]
    )
    settings = SegmentSettings(attributes=[], clusters=FAST_CLUSTERS)
    segments = build_customer_segments(features, settings)
    summary = summarize_segments(segments, features)
    SegmentSummaryContract.validate(summary)
    tiers = summary.filter(dimension="value_tier").select(
        "segment", "customers", "share", "revenue", "revenue_share", "avg_clv"
    )
    assert tiers.rows() == [
        ("high", 2, 0.5, 800.0, 0.8, 75.0),
        ("low", 2, 0.5, 200.0, 0.2, 5.0),
    ]
    totals = summary.group_by("snapshot_date", "dimension").agg(
        pl.col("share").sum(), pl.col("customers").sum()
    )
    assert totals.get_column("share").to_list() == pytest.approx([1.0] * totals.height)
    assert set(totals.get_column("customers")) == {4}
    assert set(summary.get_column("dimension")) == set(segment_dimensions(settings))


def test_summary_revenue_can_come_from_another_feature_column() -> None:
    features = feature_rows(
        [
            {"customer_id": "a", "revenue_365d": 30.0},
            {"customer_id": "b", "revenue_365d": 10.0},
        ]
    )
    segments = build_customer_segments(features, SegmentSettings(attributes=[]))
    summary = summarize_segments(
        segments, features, dimensions=["abc_class"], revenue_column="revenue_365d"
    )
    assert summary.select("segment", "revenue", "revenue_share").rows() == [("B", 40.0, 1.0)]


def test_the_summary_lines_features_up_by_key_whatever_their_order() -> None:
    # features in the segments' own order are used as they are, any other order is joined
    features = pl.concat(
        [random_features(500, seed=8), random_features(400, seed=9, snapshots=(NEXT_SNAPSHOT,))]
    )
    segments = build_customer_segments(features, _settings())
    expected = summarize_segments(segments, features)
    shuffled = features.sample(fraction=1.0, shuffle=True, seed=2)
    assert summarize_segments(segments, shuffled).equals(expected)
    doubled = features.with_columns(pl.col("net_revenue") * 2)
    for other in (doubled, doubled.reverse()):
        revenue = summarize_segments(segments, other).get_column("revenue")
        assert revenue.equals(expected.get_column("revenue") * 2)
