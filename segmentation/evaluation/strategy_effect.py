"""Effect of each strategy: treated vs control customers in the period after the snapshot.

Per snapshot and strategy, treated (``is_control`` false) and control customers are compared on

* repurchase rate (share with >= 1 purchase order in the next period): difference treated -
  control with Newcombe's hybrid score interval (method 10 of Newcombe 1998, built from the two
  Wilson score intervals) and the two-sided p-value of the pooled two-proportion z-test;
* revenue per customer (next-period net revenue, 0 without activity): difference of means with
  Welch's t interval (Welch-Satterthwaite degrees of freedom) and Welch's two-sided p-value.

With a feedback source, also on the next period's satisfaction (see
:mod:`segmentation.evaluation.satisfaction_outcomes`):

* NPS among the group's customers who answered an NPS survey in the next period: difference
  treated - control with the adjusted Wald interval of the difference (each group adjusted as in
  Rocks 2016, Lewis and Sauro 2021) and its two-sided z-test p-value; null, with a note, when a
  group has fewer NPS respondents than ``min_group_size`` (``note`` keeps explaining only the
  purchase outcomes, as before feedback existed);
* complaint rate (customers with a complaint in the next period / customers): difference with
  Newcombe's interval and the pooled z-test, as for the repurchase rate.

Without a feedback source the satisfaction columns are null. Intervals and p-values are left
null, with a ``note``, when a group is empty or smaller than
``min_group_size``, or (revenue only) when both groups have zero variance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from types import ModuleType

import numpy as np
import polars as pl

from segmentation.evaluation.outcomes import with_next_period_activity
from segmentation.evaluation.satisfaction import nps_difference
from segmentation.evaluation.satisfaction_outcomes import with_next_period_feedback

EFFECT_SCHEMA = {
    "snapshot_date": pl.Date,
    "strategy": pl.String,
    "treated_customers": pl.Int64,
    "control_customers": pl.Int64,
    "treated_repurchase_rate": pl.Float64,
    "control_repurchase_rate": pl.Float64,
    "repurchase_rate_diff": pl.Float64,
    "repurchase_rate_diff_ci_low": pl.Float64,
    "repurchase_rate_diff_ci_high": pl.Float64,
    "repurchase_rate_p_value": pl.Float64,
    "treated_revenue_per_customer": pl.Float64,
    "control_revenue_per_customer": pl.Float64,
    "revenue_per_customer_diff": pl.Float64,
    "revenue_per_customer_diff_ci_low": pl.Float64,
    "revenue_per_customer_diff_ci_high": pl.Float64,
    "revenue_per_customer_p_value": pl.Float64,
    "note": pl.String,
    "treated_nps_respondents": pl.Int64,
    "control_nps_respondents": pl.Int64,
    "treated_nps": pl.Float64,
    "control_nps": pl.Float64,
    "nps_diff": pl.Float64,
    "nps_diff_ci_low": pl.Float64,
    "nps_diff_ci_high": pl.Float64,
    "nps_p_value": pl.Float64,
    "treated_complaint_rate": pl.Float64,
    "control_complaint_rate": pl.Float64,
    "complaint_rate_diff": pl.Float64,
    "complaint_rate_diff_ci_low": pl.Float64,
    "complaint_rate_diff_ci_high": pl.Float64,
    "complaint_rate_p_value": pl.Float64,
    "satisfaction_note": pl.String,
}


def _scipy_stats() -> ModuleType:
    # Imported on use: scipy.stats takes seconds to import and only the statistics need it.
    from scipy import stats

    return stats


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (no continuity correction)."""
    interval = (
        _scipy_stats()
        .binomtest(successes, trials)
        .proportion_ci(confidence_level=confidence, method="wilson")
    )
    return float(interval.low), float(interval.high)


def newcombe_interval(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Newcombe's hybrid score interval for the difference of proportions p_a - p_b."""
    p_a, p_b = successes_a / trials_a, successes_b / trials_b
    low_a, high_a = wilson_interval(successes_a, trials_a, confidence)
    low_b, high_b = wilson_interval(successes_b, trials_b, confidence)
    difference = p_a - p_b
    low = difference - math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2)
    high = difference + math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)
    return low, high


def two_proportion_p_value(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int
) -> float:
    """Two-sided p-value of the pooled two-proportion z-test (1.0 when nobody or everybody
    succeeded in both groups: the groups cannot differ)."""
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    standard_error = math.sqrt(pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b))
    if standard_error == 0:
        return 1.0
    z = (successes_a / trials_a - successes_b / trials_b) / standard_error
    return float(2 * _scipy_stats().norm.sf(abs(z)))


def welch_interval(
    values_a: np.ndarray, values_b: np.ndarray, confidence: float = 0.95
) -> tuple[float, float, float] | None:
    """Welch's interval and p-value for mean(a) - mean(b); None when both variances are 0.

    Returns:
        (ci_low, ci_high, p_value).
    """
    return welch_of_moments(
        (values_a.size, float(values_a.mean()), float(np.var(values_a, ddof=1))),
        (values_b.size, float(values_b.mean()), float(np.var(values_b, ddof=1))),
        confidence,
    )


def welch_of_moments(
    moments_a: tuple[int, float, float],
    moments_b: tuple[int, float, float],
    confidence: float = 0.95,
) -> tuple[float, float, float] | None:
    """:func:`welch_interval` from each group's (size, mean, variance with ddof=1)."""
    (n_a, mean_a, variance_a), (n_b, mean_b, variance_b) = moments_a, moments_b
    var_a = variance_a / n_a
    var_b = variance_b / n_b
    standard_error = math.sqrt(var_a + var_b)
    if standard_error == 0:
        return None
    degrees = (var_a + var_b) ** 2 / (var_a**2 / (n_a - 1) + var_b**2 / (n_b - 1))
    difference = mean_a - mean_b
    t_distribution = _scipy_stats().t
    margin = float(t_distribution.ppf(0.5 + confidence / 2, degrees)) * standard_error
    p_value = float(2 * t_distribution.sf(abs(difference) / standard_error, degrees))
    return difference - margin, difference + margin, p_value


@dataclass(frozen=True)
class GroupOutcomes:
    """What the effect compares of a treated or a control group.

    Attributes:
        customers: The group's customers.
        repurchasers: Those with a purchase order in the next period.
        revenue_mean: Their mean next-period revenue (None without customers).
        revenue_variance: Its variance with ddof=1 (None below two customers).
        nps: (promoters, detractors, NPS respondents) in the next period; None without a
            feedback source.
        complainers: Customers with a complaint in the next period; None without a feedback
            source.
    """

    customers: int
    repurchasers: int
    revenue_mean: float | None
    revenue_variance: float | None
    nps: tuple[int, int, int] | None = None
    complainers: int | None = None


def group_outcomes(group: pl.DataFrame, feedback: bool) -> GroupOutcomes:
    """The :class:`GroupOutcomes` of a group's rows (next_orders, next_revenue, and with
    ``feedback`` next_nps_class and next_complaints)."""
    revenue = group.get_column("next_revenue").to_numpy().astype(float)
    return GroupOutcomes(
        customers=group.height,
        repurchasers=int((group.get_column("next_orders") >= 1).sum()),
        revenue_mean=float(revenue.mean()) if revenue.size else None,
        revenue_variance=float(np.var(revenue, ddof=1)) if revenue.size >= 2 else None,
        nps=_nps_counts(group) if feedback else None,
        complainers=int((group.get_column("next_complaints") >= 1).sum()) if feedback else None,
    )


def _compare(
    treated: GroupOutcomes, control: GroupOutcomes, confidence: float, min_group_size: int
) -> dict[str, object]:
    n_t, n_c = treated.customers, control.customers
    row: dict[str, object] = {"treated_customers": n_t, "control_customers": n_c}
    notes: list[str] = []
    bought_t, bought_c = treated.repurchasers, control.repurchasers
    if n_t:
        row["treated_repurchase_rate"] = bought_t / n_t
        row["treated_revenue_per_customer"] = treated.revenue_mean
    if n_c:
        row["control_repurchase_rate"] = bought_c / n_c
        row["control_revenue_per_customer"] = control.revenue_mean
    if n_t and n_c:
        row["repurchase_rate_diff"] = bought_t / n_t - bought_c / n_c
        row["revenue_per_customer_diff"] = treated.revenue_mean - control.revenue_mean  # type: ignore[operator]
    if n_c == 0:
        notes.append("no control customers: no comparison")
    elif n_t == 0:
        notes.append("no treated customers: no comparison")
    elif min(n_t, n_c) < max(min_group_size, 2):
        notes.append(
            f"group too small for intervals (treated {n_t}, control {n_c}; "
            f"minimum {max(min_group_size, 2)})"
        )
    else:
        low, high = newcombe_interval(bought_t, n_t, bought_c, n_c, confidence)
        row["repurchase_rate_diff_ci_low"] = low
        row["repurchase_rate_diff_ci_high"] = high
        row["repurchase_rate_p_value"] = two_proportion_p_value(bought_t, n_t, bought_c, n_c)
        welch = welch_of_moments(
            (n_t, treated.revenue_mean, treated.revenue_variance),  # type: ignore[arg-type]
            (n_c, control.revenue_mean, control.revenue_variance),  # type: ignore[arg-type]
            confidence,
        )
        if welch is None:
            notes.append("revenue has no variance in either group: no revenue interval")
        else:
            low, high, p_value = welch
            row["revenue_per_customer_diff_ci_low"] = low
            row["revenue_per_customer_diff_ci_high"] = high
            row["revenue_per_customer_p_value"] = p_value
    row["note"] = "; ".join(notes) if notes else None
    return row


def _nps_counts(group: pl.DataFrame) -> tuple[int, int, int]:
    nps_class = group.get_column("next_nps_class")
    return (
        int((nps_class == "promoter").sum()),
        int((nps_class == "detractor").sum()),
        int(nps_class.is_not_null().sum()),
    )


def _compare_satisfaction(
    treated: GroupOutcomes, control: GroupOutcomes, confidence: float, min_group_size: int
) -> tuple[dict[str, object], list[str]]:
    n_t, n_c = treated.customers, control.customers
    row: dict[str, object] = {}
    notes: list[str] = []
    (promoters_t, detractors_t, answered_t) = treated.nps or (0, 0, 0)
    (promoters_c, detractors_c, answered_c) = control.nps or (0, 0, 0)
    row["treated_nps_respondents"] = answered_t
    row["control_nps_respondents"] = answered_c
    if answered_t:
        row["treated_nps"] = 100 * (promoters_t - detractors_t) / answered_t
    if answered_c:
        row["control_nps"] = 100 * (promoters_c - detractors_c) / answered_c
    if answered_t and answered_c:
        row["nps_diff"] = row["treated_nps"] - row["control_nps"]  # type: ignore[operator]
    smallest = max(min_group_size, 2)
    comparable = min(n_t, n_c) >= smallest  # otherwise _compare's note already says so
    if comparable and min(answered_t, answered_c) < smallest:
        notes.append(
            f"too few NPS respondents for an NPS interval (treated {answered_t}, control "
            f"{answered_c}; minimum {smallest})"
        )
    elif comparable:
        low, high, p_value = nps_difference(
            (promoters_t, detractors_t, answered_t),
            (promoters_c, detractors_c, answered_c),
            confidence,
        )
        row |= {"nps_diff_ci_low": low, "nps_diff_ci_high": high, "nps_p_value": p_value}
    complained_t, complained_c = treated.complainers or 0, control.complainers or 0
    if n_t:
        row["treated_complaint_rate"] = complained_t / n_t
    if n_c:
        row["control_complaint_rate"] = complained_c / n_c
    if n_t and n_c:
        row["complaint_rate_diff"] = complained_t / n_t - complained_c / n_c
        if comparable:
            low, high = newcombe_interval(complained_t, n_t, complained_c, n_c, confidence)
            row["complaint_rate_diff_ci_low"] = low
            row["complaint_rate_diff_ci_high"] = high
            row["complaint_rate_p_value"] = two_proportion_p_value(
                complained_t, n_t, complained_c, n_c
            )
    return row, notes


def strategy_effect(
    assignments: pl.DataFrame,
    next_period_activity: pl.DataFrame,
    confidence: float = 0.95,
    min_group_size: int = 5,
    next_period_feedback: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Treated vs control outcomes of every strategy of every snapshot.

    Args:
        assignments: The strategy assignments (snapshot_date, customer_id, strategy,
            is_control).
        next_period_activity: snapshot_date, customer_id, orders, revenue: each customer's
            purchase orders and net revenue in (snapshot_date, next snapshot_date]; customers
            without a row had none.
        confidence: Confidence level of the intervals.
        min_group_size: Smallest treated and control group (at least 2) that gets intervals
            and p-values.
        next_period_feedback: snapshot_date, customer_id, nps_class, complaints: feedback in
            the next period (see :mod:`~segmentation.evaluation.satisfaction_outcomes`); None
            (no feedback source) leaves the satisfaction columns null.

    Returns:
        Columns of :data:`EFFECT_SCHEMA`, one row per snapshot and strategy, sorted.
    """
    joined = with_next_period_activity(
        assignments.select("snapshot_date", "customer_id", "strategy", "is_control"),
        next_period_activity,
    )
    if next_period_feedback is not None:
        joined = with_next_period_feedback(joined, next_period_feedback)
    feedback = next_period_feedback is not None
    groups = []
    for (snapshot_date, strategy), group in joined.group_by(
        ["snapshot_date", "strategy"], maintain_order=True
    ):
        treated = group_outcomes(group.filter(~pl.col("is_control")), feedback)
        control = group_outcomes(group.filter(pl.col("is_control")), feedback)
        groups.append((snapshot_date, strategy, treated, control))
    return effect_of_groups(groups, feedback, confidence, min_group_size)


def effect_of_groups(
    groups: Iterable[tuple[date, str, GroupOutcomes, GroupOutcomes]],
    feedback: bool,
    confidence: float = 0.95,
    min_group_size: int = 5,
) -> pl.DataFrame:
    """``marts.strategy_effect`` from each snapshot's and strategy's treated and control
    :class:`GroupOutcomes` (the satisfaction columns with ``feedback``), sorted; the
    arguments as :func:`strategy_effect`'s."""
    rows = []
    for snapshot_date, strategy, treated, control in groups:
        row = _compare(treated, control, confidence, min_group_size)
        if feedback:
            satisfaction, notes = _compare_satisfaction(
                treated, control, confidence, min_group_size
            )
            row |= satisfaction | {"satisfaction_note": "; ".join(notes) or None}
        rows.append({"snapshot_date": snapshot_date, "strategy": strategy, **row})
    effect = pl.DataFrame(
        [{column: row.get(column) for column in EFFECT_SCHEMA} for row in rows],
        schema=EFFECT_SCHEMA,
        orient="row",
    )
    return effect.sort("snapshot_date", "strategy")
