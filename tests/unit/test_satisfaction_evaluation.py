"""marts.satisfaction_summary on hand-made segments: NPS and its interval, CSAT, complaints."""

from typing import Any

import duckdb
import polars as pl
import pytest

from segmentation.evaluation.contracts import SatisfactionSummaryContract
from segmentation.evaluation.evaluate import evaluate_satisfaction
from segmentation.evaluation.satisfaction import nps_interval, satisfaction_summary
from tests.unit.segment_frames import NEXT_SNAPSHOT, SNAPSHOT, segment_rows

# with a feedback source a customer without feedback has 0 complaints and null otherwise
_NO_FEEDBACK: dict[str, Any] = {
    "nps_class": "unknown",
    "satisfaction_class": "unknown",
    "complaints_90d": 0,
}


def _customer(customer_id: str, segment: str, **feedback: Any) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "rfm_segment": segment,
        "intent_class": "unknown",
        "engagement_level": "unknown",
        **_NO_FEEDBACK,
        **feedback,
    }


def _answered(customer_id: str, segment: str, nps_class: str, **more: Any) -> dict[str, Any]:
    score = {"promoter": 10.0, "passive": 7.0, "detractor": 3.0}[nps_class]
    return _customer(
        customer_id,
        segment,
        nps_class=nps_class,
        latest_nps=score,
        days_since_last_feedback=5,
        satisfaction_class="neutral",
        **more,
    )


def _segments() -> pl.DataFrame:
    """Champions: 5 promoters, 3 passives, 2 detractors (NPS 30), 2 more without feedback, CSAT
    averages 4.0 / 5.0 / 2.5 for three of them, 3 complainers; Lost: only complaints and a
    review (no NPS, no CSAT)."""
    champions = (
        [_answered(f"p{i}", "Champions", "promoter") for i in range(5)]
        + [_answered(f"s{i}", "Champions", "passive") for i in range(3)]
        + [_answered(f"d{i}", "Champions", "detractor", complaints_90d=2) for i in range(2)]
        + [_customer(f"n{i}", "Champions") for i in range(2)]
    )
    champions[0]["avg_csat_180d"] = 4.0
    champions[5]["avg_csat_180d"] = 5.0
    champions[8]["avg_csat_180d"] = 2.5
    champions[1]["complaints_90d"] = 1
    lost = [
        _customer("l0", "Lost", complaints_90d=1, days_since_last_feedback=10),
        _customer("l1", "Lost", days_since_last_feedback=40),  # a review only
        _customer("l2", "Lost"),
        _customer("l3", "Lost"),
    ]
    return segment_rows(champions + lost)


def _row(summary: pl.DataFrame, dimension: str, segment: str) -> dict[str, Any]:
    rows = summary.filter((pl.col("dimension") == dimension) & (pl.col("segment") == segment))
    assert rows.height == 1
    return rows.row(0, named=True)


def test_nps_csat_and_complaint_rate_by_hand() -> None:
    summary = satisfaction_summary(_segments(), ["rfm_segment"])
    SatisfactionSummaryContract.validate(summary)
    champions = _row(summary, "rfm_segment", "Champions")
    assert {key: champions[key] for key in list(champions)[:9]} == {
        "snapshot_date": SNAPSHOT,
        "dimension": "rfm_segment",
        "segment": "Champions",
        "customers": 12,
        "respondents": 10,
        "nps_respondents": 10,
        "promoters": 5,
        "passives": 3,
        "detractors": 2,
    }
    assert champions["nps"] == pytest.approx(30.0)
    # adjusted Wald: n' = 13, p' = 5.75/13, d' = 2.75/13, z = 1.959964
    assert champions["nps_ci_low"] == pytest.approx(-19.050615, abs=1e-6)
    assert champions["nps_ci_high"] == pytest.approx(65.204462, abs=1e-6)
    assert champions["csat_respondents"] == 3
    assert champions["avg_csat"] == pytest.approx((4.0 + 5.0 + 2.5) / 3)
    assert champions["complainers"] == 3
    assert champions["complaint_rate"] == pytest.approx(3 / 12)
    lost = _row(summary, "rfm_segment", "Lost")
    assert (lost["customers"], lost["respondents"], lost["nps_respondents"]) == (4, 2, 0)
    assert lost["nps"] is None and lost["nps_ci_low"] is None and lost["nps_ci_high"] is None
    assert lost["csat_respondents"] == 0 and lost["avg_csat"] is None
    assert (lost["complainers"], lost["complaint_rate"]) == (1, 0.25)


def test_nps_interval_is_clipped_and_symmetric_where_it_should_be() -> None:
    assert nps_interval(0, 0, 4) == pytest.approx((-34.292226, 34.292226), abs=1e-6)
    low, high = nps_interval(2, 0, 2)
    assert low == pytest.approx(-24.410989, abs=1e-6) and high == 100.0
    assert nps_interval(1, 0, 1) == pytest.approx((-48.498649, 98.498649), abs=1e-6)
    with pytest.raises(ValueError, match="at most the respondents"):
        nps_interval(3, 2, 4)
    with pytest.raises(ValueError, match="non-negative"):
        nps_interval(-1, 0, 4)


def test_every_segment_summary_dimension_is_covered() -> None:
    summary = satisfaction_summary(_segments())
    SatisfactionSummaryContract.validate(summary)
    dimensions = set(summary.get_column("dimension"))
    # the feedback labels are dimensions with a feedback source; the events labels are not
    # (intent and engagement columns are null: no events source)
    assert {"rfm_segment", "nps_class", "satisfaction_class", "lifecycle_stage"} <= dimensions
    assert not {"intent_class", "engagement_level"} & dimensions
    by_class = summary.filter(pl.col("dimension") == "nps_class")
    assert dict(by_class.select("segment", "nps").iter_rows()) == {
        "detractor": -100.0,
        "passive": 0.0,
        "promoter": 100.0,
        "unknown": None,
    }
    # every dimension partitions the same 16 customers
    totals = summary.group_by("dimension").agg(
        pl.col("customers").sum(), pl.col("complainers").sum()
    )
    assert set(totals.get_column("customers")) == {16}
    assert set(totals.get_column("complainers")) == {4}


def test_no_feedback_source_gives_no_rows() -> None:
    without = _segments().with_columns(
        pl.lit(None, dtype=pl.Int64).alias("complaints_90d"),
        pl.lit(None, dtype=pl.Float64).alias("latest_nps"),
        pl.lit(None, dtype=pl.Float64).alias("avg_csat_180d"),
        pl.lit(None, dtype=pl.Int64).alias("days_since_last_feedback"),
        pl.lit("unknown").alias("nps_class"),
        pl.lit("unknown").alias("satisfaction_class"),
    )
    summary = satisfaction_summary(without)
    assert summary.is_empty()
    SatisfactionSummaryContract.validate(summary)


def test_from_the_warehouse_one_snapshot_at_a_time() -> None:
    with_feedback = _segments()
    # the later snapshot had no feedback source configured: it gets no rows
    without = _segments().with_columns(
        pl.lit(NEXT_SNAPSHOT).alias("snapshot_date"),
        pl.lit(None, dtype=pl.Int64).alias("complaints_90d"),
    )
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.register("segments_frame", pl.concat([with_feedback, without]).to_arrow())
    con.execute("CREATE TABLE marts.customer_segments AS SELECT * FROM segments_frame")
    summary = evaluate_satisfaction(con)
    SatisfactionSummaryContract.validate(summary)
    assert set(summary.get_column("snapshot_date")) == {SNAPSHOT}
    assert summary.equals(satisfaction_summary(with_feedback))
    con.execute("DELETE FROM marts.customer_segments")
    empty = evaluate_satisfaction(con)
    assert empty.is_empty() and list(empty.columns) == list(summary.columns)
