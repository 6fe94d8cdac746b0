"""Labels from the events and feedback sources: purchase intent, engagement level, NPS class and
satisfaction. Every customer gets exactly one label per dimension; without the source a label
says ``unknown`` (the features' source columns are null then), so a configuration without these
sources labels everyone ``unknown`` and nothing else changes.

Precedence (the first that holds wins):

* ``intent_class``: ``unknown`` (no events source) > ``active`` (a purchase within
  ``active_window_days``) > ``refusing`` (unsubscribed, or neither an engagement event nor a
  purchase for more than ``refusing_after_days``, never counting as more) > ``hesitant``
  (everyone else: engaged in the window without buying, or lapsing but not yet refusing).
* ``engagement_level``: ``unknown`` (no events source) > ``none`` (no engagement event in the
  window) > ``high`` > ``medium`` > ``low``, on visits + product views + cart adds + e-mail
  clicks in the window.
* ``nps_class``: the features' class of the latest NPS answer, ``unknown`` without one.
* ``satisfaction_class``: ``unknown`` (no feedback of any kind) > ``dissatisfied`` (a complaint,
  a detractor, or a low average CSAT) > ``satisfied`` (a promoter or a high average CSAT, and no
  complaint) > ``neutral``.
"""

from __future__ import annotations

import polars as pl

from segmentation.segments.columns import (
    FEATURE_COLUMN_TYPES,
    SOURCE_FEATURE_COLUMNS,
    SOURCE_KEY_FEATURE_COLUMNS,
)
from segmentation.segments.settings import (
    EngagementLevelSettings,
    IntentSettings,
    SatisfactionSettings,
    SegmentSettings,
)

UNKNOWN = "unknown"
INTENT_CLASSES = ("active", "hesitant", "refusing", UNKNOWN)
ENGAGEMENT_LEVELS = ("high", "medium", "low", "none", UNKNOWN)
NPS_CLASSES = ("promoter", "passive", "detractor", UNKNOWN)
SATISFACTION_CLASSES = ("satisfied", "neutral", "dissatisfied", UNKNOWN)

# the counts summed into the engagement level (e-mail opens are left out: mail clients that
# prefetch images open every mail, so an open says little about the customer)
ENGAGEMENT_COUNT_COLUMNS = ("visits_90d", "product_views_90d", "cart_adds_90d", "email_clicks_90d")
# per customer, any of these non-null says the events source is configured (the counts and the
# unsubscribed flag are 0 / false for a customer without events)
_EVENT_PRESENCE = (
    "visits_90d",
    "product_views_90d",
    "cart_adds_90d",
    "email_sends_90d",
    "email_opens_90d",
    "email_clicks_90d",
    "abandoned_carts_90d",
    "is_unsubscribed",
)
# a customer has given feedback when any of these is non-null (or a complaint is counted)
_FEEDBACK_PRESENCE = ("days_since_last_feedback", "latest_nps", "avg_csat_180d", "nps_class")

# the source each label comes from
LABEL_SOURCES: dict[str, str] = {
    "intent_class": "events",
    "engagement_level": "events",
    "nps_class": "feedback",
    "satisfaction_class": "feedback",
    # psychographic_class also comes from rules over customer columns
    "needs_class": "products",
    "psychographic_class": "products",
}
# which segments-table columns show, for a whole snapshot, that a label's source is configured:
# they are null for every customer without it and never null (0 / false) with it
SOURCE_DIMENSION_EVIDENCE: dict[str, tuple[str, ...]] = {
    "intent_class": ("cart_adds_90d", "abandoned_carts_90d", "is_unsubscribed"),
    "engagement_level": ("cart_adds_90d", "abandoned_carts_90d", "is_unsubscribed"),
    "nps_class": ("complaints_90d",),
    "satisfaction_class": ("complaints_90d",),
    # 0 for a customer without catalogued spend, null for everyone without a products source
    "needs_class": ("category_breadth",),
    "psychographic_class": ("category_breadth",),
}


def with_source_columns(features: pl.DataFrame) -> pl.DataFrame:
    """``features`` with any missing events/feedback/category column added as nulls of its
    type: a features frame written before those columns existed (its labels are ``unknown``),
    or a month read without the columns that hold no value in it
    (:func:`~segmentation.monthly.read_segment_features`). A column added so costs no memory
    per row: polars keeps it as one null."""
    missing = [
        pl.lit(None, dtype=FEATURE_COLUMN_TYPES[name]).alias(name)
        for name in SOURCE_FEATURE_COLUMNS
        if name not in features.columns
    ]
    return features.with_columns(missing) if missing else features


def _events_known() -> pl.Expr:
    return pl.any_horizontal(pl.col(name).is_not_null() for name in _EVENT_PRESENCE)


def intent_class_label(settings: IntentSettings | None = None) -> pl.Expr:
    """``intent_class`` of each row (see the module docstring for the precedence)."""
    settings = settings or IntentSettings()
    recency = pl.col("recency_days")
    engagement = pl.col("days_since_last_engagement")
    bought = (recency < settings.active_window_days).fill_null(False)
    idle = (engagement.is_null() | (engagement > settings.refusing_after_days)) & (
        recency.is_null() | (recency > settings.refusing_after_days)
    )
    unsubscribed = pl.col("is_unsubscribed").fill_null(False)
    return (
        pl.when(~_events_known())
        .then(pl.lit(UNKNOWN))
        .when(bought)
        .then(pl.lit("active"))
        .when(unsubscribed | idle)
        .then(pl.lit("refusing"))
        .otherwise(pl.lit("hesitant"))
        .alias("intent_class")
    )


def engagement_events() -> pl.Expr:
    """Engagement events of the window: visits + product views + cart adds + e-mail clicks
    (a null count, for a customer without events, counts 0)."""
    return pl.sum_horizontal(pl.col(name).fill_null(0) for name in ENGAGEMENT_COUNT_COLUMNS)


def engagement_level_label(settings: EngagementLevelSettings | None = None) -> pl.Expr:
    """``engagement_level`` of each row (see the module docstring for the precedence)."""
    settings = settings or EngagementLevelSettings()
    events = engagement_events()
    return (
        pl.when(~_events_known())
        .then(pl.lit(UNKNOWN))
        .when(events == 0)
        .then(pl.lit("none"))
        .when(events >= settings.high_min)
        .then(pl.lit("high"))
        .when(events >= settings.medium_min)
        .then(pl.lit("medium"))
        .otherwise(pl.lit("low"))
        .alias("engagement_level")
    )


def nps_class_label() -> pl.Expr:
    """``nps_class`` of each row: the features' class of the latest NPS, ``unknown`` if none."""
    return pl.col("nps_class").fill_null(UNKNOWN).alias("nps_class")


def satisfaction_class_label(settings: SatisfactionSettings | None = None) -> pl.Expr:
    """``satisfaction_class`` of each row (see the module docstring for the precedence).

    A null average CSAT (no CSAT answer in the window) takes part in neither CSAT condition; a
    customer whose only feedback is a review, or older CSAT answers, is ``neutral``.
    """
    settings = settings or SatisfactionSettings()
    complaints = pl.col("complaints_90d").fill_null(0)
    csat = pl.col("avg_csat_180d")
    nps = pl.col("nps_class")
    has_feedback = pl.any_horizontal(
        *(pl.col(name).is_not_null() for name in _FEEDBACK_PRESENCE), complaints > 0
    )
    dissatisfied = (
        (complaints >= settings.dissatisfied_min_complaints)
        | (nps == "detractor").fill_null(False)
        | (csat <= settings.csat_dissatisfied_max).fill_null(False)
    )
    satisfied = (complaints == 0) & (
        (nps == "promoter").fill_null(False)
        | (csat >= settings.csat_satisfied_min).fill_null(False)
    )
    return (
        pl.when(~has_feedback)
        .then(pl.lit(UNKNOWN))
        .when(dissatisfied)
        .then(pl.lit("dissatisfied"))
        .when(satisfied)
        .then(pl.lit("satisfied"))
        .otherwise(pl.lit("neutral"))
        .alias("satisfaction_class")
    )


def label_sources(features: pl.DataFrame, settings: SegmentSettings) -> pl.DataFrame:
    """The source labels and the source key features of every row of ``features``.

    Args:
        features: ``features.customer_features`` rows; missing events/feedback columns count as
            null (no source).
        settings: The segment settings (``intent``, ``engagement``, ``satisfaction``).

    Returns:
        intent_class, engagement_level, nps_class, satisfaction_class, then the
        ``SOURCE_KEY_FEATURE_COLUMNS``, in the input's row order.
    """
    return with_source_columns(features).select(
        intent_class_label(settings.intent),
        engagement_level_label(settings.engagement),
        nps_class_label(),
        satisfaction_class_label(settings.satisfaction),
        *SOURCE_KEY_FEATURE_COLUMNS,
    )


def configured_source_dimensions(segments: pl.DataFrame) -> list[str]:
    """The source label columns of a segments frame whose source is configured, in column
    order: a label is a segment dimension only then (without the source everyone is
    ``unknown``, and the summaries stay as they were before these labels existed). A label
    with a value other than ``unknown`` has a basis too (``psychographic_class`` from rules,
    without a products source)."""
    return [
        column
        for column in segments.columns
        if column in SOURCE_DIMENSION_EVIDENCE
        and (
            any(
                name in segments.columns
                and segments.get_column(name).null_count() < segments.height
                for name in SOURCE_DIMENSION_EVIDENCE[column]
            )
            or (segments.get_column(column) != UNKNOWN).any()
        )
    ]
