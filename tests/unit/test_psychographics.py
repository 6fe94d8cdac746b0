"""Needs and psychographic classes and the settings of the catalogue labels: thresholds, rules
checked when the settings load, clusters of the category mix that find planted groups and are
named from their dominant categories, and the same result whatever the row order."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from segmentation.config import _catalogue_problems, load_config
from segmentation.segments.category_settings import (
    NeedsSettings,
    PsychographicSettings,
    RecommendationSettings,
    compile_psychographic_rules,
)
from segmentation.segments.psychographics import (
    name_share_clusters,
    needs_class_label,
    psychographic_classes,
)
from segmentation.segments.settings import SegmentSettings, feature_column_ranges
from segmentation.settings_base import ConfigError
from tests.conftest import config_mapping, write_config_file

SNAPSHOT = date(2024, 1, 31)


def test_needs_classes_by_the_core_share() -> None:
    shares = pl.DataFrame({"core_spend_share": [None, 0.0, 0.2, 0.21, 0.59, 0.6, 1.0]})
    labels = shares.select(needs_class_label()).to_series().to_list()
    assert labels == ["unknown", "basic", "basic", "mixed", "mixed", "core", "core"]
    tight = NeedsSettings(core_min_share=0.9, basic_max_share=0.5)
    assert shares.select(needs_class_label(tight)).to_series().to_list()[2:] == [
        "basic",
        "basic",
        "mixed",
        "mixed",
        "core",
    ]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"core_levels": ["core"], "basic_levels": [" CORE"]}, "levels both core and basic: core"),
        ({"core_min_share": 0.3, "basic_max_share": 0.3}, "must be below core_min_share"),
        ({"core_levels": [" "]}, "a level cannot be blank"),
        ({"level_column": "risk_level"}, "level_column"),
    ],
)
def test_needs_settings_are_checked(settings: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        NeedsSettings(**settings)


def test_levels_are_compared_trimmed_in_lower_case() -> None:
    assert NeedsSettings(core_levels=[" Core ", "PREMIUM"]).core_levels == ["core", "premium"]


def _segments(**raw) -> SegmentSettings:
    return SegmentSettings.model_validate({"attributes": [], **raw})


def test_psychographic_and_eligibility_rules_are_checked_when_the_settings_load() -> None:
    with pytest.raises(ValidationError) as failure:
        _segments(psychographics={"rules": [{"name": "saver", "when": "savings > 3"}]})
    assert "psychographic rule 'saver' (`savings > 3`)" in str(failure.value)
    with pytest.raises(ValidationError) as failure:
        _segments(
            extra_columns={"lifestyle": "text"},
            psychographics={"rules": [{"name": "home", "when": "CAST(lifestyle AS INTEGER) > 1"}]},
        )
    assert "fails on values its columns can hold" in str(failure.value)
    with pytest.raises(ValidationError, match="duplicate psychographic rule names: a"):
        _segments(
            psychographics={
                "rules": [{"name": "a", "when": "orders > 1"}, {"name": "a", "when": "true"}]
            }
        )
    with pytest.raises(ValidationError) as failure:
        _segments(
            extra_columns={"held": "text"},
            recommendations={"products_held_column": "held", "eligibility": "product_colour = 1"},
        )
    assert "'held' is declared as text, not list" in str(failure.value)
    with pytest.raises(ValidationError) as failure:
        _segments(recommendations={"products_held_column": "held"})
    assert "'held' is not declared under extra_columns" in str(failure.value)
    with pytest.raises(ValidationError) as failure:
        _segments(recommendations={"eligibility": "product_risk_level = '1'"})
    assert "applies to next_best_product, which needs products_held_column" in str(failure.value)


def test_rules_may_use_the_category_columns_and_extra_columns() -> None:
    settings = _segments(
        extra_columns={"lifestyle": "text"},
        psychographics={
            "rules": [
                {"name": "home_maker", "when": "lifestyle = 'home_maker'"},
                {"name": "explorer", "when": "category_breadth >= 5"},
                {"name": "garden_lover", "when": "top_category = 'garden'"},
            ],
            "default": "other",
        },
    )
    rules = compile_psychographic_rules(
        settings.psychographics, settings.known_columns(), feature_column_ranges()
    )
    features = pl.DataFrame(
        {
            "snapshot_date": [SNAPSHOT] * 4,
            "customer_id": ["a", "b", "c", "d"],
            "lifestyle": ["home_maker", None, "x", None],
            "category_breadth": [9, 6, 1, None],
            "top_category": ["garden", "garden", "garden", None],
        }
    )
    classes = psychographic_classes(features, settings.psychographics, rules, None)
    assert classes.to_list() == ["home_maker", "explorer", "garden_lover", "other"]


def _planted(seed: int, per_group: int = 120) -> pl.DataFrame:
    """Customers of three tastes: garden lovers, kitchen people, toys & books buyers."""
    rng = np.random.default_rng(seed)
    tastes = {
        "garden": {"garden": 0.8, "home": 0.2},
        "kitchen": {"kitchen": 0.7, "home": 0.3},
        "kids": {"toys": 0.45, "books": 0.45, "home": 0.1},
    }
    rows = []
    for group, taste in tastes.items():
        for i in range(per_group):
            customer = f"{group}{i:03}"
            for category, share in taste.items():
                rows.append((customer, category, float(share * rng.uniform(50, 150))))
            rows.append((customer, "unknown", 20.0))
    frame = pl.DataFrame(rows, schema=["customer_id", "category", "spend"], orient="row")
    return frame.with_columns(pl.lit(SNAPSHOT).alias("snapshot_date"))


def _keys(categories: pl.DataFrame, extra: list[str] = ()) -> pl.DataFrame:
    customers = sorted({*categories.get_column("customer_id").to_list(), *extra})
    return pl.DataFrame({"snapshot_date": [SNAPSHOT] * len(customers), "customer_id": customers})


def test_clusters_of_the_category_mix_find_planted_tastes_and_name_them() -> None:
    categories = _planted(1)
    keys = _keys(categories, ["zz_no_spend"])
    settings = PsychographicSettings()
    classes = psychographic_classes(keys, settings, [], categories)
    named = keys.with_columns(classes)
    by_group = (
        named.with_columns(pl.col("customer_id").str.slice(0, 4).alias("group"))
        .group_by("group")
        .agg(pl.col("psychographic_class").unique())
    )
    assert dict(by_group.iter_rows()) == {
        "gard": ["garden-led"],
        "kitc": ["kitchen-led"],
        "kids": ["books & toys"],
        "zz_n": ["unknown"],
    }


def test_the_clusters_do_not_depend_on_the_row_order() -> None:
    categories = _planted(2)
    keys = _keys(categories)
    settings = PsychographicSettings()
    classes = psychographic_classes(keys, settings, [], categories)
    shuffled = psychographic_classes(keys, settings, [], categories.sample(fraction=1.0, seed=3))
    assert classes.equals(shuffled)


def test_without_rules_and_categories_everyone_is_unknown() -> None:
    categories = _planted(1, per_group=5)
    keys = _keys(categories)
    assert set(psychographic_classes(keys, PsychographicSettings(), [], None)) == {"unknown"}
    disabled = PsychographicSettings(clusters={"enabled": False})
    assert set(psychographic_classes(keys, disabled, [], categories)) == {"unknown"}


def test_cluster_names_are_unique() -> None:
    centres = np.array([[0.7, 0.3, 0.0], [0.4, 0.35, 0.25], [0.9, 0.1, 0.0], [0.45, 0.3, 0.25]])
    names = name_share_clusters(centres, ["garden", "home", "other categories"], [10, 30, 20, 5])
    assert names == ["garden-led #2", "garden & home #1", "garden-led #1", "garden & home #2"]


def _bank_config(tmp_path, eligibility: str):
    (tmp_path / "customers.csv").write_text("id,held\n1,fund|loan\n")
    raw = config_mapping(
        segments={
            "extra_columns": {"held": "list"},
            "recommendations": {"products_held_column": "held", "eligibility": eligibility},
        }
    )
    raw["sources"]["customers"] = {
        "path": "customers.csv",
        "columns": {"customer_id": "id", "held": "held"},
    }
    return write_config_file(tmp_path, raw)


def test_an_eligibility_rule_over_the_catalogue_needs_a_products_source(tmp_path) -> None:
    with pytest.raises(ConfigError, match="uses product_risk_level, which come from the products"):
        load_config(_bank_config(tmp_path, "product_risk_level = '1'"))
    # the product id is the recommended item itself: no catalogue needed
    assert load_config(_bank_config(tmp_path, "product_id <> 'loan'")) is not None


def test_the_catalogue_check_names_the_catalogue_columns(tmp_path) -> None:
    config = load_config(write_config_file(tmp_path, config_mapping()))
    # built without validation: the list kind of extra columns comes with part A
    segments = SegmentSettings.model_construct(
        **{
            **dict(config.segments),
            "recommendations": RecommendationSettings(
                products_held_column="held",
                eligibility="product_need_level = 'core' AND product_category <> 'x'",
            ),
        }
    )
    problems = _catalogue_problems(config.model_copy(update={"segments": segments}))
    assert problems == [
        "  segments.recommendations.eligibility: uses product_category, product_need_level, "
        "which come from the products source; configure sources.products (without it no "
        "product would be eligible)"
    ]
