"""Contracts of the segments layer: the customer segments table and the segment summary mart."""

from __future__ import annotations

from datetime import date

import pandera.polars as pa
import polars as pl

from segmentation.segments.labels import (
    ABC_CLASSES,
    CHURN_RISK_LABELS,
    LIFECYCLE_STAGES,
    LOYALTY_LABELS,
    VALUE_TIERS,
)
from segmentation.segments.psychographics import NEEDS_CLASSES
from segmentation.segments.rfm import NO_PURCHASE, RFM_SEGMENT_LABELS
from segmentation.segments.source_labels import (
    ENGAGEMENT_LEVELS,
    INTENT_CLASSES,
    NPS_CLASSES,
    SATISFACTION_CLASSES,
)

_SCORE = {"ge": 1, "le": 5, "nullable": True}


class CustomerSegmentsContract(pa.DataFrameModel):
    """One row per snapshot and customer with every segment label and the key features."""

    snapshot_date: date = pa.Field(description="As-of date of the snapshot (month end).")
    customer_id: str = pa.Field(description="Customer id.")
    r_score: pl.Int64 = pa.Field(
        **_SCORE,
        description="Recency quintile score 1-5 within the snapshot's purchasers (5 = most "
        "recent); equal recencies score equally; null if the customer never purchased.",
    )
    f_score: pl.Int64 = pa.Field(
        **_SCORE,
        description="Frequency quintile score 1-5 (orders by default; 5 = most); null if the "
        "customer never purchased.",
    )
    m_score: pl.Int64 = pa.Field(
        **_SCORE,
        description="Monetary quintile score 1-5 (net revenue by default; 5 = most); null if "
        "the customer never purchased.",
    )
    rfm_cell: str = pa.Field(
        nullable=True,
        str_matches=r"^[1-5]{3}$",
        description="The three scores as text, R then F then M (e.g. '545'); null if the "
        "customer never purchased.",
    )
    rfm_segment: str = pa.Field(
        isin=list(RFM_SEGMENT_LABELS),
        description="Named RFM segment from the R x FM-average grid (rfm_segments.yaml); "
        f"'{NO_PURCHASE}' for customers who never purchased.",
    )
    value_tier: str = pa.Field(
        isin=list(VALUE_TIERS), description="Value tier by net-revenue quantile (features)."
    )
    abc_class: str = pa.Field(
        isin=list(ABC_CLASSES), description="ABC class by cumulative revenue share (features)."
    )
    lifecycle_stage: str = pa.Field(
        isin=list(LIFECYCLE_STAGES), description="Lifecycle stage at the snapshot (features)."
    )
    loyalty: str = pa.Field(
        isin=list(LOYALTY_LABELS),
        description="'lost' if the lifecycle stage is lost; 'loyal' with enough repeat purchase "
        "days and still alive (p_alive, or recency where p_alive is null); else 'hesitant'.",
    )
    churn_risk: str = pa.Field(
        isin=list(CHURN_RISK_LABELS),
        description="'high'/'medium'/'low' from p_alive and recency_days thresholds (either "
        "signal suffices); 'no_purchase' for customers who never purchased.",
    )
    attributes: str = pa.Field(
        alias=r"^attr_[a-z][a-z0-9_]*$",
        regex=True,
        required=False,
        description="One column per configured attribute dimension: the first matching rule's "
        "name, the passthrough column's value, or the dimension's default.",
    )
    cluster: str = pa.Field(
        str_length={"min_value": 1},
        description="Name of the customer's k-means behaviour cluster, unique within the "
        "snapshot (e.g. 'High value, recent'); 'No Purchase' for customers who never "
        "purchased; 'Not Clustered' when clustering is disabled.",
    )
    recency_days: pl.Int64 = pa.Field(
        nullable=True, ge=0, description="Days since the last purchase (features)."
    )
    frequency: pl.Int64 = pa.Field(ge=0, description="Repeat purchase days (features).")
    orders: pl.Int64 = pa.Field(ge=0, description="Distinct purchase orders (features).")
    net_revenue: pl.Float64 = pa.Field(description="Net revenue to the snapshot (features).")
    clv_12m: pl.Float64 = pa.Field(
        nullable=True, ge=0, description="Predicted 12-month customer lifetime value (features)."
    )
    p_alive: pl.Float64 = pa.Field(
        nullable=True, ge=0, le=1, description="Probability the customer is alive (features)."
    )
    intent_class: str = pa.Field(
        isin=list(INTENT_CLASSES),
        description="Purchase intent: 'active' (a purchase in the active window), 'refusing' "
        "(unsubscribed, or neither engaged nor bought for the refusing window), else "
        "'hesitant'; 'unknown' without an events source (segments.intent).",
    )
    engagement_level: str = pa.Field(
        isin=list(ENGAGEMENT_LEVELS),
        description="'high'/'medium'/'low' by visits + product views + cart adds + e-mail "
        "clicks in the engagement window, 'none' without any; 'unknown' without an events "
        "source (segments.engagement).",
    )
    nps_class: str = pa.Field(
        isin=list(NPS_CLASSES),
        description="Class of the latest NPS answer (promoter 9-10, passive 7-8, detractor "
        "0-6 by default); 'unknown' without an NPS answer or a feedback source.",
    )
    satisfaction_class: str = pa.Field(
        isin=list(SATISFACTION_CLASSES),
        description="'dissatisfied' (a recent complaint, a detractor or a low average CSAT), "
        "else 'satisfied' (a promoter or a high average CSAT, no complaint), else 'neutral'; "
        "'unknown' without any feedback (segments.satisfaction).",
    )
    cart_adds_90d: pl.Int64 = pa.Field(
        nullable=True, ge=0, description="Cart adds in the engagement window (features)."
    )
    abandoned_carts_90d: pl.Int64 = pa.Field(
        nullable=True,
        ge=0,
        description="Cart adds in the window not followed by a purchase within the follow-up "
        "days (features).",
    )
    is_unsubscribed: bool = pa.Field(
        nullable=True, description="Unsubscribed on or before the snapshot (features)."
    )
    days_since_last_engagement: pl.Int64 = pa.Field(
        nullable=True, ge=0, description="Days since the last engagement event (features)."
    )
    latest_nps: pl.Float64 = pa.Field(
        nullable=True, ge=0, le=10, description="The latest NPS score, 0-10 (features)."
    )
    avg_csat_180d: pl.Float64 = pa.Field(
        nullable=True, description="Average CSAT in the CSAT window (features)."
    )
    complaints_90d: pl.Int64 = pa.Field(
        nullable=True, ge=0, description="Complaints in the complaint window (features)."
    )
    days_since_last_feedback: pl.Int64 = pa.Field(
        nullable=True, ge=0, description="Days since the last feedback of any kind (features)."
    )
    needs_class: str = pa.Field(
        isin=list(NEEDS_CLASSES),
        description="'core' (core_spend_share at least segments.needs.core_min_share, 0.6), "
        "'basic' (at most basic_max_share, 0.2), else 'mixed'; 'unknown' without a products "
        "source or spend on core- or basic-level items in the category window.",
    )
    psychographic_class: str = pa.Field(
        str_length={"min_value": 1},
        description="The first matching psychographic rule's name (else its default); without "
        "rules, the customer's cluster of category spend shares, named from its dominant "
        "categories ('<category>-led', '<a> & <b>'); 'unknown' without a basis.",
    )
    next_best_category: str = pa.Field(
        nullable=True,
        description="The category not bought in the window that a qualifying association rule "
        "from a category the customer bought leads to, the most likely one (ranked by "
        "confidence P(c | a), or by lift with segments.recommendations.rank_by: lift); null "
        "where none qualifies or without a products source.",
    )
    next_best_category_lift: pl.Float64 = pa.Field(
        nullable=True, ge=0, description="Lift P(c | a) / P(c) of that rule a -> c."
    )
    next_best_category_support: pl.Int64 = pa.Field(
        nullable=True, ge=1, description="Customers of the snapshot who bought both a and c."
    )
    next_best_product: str = pa.Field(
        nullable=True,
        description="The eligible product not held that a qualifying association rule from a "
        "product held (products_held_column) leads to, ranked as next_best_category; null "
        "where none qualifies or without holdings.",
    )
    next_best_product_lift: pl.Float64 = pa.Field(
        nullable=True, ge=0, description="Lift of that rule."
    )
    next_best_product_support: pl.Int64 = pa.Field(
        nullable=True, ge=1, description="Customers of the snapshot holding both products."
    )
    top_category: str = pa.Field(
        nullable=True,
        description="The catalogued category with the most spend in the window (features).",
    )
    category_breadth: pl.Int64 = pa.Field(
        nullable=True,
        ge=0,
        description="Catalogued categories with positive spend in the window (features); null "
        "without a products source.",
    )
    core_spend_share: pl.Float64 = pa.Field(
        nullable=True,
        ge=0,
        le=1,
        description="Share of the levelled spend on core-level items (features).",
    )

    class Config:
        strict = True
        unique = ["snapshot_date", "customer_id"]

    @pa.dataframe_check(name="scores_null_exactly_without_purchase")
    def _scores_match_purchase(cls, data: pa.PolarsData) -> pl.LazyFrame:
        no_purchase = pl.col("rfm_segment") == NO_PURCHASE
        scores_null = pl.col("r_score").is_null() & pl.col("rfm_cell").is_null()
        return data.lazyframe.select(no_purchase == scores_null)


class SegmentSummaryContract(pa.DataFrameModel):
    """One row per snapshot, segment dimension and segment: size, revenue and average CLV."""

    snapshot_date: date = pa.Field(description="As-of date of the snapshot (month end).")
    dimension: str = pa.Field(
        description="Segment dimension: a column of the segments table (rfm_segment, "
        "value_tier, abc_class, lifecycle_stage, loyalty, churn_risk, attr_<name>, cluster; "
        "intent_class and engagement_level with an events source, nps_class and "
        "satisfaction_class with a feedback source, needs_class and psychographic_class with "
        "a products source; psychographic_class also with psychographic rules)."
    )
    segment: str = pa.Field(description="Segment label within the dimension.")
    customers: pl.Int64 = pa.Field(ge=1, description="Customers in the segment.")
    share: pl.Float64 = pa.Field(
        gt=0, le=1, description="Customers / all customers of the snapshot (sums to 1)."
    )
    revenue: pl.Float64 = pa.Field(
        description="Sum of the segment's revenue (net revenue to the snapshot by default)."
    )
    revenue_share: pl.Float64 = pa.Field(
        nullable=True,
        description="Revenue / the snapshot's revenue (sums to 1); null when that total is 0.",
    )
    avg_clv: pl.Float64 = pa.Field(
        nullable=True, description="Mean predicted 12-month CLV of the segment's customers."
    )

    class Config:
        strict = True
        unique = ["snapshot_date", "dimension", "segment"]
