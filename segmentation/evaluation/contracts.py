"""Contracts of the evaluation tables: segment migration, segment outcomes, strategy effect,
satisfaction summary."""

from __future__ import annotations

from datetime import date

import pandera.polars as pa
import polars as pl

_RATE = {"ge": 0.0, "le": 1.0}


class SegmentMigrationContract(pa.DataFrameModel):
    """Customers moving between segments from one snapshot to the next, per dimension."""

    from_snapshot: date = pa.Field(description="The earlier snapshot date.")
    to_snapshot: date = pa.Field(description="The next snapshot date.")
    dimension: str = pa.Field(description="Segment dimension (a segments-table column).")
    from_segment: str = pa.Field(description="Segment at from_snapshot.")
    to_segment: str = pa.Field(description="Segment at to_snapshot.")
    customers: pl.Int64 = pa.Field(
        ge=1,
        description="Customers present in both snapshots who moved from from_segment to "
        "to_segment; per snapshot pair and dimension these add up to the customers present "
        "in both snapshots (customers in only one snapshot are not counted).",
    )

    class Config:
        strict = True
        unique = ["from_snapshot", "to_snapshot", "dimension", "from_segment", "to_segment"]


class SegmentOutcomesContract(pa.DataFrameModel):
    """What each segment did in the period after its snapshot, per dimension."""

    snapshot_date: date = pa.Field(description="Snapshot the segments are taken from.")
    next_snapshot_date: date = pa.Field(
        description="The next snapshot; the period measured is (snapshot_date, next_snapshot_date]."
    )
    dimension: str = pa.Field(description="Segment dimension (a segments-table column).")
    segment: str = pa.Field(description="Segment label at snapshot_date.")
    customers: pl.Int64 = pa.Field(ge=1, description="Customers in the segment at the snapshot.")
    repurchasers: pl.Int64 = pa.Field(
        ge=0, description="Customers with at least one purchase order in the next period."
    )
    repurchase_rate: pl.Float64 = pa.Field(**_RATE, description="repurchasers / customers.")
    next_period_revenue: pl.Float64 = pa.Field(
        description="Net revenue of the segment's customers in the next period."
    )
    revenue_per_customer: pl.Float64 = pa.Field(
        description="next_period_revenue / customers (customers without activity count as 0)."
    )
    active_customers: pl.Int64 = pa.Field(
        ge=0,
        description="Customers active at the snapshot (lifecycle stage neither potential nor "
        "lost) and present at the next snapshot: the churn rate's denominator.",
    )
    churned_customers: pl.Int64 = pa.Field(
        ge=0, description="Active customers whose lifecycle stage at the next snapshot is lost."
    )
    churn_rate: pl.Float64 = pa.Field(
        **_RATE,
        nullable=True,
        description="churned_customers / active_customers; null without active customers.",
    )
    next_nps_respondents: pl.Int64 = pa.Field(
        ge=0,
        nullable=True,
        description="Customers of the segment with an NPS answer in the next period (each "
        "counted once, by the latest answer); null without a feedback source.",
    )
    next_promoters: pl.Int64 = pa.Field(
        ge=0,
        nullable=True,
        description="Of them, promoters (latest answer in the period 9-10 by default).",
    )
    next_detractors: pl.Int64 = pa.Field(
        ge=0,
        nullable=True,
        description="Of them, detractors (latest answer in the period 0-6 by default).",
    )
    next_nps: pl.Float64 = pa.Field(
        ge=-100,
        le=100,
        nullable=True,
        description="NPS among the next period's respondents: 100 x (next_promoters - "
        "next_detractors) / next_nps_respondents; null without respondents.",
    )
    next_nps_ci_low: pl.Float64 = pa.Field(
        ge=-100,
        le=100,
        nullable=True,
        description="Lower bound of the 95% adjusted Wald interval of next_nps (Rocks 2016).",
    )
    next_nps_ci_high: pl.Float64 = pa.Field(
        ge=-100, le=100, nullable=True, description="Upper bound of that interval."
    )
    next_complainers: pl.Int64 = pa.Field(
        ge=0,
        nullable=True,
        description="Customers of the segment with a complaint in the next period; null "
        "without a feedback source.",
    )
    next_complaint_rate: pl.Float64 = pa.Field(
        **_RATE, nullable=True, description="next_complainers / customers."
    )

    class Config:
        strict = True
        unique = ["snapshot_date", "dimension", "segment"]


class StrategyEffectContract(pa.DataFrameModel):
    """Treated vs control outcomes of each strategy in the period after the snapshot."""

    snapshot_date: date = pa.Field(description="Snapshot the strategies were assigned at.")
    strategy: str = pa.Field(description="Playbook strategy.")
    treated_customers: pl.Int64 = pa.Field(ge=0, description="Customers actioned.")
    control_customers: pl.Int64 = pa.Field(
        ge=0, description="Customers assigned the strategy but held out (no action)."
    )
    treated_repurchase_rate: pl.Float64 = pa.Field(
        **_RATE,
        nullable=True,
        description="Share of treated customers with >= 1 purchase order in the next period.",
    )
    control_repurchase_rate: pl.Float64 = pa.Field(
        **_RATE, nullable=True, description="The same for control customers."
    )
    repurchase_rate_diff: pl.Float64 = pa.Field(
        nullable=True, description="Treated minus control repurchase rate."
    )
    repurchase_rate_diff_ci_low: pl.Float64 = pa.Field(
        nullable=True,
        description="Lower bound of the confidence interval of the difference (Newcombe's "
        "hybrid score interval); null when a group is empty or too small.",
    )
    repurchase_rate_diff_ci_high: pl.Float64 = pa.Field(
        nullable=True, description="Upper bound of that interval."
    )
    repurchase_rate_p_value: pl.Float64 = pa.Field(
        **_RATE,
        nullable=True,
        description="Two-sided p-value of the pooled two-proportion z-test.",
    )
    treated_revenue_per_customer: pl.Float64 = pa.Field(
        nullable=True, description="Mean next-period net revenue of treated customers."
    )
    control_revenue_per_customer: pl.Float64 = pa.Field(
        nullable=True, description="Mean next-period net revenue of control customers."
    )
    revenue_per_customer_diff: pl.Float64 = pa.Field(
        nullable=True, description="Treated minus control revenue per customer."
    )
    revenue_per_customer_diff_ci_low: pl.Float64 = pa.Field(
        nullable=True,
        description="Lower bound of Welch's t confidence interval of the difference; null "
        "when a group is empty or too small or neither group's revenue varies.",
    )
    revenue_per_customer_diff_ci_high: pl.Float64 = pa.Field(
        nullable=True, description="Upper bound of that interval."
    )
    revenue_per_customer_p_value: pl.Float64 = pa.Field(
        **_RATE, nullable=True, description="Two-sided p-value of Welch's t-test."
    )
    note: str = pa.Field(
        nullable=True,
        description="Why an interval is missing (empty or too small group, no variance); "
        "null when everything was computed.",
    )
    treated_nps_respondents: pl.Int64 = pa.Field(
        ge=0,
        nullable=True,
        description="Treated customers with an NPS answer in the next period; null without a "
        "feedback source.",
    )
    control_nps_respondents: pl.Int64 = pa.Field(
        ge=0, nullable=True, description="Control customers with an NPS answer in the next period."
    )
    treated_nps: pl.Float64 = pa.Field(
        ge=-100,
        le=100,
        nullable=True,
        description="NPS among treated respondents in the next period (latest answer each).",
    )
    control_nps: pl.Float64 = pa.Field(
        ge=-100, le=100, nullable=True, description="NPS among control respondents."
    )
    nps_diff: pl.Float64 = pa.Field(
        ge=-200, le=200, nullable=True, description="treated_nps minus control_nps."
    )
    nps_diff_ci_low: pl.Float64 = pa.Field(
        ge=-200,
        le=200,
        nullable=True,
        description="Lower bound of the adjusted Wald interval of the NPS difference (each "
        "group adjusted as in Rocks 2016; Lewis and Sauro 2021); null when a group has too few "
        "NPS respondents.",
    )
    nps_diff_ci_high: pl.Float64 = pa.Field(
        ge=-200, le=200, nullable=True, description="Upper bound of that interval."
    )
    nps_p_value: pl.Float64 = pa.Field(
        **_RATE,
        nullable=True,
        description="Two-sided p-value of the z-test of the adjusted NPS difference.",
    )
    treated_complaint_rate: pl.Float64 = pa.Field(
        **_RATE,
        nullable=True,
        description="Share of treated customers with a complaint in the next period; null "
        "without a feedback source.",
    )
    control_complaint_rate: pl.Float64 = pa.Field(
        **_RATE, nullable=True, description="Share of control customers with a complaint."
    )
    complaint_rate_diff: pl.Float64 = pa.Field(
        nullable=True, description="Treated minus control complaint rate."
    )
    complaint_rate_diff_ci_low: pl.Float64 = pa.Field(
        nullable=True,
        description="Lower bound of Newcombe's hybrid score interval of the difference.",
    )
    complaint_rate_diff_ci_high: pl.Float64 = pa.Field(
        nullable=True, description="Upper bound of that interval."
    )
    complaint_rate_p_value: pl.Float64 = pa.Field(
        **_RATE,
        nullable=True,
        description="Two-sided p-value of the pooled two-proportion z-test.",
    )
    satisfaction_note: str = pa.Field(
        nullable=True,
        description="Why an NPS interval is missing (too few NPS respondents in a group); null "
        "when it was computed or without a feedback source (`note` covers the group sizes).",
    )

    class Config:
        strict = True
        unique = ["snapshot_date", "strategy"]


class SatisfactionSummaryContract(pa.DataFrameModel):
    """Per snapshot, dimension and segment: feedback respondents, NPS with its 95% interval,
    average CSAT and complaint rate; no rows without a feedback source."""

    snapshot_date: date = pa.Field(description="Snapshot the segments and feedback are taken at.")
    dimension: str = pa.Field(
        description="Segment dimension: every dimension of marts.segment_summary."
    )
    segment: str = pa.Field(description="Segment label within the dimension.")
    customers: pl.Int64 = pa.Field(ge=1, description="Customers in the segment.")
    respondents: pl.Int64 = pa.Field(
        ge=0, description="Customers with feedback of any kind on or before the snapshot."
    )
    nps_respondents: pl.Int64 = pa.Field(
        ge=0,
        description="Customers with an NPS answer on or before the snapshot (each counted once, "
        "by their latest answer): promoters + passives + detractors.",
    )
    promoters: pl.Int64 = pa.Field(ge=0, description="NPS respondents whose latest answer is 9-10.")
    passives: pl.Int64 = pa.Field(ge=0, description="NPS respondents whose latest answer is 7-8.")
    detractors: pl.Int64 = pa.Field(ge=0, description="NPS respondents whose latest answer is 0-6.")
    nps: pl.Float64 = pa.Field(
        ge=-100,
        le=100,
        nullable=True,
        description="Net promoter score: 100 x (promoters - detractors) / nps_respondents; null "
        "without NPS respondents.",
    )
    nps_ci_low: pl.Float64 = pa.Field(
        ge=-100,
        le=100,
        nullable=True,
        description="Lower bound of the 95% adjusted Wald interval of the NPS (Rocks 2016); "
        "null without NPS respondents.",
    )
    nps_ci_high: pl.Float64 = pa.Field(
        ge=-100, le=100, nullable=True, description="Upper bound of that interval."
    )
    csat_respondents: pl.Int64 = pa.Field(
        ge=0, description="Customers with a CSAT answer in the CSAT window."
    )
    avg_csat: pl.Float64 = pa.Field(
        nullable=True,
        description="Mean of the csat_respondents' average CSAT in the CSAT window (each "
        "customer weighs the same); null without CSAT respondents.",
    )
    complainers: pl.Int64 = pa.Field(
        ge=0, description="Customers with a complaint in the complaint window."
    )
    complaint_rate: pl.Float64 = pa.Field(**_RATE, description="complainers / customers.")

    class Config:
        strict = True
        unique = ["snapshot_date", "dimension", "segment"]
