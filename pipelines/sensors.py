"""The landing sensor: new source files (transactions, and events or feedback when configured)
start a run for the latest complete snapshot."""

import glob
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from pipelines.jobs import RUN_TAGS
from segmentation.raw.settings import AnySource

if TYPE_CHECKING:  # define_asset_job's return type is not exported by dagster
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

SENSOR_NAME = "transactions_landing_sensor"
MIN_INTERVAL_SECONDS = 300
# A file modified less than this long ago may still be being copied: wait for the next tick.
SETTLE_SECONDS = 60.0

# path -> [mtime in ns, size in bytes]
FileSignatures = dict[str, list[int]]


def landing_folder(pattern: str) -> Path:
    """The folder a source path or glob lives in: its parts before the first wildcard."""
    parts = Path(pattern).parts
    for index, part in enumerate(parts):
        if glob.has_magic(part):
            return Path(*parts[:index])
    return Path(pattern).parent


def file_signatures(source: AnySource | Sequence[AnySource]) -> FileSignatures:
    """The sources' files (the configured globs) with their modification time and size."""
    sources = [source] if not isinstance(source, Sequence) else source
    signatures: FileSignatures = {}
    for path in (path for each in sources for path in each.files()):
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed between the glob and the stat
            continue
        signatures[str(path)] = [stat.st_mtime_ns, stat.st_size]
    return signatures


def _read_cursor(cursor: str | None) -> FileSignatures:
    return json.loads(cursor) if cursor else {}


def build_landing_sensor(
    job: "UnresolvedAssetJobDefinition",
    partitions_def: dg.TimeWindowPartitionsDefinition,
    source: AnySource | Sequence[AnySource],
    settle_seconds: float = SETTLE_SECONDS,
    clock: Callable[[], float] = time.time,
) -> dg.SensorDefinition:
    """A sensor on the landing folders of the sources: transactions, and the optional ones that
    are configured (a new events or feedback file changes the latest snapshot too).

    Each tick lists the files the configured globs match. A file not seen before, or seen with
    another modification time or size, is new; once it has not changed for ``settle_seconds``
    it is recorded in the cursor (path -> mtime, size) and one run is requested for the latest
    complete snapshot, however many files arrived. The run key names the partition and the
    files, so a tick evaluated twice never starts two runs.

    Args:
        job: The job to run (the whole pipeline).
        partitions_def: The monthly snapshots; the run targets their last complete partition.
        source: The configured transactions source (path or glob), or the configured sources.
        settle_seconds: How long a file must be unchanged before it counts.
        clock: Seconds since the epoch (tests pass a fixed clock).
    """
    sources = [source] if not isinstance(source, Sequence) else list(source)
    patterns = " or ".join(each.path for each in sources)
    folders = ", ".join(dict.fromkeys(str(landing_folder(each.path)) for each in sources))

    @dg.sensor(
        name=SENSOR_NAME,
        job=job,
        minimum_interval_seconds=MIN_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=f"Watches {folders} for files matching {patterns}; new or changed files "
        "start one run for the latest complete snapshot.",
    )
    def transactions_landing_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        """Request one run of the latest complete snapshot when new files have landed."""
        seen = _read_cursor(context.cursor)
        current = file_signatures(sources)
        now = clock()
        arrived = {path: sig for path, sig in current.items() if seen.get(path) != sig}
        settled = {
            path: sig for path, sig in arrived.items() if now - sig[0] / 1e9 >= settle_seconds
        }
        # forget removed files so the cursor stays the size of the folder
        kept = {path: sig for path, sig in seen.items() if path in current}
        if not settled:
            waiting = len(arrived)
            reason = (
                f"{waiting} new file(s) still changing; waiting {settle_seconds:g}s"
                if waiting
                else f"no new files matching {patterns}"
            )
            return dg.SensorResult(skip_reason=reason, cursor=json.dumps(kept, sort_keys=True))
        keys = partitions_def.get_partition_keys(current_time=datetime.fromtimestamp(now, UTC))
        if not keys:
            return dg.SensorResult(skip_reason="no complete snapshot month yet")
        partition = keys[-1]
        digest = hashlib.sha256(json.dumps(settled, sort_keys=True).encode()).hexdigest()[:16]
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"{partition}:{digest}",
                    partition_key=partition,
                    tags={**RUN_TAGS, "landing/new_files": str(len(settled))},
                )
            ],
            cursor=json.dumps(kept | settled, sort_keys=True),
        )

    return transactions_landing_sensor
