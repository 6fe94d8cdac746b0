"""Monthly snapshot partitions: key ``YYYY-MM`` is the state as of that month's last instant."""

from __future__ import annotations

from datetime import date, datetime

import dagster as dg

from segmentation.config import SegmentationConfig, month_end

PARTITION_FORMAT = "%Y-%m"


def _month_start(month: str) -> datetime:
    return datetime.strptime(month, PARTITION_FORMAT)


def _next_month(month: str) -> datetime:
    start = _month_start(month)
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1)


def monthly_snapshots(config: SegmentationConfig) -> dg.MonthlyPartitionsDefinition:
    """Partitions from ``snapshots.start`` to ``snapshots.end`` (default: the last full month)."""
    end = _next_month(config.snapshots.end) if config.snapshots.end else None
    return dg.MonthlyPartitionsDefinition(
        start_date=_month_start(config.snapshots.start),
        end_date=end,
        fmt=PARTITION_FORMAT,
    )


def snapshot_dates(context: dg.AssetExecutionContext) -> list[date]:
    """The snapshot dates (month ends) a run covers: one partition or a single-run range."""
    return [month_end(key) for key in context.partition_keys]
