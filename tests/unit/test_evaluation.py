"""Segment migration, segment outcomes and strategy effect on hand-made data."""

import math
from datetime import date

import numpy as np
import polars as pl
import pytest
from scipy import stats

from segmentation.evaluation.contracts import (
    SegmentMigrationContract,
    SegmentOutcomesContract,
    StrategyEffectContract,
)
from segmentation.evaluation.migration import segment_migration, segment_migrations
from segmentation.evaluation.outcomes import segment_outcomes
from segmentation.evaluation.strategy_effect import newcombe_interval, strategy_effect
from tests.unit.segment_frames import NEXT_SNAPSHOT, SNAPSHOT, segment_rows

THIRD_SNAPSHOT = date(2024, 3, 31)


def _activity(rows: list[tuple[date, str, int, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "snapshot_date": pl.Date,
            "customer_id": pl.String,
            "orders": pl.Int64,
            "revenue": pl.Float64,
        },
        orient="row",
    )


def _two_snapshots() -> tuple[pl.DataFrame, pl.DataFrame]:
    earlier = segment_rows(
        [
            {"customer_id": "a", "rfm_segment": "Champions", "loyalty": "loyal"},
            {"customer_id": "b", "rfm_segment": "Champions", "loyalty": "loyal"},
            {"customer_id": "c", "rfm_segment": "Lost", "loyalty": "lost"},
            {"customer_id": "d", "rfm_segment": "Lost", "loyalty": "lost"},
        ]
    )
    later = segment_rows(
        [
            {"customer_id": "b", "rfm_segment": "Loyal", "loyalty": "loyal"},
            {"customer_id": "c", "rfm_segment": "Lost", "loyalty": "lost"},
            {"customer_id": "d", "rfm_segment": "Champions", "loyalty": "loyal"},
            {"customer_id": "e", "rfm_segment": "New", "loyalty": "hesitant"},
        ]
    ).with_columns(pl.lit(NEXT_SNAPSHOT).alias("snapshot_date"))
    return earlier, later


def test_migration_counts_customers_present_in_both_snapshots() -> None:
    earlier, later = _two_snapshots()
    migration = segment_migration(earlier, later, ["rfm_segment", "loyalty"])
    SegmentMigrationContract.validate(migration)
    rfm = migration.filter(dimension="rfm_segment")
    assert rfm.select("from_segment", "to_segment", "customers").rows() == [
        ("Champions", "Loyal", 1),
        ("Lost", "Champions", 1),
        ("Lost", "Lost", 1),
    ]
    in_both = earlier.join(later, on="customer_id", how="semi").height
    sums = migration.group_by("dimension").agg(pl.col("customers").sum())
    assert set(sums.get_column("customers")) == {in_both} == {3}
    assert set(migration.get_column("from_snapshot")) == {SNAPSHOT}
    assert set(migration.get_column("to_snapshot")) == {NEXT_SNAPSHOT}


def test_migrations_pair_consecutive_snapshots() -> None:
    earlier, later = _two_snapshots()
    third = later.with_columns(pl.lit(THIRD_SNAPSHOT).alias("snapshot_date"))
    migrations = segment_migrations(pl.concat([third, earlier, later]), ["loyalty"])
    pairs = migrations.select("from_snapshot", "to_snapshot").unique().sort("from_snapshot")
    assert pairs.rows() == [(SNAPSHOT, NEXT_SNAPSHOT), (NEXT_SNAPSHOT, THIRD_SNAPSHOT)]
    totals = (
        migrations.group_by("from_snapshot").agg(pl.col("customers").sum()).sort("from_snapshot")
    )
    assert totals.get_column("customers").to_list() == [3, 4]


def test_migration_refuses_mixed_or_unordered_snapshots() -> None:
    earlier, later = _two_snapshots()
    with pytest.raises(ValueError, match="exactly one snapshot"):
        segment_migration(pl.concat([earlier, later]), later, ["loyalty"])
    with pytest.raises(ValueError, match="must be before"):
        segment_migration(later, earlier, ["loyalty"])


def test_segment_outcomes_by_hand() -> None:
    at_snapshot = segment_rows(
        [
            {"customer_id": "a", "rfm_segment": "Champions", "lifecycle_stage": "mature"},
            {"customer_id": "b", "rfm_segment": "Champions", "lifecycle_stage": "mature"},
            {"customer_id": "c", "rfm_segment": "Lost", "lifecycle_stage": "at_risk"},
            {"customer_id": "d", "rfm_segment": "No Purchase", "lifecycle_stage": "potential"},
        ]
    )
    next_stages = {"a": "mature", "b": "lost", "c": "lost", "d": "potential"}
    at_next = at_snapshot.with_columns(
        pl.lit(NEXT_SNAPSHOT).alias("snapshot_date"),
        pl.col("customer_id").replace_strict(next_stages).alias("lifecycle_stage"),
    )
    activity = _activity([(SNAPSHOT, "a", 2, 100.0), (SNAPSHOT, "c", 1, 20.0)])
    outcomes = segment_outcomes(pl.concat([at_next, at_snapshot]), activity, ["rfm_segment"])
    SegmentOutcomesContract.validate(outcomes)
    assert set(outcomes.get_column("next_snapshot_date")) == {NEXT_SNAPSHOT}
    assert outcomes.select(
        "segment",
        "customers",
        "repurchasers",
        "repurchase_rate",
        "revenue_per_customer",
        "active_customers",
        "churned_customers",
        "churn_rate",
    ).rows() == [
        ("Champions", 2, 1, 0.5, 50.0, 2, 1, 0.5),
        ("Lost", 1, 1, 1.0, 20.0, 1, 1, 1.0),
        ("No Purchase", 1, 0, 0.0, 0.0, 0, 0, None),
    ]


def test_activity_must_be_one_row_per_customer_and_snapshot() -> None:
    earlier, later = _two_snapshots()
    activity = _activity([(SNAPSHOT, "a", 1, 1.0), (SNAPSHOT, "a", 1, 1.0)])
    with pytest.raises(ValueError, match="repeats"):
        segment_outcomes(pl.concat([earlier, later]), activity, ["loyalty"])


def _assignments(
    groups: list[tuple[str, bool, list[tuple[int, float]]]],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Assignments and activity from (strategy, is_control, [(orders, revenue), ...])."""
    assignments, activity = [], []
    for strategy, is_control, outcomes in groups:
        for index, (orders, revenue) in enumerate(outcomes):
            customer_id = f"{strategy}-{'c' if is_control else 't'}{index}"
            assignments.append((SNAPSHOT, customer_id, strategy, is_control))
            if orders or revenue:
                activity.append((SNAPSHOT, customer_id, orders, revenue))
    frame = pl.DataFrame(
        assignments,
        schema={
            "snapshot_date": pl.Date,
            "customer_id": pl.String,
            "strategy": pl.String,
            "is_control": pl.Boolean,
        },
        orient="row",
    )
    return frame, _activity(activity)


def _effect() -> pl.DataFrame:
    assignments, activity = _assignments(
        [
            # Newcombe (1998), table II, example (a): 56/70 vs 48/80.
            ("win_back", False, [(1, 10.0)] * 56 + [(0, 0.0)] * 14),
            ("win_back", True, [(1, 10.0)] * 48 + [(0, 0.0)] * 32),
            ("onboarding", False, [(1, 10.0), (1, 20.0), (1, 30.0), (1, 40.0)]),
            ("onboarding", True, [(0, 0.0), (1, 10.0), (1, 20.0)]),
            ("vip", False, [(1, 100.0)] * 3),
            ("tiny_control", False, [(1, 5.0)] * 10),
            ("tiny_control", True, [(0, 0.0)] * 2),
            ("silent", False, [(0, 0.0)] * 4),
            ("silent", True, [(0, 0.0)] * 4),
        ]
    )
    effect = strategy_effect(assignments, activity, min_group_size=3)
    StrategyEffectContract.validate(effect)
    return effect


def test_newcombe_interval_matches_the_published_examples() -> None:
    assert newcombe_interval(56, 70, 48, 80) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    assert newcombe_interval(9, 10, 3, 10) == pytest.approx((0.1705, 0.8090), abs=1e-4)
    assert newcombe_interval(5, 56, 0, 29) == pytest.approx((-0.0381, 0.1926), abs=1e-4)


def test_repurchase_effect_interval_and_p_value_by_hand() -> None:
    row = _effect().filter(strategy="win_back").row(0, named=True)
    assert (row["treated_customers"], row["control_customers"]) == (70, 80)
    assert row["treated_repurchase_rate"] == pytest.approx(0.8)
    assert row["control_repurchase_rate"] == pytest.approx(0.6)
    assert row["repurchase_rate_diff"] == pytest.approx(0.2)
    assert row["repurchase_rate_diff_ci_low"] == pytest.approx(0.0524, abs=1e-4)
    assert row["repurchase_rate_diff_ci_high"] == pytest.approx(0.3339, abs=1e-4)
    # Pooled z-test: p = 104/150, se = sqrt(p (1 - p) (1/70 + 1/80)), z = 0.2 / se.
    pooled = 104 / 150
    z = 0.2 / math.sqrt(pooled * (1 - pooled) * (1 / 70 + 1 / 80))
    assert row["repurchase_rate_p_value"] == pytest.approx(math.erfc(z / math.sqrt(2)))
    assert row["revenue_per_customer_diff"] == pytest.approx(2.0)
    assert row["note"] is None


def test_revenue_effect_welch_interval_by_hand() -> None:
    row = _effect().filter(strategy="onboarding").row(0, named=True)
    # Treated 10, 20, 30, 40: mean 25, var 500/3. Control 0, 10, 20: mean 10, var 100.
    # se^2 = (500/3)/4 + 100/3 = 75; df = 75^2 / ((125/3)^2 / 3 + (100/3)^2 / 2) = 4.959...
    se = math.sqrt(75)
    df = 75**2 / ((125 / 3) ** 2 / 3 + (100 / 3) ** 2 / 2)
    margin = stats.t.ppf(0.975, df) * se
    assert df == pytest.approx(4.9592, abs=1e-4)
    assert row["revenue_per_customer_diff"] == pytest.approx(15.0)
    assert row["revenue_per_customer_diff_ci_low"] == pytest.approx(15.0 - margin)
    assert row["revenue_per_customer_diff_ci_high"] == pytest.approx(15.0 + margin)
    assert (row["revenue_per_customer_diff_ci_low"], row["revenue_per_customer_diff_ci_high"]) == (
        pytest.approx(-7.317, abs=1e-3),
        pytest.approx(37.317, abs=1e-3),
    )
    reference = stats.ttest_ind([10, 20, 30, 40], [0, 10, 20], equal_var=False)
    assert row["revenue_per_customer_p_value"] == pytest.approx(reference.pvalue)
    assert row["repurchase_rate_diff"] == pytest.approx(1 - 2 / 3)


@pytest.mark.parametrize(
    ("strategy", "note"),
    [
        ("vip", "no control customers"),
        ("tiny_control", "group too small for intervals (treated 10, control 2; minimum 3)"),
    ],
)
def test_empty_or_tiny_control_groups_get_no_interval(strategy: str, note: str) -> None:
    row = _effect().filter(strategy=strategy).row(0, named=True)
    assert note in row["note"]
    for column in (
        "repurchase_rate_diff_ci_low",
        "repurchase_rate_diff_ci_high",
        "repurchase_rate_p_value",
        "revenue_per_customer_diff_ci_low",
        "revenue_per_customer_diff_ci_high",
        "revenue_per_customer_p_value",
    ):
        assert row[column] is None


def test_empty_control_has_no_control_outcome() -> None:
    row = _effect().filter(strategy="vip").row(0, named=True)
    assert row["control_customers"] == 0
    assert row["control_repurchase_rate"] is None
    assert row["repurchase_rate_diff"] is None
    assert row["treated_revenue_per_customer"] == pytest.approx(100.0)


def test_no_variance_in_revenue_leaves_only_the_revenue_interval_out() -> None:
    row = _effect().filter(strategy="silent").row(0, named=True)
    assert row["repurchase_rate_diff"] == 0.0
    assert row["repurchase_rate_p_value"] == 1.0
    assert row["repurchase_rate_diff_ci_low"] < 0 < row["repurchase_rate_diff_ci_high"]
    assert row["revenue_per_customer_diff_ci_low"] is None
    assert "no variance" in row["note"]


def test_effect_rows_are_one_per_snapshot_and_strategy() -> None:
    effect = _effect()
    assert effect.get_column("strategy").to_list() == sorted(
        ["win_back", "onboarding", "vip", "tiny_control", "silent"]
    )
    totals = effect.select(pl.col("treated_customers").sum(), pl.col("control_customers").sum())
    assert totals.row(0) == (70 + 4 + 3 + 10 + 4, 80 + 3 + 2 + 4)
    assert np.isfinite(effect.get_column("repurchase_rate_diff").drop_nulls().to_numpy()).all()


def test_dimensions_default_to_every_segment_column() -> None:
    earlier, later = _two_snapshots()
    migration = segment_migration(earlier, later)
    assert set(migration.get_column("dimension")) == {
        "rfm_segment",
        "value_tier",
        "abc_class",
        "lifecycle_stage",
        "loyalty",
        "churn_risk",
        "cluster",
    }
    outcomes = segment_outcomes(pl.concat([earlier, later]), _activity([]))
    assert set(outcomes.get_column("dimension")) == set(migration.get_column("dimension"))
    totals = outcomes.group_by("dimension").agg(pl.col("customers").sum())
    assert set(totals.get_column("customers")) == {earlier.height}
