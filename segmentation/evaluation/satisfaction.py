"""Satisfaction per segment: NPS with its confidence interval, average CSAT and complaint rate.

Computed per snapshot, dimension and segment from the feedback columns of the segments table
(``nps_class``, ``avg_csat_180d``, ``complaints_90d``, ``days_since_last_feedback``), which the
features layer computes point in time with the windows of ``features.feedback``:

* ``respondents``: customers with feedback of any kind on or before the snapshot;
* ``nps_respondents``: customers with an NPS answer on or before the snapshot, counted by the
  class of their latest answer (``promoters``, ``passives``, ``detractors``); each customer counts
  once, however often they answered;
* ``nps`` = 100 x (promoters - detractors) / nps_respondents, from -100 to 100; its interval is
  the adjusted Wald interval of Rocks (2016): 3/4 of a respondent is added to the promoters and
  to the detractors (3 to the respondents, so 3/2 to the passives), and the Wald interval of
  the trinomial difference is taken around the adjusted estimate, clipped to [-100, 100];
* ``avg_csat``: mean over the ``csat_respondents`` of each one's average CSAT in the CSAT window
  (every customer weighs the same, however many answers they gave);
* ``complaint_rate``: ``complainers`` (customers with a complaint in the complaint window) /
  customers in the segment: complaints are not asked for, so everyone can complain.

Without a feedback source (``complaints_90d`` null for everyone at a snapshot) the snapshot has
no rows: there is nothing to summarise, and a table of ``unknown`` would only say that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import polars as pl

from segmentation.segments.build import dimension_columns

# Rocks (2016): add 3/4 of an observation to promoters and detractors, 3 to the sample size
_ADJUSTMENT = 0.75
_ADJUSTED_TRIALS = 3.0
# the segments-table column that is null for every customer exactly when there is no feedback
_FEEDBACK_EVIDENCE = "complaints_90d"

SATISFACTION_SCHEMA = {
    "snapshot_date": pl.Date,
    "dimension": pl.String,
    "segment": pl.String,
    "customers": pl.Int64,
    "respondents": pl.Int64,
    "nps_respondents": pl.Int64,
    "promoters": pl.Int64,
    "passives": pl.Int64,
    "detractors": pl.Int64,
    "nps": pl.Float64,
    "nps_ci_low": pl.Float64,
    "nps_ci_high": pl.Float64,
    "csat_respondents": pl.Int64,
    "avg_csat": pl.Float64,
    "complainers": pl.Int64,
    "complaint_rate": pl.Float64,
}


def _normal_quantile(confidence: float) -> float:
    # Imported on use, as in strategy_effect: scipy.stats is slow to import.
    from scipy import stats

    return float(stats.norm.ppf(0.5 + confidence / 2))


def nps_interval(
    promoters: int, detractors: int, respondents: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Adjusted Wald interval of the NPS (Rocks 2016), in NPS points (-100..100).

    With n' = n + 3, p' = (promoters + 3/4) / n' and d' = (detractors + 3/4) / n', the interval
    is (p' - d') +- z * sqrt((p' + d' - (p' - d')^2) / n'), clipped to [-100, 100].

    Raises:
        ValueError: If the counts are negative or promoters + detractors > respondents.
    """
    if min(promoters, detractors) < 0 or promoters + detractors > respondents:
        raise ValueError(
            f"promoters ({promoters}) and detractors ({detractors}) must be non-negative and "
            f"together at most the respondents ({respondents})"
        )
    trials = respondents + _ADJUSTED_TRIALS
    share_promoters = (promoters + _ADJUSTMENT) / trials
    share_detractors = (detractors + _ADJUSTMENT) / trials
    centre = share_promoters - share_detractors
    variance = (share_promoters + share_detractors - centre**2) / trials
    margin = _normal_quantile(confidence) * math.sqrt(variance)
    return max(-100.0, 100 * (centre - margin)), min(100.0, 100 * (centre + margin))


def has_feedback_source(segments: pl.DataFrame) -> bool:
    """Whether the feedback source was configured for these segments rows (its count columns
    are non-null for every customer then, null for every customer otherwise)."""
    return (
        _FEEDBACK_EVIDENCE in segments.columns
        and segments.get_column(_FEEDBACK_EVIDENCE).null_count() < segments.height
    )


def with_nps_interval(
    frame: pl.DataFrame,
    confidence: float,
    counts: tuple[str, str, str] = ("promoters", "detractors", "nps_respondents"),
    bounds: tuple[str, str] = ("nps_ci_low", "nps_ci_high"),
) -> pl.DataFrame:
    """``frame`` with the bounds of :func:`nps_interval` from its (promoters, detractors,
    respondents) ``counts`` columns, as the ``bounds`` columns (null without respondents)."""
    lows, highs = [], []
    for promoters, detractors, respondents in frame.select(*counts).iter_rows():
        if respondents:
            low, high = nps_interval(promoters, detractors, respondents, confidence)
        else:
            low = high = None
        lows.append(low)
        highs.append(high)
    return frame.with_columns(
        pl.Series(bounds[0], lows, dtype=pl.Float64),
        pl.Series(bounds[1], highs, dtype=pl.Float64),
    )


def nps_difference(
    group_a: tuple[int, int, int], group_b: tuple[int, int, int], confidence: float = 0.95
) -> tuple[float, float, float]:
    """Interval and p-value of NPS(a) - NPS(b) for two independent groups, in NPS points.

    Each group is (promoters, detractors, respondents) and is adjusted as in :func:`nps_interval`
    (3/4 added to its promoters and detractors, 3 to its respondents); the difference of the
    adjusted NPS has the sum of the two adjusted variances, and the interval is the Wald interval
    around it (the adjusted Wald difference of Lewis and Sauro, 2021), clipped to [-200, 200].
    The p-value is that of the z-statistic difference / standard error.

    Returns:
        (ci_low, ci_high, p_value).
    """
    centres, variances = [], []
    for promoters, detractors, respondents in (group_a, group_b):
        if min(promoters, detractors) < 0 or promoters + detractors > respondents:
            raise ValueError(
                f"promoters ({promoters}) and detractors ({detractors}) must be non-negative "
                f"and together at most the respondents ({respondents})"
            )
        trials = respondents + _ADJUSTED_TRIALS
        share_promoters = (promoters + _ADJUSTMENT) / trials
        share_detractors = (detractors + _ADJUSTMENT) / trials
        centre = share_promoters - share_detractors
        centres.append(centre)
        variances.append((share_promoters + share_detractors - centre**2) / trials)
    difference = centres[0] - centres[1]
    standard_error = math.sqrt(variances[0] + variances[1])
    margin = _normal_quantile(confidence) * standard_error
    from scipy import stats

    p_value = float(2 * stats.norm.sf(abs(difference) / standard_error))
    return (
        max(-200.0, 100 * (difference - margin)),
        min(200.0, 100 * (difference + margin)),
        p_value,
    )


def satisfaction_summary(
    segments: pl.DataFrame,
    dimensions: Sequence[str] | None = None,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Respondents, NPS with its interval, average CSAT and complaint rate per segment.

    Args:
        segments: Segments-table rows (snapshot_date, customer_id, nps_class, avg_csat_180d,
            complaints_90d, days_since_last_feedback and the ``dimensions`` columns).
        dimensions: Segment columns to break the summary down by; default: every segment
            dimension of ``segments`` (those of ``marts.segment_summary``).
        confidence: Confidence level of the NPS interval.

    Returns:
        Columns of :data:`SATISFACTION_SCHEMA`, one row per snapshot with feedback, dimension and
        segment, sorted; no rows without a feedback source.
    """
    if segments.is_empty() or not has_feedback_source(segments):
        return pl.DataFrame(schema=SATISFACTION_SCHEMA)
    if dimensions is None:
        dimensions = dimension_columns(segments)
    csat = pl.col("avg_csat_180d").mean().alias("avg_csat")
    return finish_satisfaction(_satisfaction_aggregates(segments, dimensions, csat), confidence)


# the counts and sums of SATISFACTION_SCHEMA: any split of the customers gives them in parts
# that add up
SATISFACTION_SUMS_SCHEMA = {
    "snapshot_date": pl.Date,
    "dimension": pl.String,
    "segment": pl.String,
    "customers": pl.Int64,
    "respondents": pl.Int64,
    "promoters": pl.Int64,
    "passives": pl.Int64,
    "detractors": pl.Int64,
    "csat_respondents": pl.Int64,
    "csat_sum": pl.Float64,
    "complainers": pl.Int64,
}


def satisfaction_sums(segments: pl.DataFrame, dimensions: Sequence[str]) -> pl.DataFrame:
    """The counts and the CSAT sum :func:`satisfaction_summary` turns into its measures, for
    any part of the customers of snapshots with a feedback source
    (``SATISFACTION_SUMS_SCHEMA``). The sums of several parts' rows, finished by
    :func:`satisfaction_of_sums`, are the summary of all of them (the CSAT sum to rounding)."""
    csat = pl.col("avg_csat_180d").sum().alias("csat_sum")
    sums = _satisfaction_aggregates(segments, dimensions, csat)
    return pl.concat([pl.DataFrame(schema=SATISFACTION_SUMS_SCHEMA), sums], how="diagonal").select(
        list(SATISFACTION_SUMS_SCHEMA)
    )


def satisfaction_of_sums(sums: pl.DataFrame, confidence: float = 0.95) -> pl.DataFrame:
    """``marts.satisfaction_summary`` from :func:`satisfaction_sums` rows, one per snapshot,
    dimension and segment (the parts' sums added up)."""
    respondents = pl.col("csat_respondents")
    average = pl.when(respondents > 0).then(pl.col("csat_sum") / respondents).otherwise(None)
    return finish_satisfaction(
        sums.with_columns(average.alias("avg_csat")).drop("csat_sum"), confidence
    )


def _satisfaction_aggregates(
    segments: pl.DataFrame, dimensions: Sequence[str], csat: pl.Expr
) -> pl.DataFrame:
    """The counts and the ``csat`` aggregate per snapshot, dimension and segment."""
    base = segments.with_columns(
        pl.col("days_since_last_feedback").is_not_null().alias("responded"),
        (pl.col("complaints_90d").fill_null(0) >= 1).alias("complained"),
    )
    parts = []
    for dimension in dimensions:
        parts.append(
            base.group_by("snapshot_date", pl.col(dimension).cast(pl.String).alias("segment"))
            .agg(
                pl.len().cast(pl.Int64).alias("customers"),
                pl.col("responded").sum().cast(pl.Int64).alias("respondents"),
                *(
                    (pl.col("nps_class") == name).sum().cast(pl.Int64).alias(alias)
                    for name, alias in (
                        ("promoter", "promoters"),
                        ("passive", "passives"),
                        ("detractor", "detractors"),
                    )
                ),
                pl.col("avg_csat_180d").count().cast(pl.Int64).alias("csat_respondents"),
                csat,
                pl.col("complained").sum().cast(pl.Int64).alias("complainers"),
            )
            .with_columns(pl.lit(dimension).alias("dimension"))
        )
    return pl.concat(parts) if parts else pl.DataFrame()


def finish_satisfaction(aggregates: pl.DataFrame, confidence: float = 0.95) -> pl.DataFrame:
    """``marts.satisfaction_summary`` from its per-segment counts and avg_csat: the NPS with
    its interval and the complaint rate, in the table's columns, types and order."""
    if aggregates.is_empty():
        return pl.DataFrame(schema=SATISFACTION_SCHEMA)
    summary = aggregates.with_columns(
        (pl.col("promoters") + pl.col("passives") + pl.col("detractors")).alias("nps_respondents"),
        (pl.col("complainers") / pl.col("customers")).alias("complaint_rate"),
    ).with_columns(
        pl.when(pl.col("nps_respondents") > 0)
        .then(100 * (pl.col("promoters") - pl.col("detractors")) / pl.col("nps_respondents"))
        .otherwise(None)
        .alias("nps")
    )
    finished = with_nps_interval(summary, confidence).select(list(SATISFACTION_SCHEMA))
    return pl.concat(
        [pl.DataFrame(schema=SATISFACTION_SCHEMA), finished.cast(SATISFACTION_SCHEMA)]
    ).sort("snapshot_date", "dimension", "segment")
