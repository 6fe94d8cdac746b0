"""The job that materializes the whole pipeline for a snapshot, and the tags its runs carry."""

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:  # define_asset_job's return type is not exported by dagster
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

SNAPSHOT_JOB_NAME = "monthly_snapshot_job"

# Every run the schedule or the sensor starts carries this tag; config/dagster.yaml allows one
# run with it at a time (DuckDB takes one writer per file).
WAREHOUSE_TAG = {"warehouse": "segmentation"}

RUN_TAGS = {
    **WAREHOUSE_TAG,
    # a run whose worker dies is retried from the failed step (instance: run_retries)
    "dagster/max_retries": "2",
    "dagster/retry_strategy": "FROM_FAILURE",
}


def build_snapshot_job() -> "UnresolvedAssetJobDefinition":
    """Every asset and check of the pipeline for one monthly partition (or a range, one run).

    The partitioned assets take the run's partition(s); the unpartitioned ones (the raw landing,
    the evaluation marts, the report) run whole in the same run, in dependency order. The job's
    partitions are inferred from the monthly snapshot assets.
    """
    return dg.define_asset_job(
        name=SNAPSHOT_JOB_NAME,
        selection=dg.AssetSelection.all(),
        description="Land the sources, compute the snapshot's features, segments and "
        "strategies, re-evaluate all snapshots, run the checks and render the report.",
        tags=RUN_TAGS,
    )
