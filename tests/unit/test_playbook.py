"""The playbook: validation, first match wins, capacity, deterministic control group."""

import hashlib
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from segmentation.segments.settings import AttributeDimension, SegmentSettings
from segmentation.strategies.contracts import StrategyAssignmentsContract
from segmentation.strategies.playbook import assign_strategies, control_draw, control_flags
from segmentation.strategies.settings import (
    DEFAULT_PLAYBOOK,
    ControlGroupSettings,
    PlaybookError,
    load_playbook,
    parse_playbook,
)
from tests.unit.segment_frames import NEXT_SNAPSHOT, SNAPSHOT, segment_rows

NO_CONTROL = ControlGroupSettings(share=0.0)


def _rule(name: str, when: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "when": when,
        "strategy": f"do_{name}",
        "channel": "email",
        "priority": 1,
        "budget_per_customer": 2.0,
        "rationale": "test",
        **extra,
    }


def _playbook(*rules: dict[str, Any], **extra: Any) -> Any:
    catch_all = _rule("everyone_else", "true")
    return parse_playbook({"rules": [*rules, catch_all], **extra})


def test_the_shipped_playbook_loads_and_covers_the_required_actions() -> None:
    playbook = load_playbook(DEFAULT_PLAYBOOK)
    strategies = {rule.strategy for rule in playbook.rules}
    assert {
        "dedicated_account_manager_and_personalised_offers",
        "loyalty_programme_and_referral",
        "onboarding_journey",
        "nurture_and_targeted_promotion",
        "win_back_offer_and_churn_reason_survey",
        "low_cost_reactivation",
        "suppress_from_campaigns",
        "automated_low_touch",
    } <= strategies
    vip = next(rule for rule in playbook.rules if rule.name == "vip_account_management")
    assert vip.capacity == 200
    assert playbook.rules[-1].when.strip() == "true"
    assert playbook.control_group.share == pytest.approx(0.1)


def test_first_matching_rule_wins() -> None:
    playbook = _playbook(
        _rule("vip", "value_tier = 'high'"),
        _rule("risky", "churn_risk = 'high'"),
        _rule("also_high", "value_tier = 'high'"),
    )
    segments = segment_rows(
        [
            {"customer_id": "a", "value_tier": "high", "churn_risk": "high"},
            {"customer_id": "b", "value_tier": "low", "churn_risk": "high"},
            {"customer_id": "c", "value_tier": "low", "churn_risk": "low"},
            {"customer_id": "d", "value_tier": "high", "churn_risk": "low"},
        ]
    )
    assigned = assign_strategies(segments, playbook, NO_CONTROL)
    StrategyAssignmentsContract.validate(assigned)
    assert assigned.select("customer_id", "matched_rule", "strategy").rows() == [
        ("a", "vip", "do_vip"),
        ("b", "risky", "do_risky"),
        ("c", "everyone_else", "do_everyone_else"),
        ("d", "vip", "do_vip"),
    ]


def test_null_conditions_do_not_match() -> None:
    playbook = _playbook(_rule("alive", "p_alive >= 0.5"))
    segments = segment_rows([{"customer_id": "a", "p_alive": None}])
    assert assign_strategies(segments, playbook, NO_CONTROL)["matched_rule"].item() == (
        "everyone_else"
    )


def test_capacity_gives_the_top_clv_customers_the_rule_and_the_rest_fall_through() -> None:
    playbook = _playbook(
        _rule("vip", "value_tier = 'high'", capacity=2),
        _rule("high_fallback", "value_tier = 'high'"),
    )
    segments = segment_rows(
        [
            {"customer_id": "a", "value_tier": "high", "clv_12m": 10.0},
            {"customer_id": "b", "value_tier": "high", "clv_12m": 50.0},
            {"customer_id": "c", "value_tier": "high", "clv_12m": 30.0},
            {"customer_id": "d", "value_tier": "high", "clv_12m": 30.0},  # tie with c: id order
            {"customer_id": "e", "value_tier": "high", "clv_12m": None},
            {"customer_id": "f", "value_tier": "low", "clv_12m": 99.0},
        ]
    )
    assigned = assign_strategies(segments, playbook, NO_CONTROL)
    assert dict(assigned.select("customer_id", "matched_rule").rows()) == {
        "a": "high_fallback",
        "b": "vip",
        "c": "vip",
        "d": "high_fallback",
        "e": "high_fallback",
        "f": "everyone_else",
    }


def test_capacity_applies_per_snapshot() -> None:
    playbook = _playbook(_rule("vip", "true", capacity=1))
    rows = [{"customer_id": c, "clv_12m": v} for c, v in (("a", 1.0), ("b", 2.0))]
    segments = pl.concat(
        [
            segment_rows(rows),
            segment_rows([{**row, "snapshot_date": NEXT_SNAPSHOT} for row in rows]),
        ]
    )
    assigned = assign_strategies(segments, playbook, NO_CONTROL)
    vip = assigned.filter(matched_rule="vip")
    assert vip.select("snapshot_date", "customer_id").rows() == [
        (segments["snapshot_date"][0], "b"),
        (NEXT_SNAPSHOT, "b"),
    ]


def test_control_customers_do_not_use_capacity_slots() -> None:
    ids = [f"c{i:03d}" for i in range(40)]
    control = ControlGroupSettings(salt="capacity-test", share=0.3)
    in_control = {i: control_draw(i, control.salt) < control.share for i in ids}
    assert 3 <= sum(in_control.values()) <= 25
    segments = segment_rows(
        [{"customer_id": i, "clv_12m": float(100 - n)} for n, i in enumerate(ids)]
    )
    playbook = _playbook(_rule("vip", "true", capacity=5))
    assigned = assign_strategies(segments, playbook, control)
    vip = assigned.filter(matched_rule="vip")
    assert vip.filter(~pl.col("is_control")).height == 5
    # By CLV the ranking is ids order: vip is the shortest prefix holding 5 treated customers.
    treated_seen, expected = 0, []
    for customer_id in ids:
        if treated_seen == 5:
            break
        expected.append(customer_id)
        treated_seen += not in_control[customer_id]
    assert vip.get_column("customer_id").to_list() == expected
    assert vip.filter(pl.col("is_control")).get_column("budget").to_list() == [0.0] * (
        len(expected) - 5
    )
    assert set(vip.filter(~pl.col("is_control")).get_column("budget")) == {2.0}


def test_control_draw_is_a_stable_hash() -> None:
    digest = hashlib.blake2b(b"salt:customer-1", digest_size=8).digest()
    assert control_draw("customer-1", "salt") == int.from_bytes(digest, "big") / 2**64
    assert control_draw("customer-1", "salt") != control_draw("customer-1", "other salt")


def test_about_ten_percent_of_ten_thousand_customers_are_control() -> None:
    ids = pl.Series("customer_id", [f"cust-{i}" for i in range(10_000)])
    flags = control_flags(ids, ControlGroupSettings(salt="s", share=0.1))
    # Binomial(10000, 0.1) has sd 30: 4 sd either side.
    assert 880 <= flags.sum() <= 1120
    assert control_flags(ids, ControlGroupSettings(salt="s", share=0.1)).equals(flags)


@pytest.mark.parametrize("order", ["sorted", "shuffled", "repeated"])
def test_control_flags_are_the_draws_of_each_id(order: str) -> None:
    control = ControlGroupSettings(salt="flags", share=0.3)
    ids = [f"cust-{i:04d}" for i in range(2_000)]
    if order == "shuffled":
        ids = ids[7:] + ids[:7]
    elif order == "repeated":
        ids = [*ids[::-1], *ids[:50], None]
    flags = control_flags(pl.Series("customer_id", ids, dtype=pl.String), control)
    assert flags.name == "is_control"
    assert flags.to_list() == [
        None if i is None else control_draw(i, control.salt) < control.share for i in ids
    ]


def test_the_strategies_do_not_depend_on_the_row_order() -> None:
    # ties in clv_12m on a capacity rule are broken by customer id whatever the order
    playbook = _playbook(
        _rule("vip", "value_tier = 'high'", capacity=20),
        _rule("loyal", "loyalty = 'loyal'"),
    )
    rows = [
        {
            "customer_id": f"c{i:04d}",
            "value_tier": ("high", "mid", "low")[i % 3],
            "loyalty": ("loyal", "hesitant")[i % 2],
            "clv_12m": None if i % 17 == 0 else float(i % 9),
        }
        for i in range(600)
    ]
    segments = pl.concat(
        [
            segment_rows(rows),
            segment_rows([{**row, "snapshot_date": NEXT_SNAPSHOT} for row in rows]),
        ]
    )
    control = ControlGroupSettings(salt="order", share=0.2)
    expected = assign_strategies(segments, playbook, control)
    # by hand: high tier by clv_12m descending (nulls last), ties by id, until 20 treated
    ranked = sorted(
        (row for row in rows if row["value_tier"] == "high"),
        key=lambda row: (row["clv_12m"] is None, -(row["clv_12m"] or 0.0), row["customer_id"]),
    )
    vip, treated = [], 0
    for row in ranked:
        if treated == 20:
            break
        vip.append(row["customer_id"])
        treated += control_draw(row["customer_id"], control.salt) >= control.share
    for snapshot in (SNAPSHOT, NEXT_SNAPSHOT):
        chosen = expected.filter(pl.col("snapshot_date") == snapshot, matched_rule="vip")
        assert sorted(chosen.get_column("customer_id")) == sorted(vip)
    shuffled = segments.sample(fraction=1.0, shuffle=True, seed=4)
    assert assign_strategies(shuffled, playbook, control).equals(expected)
    single = segments.filter(pl.col("snapshot_date") == NEXT_SNAPSHOT)
    assert assign_strategies(single, playbook, control).equals(
        expected.filter(pl.col("snapshot_date") == NEXT_SNAPSHOT)
    )


def test_control_membership_is_stable_across_snapshots_and_rules() -> None:
    rows = [{"customer_id": f"c{i}", "value_tier": "high" if i % 2 else "low"} for i in range(200)]
    later = [{**row, "value_tier": "low", "snapshot_date": NEXT_SNAPSHOT} for row in rows]
    segments = pl.concat([segment_rows(rows), segment_rows(later)])
    assigned = assign_strategies(segments, _playbook(_rule("vip", "value_tier = 'high'")))
    per_customer = assigned.group_by("customer_id").agg(pl.col("is_control").n_unique())
    assert set(per_customer.get_column("is_control")) == {1}
    assert 0 < assigned.get_column("is_control").sum() < assigned.height


def test_every_customer_gets_exactly_one_strategy_with_the_default_playbook() -> None:
    settings = SegmentSettings(attributes=[AttributeDimension(dimension="region", column="region")])
    playbook = load_playbook(segment_settings=settings)
    stages = ["potential", "new", "growing", "mature", "declining", "at_risk", "lost", "won_back"]
    segments = segment_rows(
        [
            {
                "customer_id": f"c{i:03d}",
                "lifecycle_stage": stages[i % len(stages)],
                "value_tier": ("high", "mid", "low")[i % 3],
                "clv_12m": float(i),
            }
            for i in range(240)
        ],
        attribute_dimensions=("region",),
    )
    assigned = assign_strategies(segments, playbook)
    StrategyAssignmentsContract.validate(assigned)
    assert assigned.height == segments.height
    assert assigned.get_column("strategy").null_count() == 0
    assert assign_strategies(segments.reverse(), playbook).equals(assigned)


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        (
            [_rule("a", "value_tier = 'high'", colour="red"), _rule("z", "true")],
            "rule 'a' (#1) key 'colour': unknown key",
        ),
        (
            [_rule("a", "true"), {"name": "b", "when": "true"}],
            "rule 'b' (#2) key 'strategy': required key is missing",
        ),
        (
            [_rule("a", "read_csv('x') IS NULL"), _rule("z", "true")],
            "rule 'a' (#1) `when: read_csv('x') IS NULL`: the function read_csv() is not allowed",
        ),
        (
            [_rule("a", "(SELECT 1) = 1"), _rule("z", "true")],
            "rule 'a' (#1) `when: (SELECT 1) = 1`: a subquery is not allowed",
        ),
        (
            [_rule("a", "attr_region = 'north'"), _rule("z", "true")],
            "rule 'a' (#1) `when: attr_region = 'north'`: unknown column 'attr_region'",
        ),
        (
            [_rule("a", "clv_12m"), _rule("z", "true")],
            "rule 'a' (#1) `when: clv_12m`: the expression is not boolean",
        ),
        ([_rule("a", "true"), _rule("a", "true")], "rule name 'a' is used more than once"),
        ([_rule("a", "value_tier = 'high'")], "the last rule 'a' must be a catch-all"),
        ([_rule("a", "true", capacity=3)], "the last rule 'a' must be a catch-all"),
        ([_rule("Bad Name", "true")], "rule 'Bad Name' (#1) key 'name': rule name 'Bad Name'"),
        ([_rule("a", "true", capacity=0)], "rule 'a' (#1) key 'capacity'"),
        ([], "rules: List should have at least 1 item"),
    ],
)
def test_invalid_playbooks_are_rejected_naming_the_rule(
    rules: list[dict[str, Any]], problem: str
) -> None:
    with pytest.raises(PlaybookError) as raised:
        parse_playbook({"rules": rules}, source="test.yaml")
    message = str(raised.value)
    assert message.startswith("invalid playbook test.yaml:")
    assert problem in message


def test_attribute_columns_are_known_with_the_segment_settings() -> None:
    rules = {"rules": [_rule("north", "attr_region = 'north'"), _rule("z", "true")]}
    settings = SegmentSettings(attributes=[AttributeDimension(dimension="region", column="region")])
    playbook = parse_playbook(rules, segment_settings=settings)
    segments = segment_rows(
        [
            {"customer_id": "a", "attr_region": "north"},
            {"customer_id": "b", "attr_region": "south"},
        ],
        attribute_dimensions=("region",),
    )
    assigned = assign_strategies(segments, playbook, NO_CONTROL)
    assert assigned.get_column("matched_rule").to_list() == ["north", "z"]


def test_unknown_top_level_keys_and_missing_files_are_clear(tmp_path: Path) -> None:
    with pytest.raises(PlaybookError, match="contrl_group: unknown key"):
        parse_playbook({"contrl_group": {}, "rules": [_rule("z", "true")]})
    with pytest.raises(PlaybookError, match="playbook file not found"):
        load_playbook(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [unclosed")
    with pytest.raises(PlaybookError, match="invalid YAML"):
        load_playbook(broken)
