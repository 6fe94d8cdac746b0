"""The drift of the newest snapshot against the one before: customer counts and segment shares.

The newest snapshots are read from the warehouse rather than taken from a run's partitions:
whatever wrote them, the two newest are compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb
import polars as pl

from segmentation.sql_files import read_sql, render_sql
from segmentation.warehouse import table_exists

# the segment labels whose shares are compared between snapshots
DRIFT_DIMENSIONS = ("rfm_segment", "lifecycle_stage", "value_tier")


def latest_snapshots(con: duckdb.DuckDBPyConnection, table: str, count: int = 2) -> list[date]:
    """The newest ``count`` snapshot dates of a table, newest first (empty if no table)."""
    if not table_exists(con, table):
        return []
    sql = render_sql("quality/latest_snapshots.sql", table=table)
    return [row[0] for row in con.execute(sql, {"count": count}).fetchall()]


def customer_counts(
    con: duckdb.DuckDBPyConnection, latest: date, previous: date
) -> dict[date, int]:
    """Customers of features.customer_features in the snapshots ``latest`` and ``previous``."""
    sql = read_sql("quality/customer_counts.sql")
    return dict(con.execute(sql, {"latest": latest, "previous": previous}).fetchall())


def segment_share_shifts(
    con: duckdb.DuckDBPyConnection, dimensions: Sequence[str] = DRIFT_DIMENSIONS
) -> tuple[list[date], pl.DataFrame]:
    """Per dimension and segment, the share of customers in the newest two snapshots and the
    shift between them (a segment missing from one snapshot has share 0 there), largest shift
    first. Fewer than two snapshots: those there are, and an empty frame."""
    snapshots = latest_snapshots(con, "marts.customer_segments")
    if len(snapshots) < 2:
        return snapshots, pl.DataFrame()
    latest, previous = snapshots
    frames = [
        con.execute(
            render_sql("quality/segment_shares.sql", dimension=dimension),
            {"dimension": dimension, "latest": latest, "previous": previous},
        ).pl()
        for dimension in dimensions
    ]
    shifts = (
        pl.concat(frames)
        .with_columns(shift=pl.col("share") - pl.col("previous_share"))
        .sort(pl.col("shift").abs(), descending=True)
    )
    return snapshots, shifts
