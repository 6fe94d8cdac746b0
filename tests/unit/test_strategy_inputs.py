"""The segments columns the playbook reads: a month of only those gives the same assignments as
the whole month, and a month missing one fails, naming it."""

from __future__ import annotations

import polars as pl
import pytest

from segmentation.segments.settings import AttributeDimension, SegmentSettings
from segmentation.strategies.playbook import assign_strategies
from segmentation.strategies.settings import (
    Playbook,
    load_playbook,
    parse_playbook,
    playbook_segment_columns,
)
from tests.unit.segment_frames import segment_rows
from tests.unit.test_playbook import _rule

SETTINGS = SegmentSettings(attributes=[AttributeDimension(dimension="region", column="region")])
# the shipped playbook, and one that ranks by CLV under a capacity and reads an attribute
SHIPPED = load_playbook(segment_settings=SETTINGS)
CAPPED = parse_playbook(
    {
        "rules": [
            _rule("north_top", "attr_region = 'north' AND r_score >= 3", capacity=5),
            _rule("everyone_else", "true"),
        ]
    },
    SETTINGS,
)


def _segments() -> pl.DataFrame:
    stages = ["potential", "new", "growing", "mature", "declining", "at_risk", "lost", "won_back"]
    return segment_rows(
        [
            {
                "customer_id": f"c{i:03d}",
                "lifecycle_stage": stages[i % len(stages)],
                "value_tier": ("high", "mid", "low")[i % 3],
                "r_score": 1 + i % 5,
                "clv_12m": float((i * 37) % 101),
                "attr_region": ("north", "south")[i % 2],
                "intent_class": ("active", "hesitant", "refusing", "unknown")[i % 4],
                "cart_adds_90d": i % 3,
            }
            for i in range(240)
        ],
        attribute_dimensions=("region",),
    )


def test_the_columns_read_are_the_keys_the_ranking_and_what_the_rules_name() -> None:
    assert playbook_segment_columns(CAPPED, SETTINGS) == {
        "snapshot_date",
        "customer_id",
        "clv_12m",
        "attr_region",
        "r_score",
    }
    shipped = playbook_segment_columns(SHIPPED, SETTINGS)
    assert {"value_tier", "lifecycle_stage", "intent_class", "cart_adds_90d"} <= shipped
    assert not {"f_score", "cluster", "next_best_category_lift", "p_alive"} & shipped


@pytest.mark.parametrize("playbook", [SHIPPED, CAPPED], ids=["shipped", "capped"])
def test_only_those_columns_give_the_same_assignments(playbook: Playbook) -> None:
    segments = _segments()
    columns = playbook_segment_columns(playbook, SETTINGS)
    pruned = segments.select(name for name in segments.columns if name in columns)
    assert pruned.width < segments.width - 15
    assigned = assign_strategies(segments, playbook)
    assert assigned.get_column("strategy").n_unique() > 1
    assert assign_strategies(pruned, playbook).equals(assigned)


@pytest.mark.parametrize(
    "column", sorted(playbook_segment_columns(CAPPED, SETTINGS) - {"snapshot_date", "customer_id"})
)
def test_a_month_missing_any_column_fails_naming_it(column: str) -> None:
    segments = _segments()
    columns = playbook_segment_columns(CAPPED, SETTINGS) - {column}
    pruned = segments.select(name for name in segments.columns if name in columns)
    with pytest.raises((pl.exceptions.ColumnNotFoundError, ValueError), match=column):
        assign_strategies(pruned, CAPPED)
