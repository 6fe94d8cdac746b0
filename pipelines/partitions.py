"""Monthly snapshot partitions: key ``YYYY-MM`` is the state as of that month's last instant."""

from __future__ import annotations

from datetime import date, datetime

import dagster as dg

from pipelines.config import SegmentationConfig, month_end

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


def _main() -> None:
    import argparse

    from rich.console import Console

    from pipelines.config import load_config

    parser = argparse.ArgumentParser(description="Monthly snapshot partitions of the config.")
    parser.add_argument("--range", action="store_true", help="print FIRST...LAST")
    args = parser.parse_args()
    keys = monthly_snapshots(load_config()).get_partition_keys()
    out = Console(highlight=False, soft_wrap=True)
    if args.range:
        out.print(f"{keys[0]}...{keys[-1]}")
    else:
        out.print("\n".join(keys))


if __name__ == "__main__":
    _main()
