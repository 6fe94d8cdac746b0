"""Value tiers and ABC classes on hand-made snapshots, each computed within its own snapshot.

Snapshot S1 (nine customers): purchasers' net revenue sorted is [-10, 0, 10, 30, 50, 50, 100]
(n = 7; ``p6`` bought and returned everything, ``p7`` returned more than it bought); ``q1``
never bought, ``r1`` only returned (not a purchaser, -5). Linear quantiles sit at position
q * (n - 1) of the sorted list. Positive revenue sums to 100 + 50 + 50 + 30 + 10 = 240; in
ranking order (revenue descending, ties by id) the shares are 100/240, 50/240, 50/240, 30/240,
10/240, then zeros, so the cumulative share *before* each customer is
0, 5/12 (0.417), 0.625, 0.833, 0.958, 1, 1, 1, 1.

Snapshot S2 reuses the ids p1..p3 with revenue 50, 30, 20 (shares 0.5, 0.3, 0.2 exactly: the
customer after 0.5 + 0.3 has reached 0.8 and is not in A). Snapshot S3 holds only a customer who
never bought. Computed over all snapshots at once, S2's customers would all be low/C.
"""

from datetime import date
from typing import Any

import numpy as np
import polars as pl
import pytest

from segmentation.features.contracts import ABC_CLASSES, VALUE_TIERS
from segmentation.features.settings import ValueSettings
from segmentation.features.value import (
    VALUE_COLUMNS,
    revenue_counts,
    revenue_ranking,
    value_columns,
    value_features,
    value_labels,
)

S1, S2, S3 = date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31)

# (snapshot, customer, net revenue, purchase days)
ROWS = [
    (S1, "p1", 100.0, 5),
    (S1, "p2", 50.0, 2),
    (S1, "p3", 50.0, 3),
    (S1, "p4", 30.0, 1),
    (S1, "p5", 10.0, 1),
    (S1, "p6", 0.0, 1),
    (S1, "p7", -10.0, 2),
    (S1, "q1", 0.0, 0),
    (S1, "r1", -5.0, 0),
    (S2, "p1", 50.0, 6),
    (S2, "p2", 30.0, 3),
    (S2, "p3", 20.0, 4),
    (S3, "q9", 0.0, 0),
]

DEFAULT = ValueSettings(
    high_tier_quantile=0.8, mid_tier_quantile=0.5, abc_a_share=0.8, abc_b_share=0.95
)
OTHER = ValueSettings(
    high_tier_quantile=0.9, mid_tier_quantile=0.25, abc_a_share=0.5, abc_b_share=0.9
)

# (settings, {(snapshot, customer): (value_tier, abc_class)})
CASES: list[tuple[ValueSettings, dict[tuple[date, str], tuple[str, str]]]] = [
    (
        # S1 cuts: q0.8 at position 4.8 -> 50 + 0.8 * (50 - 50) = 50; q0.5 at 3 -> 30.
        # ABC: before < 0.8 -> p1, p2, p3 (p3 crosses 0.8) A; before 0.833 < 0.95 -> p4 B.
        # S2 cuts (sorted 20, 30, 50): q0.8 at 1.6 -> 30 + 0.6 * 20 = 42; q0.5 at 1 -> 30.
        # ABC: before 0, 0.5 -> A; before 0.5 + 0.3 = 0.8 is not < 0.8 -> B.
        DEFAULT,
        {
            (S1, "p1"): ("high", "A"),
            (S1, "p2"): ("high", "A"),
            (S1, "p3"): ("high", "A"),
            (S1, "p4"): ("mid", "B"),
            (S1, "p5"): ("low", "C"),
            (S1, "p6"): ("low", "C"),
            (S1, "p7"): ("low", "C"),
            (S1, "q1"): ("low", "C"),
            (S1, "r1"): ("low", "C"),
            (S2, "p1"): ("high", "A"),
            (S2, "p2"): ("mid", "A"),
            (S2, "p3"): ("low", "B"),
            (S3, "q9"): ("low", "C"),
        },
    ),
    (
        # S1 cuts: q0.9 at 5.4 -> 50 + 0.4 * 50 = 70; q0.25 at 1.5 -> 0 + 0.5 * 10 = 5.
        # ABC: before < 0.5 -> p1 (0), p2 (0.417) A; the tie p3 (0.625) and p4 (0.833) B.
        # S2 cuts: q0.9 at 1.8 -> 30 + 0.8 * 20 = 46; q0.25 at 0.5 -> 20 + 0.5 * 10 = 25.
        # ABC: p1 (before 0) A; p2 (before 0.5, not < 0.5) and p3 (0.8 < 0.9) B.
        OTHER,
        {
            (S1, "p1"): ("high", "A"),
            (S1, "p2"): ("mid", "A"),
            (S1, "p3"): ("mid", "B"),
            (S1, "p4"): ("mid", "B"),
            (S1, "p5"): ("mid", "C"),
            (S1, "p6"): ("low", "C"),
            (S1, "p7"): ("low", "C"),
            (S1, "q1"): ("low", "C"),
            (S1, "r1"): ("low", "C"),
            (S2, "p1"): ("high", "A"),
            (S2, "p2"): ("mid", "B"),
            (S2, "p3"): ("low", "B"),
            (S3, "q9"): ("low", "C"),
        },
    ),
]


def _behaviour() -> pl.DataFrame:
    return pl.DataFrame(
        ROWS,
        schema=[
            ("snapshot_date", pl.Date),
            ("customer_id", pl.Utf8),
            ("net_revenue", pl.Float64),
            ("purchase_days", pl.Int64),
        ],
        orient="row",
    )


def _by_key(frame: pl.DataFrame, *columns: str) -> dict[tuple[date, str], Any]:
    return {
        (row["snapshot_date"], row["customer_id"]): tuple(row[c] for c in columns)
        for row in frame.iter_rows(named=True)
    }


@pytest.mark.parametrize(("settings", "expected"), CASES, ids=["default", "other_cutoffs"])
def test_tiers_and_abc_classes_follow_the_cutoffs_within_each_snapshot(
    settings: ValueSettings, expected: dict[tuple[date, str], tuple[str, str]]
) -> None:
    result = value_features(_behaviour(), settings)
    assert _by_key(result, "value_tier", "abc_class") == expected
    assert _by_key(result, "is_pareto_top") == {
        key: (abc == "A",) for key, (_, abc) in expected.items()
    }


def test_revenue_shares_are_of_positive_revenue_within_the_snapshot() -> None:
    result = value_features(_behaviour(), DEFAULT)
    shares = _by_key(result, "revenue_share", "cumulative_revenue_share")
    expected = {
        (S1, "p1"): (100 / 240, 100 / 240),
        (S1, "p2"): (50 / 240, 150 / 240),
        (S1, "p3"): (50 / 240, 200 / 240),
        (S1, "p4"): (30 / 240, 230 / 240),
        (S1, "p5"): (10 / 240, 1.0),
        (S1, "p6"): (0.0, 1.0),
        (S1, "q1"): (0.0, 1.0),
        (S1, "r1"): (0.0, 1.0),
        (S1, "p7"): (0.0, 1.0),
        (S2, "p1"): (0.5, 0.5),
        (S2, "p2"): (0.3, 0.8),
        (S2, "p3"): (0.2, 1.0),
        (S3, "q9"): (0.0, 0.0),  # no positive revenue at all: shares are 0, not NaN
    }
    assert shares.keys() == expected.keys()
    for key, (share, cumulative) in expected.items():
        assert shares[key] == (pytest.approx(share), pytest.approx(cumulative)), key


def test_tied_revenues_get_the_same_tier_and_are_ranked_by_customer_id() -> None:
    result = value_features(_behaviour(), OTHER).filter(pl.col("snapshot_date") == S1)
    ranking = result.get_column("customer_id").to_list()
    assert ranking == ["p1", "p2", "p3", "p4", "p5", "p6", "q1", "r1", "p7"]
    tiers = _by_key(result, "value_tier")
    assert tiers[(S1, "p2")] == tiers[(S1, "p3")] == ("mid",)


def test_every_row_keeps_its_input_and_gets_a_valid_tier_and_class() -> None:
    behaviour = _behaviour()
    result = value_features(behaviour, DEFAULT)
    assert result.height == behaviour.height
    assert result.columns == [
        *behaviour.columns,
        "value_tier",
        "abc_class",
        "revenue_share",
        "cumulative_revenue_share",
        "is_pareto_top",
    ]
    assert set(result.get_column("value_tier")) <= set(VALUE_TIERS)
    assert set(result.get_column("abc_class")) <= set(ABC_CLASSES)
    assert result.null_count().sum_horizontal().item() == 0


def test_a_snapshot_without_purchasers_is_all_low_and_c() -> None:
    # A snapshot of only non-purchasers has no quantile (null): nobody is high or mid.
    only_potential = _behaviour().filter(pl.col("snapshot_date") == S3)
    result = value_features(only_potential, DEFAULT)
    assert result.select("value_tier", "abc_class", "revenue_share").row(0) == ("low", "C", 0.0)


def _random_behaviour(customers: int, snapshots: tuple[date, ...], seed: int) -> pl.DataFrame:
    """Rows in (snapshot_date, customer_id) order, as the behaviour query returns them, with
    tied, zero and negative revenues and revenues whose sum depends on the order of adding."""
    rng = np.random.default_rng(seed)
    frames = []
    for snapshot in snapshots:
        revenue = np.round(rng.lognormal(4.0, 1.5, customers), 2)
        revenue[rng.uniform(size=customers) < 0.1] = 0.0
        revenue[rng.uniform(size=customers) < 0.05] *= -0.1
        revenue[rng.uniform(size=customers) < 0.05] = 50.0
        frames.append(
            pl.DataFrame(
                {
                    "snapshot_date": [snapshot] * customers,
                    "customer_id": [f"c{i:06d}" for i in range(customers)],
                    "net_revenue": revenue,
                    "purchase_days": rng.integers(0, 5, customers),
                }
            )
        )
    return pl.concat(frames)


@pytest.mark.parametrize("snapshots", [(S1,), (S1, S2, S3)], ids=["one", "three"])
def test_the_result_does_not_depend_on_the_input_row_order(snapshots: tuple[date, ...]) -> None:
    # Bit for bit, shares included: sorted input takes a shortcut to the same ranking.
    behaviour = _random_behaviour(20_000, snapshots, seed=len(snapshots))
    expected = value_features(behaviour.sample(fraction=1.0, shuffle=True, seed=5), DEFAULT)
    assert value_features(behaviour, DEFAULT).equals(expected)


@pytest.mark.parametrize("snapshots", [(S1,), (S1, S2, S3)], ids=["one", "three"])
def test_value_columns_are_the_value_features_in_input_order(
    snapshots: tuple[date, ...],
) -> None:
    behaviour = _random_behaviour(5_000, snapshots, seed=7)
    for frame in (behaviour, behaviour.sample(fraction=1.0, shuffle=True, seed=1)):
        columns = value_columns(frame, OTHER)
        assert columns.columns == list(VALUE_COLUMNS)
        keys = ["snapshot_date", "customer_id"]
        assert frame.hstack(columns).sort(keys).equals(value_features(frame, OTHER).sort(keys))


def _labels_from_counts(behaviour: pl.DataFrame, parts: int, settings: ValueSettings):
    """The value columns as an engine that splits the customers computes them: value counts
    per part, the ranking from the merged counts, each customer's labels from the ranking and
    its place among the customers of its revenue (by id)."""
    pieces = [
        behaviour.filter(pl.col("customer_id").hash(seed=3) % parts == n) for n in range(parts)
    ]
    ranking = revenue_ranking(pl.concat([revenue_counts(piece) for piece in pieces]), settings)
    place = pl.int_range(pl.len()).over("snapshot_date", "net_revenue")
    rows = (
        behaviour.sort(["snapshot_date", "net_revenue", "customer_id"])
        .join(ranking.snapshots, on="snapshot_date", how="left", maintain_order="left")
        .join(
            ranking.values, on=["snapshot_date", "net_revenue"], how="left", maintain_order="left"
        )
        .with_columns(
            pl.when(pl.col("net_revenue") > 0)
            .then(pl.col("cumulatives").list.get(place))
            .otherwise(pl.col("last_cumulative"))
            .alias("cumulative"),
            pl.when(pl.col("net_revenue") > 0)
            .then(pl.col("share"))
            .otherwise(pl.col("last_share"))
            .alias("share"),
        )
    )
    return ranking, value_labels(rows, settings).sort("snapshot_date", "customer_id")


@pytest.mark.parametrize("parts", [1, 3, 7])
def test_labels_from_merged_value_counts_equal_the_value_columns_bit_for_bit(parts: int) -> None:
    # revenues rounded to whole units: many customers tie on a positive revenue
    behaviour = _random_behaviour(4_000, (S1, S2, S3), seed=parts).with_columns(
        pl.col("net_revenue").round(0)
    )
    ranking, actual = _labels_from_counts(behaviour, parts, OTHER)
    assert ranking.values.filter(pl.col("customers") > 1).height > 0
    expected = behaviour.select("snapshot_date", "customer_id").hstack(
        value_columns(behaviour, OTHER)
    )
    assert actual.equals(expected.sort("snapshot_date", "customer_id"))


def test_value_counts_of_a_part_missing_give_another_ranking() -> None:
    behaviour = _random_behaviour(2_000, (S1,), seed=3)
    counts = revenue_counts(behaviour)
    whole = revenue_ranking(counts, DEFAULT)
    fewer = revenue_ranking(counts.slice(0, counts.height // 2), DEFAULT)
    assert not fewer.snapshots.equals(whole.snapshots)
    assert (
        int(whole.values.get_column("customers").sum())
        == behaviour.filter(pl.col("net_revenue") > 0).height
    )
