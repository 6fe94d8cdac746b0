"""Satisfaction in the period after a snapshot: NPS among respondents and the complaint rate.

Inputs: ``next_period_feedback`` (from ``sql/evaluation/next_period_feedback.sql``), per
snapshot_date and customer_id with feedback in that snapshot's next period (snapshot_date, next
snapshot_date]: ``nps_class``, the class of the customer's latest NPS answer in the period (null
without one), and ``complaints``, the period's complaints. A customer without a row gave no
feedback in the period.

Definitions, per group of customers (a segment, or a strategy's treated or control group):

* ``nps_respondents``: customers with an NPS answer in the period, each counted once by the
  class of their latest answer; ``nps`` = 100 x (promoters - detractors) / nps_respondents, with
  the adjusted Wald interval of Rocks (2016) (:func:`~segmentation.evaluation.satisfaction.
  nps_interval`);
* ``complaint_rate`` = customers with at least one complaint in the period / customers in the
  group: complaints are not asked for, so every customer can complain.

These measures exist only where feedback exists: without a feedback source they are null, not 0.
"""

from __future__ import annotations

import polars as pl

FEEDBACK_SCHEMA = {
    "snapshot_date": pl.Date,
    "customer_id": pl.String,
    "nps_class": pl.String,
    "complaints": pl.Int64,
}
_KEYS = ["snapshot_date", "customer_id"]


def with_next_period_feedback(frame: pl.DataFrame, feedback: pl.DataFrame) -> pl.DataFrame:
    """Add ``next_nps_class`` (null without an NPS answer in the period) and ``next_complaints``
    (0 for customers without a feedback row).

    Raises:
        ValueError: If ``feedback`` lacks a column or repeats a (snapshot_date, customer_id).
    """
    missing = [column for column in FEEDBACK_SCHEMA if column not in feedback.columns]
    if missing:
        raise ValueError(f"next_period_feedback lacks columns: {', '.join(missing)}")
    feedback = feedback.select(list(FEEDBACK_SCHEMA)).cast(FEEDBACK_SCHEMA)
    if feedback.select(pl.struct(_KEYS).is_duplicated().any()).item():
        raise ValueError("next_period_feedback repeats a (snapshot_date, customer_id)")
    return frame.join(
        feedback.rename({"nps_class": "next_nps_class", "complaints": "next_complaints"}),
        on=_KEYS,
        how="left",
        validate="m:1",
        maintain_order="left",
    ).with_columns(pl.col("next_complaints").fill_null(0))


def satisfaction_counts(prefix: str = "") -> list[pl.Expr]:
    """Aggregations over rows of :func:`with_next_period_feedback`: ``<prefix>nps_respondents``,
    ``<prefix>promoters``, ``<prefix>detractors`` and ``<prefix>complainers``."""
    nps_class = pl.col("next_nps_class")
    return [
        nps_class.is_not_null().sum().cast(pl.Int64).alias(f"{prefix}nps_respondents"),
        (nps_class == "promoter").sum().cast(pl.Int64).alias(f"{prefix}promoters"),
        (nps_class == "detractor").sum().cast(pl.Int64).alias(f"{prefix}detractors"),
        (pl.col("next_complaints") >= 1).sum().cast(pl.Int64).alias(f"{prefix}complainers"),
    ]


def nps_expr(promoters: str, detractors: str, respondents: str) -> pl.Expr:
    """100 x (promoters - detractors) / respondents; null without respondents."""
    return (
        pl.when(pl.col(respondents) > 0)
        .then(100 * (pl.col(promoters) - pl.col(detractors)) / pl.col(respondents))
        .otherwise(None)
    )
