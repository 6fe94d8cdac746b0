"""Behaviour features: recency, frequency, monetary, trend, channel mix, BTYD inputs.

The heavy lifting is DuckDB SQL in ``sql/features/``: one pass over the transactions sums what
each customer adds per snapshot interval (``customer_activity_increments.sql``), running totals
advance from one snapshot to the next (``customer_activity_totals.sql``) and each snapshot's
activity is read off them (``customer_activity.sql``). This module derives the per-customer
features in polars.
"""

import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import closing
from datetime import date, datetime, time

import duckdb
import polars as pl

from segmentation.contracts import contract_dtypes
from segmentation.features.attributes_as_of import customers_as_of
from segmentation.features.contracts import CHANNELS, CustomerBehaviourContract
from segmentation.sql_files import compose_sql, read_sql
from segmentation.warehouse import (
    frame_of,
    lowered_memory_limit,
    memory_limit_bytes,
    scratch_directory,
)

BEHAVIOUR_COLUMNS = list(CustomerBehaviourContract.to_schema().columns.keys())
logger = logging.getLogger(__name__)

# Transaction rows the increments query takes in one pass per GiB of DuckDB's memory_limit.
# Some of its operators cannot spill: 10.1M rows passed within 3.7 GiB, 101M rows ran out of
# it. Larger inputs are split into customer buckets, computed one after another.
ROWS_PER_GIB = 3_000_000


def customer_buckets(transaction_rows: int, memory_limit: str) -> int:
    """How many customer buckets the increments query runs in: one while the transactions fit
    :data:`ROWS_PER_GIB`, more as they grow beyond it."""
    per_pass = ROWS_PER_GIB * memory_limit_bytes(memory_limit) / 2**30
    return max(1, math.ceil(transaction_rows / per_pass))


def _increments(
    con: duckdb.DuckDBPyConnection,
    dates: list[date],
    lost_recency_days: int,
    buckets: int | None,
) -> None:
    """``_activity_increments``, one customer bucket after another. With more than one bucket,
    the transactions are first split into bucket files in one pass
    (``customer_bucket_files.sql``), and each bucket's query reads its own files."""
    if buckets is None:
        rows = con.execute(read_sql("features/transaction_count.sql")).fetchone()[0]
        limit = con.execute(read_sql("features/memory_limit.sql")).fetchone()[0]
        buckets = customer_buckets(rows, limit)
    increments = read_sql("features/customer_activity_increments.sql")
    create = compose_sql("features/create_activity_increments.sql", increments=increments)
    append = compose_sql("features/append_activity_increments.sql", increments=increments)

    def add(source: str, first: bool) -> None:
        con.execute(
            create if first else append,
            {
                "transactions": source,
                "snapshot_dates": dates,
                "lost_recency_days": lost_recency_days,
            },
        )

    if buckets == 1:
        add("raw.transactions", first=True)
        return
    with scratch_directory(con, "customer-buckets-") as directory:
        con.execute(
            read_sql("features/customer_bucket_files.sql"),
            {"directory": str(directory), "snapshot_dates": dates, "customer_buckets": buckets},
        )
        # a bucket without transactions has no folder
        folders = [directory / f"customer_bucket={b}" for b in range(buckets)]
        folders = [folder for folder in folders if folder.is_dir()]
        if not folders:
            # no transaction up to the last snapshot: the query's columns, without rows
            add("raw.transactions", first=True)
        try:
            for number, folder in enumerate(folders):
                # the files by name: a temp_directory path may hold glob characters
                files = [str(file) for file in sorted(folder.glob("*.parquet"))]
                con.execute(read_sql("features/set_customer_bucket_files.sql"), {"files": files})
                con.execute(read_sql("features/customer_bucket_view.sql"))
                add("_customer_bucket_transactions", first=number == 0)
        finally:
            con.execute(read_sql("features/drop_customer_bucket_view.sql"))


def _activity_by_snapshot(
    con: duckdb.DuckDBPyConnection,
    snapshot_dates: Sequence[date],
    lost_recency_days: int,
    buckets: int | None = None,
    history: bool = False,
    memory_limit: str | None = None,
) -> Iterator[pl.DataFrame]:
    """Per-customer aggregates at each snapshot date (inclusive, ascending), one frame per date.

    The transactions are read once for all dates (with more than one customer bucket,
    ``buckets``, by default from :func:`customer_buckets`: split into bucket files once, each
    bucket read on its own) into DuckDB temp tables (which spill to disk when large); each frame
    then costs one step over the customers. With an attribute ``history``
    (``raw.customer_attributes``), each date's attributes are those that held on it (see
    ``segmentation.features.attributes_as_of``). ``memory_limit``: the DuckDB memory_limit
    ``con`` was opened with, if any; given, the last date's activity query (a one-month run's
    only one) runs under a share of it (``segmentation.warehouse.lowered_memory_limit``), so
    that what DuckDB used for it does not stay on top of the frame. None leaves the
    connection's limit as it is.
    """
    if memory_limit is not None:
        memory_limit_bytes(memory_limit)  # a limit it cannot read fails before any work
    dates = sorted(set(snapshot_dates))
    drop = read_sql("features/drop_customer_activity_tables.sql")
    con.execute(drop)
    try:
        _increments(con, dates, lost_recency_days, buckets)
        with customers_as_of(con, history) as customers:
            for j, snapshot in enumerate(dates, start=1):
                con.execute(read_sql("features/customer_activity_totals.sql"), {"j": j})
                last = j == len(dates)
                if last:
                    # read by the totals step alone: not kept (nor spilled) beside the last month
                    con.execute(read_sql("features/drop_activity_increments.sql"))
                customers.advance(snapshot)
                # only the last: lowering the limit moves the working tables to the spill
                # files, and before an earlier month the next totals step reads them back
                yield _activity_frame(con, snapshot, memory_limit if last else None)
    finally:
        con.execute(drop)


def _activity_frame(
    con: duckdb.DuckDBPyConnection, snapshot: date, memory_limit: str | None
) -> pl.DataFrame:
    """One snapshot's activity (``customer_activity.sql``) as a frame; with the connection's
    ``memory_limit``, the query runs under a share of it (``lowered_memory_limit``), and at the
    whole limit again if it does not fit there."""
    query = read_sql("features/customer_activity.sql")
    parameters = {"snapshot_date": snapshot}
    if memory_limit is None:
        return frame_of(con.execute(query, parameters))
    try:
        with lowered_memory_limit(con, memory_limit):
            return frame_of(con.execute(query, parameters))
    except duckdb.OutOfMemoryException:
        # the lower limit saves memory; it must not cost a run that fits the configured one
        logger.warning(
            "the activity of %s did not fit a share of memory_limit %s; run again under all of it",
            snapshot,
            memory_limit,
        )
        return frame_of(con.execute(query, parameters))


def customer_activity(
    con: duckdb.DuckDBPyConnection,
    snapshot_dates: Sequence[date],
    lost_recency_days: int,
    buckets: int | None = None,
    history: bool = False,
    memory_limit: str | None = None,
) -> pl.DataFrame:
    """Per-customer aggregates at each snapshot date (inclusive), from one scan of the data,
    ordered by snapshot date and customer; with an attribute ``history``, the attributes that
    held on each date (``memory_limit``: see ``_activity_by_snapshot``)."""
    frames = list(
        _activity_by_snapshot(
            con, snapshot_dates, lost_recency_days, buckets, history, memory_limit
        )
    )
    if not frames:
        # no dates, no rows: the columns of any snapshot's frame
        epoch = list(
            _activity_by_snapshot(con, [date(1970, 1, 1)], lost_recency_days, history=history)
        )
        return epoch[0].clear()
    return pl.concat(frames)


def _days(later: pl.Expr, earlier: pl.Expr) -> pl.Expr:
    return (later - earlier).dt.total_days().cast(pl.Int64)


def _age_years(snapshot: pl.Expr, birth: pl.Expr) -> pl.Expr:
    """Whole years at the snapshot; null when the birth date lies after it (not born yet)."""
    before_birthday = (snapshot.dt.month() < birth.dt.month()) | (
        (snapshot.dt.month() == birth.dt.month()) & (snapshot.dt.day() < birth.dt.day())
    )
    years = snapshot.dt.year() - birth.dt.year() - before_birthday.cast(pl.Int32)
    return pl.when(birth <= snapshot).then(years).cast(pl.Int64)


def derive_behaviour(
    activity: pl.DataFrame, dominant_channel_share: float, custom: Sequence[str] = ()
) -> pl.DataFrame:
    """Behaviour features from per-customer activity (one snapshot or several).

    Custom customer attributes named in ``custom`` are carried after the contract's columns.
    Trend compares the last 90 days with the 90 before: (a - b) / (|a| + |b|), in [-1, 1].
    The dominant channel is the one with at least ``dominant_channel_share`` of the purchase
    orders; 'mixed' otherwise; 'unknown' when the source has no channel for the customer.
    """
    snapshot = pl.col("snapshot_date")
    orders = pl.col("orders")
    shares = {
        channel: pl.when(orders > 0).then(pl.col(f"orders_{channel}") / orders).otherwise(0.0)
        for channel in CHANNELS
    }
    top_share = pl.max_horizontal(*shares.values())
    dominant = pl.lit("mixed")
    for channel in reversed(CHANNELS):
        dominant = (
            pl.when(shares[channel] >= dominant_channel_share)
            .then(pl.lit(channel))
            .otherwise(dominant)
        )
    dominant = (
        pl.when((pl.col("rows_with_channel") == 0) | (orders == 0) | (top_share == 0))
        .then(pl.lit("unknown"))
        .otherwise(dominant)
    )
    recent, previous = pl.col("revenue_90d"), pl.col("revenue_prev_90d")
    denominator = recent.abs() + previous.abs()
    derived = activity.with_columns(
        _age_years(snapshot, pl.col("birth_date")).alias("age"),
        _days(snapshot, pl.col("last_purchase_date")).alias("recency_days"),
        _days(snapshot, pl.col("first_purchase_date")).alias("tenure_days"),
        pl.when(orders > 0).then(pl.col("gross_revenue") / orders).alias("avg_order_value"),
        pl.when(denominator > 0)
        .then((recent - previous) / denominator)
        .otherwise(0.0)
        .alias("trend"),
        pl.when(pl.col("gross_revenue") > 0)
        .then(pl.col("returned_amount") / pl.col("gross_revenue"))
        .otherwise(0.0)
        .alias("return_rate"),
        *(share.alias(f"share_{channel}") for channel, share in shares.items()),
        dominant.alias("dominant_channel"),
        (pl.col("purchase_days") - 1).clip(lower_bound=0).alias("frequency"),
        _days(pl.col("last_purchase_date"), pl.col("first_purchase_date")).alias("recency"),
        _days(snapshot, pl.col("first_purchase_date")).alias("age_days"),
        _days(snapshot, pl.col("last_return_after_lost")).alias("days_since_won_back"),
    )
    return derived.select(
        *(
            pl.col(name).cast(dtype)
            for name, dtype in contract_dtypes(CustomerBehaviourContract).items()
        ),
        *custom,
    )


def behaviour_for_snapshots(
    con: duckdb.DuckDBPyConnection,
    snapshot_dates: Sequence[date],
    lost_recency_days: int,
    dominant_channel_share: float,
    custom: Sequence[str] = (),
    history: bool = False,
) -> pl.DataFrame:
    """Behaviour of every known customer at each snapshot date, each from what was known by the
    end of that day (with an attribute ``history``, the attributes too); a backfill of many
    months reads the transactions once."""
    activity = customer_activity(con, snapshot_dates, lost_recency_days, history=history)
    return derive_behaviour(activity, dominant_channel_share, custom)


def behaviour_by_snapshot(
    con: duckdb.DuckDBPyConnection,
    snapshot_dates: Sequence[date],
    lost_recency_days: int,
    dominant_channel_share: float,
    custom: Sequence[str] = (),
    history: bool = False,
    memory_limit: str | None = None,
) -> Iterator[pl.DataFrame]:
    """Like ``behaviour_for_snapshots``, one frame per snapshot date (ascending): the
    transactions of all dates are read once into DuckDB temp tables (which spill to disk when
    large) and each month is computed when asked for, so a backfill holds one month in memory
    at a time. Close the iterator when stopping early: that drops the temp tables.
    ``memory_limit``: the DuckDB memory_limit ``con`` was opened with, if any; given, the last
    month's activity query runs under a share of it (see ``_activity_by_snapshot``)."""
    activities = _activity_by_snapshot(
        con, snapshot_dates, lost_recency_days, history=history, memory_limit=memory_limit
    )
    with closing(activities):
        for activity in activities:
            yield derive_behaviour(activity, dominant_channel_share, custom)


def behaviour_as_of(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime,
    lost_recency_days: int,
    dominant_channel_share: float,
    custom: Sequence[str] = (),
    history: bool = False,
) -> pl.DataFrame:
    """Behaviour as of ``as_of``, which must be a day's last instant (snapshots are whole days)."""
    if as_of != datetime.combine(as_of.date(), time.max):
        raise ValueError(f"as_of must be the last instant of a day (23:59:59.999999), got {as_of}")
    return behaviour_for_snapshots(
        con, [as_of.date()], lost_recency_days, dominant_channel_share, custom, history
    )
