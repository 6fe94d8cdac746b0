"""The behaviour asset hands the warehouse's configured DuckDB memory_limit to the behaviour
library, so that its last month's activity query runs under a share of it."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb
import pytest

from pipelines.build_definitions import build_definitions
from pipelines.jobs import SNAPSHOT_JOB_NAME
from segmentation.config import load_config
from segmentation.features import behaviour as behaviour_module
from tests.conftest import config_mapping, write_config_file

SELECTION = [
    dg.AssetKey(["raw", "transactions"]),
    dg.AssetKey(["raw", "customers"]),
    dg.AssetKey(["features", "customer_behaviour"]),
]


@pytest.mark.parametrize(("configured", "lowered"), [("2GB", ["2GB"]), (None, [])])
def test_the_behaviour_asset_lowers_the_configured_limit_for_its_last_month_only(
    tmp_path, monkeypatch, configured: str | None, lowered: list[str]
) -> None:
    raw = config_mapping(snapshots={"start": "2011-01", "end": "2011-03"})
    if configured:
        raw["duckdb"] = {"memory_limit": configured}
    config = load_config(write_config_file(tmp_path, raw))
    calls: list[str] = []
    real = behaviour_module.lowered_memory_limit

    @contextmanager
    def watched(con: duckdb.DuckDBPyConnection, memory_limit: str) -> Iterator[None]:
        calls.append(memory_limit)
        with real(con, memory_limit):
            yield

    monkeypatch.setattr(behaviour_module, "lowered_memory_limit", watched)
    job = build_definitions(config).resolve_job_def(SNAPSHOT_JOB_NAME)
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        asset_selection=SELECTION,
        tags={
            "dagster/asset_partition_range_start": "2011-01",
            "dagster/asset_partition_range_end": "2011-03",
        },
    )
    assert result.success
    # three months in one run: the last alone, under the warehouse's configured limit
    assert calls == lowered
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        months = con.execute(
            "SELECT count(DISTINCT snapshot_date) FROM features.customer_behaviour"
        ).fetchone()[0]
    assert months == 3
