"""The catalogue columns of marts.customer_segments (needs and psychographic class, next best
category and product, category features): with a products source they are labels, dimensions
of the summaries and columns the playbook and attribute rules can use; without it they are
unknown or null and every summary is what it was before they existed."""

from __future__ import annotations

import numpy as np
import polars as pl

from segmentation.evaluation.migration import segment_migration
from segmentation.features.categories import category_columns
from segmentation.segments.build import (
    build_customer_segments,
    dimension_columns,
    segment_dimensions,
    summarize_segments,
)
from segmentation.segments.catalogue_labels import CATALOGUE_COLUMNS
from segmentation.segments.columns import CATEGORY_FEATURE_COLUMNS
from segmentation.segments.contracts import CustomerSegmentsContract, SegmentSummaryContract
from segmentation.segments.settings import SegmentSettings
from segmentation.strategies.playbook import assign_strategies
from segmentation.strategies.settings import ControlGroupSettings, parse_playbook
from tests.unit.segment_frames import NEXT_SNAPSHOT, SNAPSHOT, random_features

SETTINGS = SegmentSettings(clusters={"enabled": False}, recommendations={"min_support": 5})
CATEGORIES = ("garden", "home", "kitchen", "toys")


def _categories(features: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Category rows of the purchasers: gardeners buy garden and home, the others kitchen and
    toys, some of everything; one level each."""
    rng = np.random.default_rng(seed)
    rows = []
    for snapshot, customer, recency in features.select(
        "snapshot_date", "customer_id", "recency_days"
    ).iter_rows():
        if recency is None or recency > 365:
            continue
        gardener = rng.uniform() < 0.5
        for category in CATEGORIES:
            wanted = (category in ("garden", "home")) == gardener
            if rng.uniform() < (0.9 if wanted else 0.15):
                spend = float(rng.integers(10, 200))
                core = spend if category in ("garden", "kitchen") else 0.0
                rows.append((snapshot, customer, category, spend, 1, core, spend - core))
    frame = pl.DataFrame(
        rows,
        schema={
            "snapshot_date": pl.Date,
            "customer_id": pl.String,
            "category": pl.String,
            "spend": pl.Float64,
            "orders": pl.Int64,
            "core_spend": pl.Float64,
            "basic_spend": pl.Float64,
        },
        orient="row",
    )
    return frame.with_columns(
        (pl.col("spend") / pl.col("spend").sum().over("snapshot_date", "customer_id")).alias(
            "spend_share"
        )
    ).sort("snapshot_date", "customer_id", "category")


def _with_categories(seed: int = 4) -> tuple[pl.DataFrame, pl.DataFrame]:
    features = random_features(800, seed=seed, snapshots=(SNAPSHOT, NEXT_SNAPSHOT))
    categories = _categories(features, seed)
    columns = category_columns(features.select("snapshot_date", "customer_id"), categories)
    return features.drop(CATEGORY_FEATURE_COLUMNS).hstack(columns.get_columns()), categories


def test_with_a_products_source_the_catalogue_columns_are_labels_and_dimensions() -> None:
    features, categories = _with_categories()
    segments = build_customer_segments(features, SETTINGS, categories)
    CustomerSegmentsContract.validate(segments)
    assert segments.columns[-len(CATALOGUE_COLUMNS) :] == list(CATALOGUE_COLUMNS)
    shares = segments.select("core_spend_share", "needs_class").drop_nulls()
    assert set(shares.get_column("needs_class")) == {"core", "basic", "mixed"}
    for share, label in shares.iter_rows():
        assert label == ("core" if share >= 0.6 else "basic" if share <= 0.2 else "mixed")
    assert set(segments.filter(pl.col("category_breadth") == 0)["needs_class"]) == {"unknown"}
    # two tastes: the gardeners' and the others' clusters, named from their categories
    buyers = segments.filter(pl.col("category_breadth") > 0)
    assert buyers.get_column("psychographic_class").n_unique() >= 2
    names = buyers.get_column("psychographic_class").str.replace(r" #\d+$", "")
    assert all(name.endswith("-led") or " & " in name for name in names)
    # the garden & home buyers are told to buy what goes with their basket
    recommended = segments.filter(pl.col("next_best_category").is_not_null())
    assert recommended.height > 100
    assert (recommended["next_best_category_lift"] >= 1.0).all()
    assert (recommended["next_best_category_support"] >= 5).all()
    assert set(recommended["next_best_category"]) <= set(CATEGORIES)
    assert segments.get_column("next_best_product").null_count() == segments.height

    dimensions = dimension_columns(segments)
    assert dimensions[-2:] == ["needs_class", "psychographic_class"]
    assert dimensions == segment_dimensions(SETTINGS, ("products",))
    summary = summarize_segments(segments, features)
    SegmentSummaryContract.validate(summary)
    needs = summary.filter(pl.col("dimension") == "needs_class")
    assert set(needs["segment"]) == {"core", "basic", "mixed", "unknown"}
    first = segments.filter(pl.col("snapshot_date") == SNAPSHOT)
    second = segments.filter(pl.col("snapshot_date") == NEXT_SNAPSHOT)
    moves = segment_migration(first, second)
    assert {"needs_class", "psychographic_class"} <= set(moves["dimension"])


def test_without_a_products_source_nothing_is_known_and_the_summary_is_as_before() -> None:
    features = random_features(600, seed=9)
    segments = build_customer_segments(features, SETTINGS)
    CustomerSegmentsContract.validate(segments)
    assert set(segments["needs_class"]) == set(segments["psychographic_class"]) == {"unknown"}
    nulls = segments.select(CATALOGUE_COLUMNS[2:]).null_count().row(0)
    assert nulls == (segments.height,) * len(CATALOGUE_COLUMNS[2:])
    assert "needs_class" not in dimension_columns(segments)
    before = segments.drop(CATALOGUE_COLUMNS)
    assert summarize_segments(segments, features).equals(summarize_segments(before, features))
    # a features frame written before the category columns existed labels the same
    old = features.drop(CATEGORY_FEATURE_COLUMNS)
    assert build_customer_segments(old, SETTINGS).equals(segments)


def test_psychographic_rules_alone_make_it_a_dimension() -> None:
    settings = SegmentSettings(
        clusters={"enabled": False},
        psychographics={"rules": [{"name": "big_spender", "when": "net_revenue > 500"}]},
    )
    features = random_features(300, seed=2)
    segments = build_customer_segments(features, settings)
    assert set(segments["psychographic_class"]) == {"big_spender", "unknown"}
    assert dimension_columns(segments)[-1] == "psychographic_class"
    assert "needs_class" not in dimension_columns(segments)
    assert segment_dimensions(settings)[-1] == "psychographic_class"


def test_the_playbook_and_attribute_rules_use_the_new_columns() -> None:
    settings = SegmentSettings(
        clusters={"enabled": False},
        recommendations={"min_support": 5},
        attributes=[
            {
                "dimension": "gardener",
                "rules": [{"name": "yes", "when": "top_category = 'garden'"}],
                "default": "no",
            }
        ],
    )
    features, categories = _with_categories(seed=5)
    segments = build_customer_segments(features, settings, categories)
    gardeners = segments.filter(pl.col("attr_gardener") == "yes")
    assert gardeners.height > 0 and (gardeners["top_category"] == "garden").all()
    rule = {
        "name": "cross_sell",
        "when": "next_best_category IS NOT NULL AND needs_class <> 'basic' "
        "AND category_breadth >= 1 AND next_best_category_lift > 1.1",
        "strategy": "cross_sell",
        "channel": "email",
        "priority": 2,
        "budget_per_customer": 1.0,
        "rationale": "what goes with their basket",
    }
    catch_all = {**rule, "name": "everyone_else", "when": "true", "strategy": "nothing"}
    playbook = parse_playbook({"rules": [rule, catch_all]}, settings)
    assigned = assign_strategies(segments, playbook, ControlGroupSettings(share=0.0))
    crossed = assigned.filter(pl.col("strategy") == "cross_sell").get_column("customer_id")
    expected = segments.filter(
        pl.col("next_best_category").is_not_null()
        & (pl.col("needs_class") != "basic")
        & (pl.col("next_best_category_lift") > 1.1)
    )
    assert sorted(crossed) == sorted(expected["customer_id"])
    assert crossed.len() > 0
