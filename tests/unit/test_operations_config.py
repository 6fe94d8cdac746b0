"""The committed Dagster instance config: one warehouse run at a time, retries of crashed runs."""

import logging
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from assets.resources import WAREHOUSE_STORAGE_VERSION, Warehouse
from pipelines.jobs import RUN_TAGS, WAREHOUSE_TAG
from segmentation.warehouse import scratch_directory

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def instance(tmp_path: Path):
    shutil.copy(PROJECT_ROOT / "config" / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as loaded:
        yield loaded


def test_instance_allows_one_warehouse_run_at_a_time(instance) -> None:
    coordinator = instance.run_coordinator
    assert type(coordinator).__name__ == "QueuedRunCoordinator"
    config = coordinator.inst_data.config_dict
    assert config["max_concurrent_runs"] == 1
    [(key, value)] = WAREHOUSE_TAG.items()
    assert {"key": key, "value": value, "limit": 1} in config["tag_concurrency_limits"]


def test_instance_retries_crashed_runs(instance) -> None:
    assert instance.run_retries_enabled
    assert instance.run_retries_max_retries == 2
    assert not instance.run_retries_retry_on_asset_or_op_failure
    assert RUN_TAGS["dagster/max_retries"] == "2"


def _hold_lock(path: Path, seconds: float) -> subprocess.Popen:
    """Another process that opens the warehouse for writing and keeps it for ``seconds``."""
    code = textwrap.dedent(
        f"""
        import time, duckdb
        con = duckdb.connect({str(path)!r})
        print("locked", flush=True)
        time.sleep({seconds})
        """
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def test_warehouse_waits_out_a_lock_held_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    holder = _hold_lock(path, 2.0)
    try:
        started = time.monotonic()
        with Warehouse(path=str(path), lock_timeout_seconds=30).connect() as con:
            assert con.execute("SELECT 42").fetchone() == (42,)
        assert time.monotonic() - started >= 0.5
    finally:
        holder.wait(timeout=30)


def test_warehouse_gives_up_after_the_lock_timeout(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    holder = _hold_lock(path, 10.0)
    try:
        started = time.monotonic()
        with (
            pytest.raises(duckdb.IOException, match="Could not set lock"),
            Warehouse(path=str(path), lock_timeout_seconds=1).connect(),
        ):
            pass
        assert time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait(timeout=30)


def _storage_version(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute(
        "SELECT tags['storage_version'] FROM duckdb_databases() "
        "WHERE database_name = current_database()"
    ).fetchone()[0]


def test_a_new_warehouse_is_created_in_the_faster_storage_format(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    with Warehouse(path=str(path)).connect() as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    with duckdb.connect(str(path), read_only=True) as con:
        assert _storage_version(con) == f"{WAREHOUSE_STORAGE_VERSION}+"


def test_an_existing_warehouse_keeps_its_storage_format(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
        old = _storage_version(con)
    assert old != f"{WAREHOUSE_STORAGE_VERSION}+"
    with Warehouse(path=str(path)).connect() as con:
        con.execute("INSERT INTO t VALUES (2)")
    with duckdb.connect(str(path), read_only=True) as con:
        assert _storage_version(con) == old
        assert con.execute("SELECT sum(x) FROM t").fetchone() == (3,)


@pytest.mark.parametrize("configured", [True, False])
def test_a_spill_directory_made_for_scratch_files_goes_with_the_connection(
    tmp_path: Path, configured: bool
) -> None:
    path = tmp_path / "warehouse.duckdb"
    spill = tmp_path / "spill" if configured else Path(f"{path}.tmp")
    warehouse = Warehouse(path=str(path), temp_directory=str(spill) if configured else None)
    with warehouse.connect() as con, scratch_directory(con, "test-") as directory:
        assert directory.parent == spill
    assert not spill.exists()
    # one that was there before the connection stays
    spill.mkdir()
    with warehouse.connect() as con, scratch_directory(con, "test-"):
        pass
    assert spill.is_dir()


def test_the_librarys_warnings_reach_the_runs_event_log(instance) -> None:
    @dg.asset
    def warns(context: dg.AssetExecutionContext) -> None:
        logging.getLogger("segmentation.features.behaviour").warning("a library warning")
        context.log.info("an asset's own message")

    result = dg.materialize([warns], instance=instance)
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert "a library warning" in messages
    # the assets' info messages are kept: the instance sets no python_log_level
    assert "an asset's own message" in messages
