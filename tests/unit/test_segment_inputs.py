"""The features columns the segments read: a month of only those gives the same segments and
summary as the whole month, and every one of them is read (a step missing one fails)."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import polars as pl
import pytest

from segmentation.keys import FEATURES_TABLE
from segmentation.monthly import customer_segments_month, read_month, read_segment_features
from segmentation.segments.build import build_customer_segments, summarize_segments
from segmentation.segments.columns import (
    CATEGORY_FEATURE_COLUMNS,
    EVENT_FEATURE_COLUMNS,
    FEATURE_COLUMN_TYPES,
    FEEDBACK_FEATURE_COLUMNS,
)
from segmentation.segments.inputs import segment_feature_columns
from segmentation.segments.settings import SegmentSettings
from segmentation.warehouse import columns_without_values, replace_partitions_together
from tests.unit.segment_frames import NEXT_SNAPSHOT, SNAPSHOT, random_features
from tests.unit.test_recommendations import CATALOGUE, RISK_RULE

# columns a missing one of which is added as nulls (a features table written before them)
SOURCE_COLUMNS = {*EVENT_FEATURE_COLUMNS, *FEEDBACK_FEATURE_COLUMNS, *CATEGORY_FEATURE_COLUMNS}

# a rule, a passthrough column and an extra column in every place a setting names a column
SETTINGS = SegmentSettings.model_validate(
    {
        "extra_columns": {
            "risk_preference": "text",
            "products_held": "list",
            "lifestyle": "text",
            "unused_survey": "float",
        },
        "rfm": {"frequency": "purchase_days", "monetary": "gross_revenue"},
        "attributes": [
            {
                "dimension": "income_band",
                "rules": [
                    {"name": "high", "when": "income >= 100000"},
                    {"name": "trend_up", "when": "trend > 0 AND revenue_30d > 0"},
                ],
            },
            {"dimension": "country", "column": "country"},
            {"dimension": "life", "rules": [{"name": "home", "when": "lifestyle = 'home'"}]},
        ],
        "psychographics": {
            "rules": [{"name": "careful", "when": "risk_preference = 'conservative'"}]
        },
        "recommendations": {
            "min_support": 1,
            "products_held_column": "products_held",
            "eligibility": RISK_RULE,
        },
    }
)


def _features(customers: int = 400) -> pl.DataFrame:
    rng = np.random.default_rng(7)
    features = random_features(customers, seed=3)
    held = [["deposit", "fund", "loan"][: int(n)] for n in rng.integers(0, 4, features.height)]
    return features.with_columns(
        pl.Series("trend", rng.normal(0.0, 1.0, features.height)),
        pl.Series("revenue_30d", rng.uniform(0.0, 50.0, features.height)),
        pl.Series(
            "risk_preference",
            rng.choice(["conservative", "balanced", "aggressive"], features.height),
        ),
        pl.Series("products_held", held, dtype=pl.List(pl.String)),
        pl.Series("lifestyle", rng.choice(["home", "outdoor"], features.height)),
        pl.Series("unused_survey", rng.uniform(0.0, 1.0, features.height)),
    )


def _segments_and_summary(features: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    segments = build_customer_segments(features, SETTINGS, None, CATALOGUE)
    return segments, summarize_segments(segments, features)


def test_the_columns_read_are_the_rules_and_settings_columns_not_every_feature() -> None:
    columns = segment_feature_columns(SETTINGS)
    named = {
        "purchase_days",
        "gross_revenue",
        "income",
        "trend",
        "revenue_30d",
        "country",
        "lifestyle",
        "risk_preference",
        "products_held",
    }
    assert named <= columns
    assert columns >= SOURCE_COLUMNS
    # declared but named by no rule, and features no setting reads
    assert not {"unused_survey", "orders_365d", "expected_spend", "signup_date"} & columns
    assert not {"product_risk_level"} & columns  # the catalogue's, not the customers'
    assert len(columns & set(FEATURE_COLUMN_TYPES)) < len(FEATURE_COLUMN_TYPES) // 2 + 10


def test_only_those_columns_give_the_same_segments_and_summary() -> None:
    features = _features()
    columns = segment_feature_columns(SETTINGS)
    pruned = features.select(name for name in features.columns if name in columns)
    assert pruned.width < features.width - 30
    segments, summary = _segments_and_summary(features)
    assert segments.get_column("next_best_product").null_count() < segments.height
    assert segments.get_column("attr_life").n_unique() == 2
    pruned_segments, pruned_summary = _segments_and_summary(pruned)
    assert pruned_segments.equals(segments)
    assert pruned_summary.equals(summary)


@pytest.mark.parametrize(
    "column",
    sorted(
        segment_feature_columns(SETTINGS)
        - SOURCE_COLUMNS
        - {"snapshot_date", "customer_id"}  # the keys are always read
    ),
)
def test_a_month_missing_any_column_fails_rather_than_giving_other_segments(column: str) -> None:
    # why the list is safe to read by: no step reads around a missing column
    features = _features(60)
    columns = segment_feature_columns(SETTINGS) - {column}
    with pytest.raises((pl.exceptions.ColumnNotFoundError, KeyError), match=column):
        _segments_and_summary(features.select(name for name in features.columns if name in columns))


def test_a_month_is_read_without_the_source_columns_that_hold_no_value_in_it() -> None:
    # two months: the events came in the second (engagement columns with values), feedback and
    # the catalogue never did
    first, second = (
        random_features(300, seed=seed, snapshots=(day,))
        for seed, day in ((1, SNAPSHOT), (2, NEXT_SNAPSHOT))
    )
    rng = np.random.default_rng(5)
    second = second.with_columns(
        pl.Series("visits_90d", rng.integers(0, 9, second.height)),
        pl.Series("days_since_last_engagement", rng.integers(0, 400, second.height)),
        pl.Series("is_unsubscribed", rng.uniform(0, 1, second.height) < 0.2),
    )
    settings = SegmentSettings()
    with duckdb.connect() as con:
        replace_partitions_together(con, {FEATURES_TABLE: first}, "snapshot_date", [SNAPSHOT])
        replace_partitions_together(con, {FEATURES_TABLE: second}, "snapshot_date", [NEXT_SNAPSHOT])
        sources = set(SOURCE_COLUMNS)
        empty_first = columns_without_values(
            con, FEATURES_TABLE, "snapshot_date", [SNAPSHOT], sources
        )
        assert empty_first == sources
        empty_second = columns_without_values(
            con, FEATURES_TABLE, "snapshot_date", [NEXT_SNAPSHOT], [*sources, "not_a_column"]
        )
        assert empty_second == sources - {
            "visits_90d",
            "days_since_last_engagement",
            "is_unsubscribed",
        }
        assert columns_without_values(
            con, FEATURES_TABLE, "snapshot_date", [date(2030, 1, 31)], ["orders"]
        ) == {"orders"}
        dimensions = {}
        for snapshot, empty in ((SNAPSHOT, empty_first), (NEXT_SNAPSHOT, empty_second)):
            month = read_segment_features(con, snapshot, settings)
            assert not empty & set(month.columns)
            assert set(month.columns) == segment_feature_columns(settings) - empty
            whole = read_month(con, FEATURES_TABLE, snapshot)
            segments, summary = customer_segments_month(month, settings)
            whole_segments, whole_summary = customer_segments_month(whole, settings)
            assert segments.equals(whole_segments)
            assert summary.equals(whole_summary)
            dimensions[snapshot] = set(summary.get_column("dimension"))
    # the events' labels have a basis in the second month: a dimension there, not in the first
    assert "intent_class" in dimensions[NEXT_SNAPSHOT] - dimensions[SNAPSHOT]


def test_a_customer_column_named_like_a_catalogue_column_is_read_without_an_eligibility_rule() -> (
    None
):
    # product_* names are the catalogue's only in the eligibility rule; without one, a customer
    # column may be so named and the other rules read it
    settings = SegmentSettings.model_validate(
        {
            "extra_columns": {"product_category": "text"},
            "attributes": [
                {
                    "dimension": "pref",
                    "rules": [{"name": "tech", "when": "product_category = 'tech'"}],
                }
            ],
        }
    )
    assert "product_category" in segment_feature_columns(settings)
    features = random_features(200, seed=9).with_columns(
        pl.Series("product_category", ["tech", "home"] * 100)
    )
    pruned = features.select(
        name for name in features.columns if name in segment_feature_columns(settings)
    )
    segments = build_customer_segments(pruned, settings)
    assert segments.get_column("attr_pref").value_counts().height == 2
    assert segments.equals(build_customer_segments(features, settings))
