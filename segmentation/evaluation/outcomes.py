"""What happened to each segment in the period after its snapshot.

Inputs:

* the segments table with at least two snapshots; the *next snapshot* of a snapshot is the next
  later snapshot_date in the frame, and the *next period* is (snapshot_date, next_snapshot_date];
  the last snapshot has no next period and gets no rows;
* ``next_period_activity``: per snapshot_date and customer_id, the customer's purchase
  ``orders`` and net ``revenue`` in that snapshot's next period (computed from transactions in
  SQL). A customer without a row had no activity (0 orders, 0 revenue).

Definitions, per snapshot, dimension and segment:

* ``repurchase_rate`` = customers with at least one purchase order in the next period /
  customers in the segment;
* ``revenue_per_customer`` = next-period net revenue of the segment / customers in it;
* ``churn_rate`` = among the segment's *active* customers (lifecycle stage neither
  ``potential`` nor ``lost`` at the snapshot, and present at the next snapshot), the share
  whose lifecycle stage at the next snapshot is ``lost``; null when there is none.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from segmentation.evaluation.satisfaction import has_feedback_source, with_nps_interval
from segmentation.evaluation.satisfaction_outcomes import (
    nps_expr,
    satisfaction_counts,
    with_next_period_feedback,
)
from segmentation.segments.build import dimension_columns

ACTIVITY_SCHEMA = {
    "snapshot_date": pl.Date,
    "customer_id": pl.String,
    "orders": pl.Int64,
    "revenue": pl.Float64,
}
INACTIVE_STAGES = ("potential", "lost")
CHURNED_STAGE = "lost"

OUTCOME_SCHEMA = {
    "snapshot_date": pl.Date,
    "next_snapshot_date": pl.Date,
    "dimension": pl.String,
    "segment": pl.String,
    "customers": pl.Int64,
    "repurchasers": pl.Int64,
    "repurchase_rate": pl.Float64,
    "next_period_revenue": pl.Float64,
    "revenue_per_customer": pl.Float64,
    "active_customers": pl.Int64,
    "churned_customers": pl.Int64,
    "churn_rate": pl.Float64,
    "next_nps_respondents": pl.Int64,
    "next_promoters": pl.Int64,
    "next_detractors": pl.Int64,
    "next_nps": pl.Float64,
    "next_nps_ci_low": pl.Float64,
    "next_nps_ci_high": pl.Float64,
    "next_complainers": pl.Int64,
    "next_complaint_rate": pl.Float64,
}
_SATISFACTION_COLUMNS = list(OUTCOME_SCHEMA)[list(OUTCOME_SCHEMA).index("next_nps_respondents") :]
_KEYS = ["snapshot_date", "customer_id"]


def next_snapshot_dates(frame: pl.DataFrame) -> pl.DataFrame:
    """snapshot_date -> next later snapshot_date in ``frame`` (the last snapshot has none)."""
    dates = frame.select(pl.col("snapshot_date").unique().sort())
    return dates.with_columns(pl.col("snapshot_date").shift(-1).alias("next_snapshot_date"))


def with_next_period_activity(frame: pl.DataFrame, activity: pl.DataFrame) -> pl.DataFrame:
    """Add ``next_orders`` and ``next_revenue`` (0 for customers without an activity row).

    Raises:
        ValueError: If ``activity`` lacks a column or repeats a (snapshot_date, customer_id).
    """
    missing = [column for column in ACTIVITY_SCHEMA if column not in activity.columns]
    if missing:
        raise ValueError(f"next_period_activity lacks columns: {', '.join(missing)}")
    activity = activity.select(list(ACTIVITY_SCHEMA)).cast(ACTIVITY_SCHEMA)
    if activity.select(pl.struct(_KEYS).is_duplicated().any()).item():
        raise ValueError("next_period_activity repeats a (snapshot_date, customer_id)")
    return frame.join(
        activity.rename({"orders": "next_orders", "revenue": "next_revenue"}),
        on=_KEYS,
        how="left",
        validate="m:1",
        maintain_order="left",
    ).with_columns(
        pl.col("next_orders").fill_null(0),
        pl.col("next_revenue").fill_null(0.0),
    )


def segment_outcomes(
    segments: pl.DataFrame,
    next_period_activity: pl.DataFrame,
    dimensions: Sequence[str] | None = None,
    next_period_feedback: pl.DataFrame | None = None,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Repurchase, revenue, churn and satisfaction in the next period, per snapshot, dimension
    and segment.

    Args:
        segments: The segments table (snapshot_date, customer_id, lifecycle_stage and the
            ``dimensions`` columns), with every snapshot to evaluate and the one after it.
        next_period_activity: snapshot_date, customer_id, orders, revenue: activity in
            (snapshot_date, next snapshot_date].
        dimensions: Segment columns to break the outcomes down by; default: every segment
            dimension column of ``segments``.
        next_period_feedback: snapshot_date, customer_id, nps_class, complaints: feedback in
            the next period (see :mod:`~segmentation.evaluation.satisfaction_outcomes`); None,
            or segments without a feedback source, leave the satisfaction columns null.
        confidence: Confidence level of the NPS interval.

    Returns:
        Columns of :data:`OUTCOME_SCHEMA`, one row per snapshot (that has a next snapshot),
        dimension and segment, sorted.
    """
    counts = outcome_counts(segments, next_period_activity, dimensions, next_period_feedback)
    return outcomes_of_counts(counts, confidence)


# the counts and sums of OUTCOME_SCHEMA: any split of the customers gives them in parts that
# add up (the satisfaction counts are null without feedback)
OUTCOME_COUNT_SCHEMA = {
    column: OUTCOME_SCHEMA[column]
    for column in (
        "snapshot_date",
        "next_snapshot_date",
        "dimension",
        "segment",
        "customers",
        "repurchasers",
        "next_period_revenue",
        "active_customers",
        "churned_customers",
        "next_nps_respondents",
        "next_promoters",
        "next_detractors",
        "next_complainers",
    )
}


def outcome_counts(
    segments: pl.DataFrame,
    next_period_activity: pl.DataFrame,
    dimensions: Sequence[str] | None = None,
    next_period_feedback: pl.DataFrame | None = None,
    pairs: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The counts and the revenue sum :func:`segment_outcomes` turns into rates, for any part
    of the customers (``OUTCOME_COUNT_SCHEMA``); the arguments as there.

    Args:
        segments: As :func:`segment_outcomes`'s.
        next_period_activity: As :func:`segment_outcomes`'s.
        dimensions: As :func:`segment_outcomes`'s.
        next_period_feedback: As :func:`segment_outcomes`'s.
        pairs: snapshot_date -> next_snapshot_date of the snapshots to evaluate; default: the
            consecutive snapshots of ``segments`` (a part of the customers may lack a snapshot
            the whole table has: then pass the whole table's).
    """
    if dimensions is None:
        dimensions = dimension_columns(segments)
    if pairs is None:
        pairs = next_snapshot_dates(segments).drop_nulls("next_snapshot_date")
    columns = list(dict.fromkeys([*_KEYS, "lifecycle_stage", *dimensions]))
    later = segments.select(
        pl.col("snapshot_date").alias("next_snapshot_date"),
        "customer_id",
        pl.col("lifecycle_stage").alias("next_lifecycle_stage"),
    )
    base = (
        segments.select(columns)
        .join(pairs, on="snapshot_date", how="inner")
        .join(later, on=["next_snapshot_date", "customer_id"], how="left", validate="1:1")
    )
    base = with_next_period_activity(base, next_period_activity).with_columns(
        (pl.col("next_orders") >= 1).alias("repurchased"),
        (
            ~pl.col("lifecycle_stage").is_in(list(INACTIVE_STAGES))
            & pl.col("next_lifecycle_stage").is_not_null()
        ).alias("active"),
    )
    base = base.with_columns(
        (pl.col("active") & (pl.col("next_lifecycle_stage") == CHURNED_STAGE)).alias("churned")
    )
    with_feedback = next_period_feedback is not None and has_feedback_source(segments)
    if with_feedback:
        base = with_next_period_feedback(base, next_period_feedback)
    parts = [pl.DataFrame(schema=OUTCOME_COUNT_SCHEMA)]
    for dimension in dimensions:
        counts = base.group_by(
            "snapshot_date",
            "next_snapshot_date",
            pl.col(dimension).cast(pl.String).alias("segment"),
        ).agg(
            pl.len().cast(pl.Int64).alias("customers"),
            pl.col("repurchased").sum().cast(pl.Int64).alias("repurchasers"),
            pl.col("next_revenue").sum().alias("next_period_revenue"),
            pl.col("active").sum().cast(pl.Int64).alias("active_customers"),
            pl.col("churned").sum().cast(pl.Int64).alias("churned_customers"),
            *(satisfaction_counts("next_") if with_feedback else []),
        )
        parts.append(
            counts.with_columns(pl.lit(dimension).alias("dimension"))
            .with_columns(
                pl.lit(None, dtype=OUTCOME_COUNT_SCHEMA[column]).alias(column)
                for column in _SATISFACTION_COUNTS
                if column not in counts.columns
            )
            .select(list(OUTCOME_COUNT_SCHEMA))
            .cast(OUTCOME_COUNT_SCHEMA)
        )
    return pl.concat(parts)


_SATISFACTION_COUNTS = [
    "next_nps_respondents",
    "next_promoters",
    "next_detractors",
    "next_complainers",
]


def outcomes_of_counts(counts: pl.DataFrame, confidence: float = 0.95) -> pl.DataFrame:
    """``marts.segment_outcomes`` from :func:`outcome_counts` rows, one per snapshot, dimension
    and segment (the parts' counts added up): the rates, the NPS and its interval (null where
    the satisfaction counts are), sorted."""
    outcomes = counts.with_columns(
        (pl.col("repurchasers") / pl.col("customers")).alias("repurchase_rate"),
        (pl.col("next_period_revenue") / pl.col("customers")).alias("revenue_per_customer"),
        pl.when(pl.col("active_customers") > 0)
        .then(pl.col("churned_customers") / pl.col("active_customers"))
        .otherwise(None)
        .alias("churn_rate"),
        nps_expr("next_promoters", "next_detractors", "next_nps_respondents").alias("next_nps"),
        (pl.col("next_complainers") / pl.col("customers")).alias("next_complaint_rate"),
    )
    outcomes = with_nps_interval(
        outcomes,
        confidence,
        counts=("next_promoters", "next_detractors", "next_nps_respondents"),
        bounds=("next_nps_ci_low", "next_nps_ci_high"),
    )
    return (
        pl.concat([pl.DataFrame(schema=OUTCOME_SCHEMA), outcomes.select(list(OUTCOME_SCHEMA))])
        .cast(OUTCOME_SCHEMA)
        .sort("snapshot_date", "dimension", "segment")
    )
