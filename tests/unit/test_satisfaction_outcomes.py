"""Next-period satisfaction in marts.segment_outcomes and marts.strategy_effect: NPS among the
period's respondents and the complaint rate, per segment and treated against control."""

from datetime import date, datetime
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pytest

from segmentation.evaluation.contracts import SegmentOutcomesContract, StrategyEffectContract
from segmentation.evaluation.evaluate import evaluate_segments
from segmentation.evaluation.outcomes import segment_outcomes
from segmentation.evaluation.satisfaction import nps_difference, nps_interval
from segmentation.evaluation.satisfaction_outcomes import FEEDBACK_SCHEMA
from segmentation.evaluation.strategy_effect import newcombe_interval, strategy_effect
from segmentation.features.settings import FeedbackSettings
from tests.unit.segment_frames import NEXT_SNAPSHOT, SNAPSHOT, segment_rows

SATISFACTION_OUTCOMES = [
    "next_nps_respondents",
    "next_promoters",
    "next_detractors",
    "next_nps",
    "next_nps_ci_low",
    "next_nps_ci_high",
    "next_complainers",
    "next_complaint_rate",
]
_NO_ACTIVITY = pl.DataFrame(
    schema={
        "snapshot_date": pl.Date,
        "customer_id": pl.String,
        "orders": pl.Int64,
        "revenue": pl.Float64,
    }
)


def _feedback(rows: list[tuple[str, str | None, int]], snapshot: date = SNAPSHOT) -> pl.DataFrame:
    return pl.DataFrame([(snapshot, *row) for row in rows], schema=FEEDBACK_SCHEMA, orient="row")


def _pair(customers: list[dict[str, Any]], complaints_90d: int | None = 0) -> pl.DataFrame:
    """Two snapshots of the same customers; complaints_90d null means no feedback source."""
    first = segment_rows([{**row, "complaints_90d": complaints_90d} for row in customers])
    return pl.concat([first, first.with_columns(pl.lit(NEXT_SNAPSHOT).alias("snapshot_date"))])


def _row(frame: pl.DataFrame, **keys: Any) -> dict[str, Any]:
    rows = frame.filter(pl.all_horizontal(pl.col(k) == v for k, v in keys.items()))
    assert rows.height == 1, keys
    return rows.row(0, named=True)


def test_next_period_nps_and_complaints_per_segment_by_hand() -> None:
    customers = [{"customer_id": f"c{i}", "rfm_segment": "Champions"} for i in range(10)] + [
        {"customer_id": f"l{i}", "rfm_segment": "Lost"} for i in range(4)
    ]
    # Champions: 4 promoters, 1 passive, 1 detractor answered; 2 complained (one of them twice,
    # one without an NPS answer); 4 gave no feedback. Lost: one complaint, no NPS answer.
    feedback = _feedback(
        [("c0", "promoter", 0), ("c1", "promoter", 0), ("c2", "promoter", 2)]
        + [("c3", "promoter", 0), ("c4", "passive", 0), ("c5", "detractor", 0)]
        + [("c6", None, 1), ("l0", None, 1)]
    )
    outcomes = segment_outcomes(_pair(customers), _NO_ACTIVITY, ["rfm_segment"], feedback)
    SegmentOutcomesContract.validate(outcomes)
    champions = _row(outcomes, segment="Champions")
    assert [champions[c] for c in SATISFACTION_OUTCOMES[:3]] == [6, 4, 1]
    assert champions["next_nps"] == pytest.approx(100 * 3 / 6)
    assert (champions["next_nps_ci_low"], champions["next_nps_ci_high"]) == pytest.approx(
        nps_interval(4, 1, 6)
    )
    assert champions["next_complainers"] == 2 and champions["next_complaint_rate"] == 0.2
    lost = _row(outcomes, segment="Lost")
    assert lost["next_nps_respondents"] == 0
    assert lost["next_nps"] is None and lost["next_nps_ci_low"] is None
    assert lost["next_complaint_rate"] == 0.25


def test_without_a_feedback_source_the_satisfaction_outcomes_are_null_not_zero() -> None:
    customers = [{"customer_id": "a", "rfm_segment": "Champions"}]
    feedback = _feedback([("a", "promoter", 1)])
    for outcomes in (
        # feedback rows exist now, but the snapshot was segmented without the source
        segment_outcomes(
            _pair(customers, complaints_90d=None), _NO_ACTIVITY, ["rfm_segment"], feedback
        ),
        segment_outcomes(_pair(customers), _NO_ACTIVITY, ["rfm_segment"]),
    ):
        SegmentOutcomesContract.validate(outcomes)
        assert outcomes.height > 0
        assert outcomes.select(SATISFACTION_OUTCOMES).null_count().row(0) == (outcomes.height,) * 8


def test_feedback_must_be_one_row_per_customer_and_snapshot() -> None:
    feedback = _feedback([("a", "promoter", 0), ("a", "detractor", 0)])
    customers = [{"customer_id": "a", "rfm_segment": "Champions"}]
    with pytest.raises(ValueError, match="repeats"):
        segment_outcomes(_pair(customers), _NO_ACTIVITY, ["rfm_segment"], feedback)
    with pytest.raises(ValueError, match="lacks columns: complaints"):
        segment_outcomes(
            _pair(customers), _NO_ACTIVITY, ["rfm_segment"], feedback.drop("complaints")
        )


def test_nps_difference_by_hand_and_its_bounds() -> None:
    # treated 60 promoters, 10 detractors of 100; control 40 and 20 of 100
    low, high, p_value = nps_difference((60, 10, 100), (40, 20, 100))
    shares = [((60.75) / 103, (10.75) / 103), ((40.75) / 103, (20.75) / 103)]
    centre = (shares[0][0] - shares[0][1]) - (shares[1][0] - shares[1][1])
    variance = sum((p + d - (p - d) ** 2) / 103 for p, d in shares)
    margin = 1.959963984540054 * variance**0.5
    assert (low, high) == pytest.approx((100 * (centre - margin), 100 * (centre + margin)))
    assert p_value == pytest.approx(2 * (1 - _normal_cdf(centre / variance**0.5)), rel=1e-6)
    # swapping the groups mirrors the interval; identical groups centre on 0 with p = 1
    mirrored = nps_difference((40, 20, 100), (60, 10, 100))
    assert mirrored[:2] == pytest.approx((-high, -low)) and mirrored[2] == pytest.approx(p_value)
    same = nps_difference((30, 30, 90), (30, 30, 90))
    assert same[0] == pytest.approx(-same[1]) and same[2] == pytest.approx(1.0)
    # extreme groups stay within the range a difference of two NPS can take
    assert nps_difference((1, 0, 1), (0, 1, 1))[1] <= 200
    with pytest.raises(ValueError, match="at most the respondents"):
        nps_difference((5, 6, 10), (1, 1, 10))


def _normal_cdf(z: float) -> float:
    from scipy import stats

    return float(stats.norm.cdf(z))


def test_nps_difference_interval_covers_the_true_difference_95_percent_of_the_time() -> None:
    """Coverage on trinomial samples of 150 and 120 respondents (4,000 draws, seeded): the
    binomial standard error of a 95% coverage is 0.34 points, so 93.5-96.5% is +-4.4 SE."""
    rng = np.random.default_rng(11)
    shares_a, shares_b = (0.45, 0.35, 0.20), (0.30, 0.40, 0.30)
    truth = 100 * ((shares_a[0] - shares_a[2]) - (shares_b[0] - shares_b[2]))
    draws_a = rng.multinomial(150, shares_a, size=4_000)
    draws_b = rng.multinomial(120, shares_b, size=4_000)
    covered = 0
    for a, b in zip(draws_a, draws_b, strict=True):
        low, high, _ = nps_difference((a[0], a[2], 150), (b[0], b[2], 120))
        covered += low <= truth <= high
    assert 0.935 <= covered / 4_000 <= 0.965


def _assignments(groups: dict[tuple[str, bool], int]) -> pl.DataFrame:
    rows = [
        (SNAPSHOT, f"{strategy}-{'c' if control else 't'}{i}", strategy, control)
        for (strategy, control), size in groups.items()
        for i in range(size)
    ]
    return pl.DataFrame(
        rows,
        schema={
            "snapshot_date": pl.Date,
            "customer_id": pl.String,
            "strategy": pl.String,
            "is_control": pl.Boolean,
        },
        orient="row",
    )


def test_strategy_effect_on_nps_and_complaints_by_hand() -> None:
    assignments = _assignments(
        {("recovery", False): 40, ("recovery", True): 30, ("tiny", False): 10, ("tiny", True): 2}
    )
    # treated: 12 promoters, 3 detractors of 20 respondents, 4 complainers of 40;
    # control: 5 promoters, 8 detractors of 15 respondents, 9 complainers of 30
    rows = [(f"recovery-t{i}", "promoter", 0) for i in range(12)]
    rows += [(f"recovery-t{i}", "detractor", 0) for i in range(12, 15)]
    rows += [(f"recovery-t{i}", "passive", int(i < 19)) for i in range(15, 20)]
    rows += [(f"recovery-c{i}", "promoter", 1) for i in range(5)]
    rows += [(f"recovery-c{i}", "detractor", 1) for i in range(5, 9)]
    rows += [(f"recovery-c{i}", "detractor", 0) for i in range(9, 13)]
    rows += [(f"recovery-c{i}", "passive", 0) for i in range(13, 15)]
    rows += [("tiny-t0", "promoter", 0), ("tiny-c0", "detractor", 1)]
    effect = strategy_effect(assignments, _NO_ACTIVITY, next_period_feedback=_feedback(rows))
    StrategyEffectContract.validate(effect)
    recovery = _row(effect, strategy="recovery")
    assert (recovery["treated_nps_respondents"], recovery["control_nps_respondents"]) == (20, 15)
    assert recovery["treated_nps"] == pytest.approx(100 * 9 / 20)
    assert recovery["control_nps"] == pytest.approx(100 * -3 / 15)
    assert recovery["nps_diff"] == pytest.approx(45 + 20)
    low, high, p_value = nps_difference((12, 3, 20), (5, 8, 15))
    assert (recovery["nps_diff_ci_low"], recovery["nps_diff_ci_high"]) == (low, high)
    assert recovery["nps_p_value"] == p_value < 0.05
    assert recovery["treated_complaint_rate"] == 4 / 40
    assert recovery["control_complaint_rate"] == 9 / 30
    assert (
        recovery["complaint_rate_diff_ci_low"],
        recovery["complaint_rate_diff_ci_high"],
    ) == pytest.approx(newcombe_interval(4, 40, 9, 30))
    # no purchases at all in this frame: only the revenue comparison has a note
    assert recovery["note"] == "revenue has no variance in either group: no revenue interval"
    assert recovery["satisfaction_note"] is None
    tiny = _row(effect, strategy="tiny")
    # the point estimates are there, the intervals are not: the control group has 2 customers
    assert tiny["nps_diff"] == pytest.approx(200.0) and tiny["complaint_rate_diff"] == -0.5
    assert tiny["nps_diff_ci_low"] is None and tiny["complaint_rate_p_value"] is None
    assert tiny["note"].startswith("group too small")


def test_too_few_nps_respondents_get_a_note_but_the_complaint_interval() -> None:
    assignments = _assignments({("offer", False): 20, ("offer", True): 20})
    rows = [("offer-t0", "promoter", 0), ("offer-c0", "detractor", 1), ("offer-c1", None, 1)]
    effect = strategy_effect(
        assignments, _NO_ACTIVITY, min_group_size=5, next_period_feedback=_feedback(rows)
    )
    offer = effect.row(0, named=True)
    assert offer["nps_diff"] == pytest.approx(200.0) and offer["nps_diff_ci_low"] is None
    assert offer["note"] == "revenue has no variance in either group: no revenue interval"
    assert offer["satisfaction_note"] == (
        "too few NPS respondents for an NPS interval (treated 1, control 1; minimum 5)"
    )
    assert offer["complaint_rate_diff"] == pytest.approx(-0.1)
    assert offer["complaint_rate_diff_ci_low"] is not None


def test_without_feedback_the_strategy_effect_satisfaction_columns_are_null() -> None:
    effect = strategy_effect(_assignments({("offer", False): 6, ("offer", True): 6}), _NO_ACTIVITY)
    StrategyEffectContract.validate(effect)
    columns = list(StrategyEffectContract.to_schema().columns)
    satisfaction = columns[columns.index("note") + 1 :]
    assert len(satisfaction) == 15
    assert effect.select(satisfaction).null_count().row(0) == (1,) * 15


# --- from the warehouse: next_period_feedback.sql ----------------------------------------------


def _warehouse(feedback: list[tuple[str, datetime, str, float | None, str, int]]) -> Any:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw; CREATE SCHEMA marts")
    customers = [{"customer_id": c, "rfm_segment": "Champions"} for c in ("a", "b", "c")]
    third = segment_rows([{**row, "complaints_90d": 0} for row in customers]).with_columns(
        pl.lit(date(2024, 3, 31)).alias("snapshot_date")
    )
    segments = pl.concat([_pair(customers), third])
    con.register("segments_frame", segments.to_arrow())
    con.execute("CREATE TABLE marts.customer_segments AS SELECT * FROM segments_frame")
    assignments = segments.select(
        "snapshot_date",
        "customer_id",
        pl.lit("offer").alias("strategy"),
        (pl.col("customer_id") == "c").alias("is_control"),
    )
    con.register("assignments_frame", assignments.to_arrow())
    con.execute("CREATE TABLE marts.strategy_assignments AS SELECT * FROM assignments_frame")
    con.execute(
        "CREATE TABLE raw.transactions (customer_id VARCHAR, order_id VARCHAR, "
        "order_ts TIMESTAMP, amount DECIMAL(18, 2), is_return BOOLEAN)"
    )
    con.execute(
        "CREATE TABLE raw.feedback (customer_id VARCHAR, feedback_ts TIMESTAMP, kind VARCHAR, "
        "score DOUBLE, topic VARCHAR, source_file VARCHAR, source_row BIGINT)"
    )
    con.executemany(
        "INSERT INTO raw.feedback VALUES (?, ?, ?, ?, NULL, ?, ?)",
        [list(row) for row in feedback],
    )
    return con


def test_the_period_bounds_and_the_latest_answer_from_the_warehouse() -> None:
    first_instant = datetime(2024, 2, 1)  # SNAPSHOT is 2024-01-31: its day belongs to it
    con = _warehouse(
        [
            ("a", datetime(2024, 1, 31, 23, 59, 59), "nps", 0.0, "f1", 1),  # before the period
            ("a", first_instant, "nps", 10.0, "f1", 2),
            ("a", datetime(2024, 2, 20), "nps", 8.0, "f1", 3),  # a's latest: passive
            ("b", datetime(2024, 2, 10), "nps", 2.0, "f1", 4),
            ("b", datetime(2024, 2, 10), "nps", 9.0, "f2", 1),  # same instant, later file wins
            ("b", datetime(2024, 2, 29, 23, 0), "complaint", None, "f1", 5),
            ("c", datetime(2024, 3, 1), "complaint", None, "f1", 6),  # the next period's
            ("c", datetime(2024, 3, 5), "csat", 1.0, "f1", 7),  # not an NPS answer
        ]
    )
    evaluation = evaluate_segments(con)
    outcomes = evaluation.outcomes.filter(pl.col("dimension") == "rfm_segment")
    first = _row(outcomes, snapshot_date=SNAPSHOT)
    # a: passive (8), b: promoter (9 from the later file); b complained
    assert (first["next_nps_respondents"], first["next_promoters"]) == (2, 1)
    assert first["next_detractors"] == 0 and first["next_complainers"] == 1
    second = _row(outcomes, snapshot_date=NEXT_SNAPSHOT)
    assert second["next_nps_respondents"] == 0 and second["next_complainers"] == 1
    effect = evaluation.effects.filter(pl.col("snapshot_date") == NEXT_SNAPSHOT).row(0, named=True)
    assert effect["control_complaint_rate"] == 1.0 and effect["treated_complaint_rate"] == 0.0
    # the NPS classes follow features.feedback: with promoters from 8, a counts as a promoter
    stricter = evaluate_segments(con, FeedbackSettings(nps_promoter_min=8, nps_passive_min=5))
    first = _row(
        stricter.outcomes.filter(pl.col("dimension") == "rfm_segment"), snapshot_date=SNAPSHOT
    )
    assert first["next_promoters"] == 2
