"""The evaluation tables, computed from the warehouse.

Segment evaluation reads every snapshot of ``marts.customer_segments``, one pair of consecutive
snapshots at a time: migration between segments, next-period outcomes per segment and the
effect of each strategy against its control group; the satisfaction summary reads one snapshot at
a time. The CLV backtest scores each snapshot's
predicted purchases against what happened. Both are recomputed whole after each run: a month
only becomes evaluable once the next one (or 90 days of transactions) exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import polars as pl

from segmentation.contracts import contract_dtypes
from segmentation.evaluation.contracts import (
    SatisfactionSummaryContract,
    SegmentMigrationContract,
    SegmentOutcomesContract,
    StrategyEffectContract,
)
from segmentation.evaluation.migration import segment_migration
from segmentation.evaluation.outcomes import segment_outcomes
from segmentation.evaluation.satisfaction import has_feedback_source, satisfaction_summary
from segmentation.evaluation.strategy_effect import strategy_effect
from segmentation.features.settings import FeedbackSettings
from segmentation.keys import SNAPSHOT_COLUMN
from segmentation.segments.build import dimension_columns
from segmentation.sql_files import compose_sql, read_sql
from segmentation.warehouse import read_partitions


@dataclass(frozen=True)
class SegmentEvaluation:
    """The segment evaluation tables and what they cover.

    Attributes:
        migration: ``marts.segment_migration`` rows.
        outcomes: ``marts.segment_outcomes`` rows.
        effects: ``marts.strategy_effect`` rows.
        pairs: How many pairs of consecutive snapshots were evaluated.
        dimensions: How many segment dimensions the latest pair has (0 without a pair).
    """

    migration: pl.DataFrame
    outcomes: pl.DataFrame
    effects: pl.DataFrame
    pairs: int
    dimensions: int


def _concat(frames: list[pl.DataFrame], contract: type) -> pl.DataFrame:
    if frames:
        return pl.concat(frames)
    return pl.DataFrame(schema=contract_dtypes(contract))


def evaluate_segments(
    con: duckdb.DuckDBPyConnection, feedback_settings: FeedbackSettings | None = None
) -> SegmentEvaluation:
    """Migration between segments, next-period outcomes per segment and strategy effects, for
    every pair of consecutive snapshots of ``marts.customer_segments`` (with
    ``marts.strategy_assignments``, ``raw.transactions`` and ``raw.feedback``).

    Args:
        con: The warehouse.
        feedback_settings: The NPS classes of next-period answers (``features.feedback``);
            default: the documented defaults.
    """
    feedback_settings = feedback_settings or FeedbackSettings()
    snapshots = _segment_snapshots(con)
    activity = con.execute(read_sql("evaluation/next_period_activity.sql")).pl()
    feedback = con.execute(
        read_sql("evaluation/next_period_feedback.sql"),
        {
            "nps_promoter_min": feedback_settings.nps_promoter_min,
            "nps_passive_min": feedback_settings.nps_passive_min,
        },
    ).pl()
    migrations, outcomes, effects = [], [], []
    dimensions = 0
    for earlier, later in zip(snapshots, snapshots[1:], strict=False):
        pair = read_partitions(con, "marts.customer_segments", SNAPSHOT_COLUMN, [earlier, later])
        first = pair.filter(pl.col(SNAPSHOT_COLUMN) == earlier)
        second = pair.filter(pl.col(SNAPSHOT_COLUMN) == later)
        migrations.append(segment_migration(first, second))
        period = activity.filter(pl.col(SNAPSHOT_COLUMN) == earlier)
        # a snapshot segmented without a feedback source has no satisfaction outcomes, even if
        # raw.feedback has rows now
        said = (
            feedback.filter(pl.col(SNAPSHOT_COLUMN) == earlier)
            if has_feedback_source(first)
            else None
        )
        outcomes.append(segment_outcomes(pair, period, next_period_feedback=said))
        assignments = read_partitions(con, "marts.strategy_assignments", SNAPSHOT_COLUMN, [earlier])
        effects.append(strategy_effect(assignments, period, next_period_feedback=said))
        dimensions = len(dimension_columns(pair))
    return SegmentEvaluation(
        migration=_concat(migrations, SegmentMigrationContract),
        outcomes=_concat(outcomes, SegmentOutcomesContract),
        effects=_concat(effects, StrategyEffectContract),
        pairs=max(len(snapshots) - 1, 0),
        dimensions=dimensions,
    )


def _segment_snapshots(con: duckdb.DuckDBPyConnection) -> list[date]:
    return [row[0] for row in con.execute(read_sql("evaluation/segment_snapshots.sql")).fetchall()]


def evaluate_satisfaction(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """``marts.satisfaction_summary``: NPS with its interval, average CSAT and complaint rate per
    snapshot, dimension and segment of ``marts.customer_segments``, one snapshot at a time (no
    rows for snapshots without a feedback source)."""
    frames = []
    for snapshot in _segment_snapshots(con):
        segments = read_partitions(con, "marts.customer_segments", SNAPSHOT_COLUMN, [snapshot])
        frames.append(satisfaction_summary(segments))
    return _concat(frames, SatisfactionSummaryContract)


def coverage_last_day(con: duckdb.DuckDBPyConnection) -> date | None:
    """The last day ``raw.transactions`` covers (None without transactions): the backtest
    scores the snapshots whose next 90 days end by then."""
    row = con.execute(read_sql("evaluation/coverage_last_day.sql")).fetchone()
    return row[0] if row else None


def backtest_customers(con: duckdb.DuckDBPyConnection, last_day: date | None) -> pl.DataFrame:
    """Per snapshot and scored customer of ``features.customer_clv``: the predicted purchase
    days in the next 90 days and those that happened in ``raw.transactions``, for the snapshots
    whose 90 days end by ``last_day`` (:func:`coverage_last_day` of all transactions). A
    customer's row depends on that customer's rows alone."""
    return con.execute(read_sql("evaluation/backtest_customers.sql"), {"last_day": last_day}).pl()


def backtest_of_customers(customers: pl.DataFrame) -> pl.DataFrame:
    """``marts.clv_backtest`` from the per-customer rows of :func:`backtest_customers` (any
    split of the customers, concatenated): the same rows give the same bits, since the float
    aggregates take them in customer order."""
    with duckdb.connect() as con:
        con.register("_backtest_customers", customers.to_arrow())
        query = compose_sql(
            "evaluation/clv_backtest.sql", customers="SELECT * FROM _backtest_customers"
        )
        return con.execute(query).pl()


def compute_clv_backtest(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Each snapshot's predicted purchases for the next 90 days against what happened (MAE,
    correlation, aggregate error), for every snapshot the landed transactions cover 90 days
    past (``marts.clv_backtest``)."""
    query = compose_sql(
        "evaluation/clv_backtest.sql", customers=read_sql("evaluation/backtest_customers.sql")
    )
    return con.execute(query, {"last_day": coverage_last_day(con)}).pl()
