"""The segments columns the playbook reads: a month of only those gives the same assignments as
the whole month, and a month missing one fails, naming it."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from segmentation.keys import SEGMENTS_TABLE, SNAPSHOT_COLUMN
from segmentation.monthly import read_month, read_playbook_segments, strategy_assignments_month
from segmentation.segments.settings import AttributeDimension, SegmentSettings
from segmentation.strategies.playbook import assign_strategies
from segmentation.strategies.settings import (
    Playbook,
    load_playbook,
    parse_playbook,
    playbook_segment_columns,
)
from segmentation.warehouse import replace_partitions
from tests.unit.segment_frames import SNAPSHOT, segment_rows
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


def test_the_rules_are_checked_against_the_whole_table_whichever_columns_were_read() -> None:
    # the rules' value check samples each column by its position among the columns it is
    # given: checked against the columns read, this rule failed on a sampled rfm_cell that is
    # not a number, where against the whole table it had passed
    settings = SegmentSettings()
    playbook = parse_playbook(
        {
            "rules": [
                _rule(
                    "promising_top_r",
                    "CASE WHEN rfm_segment = 'Promising' "
                    "THEN CAST(rfm_cell AS INTEGER) >= 400 ELSE false END",
                ),
                _rule("everyone_else", "true"),
            ]
        },
        settings,
    )
    segments = segment_rows(
        [{"customer_id": f"c{i}", "rfm_segment": "Promising", "rfm_cell": "412"} for i in range(3)],
        attribute_dimensions=tuple(settings.attribute_dimensions()),
    )
    with duckdb.connect() as con:
        replace_partitions(con, SEGMENTS_TABLE, segments, SNAPSHOT_COLUMN, [SNAPSHOT])
        whole = strategy_assignments_month(read_month(con, SEGMENTS_TABLE, SNAPSHOT), playbook)
        month, columns = read_playbook_segments(con, SNAPSHOT, playbook, settings)
    assert month.width == 5 and list(columns) == segments.columns
    assert whole.get_column("matched_rule").to_list() == ["promising_top_r"] * 3
    assert strategy_assignments_month(month, playbook, columns).equals(whole)
    with pytest.raises(ValueError, match="fails on values its columns can hold"):
        strategy_assignments_month(month, playbook)
