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

from segmentation.contracts import contract_dtypes
from segmentation.features.contracts import CustomerFeaturesContract
from segmentation.keys import KEY_COLUMNS

# ``list``: a list of text (products held), DuckDB VARCHAR[]; rules read it with list functions
ColumnKind = Literal["text", "integer", "float", "boolean", "date", "list"]

COLUMN_KIND_DTYPES: dict[str, pl.DataType] = {
    "text": pl.String(),
    "integer": pl.Int64(),
    "float": pl.Float64(),
    "boolean": pl.Boolean(),
    "date": pl.Date(),
    "list": pl.List(pl.String()),
}


# The columns of features.customer_features, straight from its contract.
FEATURE_COLUMN_TYPES: dict[str, pl.DataType] = contract_dtypes(CustomerFeaturesContract)

# Key features copied into the segments table, so playbook rules and marts can use them.
KEY_FEATURE_COLUMNS: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "orders",
    "net_revenue",
    "clv_12m",
    "p_alive",
)

# The features.customer_features columns from the events source (all null when no events source
# is configured) and from the feedback source (likewise).
EVENT_FEATURE_COLUMNS: tuple[str, ...] = (
    "visits_90d",
    "product_views_90d",
    "cart_adds_90d",
    "email_sends_90d",
    "email_opens_90d",
    "email_clicks_90d",
    "email_open_rate_90d",
    "email_click_rate_90d",
    "days_since_last_engagement",
    "abandoned_carts_90d",
    "is_unsubscribed",
)
FEEDBACK_FEATURE_COLUMNS: tuple[str, ...] = (
    "latest_nps",
    "nps_class",
    "avg_csat_180d",
    "complaints_90d",
    "days_since_last_feedback",
)

# Labels from those sources, appended to the segments table ('unknown' without the source).
SOURCE_LABEL_COLUMNS: tuple[str, ...] = (
    "intent_class",
    "engagement_level",
    "nps_class",
    "satisfaction_class",
)
# Source features copied into the segments table after those labels, so playbook rules can act
# on them (a cart to remind of, a complaint to answer, an opt-out to respect). The segments
# table's nps_class is the label ('unknown' instead of null), so the feature is not copied.
SOURCE_KEY_FEATURE_COLUMNS: tuple[str, ...] = (
    "cart_adds_90d",
    "abandoned_carts_90d",
    "is_unsubscribed",
    "days_since_last_engagement",
    "latest_nps",
    "avg_csat_180d",
    "complaints_90d",
    "days_since_last_feedback",
)

# The features.customer_features columns from the products source (all null without it).
CATEGORY_FEATURE_COLUMNS: tuple[str, ...] = (
    "top_category",
    "top_category_share",
    "category_breadth",
    "core_spend_share",
)
# The features columns of the optional sources, which the segments take as null where a features
# frame lacks them (written before they existed, or read without the columns holding no value).
SOURCE_FEATURE_COLUMNS: tuple[str, ...] = (
    *EVENT_FEATURE_COLUMNS,
    *FEEDBACK_FEATURE_COLUMNS,
    *CATEGORY_FEATURE_COLUMNS,
)
# Labels from the catalogue (and, for psychographic_class, from rules over customer columns),
# appended to the segments table after the source key features ('unknown' without a basis).
CATALOGUE_LABEL_COLUMNS: tuple[str, ...] = ("needs_class", "psychographic_class")
# The recommendations after them (null where nothing qualifies).
RECOMMENDATION_COLUMN_TYPES: dict[str, pl.DataType] = {
    "next_best_category": pl.String(),
    "next_best_category_lift": pl.Float64(),
    "next_best_category_support": pl.Int64(),
    "next_best_product": pl.String(),
    "next_best_product_lift": pl.Float64(),
    "next_best_product_support": pl.Int64(),
}
# The category features copied last, so playbook rules can act on them.
CATEGORY_KEY_FEATURE_COLUMNS: tuple[str, ...] = (
    "top_category",
    "category_breadth",
    "core_spend_share",
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
    **{name: pl.String() for name in SOURCE_LABEL_COLUMNS},
    **{name: FEATURE_COLUMN_TYPES[name] for name in SOURCE_KEY_FEATURE_COLUMNS},
    **{name: pl.String() for name in CATALOGUE_LABEL_COLUMNS},
    **RECOMMENDATION_COLUMN_TYPES,
    **{name: FEATURE_COLUMN_TYPES[name] for name in CATEGORY_KEY_FEATURE_COLUMNS},
}


def attribute_column(dimension: str) -> str:
    """The segments-table column holding the labels of an attribute dimension."""
    return f"{ATTRIBUTE_COLUMN_PREFIX}{dimension}"


def snapshot_slices(frame: pl.DataFrame) -> list[pl.DataFrame]:
    """The rows of each snapshot of a frame sorted by snapshot_date, as zero-copy slices in
    snapshot order (none for an empty frame)."""
    if frame.is_empty():
        return []
    dates = frame.get_column(KEY_COLUMNS[0])
    if dates[0] == dates[-1]:
        return [frame]
    slices, offset = [], 0
    for length in dates.rle().struct.field("len").to_list():
        slices.append(frame.slice(offset, length))
        offset += length
    return slices


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
