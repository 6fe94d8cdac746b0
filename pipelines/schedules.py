"""The monthly schedule: materialize the month that just closed, early on the 1st."""

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg

from assets.partitions import PARTITION_FORMAT
from pipelines.jobs import RUN_TAGS

if TYPE_CHECKING:  # define_asset_job's return type is not exported by dagster
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

SCHEDULE_NAME = "monthly_snapshot_schedule"
# 03:00 UTC on the 1st, not midnight: leaves time for the last day's files to land.
MONTHLY_CRON = "0 3 1 * *"


def closed_month(tick: datetime) -> str:
    """The partition key of the month before ``tick``'s month (``YYYY-MM``)."""
    return (tick.replace(day=1) - timedelta(days=1)).strftime(PARTITION_FORMAT)


def build_monthly_schedule(
    job: "UnresolvedAssetJobDefinition", partitions_def: dg.TimeWindowPartitionsDefinition
) -> dg.ScheduleDefinition:
    """A schedule that runs ``job`` for the just-closed month on the 1st of every month.

    It skips, saying why, when that month is not one of the configured snapshots (before
    ``snapshots.start`` or after a fixed ``snapshots.end``).
    """

    @dg.schedule(
        name=SCHEDULE_NAME,
        cron_schedule=MONTHLY_CRON,
        execution_timezone="UTC",
        job=job,
        tags=RUN_TAGS,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="On the 1st at 03:00 UTC: materialize every asset for the month that just "
        "closed (partition YYYY-MM of the previous month).",
    )
    def monthly_snapshot_schedule(
        context: dg.ScheduleEvaluationContext,
    ) -> dg.RunRequest | dg.SkipReason:
        """Request the run of the previous month's partition."""
        tick = context.scheduled_execution_time or datetime.now(UTC)
        key = closed_month(tick)
        if key not in partitions_def.get_partition_keys(current_time=tick):
            return dg.SkipReason(
                f"month {key} is not a configured snapshot (snapshots.start/end of the config)"
            )
        return dg.RunRequest(run_key=key, partition_key=key, tags=RUN_TAGS)

    return monthly_snapshot_schedule
