"""Column names and types that segment and playbook rules may reference.

Rules are checked when the configuration is loaded, before any feature table exists, so the
columns they may name (and their types, for the boolean type check) are declared here: the
columns of ``features.customer_features`` plus the extra customer attribute columns a
configuration declares.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import polars as pl

ColumnKind = Literal["text", "integer", "float", "boolean", "date"]

COLUMN_KIND_DTYPES: dict[str, pl.DataType] = {
    "text": pl.String(),
    "integer": pl.Int64(),
    "float": pl.Float64(),
    "boolean": pl.Boolean(),
    "date": pl.Date(),
}

FEATURE_COLUMN_TYPES: dict[str, pl.DataType] = {
    "snapshot_date": pl.Date(),
    "customer_id": pl.String(),
    # customer attributes
    "signup_date": pl.Date(),
    "age": pl.Int64(),
    "gender": pl.String(),
    "region": pl.String(),
    "country": pl.String(),
    "industry": pl.String(),
    "acquisition_channel": pl.String(),
    "income": pl.Float64(),
    # behaviour
    "first_purchase_date": pl.Date(),
    "last_purchase_date": pl.Date(),
    "recency_days": pl.Int64(),
    "tenure_days": pl.Int64(),
    "purchase_days": pl.Int64(),
    "orders": pl.Int64(),
    "return_orders": pl.Int64(),
    "gross_revenue": pl.Float64(),
    "net_revenue": pl.Float64(),
    "avg_order_value": pl.Float64(),
    "orders_30d": pl.Int64(),
    "orders_90d": pl.Int64(),
    "orders_365d": pl.Int64(),
    "revenue_30d": pl.Float64(),
    "revenue_90d": pl.Float64(),
    "revenue_365d": pl.Float64(),
    "revenue_prev_90d": pl.Float64(),
    "trend": pl.Float64(),
    "mean_days_between": pl.Float64(),
    "std_days_between": pl.Float64(),
    "return_rate": pl.Float64(),
    "share_online": pl.Float64(),
    "share_store": pl.Float64(),
    "share_agent": pl.Float64(),
    "dominant_channel": pl.String(),
    "product_breadth": pl.Int64(),
    "active_months": pl.Int64(),
    "frequency": pl.Int64(),
    "recency": pl.Int64(),
    "age_days": pl.Int64(),
    "repeat_spend_mean": pl.Float64(),
    "ever_lost_then_returned_days": pl.Int64(),
    # customer lifetime value
    "p_alive": pl.Float64(),
    "expected_purchases_30d": pl.Float64(),
    "expected_purchases_90d": pl.Float64(),
    "expected_purchases_365d": pl.Float64(),
    "expected_spend": pl.Float64(),
    "clv_12m": pl.Float64(),
    "clv_method": pl.String(),
    # value and lifecycle
    "value_tier": pl.String(),
    "abc_class": pl.String(),
    "revenue_share": pl.Float64(),
    "cumulative_revenue_share": pl.Float64(),
    "is_pareto_top": pl.Boolean(),
    "lifecycle_stage": pl.String(),
}

# Key features copied into the segments table, so playbook rules and marts can use them.
KEY_FEATURE_COLUMNS: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "orders",
    "net_revenue",
    "clv_12m",
    "p_alive",
)

ATTRIBUTE_COLUMN_PREFIX = "attr_"

SEGMENT_COLUMN_TYPES: dict[str, pl.DataType] = {
    "snapshot_date": pl.Date(),
    "customer_id": pl.String(),
    "r_score": pl.Int64(),
    "f_score": pl.Int64(),
    "m_score": pl.Int64(),
    "rfm_cell": pl.String(),
    "rfm_segment": pl.String(),
    "value_tier": pl.String(),
    "abc_class": pl.String(),
    "lifecycle_stage": pl.String(),
    "loyalty": pl.String(),
    "churn_risk": pl.String(),
    "cluster": pl.String(),
    **{name: FEATURE_COLUMN_TYPES[name] for name in KEY_FEATURE_COLUMNS},
}


def attribute_column(dimension: str) -> str:
    """The segments-table column holding the labels of an attribute dimension."""
    return f"{ATTRIBUTE_COLUMN_PREFIX}{dimension}"


def feature_columns_with(extra: Mapping[str, str]) -> dict[str, pl.DataType]:
    """The feature columns plus extra customer attribute columns declared as ``name: kind``."""
    return {
        **FEATURE_COLUMN_TYPES,
        **{name: COLUMN_KIND_DTYPES[kind] for name, kind in extra.items()},
    }


def segment_columns_with(
    attribute_dimensions: list[str] | tuple[str, ...],
) -> dict[str, pl.DataType]:
    """The segments-table columns, including one text column per attribute dimension."""
    return {
        **SEGMENT_COLUMN_TYPES,
        **{attribute_column(dimension): pl.String() for dimension in attribute_dimensions},
    }
