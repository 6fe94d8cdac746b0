"""The key of every per-customer table, one row per snapshot and customer, and its order."""

from collections.abc import Sequence

import polars as pl

# the partition column of every per-snapshot table: the month end the rows hold as of
SNAPSHOT_COLUMN = "snapshot_date"
KEY_COLUMNS: tuple[str, str] = (SNAPSHOT_COLUMN, "customer_id")

# the tables of the monthly assets (asset key = schema, table)
BEHAVIOUR_TABLE = "features.customer_behaviour"
CLV_TABLE = "features.customer_clv"
ENGAGEMENT_TABLE = "features.customer_engagement"
CATEGORIES_TABLE = "features.customer_categories"
CLV_PARAMS_TABLE = "marts.clv_model_params"
FEATURES_TABLE = "features.customer_features"
SEGMENTS_TABLE = "marts.customer_segments"
SUMMARY_TABLE = "marts.segment_summary"
ASSIGNMENTS_TABLE = "marts.strategy_assignments"


def sorted_by_keys(frame: pl.DataFrame) -> bool:
    """Whether ``frame`` is sorted by snapshot_date, customer_id with no repeated key and no
    null key: then it is already in the order the tables are written in, and a sort (or a
    duplicate check) would only cost time. One pass over the two key columns."""
    return _ascending(frame, KEY_COLUMNS, strict=True)


def in_key_order(frame: pl.DataFrame, what: str) -> pl.DataFrame:
    """``frame`` sorted by snapshot_date, customer_id (itself when it already is).

    Raises:
        ValueError: If a (snapshot_date, customer_id) key repeats, naming ``what`` the rows are.
    """
    if sorted_by_keys(frame):
        return frame
    if frame.select(pl.struct(KEY_COLUMNS).is_duplicated().any()).item():
        raise ValueError(f"{what} have duplicate (snapshot_date, customer_id) rows")
    return frame.sort(KEY_COLUMNS)


def ordered_by(frame: pl.DataFrame, columns: Sequence[str]) -> bool:
    """Whether ``frame`` is sorted ascending by ``columns`` (equal keys allowed) with no null in
    them. One pass over those columns."""
    return _ascending(frame, columns, strict=False)


def _ascending(frame: pl.DataFrame, columns: Sequence[str], strict: bool) -> bool:
    """Each row after the previous one by ``columns`` (``strict``: never equal to it); a null
    in them is never in order."""
    if frame.height < 2 or not columns:
        return True
    before, tied = pl.lit(False), pl.lit(True)
    for name in columns:
        column = pl.col(name)
        before = before | (tied & (column > column.shift()))
        tied = tied & (column == column.shift())
    in_order = before if strict else before | tied
    return bool(frame.select(in_order.slice(1).fill_null(False).all()).item())
