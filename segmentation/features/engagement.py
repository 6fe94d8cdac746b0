"""Engagement and feedback features: what customers do besides buying (``raw.events``) and
what they say (``raw.feedback``), point in time, one row per customer of
``features.customer_behaviour`` at each snapshot.

As for behaviour, the heavy lifting is DuckDB SQL in ``sql/features/``: one pass over the events
(``event_increments.sql``) and one over the feedback (``feedback_increments.sql``) sum what each
customer adds per snapshot interval for all snapshots of a backfill at once; running totals
advance from one snapshot to the next (``event_totals.sql``, ``feedback_totals.sql``) and each
snapshot is read off them (``customer_engagement.sql``). Nothing after a snapshot's end instant
(its day's 23:59:59.999999) counts for it.

Whether a source is configured is the caller's to say (the raw tables always exist, empty when
not configured): a source that is not configured is not read, and its columns are null.
"""

from collections.abc import Iterator, Sequence
from contextlib import closing
from datetime import date

import duckdb
import polars as pl

from segmentation.contracts import contract_dtypes
from segmentation.features.contracts import CustomerEngagementContract, EngagementColumns
from segmentation.features.settings import EngagementSettings, FeedbackSettings
from segmentation.keys import KEY_COLUMNS
from segmentation.sql_files import read_sql
from segmentation.warehouse import frame_of

ENGAGEMENT_COLUMNS = list(CustomerEngagementContract.to_schema().columns.keys())
# the columns features.customer_features ends with
ENGAGEMENT_FEATURE_COLUMNS = list(EngagementColumns.to_schema().columns.keys())


def _increments(
    con: duckdb.DuckDBPyConnection,
    dates: list[date],
    engagement: EngagementSettings,
    feedback: FeedbackSettings,
    events_configured: bool,
    feedback_configured: bool,
) -> None:
    """The calendar, the increments of the configured sources and the empty running totals."""
    con.execute(read_sql("features/create_engagement_totals.sql"))
    if not (events_configured or feedback_configured):
        return
    con.execute(
        read_sql("features/engagement_calendar.sql"),
        {
            "snapshot_dates": dates,
            "window_days": engagement.window_days,
            "csat_window_days": feedback.csat_window_days,
            "complaint_window_days": feedback.complaint_window_days,
        },
    )
    if events_configured:
        con.execute(
            read_sql("features/event_increments.sql"),
            {"snapshot_dates": dates, "cart_followup_days": engagement.cart_followup_days},
        )
    if feedback_configured:
        con.execute(read_sql("features/feedback_increments.sql"), {"snapshot_dates": dates})


def engagement_by_snapshot(
    con: duckdb.DuckDBPyConnection,
    snapshot_dates: Sequence[date],
    customers: str,
    engagement: EngagementSettings,
    feedback: FeedbackSettings,
    *,
    events_configured: bool,
    feedback_configured: bool,
) -> Iterator[pl.DataFrame]:
    """``features.customer_engagement`` at each snapshot date (ascending), one frame per date.

    Args:
        con: A connection holding ``raw.events`` (read when ``events_configured``),
            ``raw.feedback`` (when ``feedback_configured``), ``raw.transactions`` (the
            purchases after a cart add) and ``customers``.
        snapshot_dates: The snapshot dates; each counts everything up to the end of its day.
        customers: The table or view with ``snapshot_date`` and ``customer_id`` whose customers
            each snapshot has a row for: ``features.customer_behaviour``.
        engagement: The engagement windows (``features.engagement``).
        feedback: The feedback windows and NPS classes (``features.feedback``).
        events_configured: Whether an events source is configured; if not, the engagement
            columns are null and ``raw.events`` is not read.
        feedback_configured: The same for the feedback source and its columns.

    The events and the feedback of all dates are read once into DuckDB temp tables (which spill
    to disk when large); each frame then costs one step over the customers. Close the iterator
    when stopping early: that drops the temp tables.
    """
    dates = sorted(set(snapshot_dates))
    if not dates:
        return
    drop = read_sql("features/drop_engagement_tables.sql")
    con.execute(drop)
    try:
        _increments(con, dates, engagement, feedback, events_configured, feedback_configured)
        for j, snapshot in enumerate(dates, start=1):
            if events_configured:
                con.execute(read_sql("features/event_totals.sql"), {"j": j})
            if feedback_configured:
                con.execute(read_sql("features/feedback_totals.sql"), {"j": j})
            month = frame_of(
                con.execute(
                    read_sql("features/customer_engagement.sql"),
                    {
                        "customers": customers,
                        "snapshot_date": snapshot,
                        "events": events_configured,
                        "feedback": feedback_configured,
                        "nps_promoter_min": feedback.nps_promoter_min,
                        "nps_passive_min": feedback.nps_passive_min,
                    },
                )
            )
            yield _typed(month)
    finally:
        con.execute(drop)


def engagement_for_snapshots(
    con: duckdb.DuckDBPyConnection,
    snapshot_dates: Sequence[date],
    customers: str,
    engagement: EngagementSettings,
    feedback: FeedbackSettings,
    *,
    events_configured: bool,
    feedback_configured: bool,
) -> pl.DataFrame:
    """:func:`engagement_by_snapshot` as one frame, sorted by snapshot date and customer."""
    with closing(
        engagement_by_snapshot(
            con,
            snapshot_dates,
            customers,
            engagement,
            feedback,
            events_configured=events_configured,
            feedback_configured=feedback_configured,
        )
    ) as months:
        frames = list(months)
    if not frames:
        return pl.DataFrame(schema=contract_dtypes(CustomerEngagementContract))
    return pl.concat(frames)


def _typed(month: pl.DataFrame) -> pl.DataFrame:
    """The contract's columns in its types (DuckDB gives an all-null column its own type)."""
    return month.select(
        pl.col(name).cast(dtype)
        for name, dtype in contract_dtypes(CustomerEngagementContract).items()
    )


def null_engagement(keys: pl.DataFrame) -> pl.DataFrame:
    """The engagement columns of ``keys``' rows (snapshot_date, customer_id) when neither source
    is known: all null, in the contract's types."""
    return keys.select(
        *KEY_COLUMNS,
        *(
            pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in contract_dtypes(EngagementColumns).items()
        ),
    )
