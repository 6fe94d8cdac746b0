"""Segment migration: how customers moved between segments from one snapshot to the next.

Only customers present in both snapshots are counted (a customer first known at the later
snapshot has no "from" segment, and customers never disappear from the features layer), so for
each snapshot pair and dimension the counts add up to the customers present in both snapshots.
Pairs with no customers moving between two segments have no row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

from segmentation.segments.build import dimension_columns

MIGRATION_SCHEMA = {
    "from_snapshot": pl.Date,
    "to_snapshot": pl.Date,
    "dimension": pl.String,
    "from_segment": pl.String,
    "to_segment": pl.String,
    "customers": pl.Int64,
}


def _single_snapshot(segments: pl.DataFrame, name: str) -> date:
    dates = segments.get_column("snapshot_date").unique()
    if dates.len() != 1:
        raise ValueError(f"{name} must hold exactly one snapshot, found {dates.len()}")
    return dates[0]


def segment_migration(
    segments_prev: pl.DataFrame,
    segments_next: pl.DataFrame,
    dimensions: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Customers moving from each segment to each segment between two snapshots.

    Args:
        segments_prev: Segments table rows of the earlier snapshot (one snapshot only).
        segments_next: Segments table rows of the later snapshot (one snapshot only).
        dimensions: Segment columns to compare (e.g. ``rfm_segment``, ``lifecycle_stage``);
            default: every segment dimension column of ``segments_prev``.

    Returns:
        from_snapshot, to_snapshot, dimension, from_segment, to_segment, customers; one row per
        observed (dimension, from_segment, to_segment), sorted.

    Raises:
        ValueError: If a frame holds other than one snapshot or they are not in order.
    """
    if dimensions is None:
        dimensions = dimension_columns(segments_prev)
    if segments_prev.is_empty() or segments_next.is_empty():
        return pl.DataFrame(schema=MIGRATION_SCHEMA)
    from_snapshot = _single_snapshot(segments_prev, "segments_prev")
    to_snapshot = _single_snapshot(segments_next, "segments_next")
    if not from_snapshot < to_snapshot:
        raise ValueError(
            f"segments_prev ({from_snapshot}) must be before segments_next ({to_snapshot})"
        )
    columns = ["customer_id", *dimensions]
    both = segments_prev.select(columns).join(
        segments_next.select(columns), on="customer_id", how="inner", suffix="__to", validate="1:1"
    )
    parts = [pl.DataFrame(schema=MIGRATION_SCHEMA)]
    for dimension in dimensions:
        parts.append(
            both.group_by(
                pl.col(dimension).cast(pl.String).alias("from_segment"),
                pl.col(f"{dimension}__to").cast(pl.String).alias("to_segment"),
            )
            .agg(pl.len().cast(pl.Int64).alias("customers"))
            .select(
                pl.lit(from_snapshot, dtype=pl.Date).alias("from_snapshot"),
                pl.lit(to_snapshot, dtype=pl.Date).alias("to_snapshot"),
                pl.lit(dimension).alias("dimension"),
                "from_segment",
                "to_segment",
                "customers",
            )
        )
    return pl.concat(parts).sort("dimension", "from_segment", "to_segment", nulls_last=True)


def segment_migrations(
    segments: pl.DataFrame, dimensions: Sequence[str] | None = None
) -> pl.DataFrame:
    """:func:`segment_migration` for every pair of consecutive snapshots in ``segments``."""
    dates = segments.get_column("snapshot_date").unique().sort().to_list()
    parts = [pl.DataFrame(schema=MIGRATION_SCHEMA)]
    for earlier, later in zip(dates, dates[1:], strict=False):
        parts.append(
            segment_migration(
                segments.filter(pl.col("snapshot_date") == earlier),
                segments.filter(pl.col("snapshot_date") == later),
                dimensions,
            )
        )
    return pl.concat(parts)


def migration_of_counts(counts: pl.DataFrame) -> pl.DataFrame:
    """``marts.segment_migration`` from :func:`segment_migration` rows of several parts of the
    customers: the customers of each move added up, sorted by snapshot pair, dimension and
    segments (counts: exact for any split)."""
    keys = ["from_snapshot", "to_snapshot", "dimension", "from_segment", "to_segment"]
    summed = counts.group_by(keys, maintain_order=True).agg(pl.col("customers").sum())
    return (
        pl.concat([pl.DataFrame(schema=MIGRATION_SCHEMA), summed.select(list(MIGRATION_SCHEMA))])
        .cast(MIGRATION_SCHEMA)
        .sort("from_snapshot", "dimension", "from_segment", "to_segment", nulls_last=True)
    )
