"""Lifecycle stages: one row per stage and per threshold edge, and exactly one stage per row.

Default thresholds (``LifecycleSettings()``): new 90 days, won back 90 days, at risk after 180
days or P(alive) < 0.5, lost after 365 days or P(alive) < 0.2, mature from 365 days of tenure,
trend threshold 0.3. Each case starts from a mature customer (5 purchase days, last one 30
days ago, 500 days of tenure, P(alive) 0.9, flat trend) and changes only what it is about.
"""

from typing import Any

import numpy as np
import polars as pl
import pytest

from segmentation.features.contracts import LIFECYCLE_STAGES
from segmentation.features.lifecycle import lifecycle_stage
from segmentation.features.settings import LifecycleSettings

SETTINGS = LifecycleSettings()

SCHEMA = {
    "purchase_days": pl.Int64,
    "orders": pl.Int64,
    "return_orders": pl.Int64,
    "recency_days": pl.Int64,
    "tenure_days": pl.Int64,
    "trend": pl.Float64,
    "p_alive": pl.Float64,
    "days_since_won_back": pl.Int64,
}

MATURE: dict[str, Any] = {
    "purchase_days": 5,
    "orders": 6,
    "return_orders": 0,
    "recency_days": 30,
    "tenure_days": 500,
    "trend": 0.0,
    "p_alive": 0.9,
    "days_since_won_back": None,
}
NEVER_BOUGHT: dict[str, Any] = {
    "purchase_days": 0,
    "orders": 0,
    "return_orders": 0,
    "recency_days": None,
    "tenure_days": None,
    "trend": 0.0,
    "p_alive": None,
}

CASES: list[tuple[str, dict[str, Any], str]] = [
    ("mature", {}, "mature"),
    # potential: known, nothing bought or returned
    ("potential", NEVER_BOUGHT, "potential"),
    ("only_returns_is_lost", {**NEVER_BOUGHT, "return_orders": 1, "trend": -1.0}, "lost"),
    # lost: recency past 365 days, or P(alive) below 0.2
    ("recency_365_not_lost", {"recency_days": 365}, "at_risk"),
    ("recency_366_lost", {"recency_days": 366}, "lost"),
    ("p_alive_0.2_not_lost", {"p_alive": 0.2}, "at_risk"),
    ("p_alive_0.1999_lost", {"p_alive": 0.1999}, "lost"),
    ("lost_beats_won_back", {"p_alive": 0.1, "days_since_won_back": 20}, "lost"),
    # won back within 90 days of the comeback purchase
    ("won_back_day_90", {"days_since_won_back": 90}, "won_back"),
    ("won_back_day_91_over", {"days_since_won_back": 91}, "mature"),
    ("won_back_beats_new", {"days_since_won_back": 10, "tenure_days": 40}, "won_back"),
    ("won_back_beats_at_risk", {"days_since_won_back": 10, "p_alive": 0.3}, "won_back"),
    # new: first purchase within 90 days, or a one-time buyer not yet at risk
    ("new_tenure_90", {"tenure_days": 90}, "new"),
    ("new_tenure_91_is_growing", {"tenure_days": 91}, "growing"),
    ("new_beats_at_risk", {"tenure_days": 60, "p_alive": 0.3}, "new"),
    ("one_time_buyer_180", {"purchase_days": 1, "recency_days": 180, "tenure_days": 180}, "new"),
    (
        "one_time_buyer_181_at_risk",
        {"purchase_days": 1, "recency_days": 181, "tenure_days": 181},
        "at_risk",
    ),
    # at risk: recency past 180 days, or P(alive) below 0.5
    ("recency_180_not_at_risk", {"recency_days": 180}, "mature"),
    ("recency_181_at_risk", {"recency_days": 181}, "at_risk"),
    ("p_alive_0.5_not_at_risk", {"p_alive": 0.5}, "mature"),
    ("p_alive_0.4999_at_risk", {"p_alive": 0.4999}, "at_risk"),
    ("at_risk_beats_declining", {"recency_days": 200, "trend": -0.9}, "at_risk"),
    # declining / growing by trend; growing also while tenure is below 365 days
    ("trend_-0.3_declining", {"trend": -0.3}, "declining"),
    ("trend_-0.2999_mature", {"trend": -0.2999}, "mature"),
    ("declining_beats_growing", {"trend": -0.5, "tenure_days": 200}, "declining"),
    ("trend_0.3_growing", {"trend": 0.3}, "growing"),
    ("trend_0.2999_mature", {"trend": 0.2999}, "mature"),
    ("tenure_364_growing", {"tenure_days": 364}, "growing"),
    ("tenure_365_mature", {"tenure_days": 365}, "mature"),
    # no model fitted: recency alone decides
    ("no_p_alive_recent", {"p_alive": None}, "mature"),
    ("no_p_alive_recency_181", {"p_alive": None, "recency_days": 181}, "at_risk"),
    ("no_p_alive_recency_366", {"p_alive": None, "recency_days": 366}, "lost"),
]


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


@pytest.mark.parametrize(
    ("changes", "stage"), [(c, s) for _, c, s in CASES], ids=[name for name, _, _ in CASES]
)
def test_stage_of_one_customer(changes: dict[str, Any], stage: str) -> None:
    assert lifecycle_stage(_frame([{**MATURE, **changes}]), SETTINGS).to_list() == [stage]


def test_every_stage_is_reachable_by_the_cases() -> None:
    assert {stage for _, _, stage in CASES} == set(LIFECYCLE_STAGES)


def _documented_stage(row: dict[str, Any], s: LifecycleSettings) -> str:
    """The module docstring's rules, written out independently, one row at a time."""
    p_alive = row["p_alive"]
    recency = row["recency_days"]
    if row["purchase_days"] == 0 and row["orders"] == 0 and row["return_orders"] == 0:
        return "potential"
    if (
        row["purchase_days"] == 0
        or recency > s.lost_recency_days
        or (p_alive is not None and p_alive < s.lost_p_alive)
    ):
        return "lost"
    won_back = row["days_since_won_back"]
    if won_back is not None and won_back <= s.won_back_window_days:
        return "won_back"
    if row["tenure_days"] <= s.new_window_days or (
        row["purchase_days"] == 1 and recency <= s.at_risk_recency_days
    ):
        return "new"
    if recency > s.at_risk_recency_days or (p_alive is not None and p_alive < s.at_risk_p_alive):
        return "at_risk"
    if row["trend"] <= -s.trend_threshold:
        return "declining"
    if row["trend"] >= s.trend_threshold or row["tenure_days"] < s.mature_tenure_days:
        return "growing"
    return "mature"


def _random_features(n: int, seed: int) -> pl.DataFrame:
    """Consistent random customers whose values cluster on the thresholds."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        kind = rng.choice(["potential", "returns_only", "buyer"], p=[0.1, 0.05, 0.85])
        if kind != "buyer":
            rows.append({**NEVER_BOUGHT, "return_orders": int(kind == "returns_only")})
            continue
        purchase_days = int(rng.choice([1, 1, 2, 3, 8]))
        recency = int(rng.choice([0, 30, 90, 179, 180, 181, 364, 365, 366, 700]))
        extra = int(rng.choice([0, 1, 59, 60, 89, 90, 184, 185, 400])) if purchase_days > 1 else 0
        won_back = rng.choice([None, 0, 89, 90, 91, 300])
        rows.append(
            {
                "purchase_days": purchase_days,
                "orders": purchase_days + int(rng.integers(0, 3)),
                "return_orders": int(rng.integers(0, 2)),
                "recency_days": recency,
                "tenure_days": recency + extra,
                "trend": float(rng.choice([-1.0, -0.3, -0.29, 0.0, 0.29, 0.3, 1.0])),
                "p_alive": rng.choice([None, 0.05, 0.2, 0.35, 0.5, 0.9]),
                "days_since_won_back": None if won_back is None else min(int(won_back), recency),
            }
        )
    return _frame(rows)


def test_every_row_of_a_random_frame_gets_exactly_one_documented_stage() -> None:
    features = _random_features(2_000, seed=7)
    stages = lifecycle_stage(features, SETTINGS)
    assert stages.len() == features.height
    assert stages.null_count() == 0
    assert set(stages.unique()) <= set(LIFECYCLE_STAGES)
    expected = [_documented_stage(row, SETTINGS) for row in features.iter_rows(named=True)]
    assert stages.to_list() == expected
    # the frame is varied enough that every stage occurs
    assert set(stages.unique()) == set(LIFECYCLE_STAGES)
