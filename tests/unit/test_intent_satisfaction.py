"""Intent, engagement, NPS and satisfaction labels, their summary rows, and the default playbook's
rules on them: every class at its boundaries, ``unknown`` without the sources, exactly one class
per customer, and assignments unchanged when the sources are not configured."""

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml

from segmentation.config import load_config
from segmentation.segments.build import (
    build_customer_segments,
    dimension_columns,
    segment_dimensions,
    summarize_segments,
)
from segmentation.segments.catalogue_labels import CATALOGUE_COLUMNS
from segmentation.segments.columns import (
    EVENT_FEATURE_COLUMNS,
    FEATURE_COLUMN_TYPES,
    FEEDBACK_FEATURE_COLUMNS,
    SEGMENT_COLUMN_TYPES,
    SOURCE_KEY_FEATURE_COLUMNS,
    SOURCE_LABEL_COLUMNS,
)
from segmentation.segments.contracts import CustomerSegmentsContract, SegmentSummaryContract
from segmentation.segments.settings import (
    AttributeDimension,
    AttributeRule,
    SegmentSettings,
)
from segmentation.segments.source_labels import (
    ENGAGEMENT_LEVELS,
    INTENT_CLASSES,
    NPS_CLASSES,
    SATISFACTION_CLASSES,
)
from segmentation.settings_base import ConfigError
from segmentation.strategies.playbook import assign_strategies
from segmentation.strategies.settings import (
    DEFAULT_PLAYBOOK,
    ControlGroupSettings,
    load_playbook,
    parse_playbook,
)
from tests.conftest import config_mapping, write_config_file
from tests.unit.segment_frames import POTENTIAL, feature_rows, random_features

NO_CONTROL = ControlGroupSettings(share=0.0)
# no clustering: the labels under test do not depend on it, and it is the slow part
SETTINGS = SegmentSettings(clusters={"enabled": False})
SOURCE_DIMENSIONS = set(SOURCE_LABEL_COLUMNS)

# a customer of a configured events source / feedback source without any event / feedback
NO_EVENTS: dict[str, Any] = {
    "visits_90d": 0,
    "product_views_90d": 0,
    "cart_adds_90d": 0,
    "email_sends_90d": 0,
    "email_opens_90d": 0,
    "email_clicks_90d": 0,
    "abandoned_carts_90d": 0,
    "is_unsubscribed": False,
}
NO_FEEDBACK: dict[str, Any] = {"complaints_90d": 0}
# a purchaser of the frames' defaults who has not bought for a long time
LAPSED: dict[str, Any] = {"recency_days": 400, "orders_90d": 0}


def _features(
    rows: list[dict[str, Any]], events: bool = True, feedback: bool = True
) -> pl.DataFrame:
    """A features frame whose customers belong to configured events / feedback sources; an
    unconfigured source's columns are null, whatever ``rows`` say."""
    base = {**(NO_EVENTS if events else {}), **(NO_FEEDBACK if feedback else {})}
    unconfigured = {
        name: None
        for name in (
            *(() if events else EVENT_FEATURE_COLUMNS),
            *(() if feedback else FEEDBACK_FEATURE_COLUMNS),
        )
    }
    return feature_rows([{**base, **row, **unconfigured} for row in rows])


def _labels(features: pl.DataFrame, settings: SegmentSettings = SETTINGS) -> dict[str, dict]:
    """customer_id -> its source labels."""
    segments = build_customer_segments(features, settings)
    CustomerSegmentsContract.validate(segments)
    return {
        row["customer_id"]: row
        for row in segments.select("customer_id", *SOURCE_LABEL_COLUMNS).to_dicts()
    }


def _label_of(column: str, rows: list[dict[str, Any]], **kwargs: Any) -> dict[str, str]:
    settings = kwargs.pop("settings", SETTINGS)
    labels = _labels(_features(rows, **kwargs), settings)
    return {customer: values[column] for customer, values in labels.items()}


# --- intent_class -------------------------------------------------------------------------------


def test_intent_is_active_within_the_active_window_and_equals_orders_90d_by_default() -> None:
    rows = [
        {"customer_id": "bought_89_days_ago", "recency_days": 89, "orders_90d": 1},
        {"customer_id": "bought_90_days_ago", "recency_days": 90, "orders_90d": 0},
        {"customer_id": "bought_today", "recency_days": 0, "orders_90d": 1},
        {"customer_id": "unsubscribed_buyer", "recency_days": 3, "is_unsubscribed": True},
        {"customer_id": "never_bought", **POTENTIAL},
    ]
    labels = _label_of("intent_class", rows)
    assert labels == {
        "bought_89_days_ago": "active",
        "bought_90_days_ago": "hesitant",
        "bought_today": "active",
        # a purchase is the stronger signal; the playbook still respects the opt-out
        "unsubscribed_buyer": "active",
        "never_bought": "refusing",
    }
    shorter = SegmentSettings(clusters={"enabled": False}, intent={"active_window_days": 30})
    assert _label_of("intent_class", rows[:2], settings=shorter) == {
        "bought_89_days_ago": "hesitant",
        "bought_90_days_ago": "hesitant",
    }


def test_intent_refusing_after_the_refusing_window_or_unsubscribed_else_hesitant() -> None:
    rows = [
        # engaged in the window (views, carts or clicks) without a purchase
        {"customer_id": "viewer", **LAPSED, "product_views_90d": 2,
         "days_since_last_engagement": 5},
        {"customer_id": "carter", **LAPSED, "cart_adds_90d": 1, "days_since_last_engagement": 80},
        {"customer_id": "clicker", **LAPSED, "email_clicks_90d": 1,
         "days_since_last_engagement": 1},
        # engaged long ago (within the refusing window) and no purchase lately: not yet refusing
        {"customer_id": "engaged_180", **LAPSED, "days_since_last_engagement": 180},
        {"customer_id": "engaged_181", **LAPSED, "days_since_last_engagement": 181},
        {"customer_id": "bought_180", "recency_days": 180, "days_since_last_engagement": 400},
        {"customer_id": "bought_181", "recency_days": 181, "days_since_last_engagement": 181},
        {"customer_id": "bought_181_never_engaged", "recency_days": 181},
        {"customer_id": "never_anything", **POTENTIAL},
        {"customer_id": "never_bought_engaged_10", **POTENTIAL, "days_since_last_engagement": 10},
        {"customer_id": "unsubscribed_browser", **LAPSED, "product_views_90d": 4,
         "days_since_last_engagement": 2, "is_unsubscribed": True},
    ]  # fmt: skip
    assert _label_of("intent_class", rows) == {
        "viewer": "hesitant",
        "carter": "hesitant",
        "clicker": "hesitant",
        "engaged_180": "hesitant",
        "engaged_181": "refusing",
        "bought_180": "hesitant",
        "bought_181": "refusing",
        "bought_181_never_engaged": "refusing",
        "never_anything": "refusing",
        "never_bought_engaged_10": "hesitant",
        "unsubscribed_browser": "refusing",
    }
    longer = SegmentSettings(clusters={"enabled": False}, intent={"refusing_after_days": 365})
    assert _label_of("intent_class", rows[3:7], settings=longer) == {
        "engaged_180": "hesitant",
        "engaged_181": "hesitant",
        "bought_180": "hesitant",
        "bought_181": "hesitant",
    }


def test_intent_and_engagement_are_unknown_without_an_events_source() -> None:
    rows = [
        {"customer_id": "buyer", "recency_days": 1, "orders_90d": 2},
        {"customer_id": "lapsed", **LAPSED},
        {"customer_id": "never", **POTENTIAL},
    ]
    labels = _labels(_features(rows, events=False))
    assert {values["intent_class"] for values in labels.values()} == {"unknown"}
    assert {values["engagement_level"] for values in labels.values()} == {"unknown"}
    # the feedback source is configured, the customers gave none
    assert {values["satisfaction_class"] for values in labels.values()} == {"unknown"}
    assert {values["nps_class"] for values in labels.values()} == {"unknown"}


# --- engagement_level ---------------------------------------------------------------------------


def test_engagement_level_counts_visits_views_carts_and_clicks_at_the_thresholds() -> None:
    rows = [
        {"customer_id": "none", "email_sends_90d": 12, "email_opens_90d": 9},
        {"customer_id": "low_1", "visits_90d": 1},
        {"customer_id": "low_9", "visits_90d": 2, "product_views_90d": 6, "email_clicks_90d": 1},
        {"customer_id": "medium_10", "visits_90d": 2, "product_views_90d": 7, "cart_adds_90d": 1},
        {"customer_id": "medium_29", "visits_90d": 6, "product_views_90d": 20,
         "email_clicks_90d": 3},
        {"customer_id": "high_30", "visits_90d": 7, "product_views_90d": 20, "cart_adds_90d": 3},
        {"customer_id": "visits_30_opens_50", "visits_90d": 30, "email_opens_90d": 50},
    ]  # fmt: skip
    assert _label_of("engagement_level", rows) == {
        "none": "none",
        "low_1": "low",
        "low_9": "low",
        "medium_10": "medium",
        "medium_29": "medium",
        "high_30": "high",
        "visits_30_opens_50": "high",
    }
    custom = SegmentSettings(
        clusters={"enabled": False}, engagement={"medium_min": 2, "high_min": 31}
    )
    assert _label_of("engagement_level", rows, settings=custom) == {
        "none": "none",
        "low_1": "low",
        "low_9": "medium",
        "medium_10": "medium",
        "medium_29": "medium",
        "high_30": "medium",
        "visits_30_opens_50": "medium",
    }


# --- nps_class and satisfaction_class ----------------------------------------------------------


def test_nps_class_is_the_features_class_and_unknown_without_an_answer() -> None:
    rows = [
        {"customer_id": "p", "latest_nps": 9.0, "nps_class": "promoter"},
        {"customer_id": "a", "latest_nps": 8.0, "nps_class": "passive"},
        {"customer_id": "d", "latest_nps": 6.0, "nps_class": "detractor"},
        {"customer_id": "csat_only", "avg_csat_180d": 4.0, "days_since_last_feedback": 3},
        {"customer_id": "nothing"},
    ]
    assert _label_of("nps_class", rows) == {
        "p": "promoter",
        "a": "passive",
        "d": "detractor",
        "csat_only": "unknown",
        "nothing": "unknown",
    }


def test_satisfaction_precedence_and_csat_boundaries() -> None:
    fb = {"days_since_last_feedback": 10}
    rows = [
        {"customer_id": "no_feedback"},
        {"customer_id": "complaint", **fb, "complaints_90d": 1},
        {"customer_id": "complaining_promoter", **fb, "complaints_90d": 1, "latest_nps": 10.0,
         "nps_class": "promoter"},
        {"customer_id": "detractor", **fb, "latest_nps": 6.0, "nps_class": "detractor"},
        {"customer_id": "detractor_high_csat", **fb, "nps_class": "detractor",
         "avg_csat_180d": 5.0},
        {"customer_id": "promoter_low_csat", **fb, "nps_class": "promoter", "avg_csat_180d": 1.5},
        {"customer_id": "csat_2", **fb, "avg_csat_180d": 2.0},
        {"customer_id": "csat_2_01", **fb, "avg_csat_180d": 2.01},
        {"customer_id": "csat_3_99", **fb, "avg_csat_180d": 3.99},
        {"customer_id": "csat_4", **fb, "avg_csat_180d": 4.0},
        {"customer_id": "promoter", **fb, "latest_nps": 9.0, "nps_class": "promoter"},
        {"customer_id": "passive", **fb, "latest_nps": 7.0, "nps_class": "passive"},
        {"customer_id": "review_only", **fb},
    ]  # fmt: skip
    assert _label_of("satisfaction_class", rows) == {
        "no_feedback": "unknown",
        "complaint": "dissatisfied",
        "complaining_promoter": "dissatisfied",
        "detractor": "dissatisfied",
        "detractor_high_csat": "dissatisfied",
        "promoter_low_csat": "dissatisfied",
        "csat_2": "dissatisfied",
        "csat_2_01": "neutral",
        "csat_3_99": "neutral",
        "csat_4": "satisfied",
        "promoter": "satisfied",
        "passive": "neutral",
        "review_only": "neutral",
    }
    two_complaints = SegmentSettings(
        clusters={"enabled": False},
        satisfaction={"dissatisfied_min_complaints": 2, "csat_satisfied_min": 4.5},
    )
    assert _label_of("satisfaction_class", rows[1:3] + rows[9:11], settings=two_complaints) == {
        # one complaint is not enough to be dissatisfied, but a complainer is never satisfied
        "complaint": "neutral",
        "complaining_promoter": "neutral",
        "csat_4": "neutral",
        "promoter": "satisfied",
    }


def test_nps_and_satisfaction_are_unknown_without_a_feedback_source() -> None:
    rows = [{"customer_id": "a", "visits_90d": 3}, {"customer_id": "b", **POTENTIAL}]
    labels = _labels(_features(rows, feedback=False))
    assert {values["nps_class"] for values in labels.values()} == {"unknown"}
    assert {values["satisfaction_class"] for values in labels.values()} == {"unknown"}
    assert labels["a"]["engagement_level"] == "low"


# --- every customer, the table and the summary --------------------------------------------------


def _random_sources(features: pl.DataFrame, seed: int = 1) -> pl.DataFrame:
    """``features`` with reproducible engagement and feedback columns: some customers without
    events or feedback, some unsubscribed, all NPS classes, CSAT across the scale."""
    rng = np.random.default_rng(seed)
    n = features.height

    def counts(scale: float) -> np.ndarray:
        return rng.poisson(scale, n) * (rng.uniform(0, 1, n) < 0.7)

    nps = np.where(rng.uniform(0, 1, n) < 0.4, rng.integers(0, 11, n), -1)
    nps_class = np.where(nps >= 9, "promoter", np.where(nps >= 7, "passive", "detractor"))
    csat = np.where(rng.uniform(0, 1, n) < 0.3, np.round(rng.uniform(1, 5, n), 1), np.nan)
    complaints = rng.poisson(0.1, n)
    engaged = rng.uniform(0, 1, n) < 0.8
    given = (nps >= 0) | ~np.isnan(csat) | (complaints > 0)
    return features.with_columns(
        pl.Series("visits_90d", counts(5.0)),
        pl.Series("product_views_90d", counts(15.0)),
        pl.Series("cart_adds_90d", counts(0.5)),
        pl.Series("email_sends_90d", counts(6.0)),
        pl.Series("email_opens_90d", counts(2.0)),
        pl.Series("email_clicks_90d", counts(0.5)),
        pl.Series("abandoned_carts_90d", counts(0.2)),
        pl.Series("is_unsubscribed", rng.uniform(0, 1, n) < 0.05),
        pl.Series("days_since_last_engagement", rng.integers(0, 400, n)).set(
            pl.Series(~engaged), None
        ),
        pl.Series("latest_nps", nps.astype(float)).set(pl.Series(nps < 0), None),
        pl.Series("nps_class", nps_class).set(pl.Series(nps < 0), None),
        pl.Series("avg_csat_180d", csat).fill_nan(None),
        pl.Series("complaints_90d", complaints),
        pl.Series("days_since_last_feedback", rng.integers(0, 500, n)).set(
            pl.Series(~given), None
        ),
    ).cast({name: FEATURE_COLUMN_TYPES[name] for name in (*EVENT_FEATURE_COLUMNS,
                                                          *FEEDBACK_FEATURE_COLUMNS)})  # fmt: skip


def test_every_customer_gets_exactly_one_class_per_label_and_the_table_ends_with_them() -> None:
    features = _random_sources(random_features(2_000, seed=3))
    segments = build_customer_segments(features, SETTINGS)
    CustomerSegmentsContract.validate(segments)
    assert segments.height == features.height
    assert segments.select("snapshot_date", "customer_id").is_unique().all()
    # the catalogue columns of issue 16 come after them
    ours = slice(-12 - len(CATALOGUE_COLUMNS), -len(CATALOGUE_COLUMNS))
    assert segments.columns[ours] == [*SOURCE_LABEL_COLUMNS, *SOURCE_KEY_FEATURE_COLUMNS]
    assert list(SEGMENT_COLUMN_TYPES)[ours] == segments.columns[ours]
    for column, allowed in zip(
        SOURCE_LABEL_COLUMNS,
        (INTENT_CLASSES, ENGAGEMENT_LEVELS, NPS_CLASSES, SATISFACTION_CLASSES),
        strict=True,
    ):
        values = segments.get_column(column)
        assert values.null_count() == 0
        # both sources are configured: every class occurs, and unknown only where a customer
        # gave no NPS answer / no feedback at all
        unknown = {"unknown"} if column in ("nps_class", "satisfaction_class") else set()
        assert set(values) == set(allowed) - {"unknown"} | unknown
    assert segments.filter(pl.col("satisfaction_class") == "unknown").height == (
        features.filter(pl.col("days_since_last_feedback").is_null()).height
    )
    # the key features are the features' values
    for column in SOURCE_KEY_FEATURE_COLUMNS:
        assert segments.get_column(column).equals(features.get_column(column))


def test_summary_rows_of_the_new_dimensions_with_the_sources() -> None:
    features = _random_sources(random_features(1_500, seed=5))
    segments = build_customer_segments(features, SETTINGS)
    summary = summarize_segments(segments, features)
    SegmentSummaryContract.validate(summary)
    assert set(summary.get_column("dimension")) >= SOURCE_DIMENSIONS
    assert set(summary.get_column("dimension")) == set(
        segment_dimensions(SETTINGS, ("events", "feedback"))
    )
    for dimension in SOURCE_LABEL_COLUMNS:
        rows = summary.filter(pl.col("dimension") == dimension)
        counts = dict(segments.get_column(dimension).value_counts().iter_rows())
        assert dict(zip(rows["segment"], rows["customers"], strict=True)) == counts
        assert rows.get_column("share").sum() == pytest.approx(1.0)
        detractors = segments.filter(pl.col(dimension) == rows["segment"][0])
        assert rows["revenue"][0] == pytest.approx(detractors["net_revenue"].sum())


def test_without_the_sources_everyone_is_unknown_and_the_summary_is_as_before() -> None:
    features = random_features(600, seed=7)
    sources = features.select(*EVENT_FEATURE_COLUMNS, *FEEDBACK_FEATURE_COLUMNS)
    assert set(sources.null_count().row(0)) == {features.height}
    segments = build_customer_segments(features, SETTINGS)
    for column in SOURCE_LABEL_COLUMNS:
        assert set(segments.get_column(column)) == {"unknown"}
    for column in SOURCE_KEY_FEATURE_COLUMNS:
        assert segments.get_column(column).null_count() == segments.height
    assert SOURCE_DIMENSIONS.isdisjoint(dimension_columns(segments))
    before = segments.drop(*SOURCE_LABEL_COLUMNS, *SOURCE_KEY_FEATURE_COLUMNS)
    assert summarize_segments(segments, features).equals(summarize_segments(before, features))
    # a features frame written before the source columns existed labels the same
    old = features.drop(*EVENT_FEATURE_COLUMNS, *FEEDBACK_FEATURE_COLUMNS)
    assert build_customer_segments(old, SETTINGS).equals(segments)


def test_a_source_label_is_a_dimension_exactly_when_its_source_is_configured() -> None:
    rows = [{"customer_id": "a"}, {"customer_id": "b", **POTENTIAL}]
    events_only = build_customer_segments(_features(rows, feedback=False), SETTINGS)
    feedback_only = build_customer_segments(_features(rows, events=False), SETTINGS)
    both = build_customer_segments(_features(rows), SETTINGS)
    assert SOURCE_DIMENSIONS & set(dimension_columns(events_only)) == {
        "intent_class",
        "engagement_level",
    }
    # configured: a dimension even when nobody answered (all unknown says exactly that)
    assert SOURCE_DIMENSIONS & set(dimension_columns(feedback_only)) == {
        "nps_class",
        "satisfaction_class",
    }
    assert set(dimension_columns(both)) >= SOURCE_DIMENSIONS
    summary = summarize_segments(feedback_only, _features(rows, events=False))
    nps = summary.filter(pl.col("dimension") == "nps_class")
    assert nps.select("segment", "customers", "share").rows() == [("unknown", 2, 1.0)]


# --- rules on the new columns -------------------------------------------------------------------


def test_attribute_and_playbook_rules_can_use_every_new_column() -> None:
    new_features = (*EVENT_FEATURE_COLUMNS, *FEEDBACK_FEATURE_COLUMNS)
    settings = SegmentSettings(
        clusters={"enabled": False},
        attributes=[
            AttributeDimension(
                dimension="voice",
                rules=[
                    AttributeRule(name=f"has_{column}", when=f"{column} IS NOT NULL")
                    for column in new_features
                ]
                + [
                    AttributeRule(name="opens_well", when="email_open_rate_90d >= 0.5"),
                    AttributeRule(name="detractor", when="nps_class = 'detractor'"),
                    AttributeRule(name="unsubscribed", when="is_unsubscribed"),
                ],
            )
        ],
    )
    features = _features([{"customer_id": "a", "email_open_rate_90d": 0.6}])
    segments = build_customer_segments(features, settings)
    assert segments["attr_voice"].item() == "has_visits_90d"
    playbook = parse_playbook(
        {
            "rules": [
                *(
                    {"name": f"r_{column}", "when": f"{column} IS NULL", "strategy": "s",
                     "channel": "c", "priority": 1, "budget_per_customer": 0, "rationale": "r"}
                    for column in (*SOURCE_LABEL_COLUMNS, *SOURCE_KEY_FEATURE_COLUMNS)
                ),
                {"name": "voice", "when": "attr_voice = 'opens_well' AND nps_class <> 'unknown'",
                 "strategy": "s", "channel": "c", "priority": 1, "budget_per_customer": 0,
                 "rationale": "r"},
                {"name": "rest", "when": "true", "strategy": "s", "channel": "c", "priority": 1,
                 "budget_per_customer": 0, "rationale": "r"},
            ]
        },
        segment_settings=settings,
    )  # fmt: skip
    # the first rule on a null column: this customer has no engagement day
    assert assign_strategies(segments, playbook, NO_CONTROL)["matched_rule"].item() == (
        "r_days_since_last_engagement"
    )


def _assigned(rows: list[dict[str, Any]], **kwargs: Any) -> dict[str, str]:
    segments = build_customer_segments(_features(rows, **kwargs), SETTINGS)
    assigned = assign_strategies(segments, load_playbook(DEFAULT_PLAYBOOK), NO_CONTROL)
    return dict(assigned.select("customer_id", "matched_rule").iter_rows())


def test_the_default_playbook_rules_on_the_labels_fire_on_the_right_customers() -> None:
    mature = {"lifecycle_stage": "mature", "recency_days": 30, "value_tier": "mid"}
    rows = [
        # service recovery: a high-value detractor, or any recent complaint, before any offer
        {"customer_id": "vip_detractor", **mature, "value_tier": "high", "nps_class": "detractor",
         "latest_nps": 3.0, "days_since_last_feedback": 5},
        {"customer_id": "low_value_complainer", **mature, "value_tier": "low",
         "complaints_90d": 1, "days_since_last_feedback": 5},
        {"customer_id": "mid_detractor", **mature, "nps_class": "detractor", "latest_nps": 2.0,
         "days_since_last_feedback": 5},
        {"customer_id": "vip_promoter", **mature, "value_tier": "high", "nps_class": "promoter",
         "latest_nps": 10.0, "days_since_last_feedback": 5},
        # e-mail suppression: unsubscribed (even a buyer) or refusing; VIP care is not e-mail
        {"customer_id": "unsubscribed_buyer", **mature, "is_unsubscribed": True},
        {"customer_id": "unsubscribed_vip", **mature, "value_tier": "high",
         "is_unsubscribed": True},
        {"customer_id": "refusing", **mature, **LAPSED, "lifecycle_stage": "lost"},
        # cart reminder: hesitant with cart adds
        {"customer_id": "hesitant_carter", **mature, "recency_days": 120, "cart_adds_90d": 2,
         "days_since_last_engagement": 4},
        {"customer_id": "hesitant_viewer", **mature, "recency_days": 120,
         "product_views_90d": 2, "days_since_last_engagement": 4},
        {"customer_id": "active_carter", **mature, "cart_adds_90d": 2,
         "days_since_last_engagement": 4},
    ]  # fmt: skip
    # without the sources nobody gets the new rules
    before = _assigned(rows, events=False, feedback=False)
    assert _assigned(rows) == {
        "vip_detractor": "service_recovery",
        "low_value_complainer": "service_recovery",
        "mid_detractor": before["mid_detractor"],
        "vip_promoter": "vip_account_management",
        "unsubscribed_buyer": "email_suppression",
        "unsubscribed_vip": "vip_account_management",
        "refusing": "email_suppression",
        "hesitant_carter": "cart_reminder",
        "hesitant_viewer": before["hesitant_viewer"],
        "active_carter": before["active_carter"],
    }
    assert before["vip_detractor"] == "vip_account_management"
    assert {"service_recovery", "email_suppression", "cart_reminder"}.isdisjoint(before.values())


def test_without_the_sources_the_default_playbook_assigns_as_before_its_new_rules() -> None:
    features = random_features(3_000, seed=11)
    segments = build_customer_segments(features, SETTINGS)
    raw = yaml.safe_load(DEFAULT_PLAYBOOK.read_text())
    new_rules = {"service_recovery", "email_suppression", "cart_reminder"}
    assert new_rules <= {rule["name"] for rule in raw["rules"]}
    old = parse_playbook({**raw, "rules": [r for r in raw["rules"] if r["name"] not in new_rules]})
    control = ControlGroupSettings()
    assert assign_strategies(segments, load_playbook(DEFAULT_PLAYBOOK), control).equals(
        assign_strategies(segments.drop(*SOURCE_LABEL_COLUMNS, *SOURCE_KEY_FEATURE_COLUMNS),
                          old, control)
    )  # fmt: skip
    # with the sources they do fire
    with_sources = build_customer_segments(_random_sources(features), SETTINGS)
    fired = set(assign_strategies(with_sources, load_playbook(DEFAULT_PLAYBOOK), control)[
        "matched_rule"])  # fmt: skip
    assert new_rules <= fired


# --- configuration errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("segments", "expected"),
    [
        (
            {"satisfaction": {"csat_dissatisfied_max": 4, "csat_satisfied_min": 3}},
            "segments.satisfaction: csat_satisfied_min (3.0) must be above "
            "csat_dissatisfied_max (4.0)",
        ),
        (
            {"engagement": {"medium_min": 30, "high_min": 30}},
            "segments.engagement: high_min (30) must be above medium_min (30)",
        ),
        (
            {"intent": {"active_window_days": 200}},
            "segments.intent: refusing_after_days (180) must not be below active_window_days (200)",
        ),
        ({"intent": {"active_window_days": 0}}, "segments.intent.active_window_days: "),
        (
            {"satisfaction": {"dissatisfied_min_complaints": 0}},
            "segments.satisfaction.dissatisfied_min_complaints: ",
        ),
        ({"engagement": {"high": 10}}, "segments.engagement.high: unknown key"),
    ],  # fmt: skip
)
def test_a_bad_threshold_names_its_key(tmp_path: Path, segments: dict, expected: str) -> None:
    path = write_config_file(tmp_path, config_mapping(segments=segments))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert expected in str(error.value)
