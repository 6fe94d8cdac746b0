"""Rules are checked before any write: bounded cost, test-evaluated on values their columns can
hold, and a rule that still fails at run time is named (without quoting the failing values)."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from pydantic import ValidationError

from segmentation.segments.attribute_rules import attribute_segments
from segmentation.segments.rule_limits import (
    MAX_RULE_CHARACTERS,
    MAX_RULE_DEPTH,
    MAX_RULE_NODES,
    MAX_TEXT_GROWTH,
)
from segmentation.segments.rule_types import RuleEvaluationError
from segmentation.segments.settings import SegmentSettings
from segmentation.strategies.playbook import assign_strategies
from segmentation.strategies.settings import ControlGroupSettings, PlaybookError, parse_playbook
from tests.unit.segment_frames import feature_rows, segment_rows


def _nested_replace(levels: int) -> str:
    expression = "region"
    for _ in range(levels):
        expression = f"replace({expression}, 'a', 'aaaaaaaaaa')"
    return f"length({expression}) > 0"


def _settings(when: str, **extra: Any) -> SegmentSettings:
    return SegmentSettings.model_validate(
        {**extra, "attributes": [{"dimension": "d", "rules": [{"name": "r", "when": when}]}]}
    )


def _refusal(when: str, **extra: Any) -> str:
    with pytest.raises(ValidationError) as raised:
        _settings(when, **extra)
    message = str(raised.value)
    assert "attribute dimension 'd', rule 'r'" in message
    return message


def test_the_issues_270_character_rule_of_nested_replace_is_refused() -> None:
    rule = _nested_replace(9)  # 10**9 times the text: 1.4 GB for four rows
    assert len(rule) == 270
    message = _refusal(rule)
    assert f"can grow to more than {MAX_TEXT_GROWTH} times its input" in message


def test_replace_that_keeps_text_short_is_accepted() -> None:
    _settings("replace(replace(replace(region, ' ', ''), '-', ''), '(', '') = 'NE'")
    _settings(_nested_replace(2))  # 100 times: the limit


def test_replace_with_a_computed_replacement_is_refused() -> None:
    assert "needs a constant replacement text" in _refusal("replace(region, 'a', region) = 'x'")


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        ("NOT " * 40 + "true", f"nests 42 levels deep; the limit is {MAX_RULE_DEPTH}"),
        ("+".join(["age"] * 200) + " > 1", f"the limit is {MAX_RULE_DEPTH}"),
        (
            "age IN (" + ",".join(["1"] * 1100) + ")",
            f"has 1102 expression nodes; the limit is {MAX_RULE_NODES}",
        ),
        ("age > 1 AND " * 400 + "true", f"the limit is {MAX_RULE_CHARACTERS:,}"),
    ],
    ids=["depth", "deep-arithmetic", "nodes", "characters"],
)
def test_rules_beyond_the_size_limits_are_refused_naming_the_limit(when: str, problem: str) -> None:
    assert problem in _refusal(when)


def test_a_cast_that_fails_on_text_is_refused_at_load_with_the_fix() -> None:
    message = _refusal("CAST(region AS INTEGER) > 0")
    assert "fails on values its columns can hold (region = " in message
    assert "Conversion Error: Could not convert string" in message
    assert "use TRY_CAST(...)" in message


@pytest.mark.parametrize(
    ("when", "value"),
    [
        ("ln(net_revenue) > 1", "net_revenue = -1.0"),  # returns make revenue negative
        ("ln(orders) > 1", "orders = 0"),  # a customer who never purchased
        ("CAST(signup_date AS VARCHAR)::INTEGER > 0", "signup_date = "),
    ],
)
def test_math_that_fails_on_values_the_column_holds_is_refused(when: str, value: str) -> None:
    assert value in _refusal(when)


@pytest.mark.parametrize(
    "when",
    [
        "TRY_CAST(region AS INTEGER) > 0",
        "CASE WHEN net_revenue > 0 THEN ln(net_revenue) > 1 END",
        "sqrt(recency_days) > 3",  # recency_days >= 0 by its contract
        "lifecycle_stage IN ('new', 'growing')",
    ],
)
def test_safe_rules_are_accepted(when: str) -> None:
    _settings(when)


def test_a_try_cast_rule_labels_values_that_do_not_convert_with_the_default() -> None:
    settings = _settings("TRY_CAST(region AS INTEGER) > 10")
    features = feature_rows(
        [{"customer_id": "a", "region": "North"}, {"customer_id": "b", "region": "42"}]
    )
    labels = attribute_segments(features, settings)
    assert labels.get_column("attr_d").to_list() == ["unknown", "r"]


def test_a_playbook_rule_that_can_fail_is_refused_naming_the_rule() -> None:
    with pytest.raises(PlaybookError) as raised:
        parse_playbook(
            {
                "rules": [
                    _playbook_rule("scored", "CAST(rfm_segment AS INTEGER) > 3"),
                    _playbook_rule("rest", "true"),
                ]
            }
        )
    message = str(raised.value)
    assert "rule 'scored' (#1) `when: CAST(rfm_segment AS INTEGER) > 3`" in message
    assert "fails on values its columns can hold (rfm_segment = " in message


def _playbook_rule(name: str, when: str) -> dict[str, Any]:
    return {
        "name": name,
        "when": when,
        "strategy": f"do_{name}",
        "channel": "email",
        "priority": 1,
        "budget_per_customer": 1.0,
        "rationale": "test",
    }


HUGE = 1_234_567_890_123.0


def test_a_rule_failing_at_run_time_is_named_without_the_value() -> None:
    # passes every sample, but the real data holds an income beyond INTEGER
    settings = _settings("CAST(income AS INTEGER) > 50000")
    features = feature_rows(
        [{"customer_id": "a", "income": 60_000.0}, {"customer_id": "b", "income": HUGE}]
    )
    with pytest.raises(RuleEvaluationError) as raised:
        attribute_segments(features, settings)
    message = str(raised.value)
    assert message.startswith(
        "attribute dimension 'd', rule 'r' (`CAST(income AS INTEGER) > 50000`) failed at run time"
    )
    assert "1234567890123" not in message and "1.234567890123e+12" not in message
    assert raised.value.__suppress_context__


def test_a_playbook_rule_failing_at_run_time_is_named() -> None:
    playbook = parse_playbook(
        {
            "rules": [
                _playbook_rule("big", "CAST(clv_12m AS INTEGER) > 100"),
                _playbook_rule("rest", "true"),
            ]
        }
    )
    segments = segment_rows(
        [{"customer_id": "a", "clv_12m": 10.0}, {"customer_id": "b", "clv_12m": HUGE}]
    )
    with pytest.raises(RuleEvaluationError) as raised:
        assign_strategies(segments, playbook, ControlGroupSettings(share=0.0))
    message = str(raised.value)
    assert "playbook rule 'big' (#1) (`CAST(clv_12m AS INTEGER) > 100`) failed at run time" in (
        message
    )
    assert "1234567890123" not in message


def test_evaluation_stays_exact_for_rules_that_pass() -> None:
    settings = _settings("age BETWEEN 18 AND 24")
    features = feature_rows(
        [{"customer_id": "a", "age": 20}, {"customer_id": "b", "age": 40}],
        extra_schema={"age": pl.Int64()},
    )
    assert attribute_segments(features, settings).get_column("attr_d").to_list() == [
        "r",
        "unknown",
    ]
