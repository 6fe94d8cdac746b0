"""The serving copy is only ever replaced when it is this pipeline's, unchanged, and no one writes
to it; what a BI client wrote is never discarded without the configuration saying so, and the
file stays readable in every case.

One module fixture lands the real sample and materializes one partition; each test publishes the
marts of that warehouse to a serving file of its own (serving asset only, well under a second).
Clients that write to the serving copy run as separate processes, as a BI tool would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from assets.serving.assets import serving_marts
from pipelines.build_definitions import build_definitions
from segmentation.config import SegmentationConfig, load_config
from segmentation.serving.dictionary import MART_CONTRACTS
from segmentation.settings_base import ConfigError
from tests.conftest import config_mapping, write_config_file
from tests.e2e.test_pipeline import materialize

PARTITION = "2011-03"
CLIENT_TIMEOUT_SECONDS = 60

# A BI client that opens the serving copy read-write: runs its statements, then either closes
# (checkpointing them into the file), dies without checkpointing (they stay in the WAL), or
# keeps the file open until told to go on, checkpoints, writes more and dies.
CLIENT = """
import os, sys, time
import duckdb
path, mode, folder = sys.argv[1], sys.argv[2], sys.argv[3]
statements = sys.argv[4:]
con = duckdb.connect(path)
con.execute("SET checkpoint_threshold = '1TB'")
for statement in statements:
    con.execute(statement)
if mode == "close":
    con.close()
    sys.exit(0)
if mode == "hold":
    open(os.path.join(folder, "ready"), "w").close()
    while not os.path.exists(os.path.join(folder, "go")):
        time.sleep(0.05)
    con.execute("CHECKPOINT")
    con.execute("CREATE TABLE main.after_checkpoint AS SELECT 1 AS n")
os._exit(9)
"""


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("serving_guards")
    raw = config_mapping(
        snapshots={"start": "2011-01", "end": "2011-03"}, segments={"clusters": {"enabled": False}}
    )
    config = load_config(write_config_file(folder, raw))
    assert materialize(config, PARTITION).success
    return config.warehouse


def _config(folder: Path, warehouse: Path, **overrides) -> SegmentationConfig:
    raw = config_mapping(
        warehouse=str(warehouse),
        serving="serving/serving.duckdb",
        snapshots={"start": "2011-01", "end": "2011-03"},
        **overrides,
    )
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_config(path)


def _publish(config: SegmentationConfig) -> dg.ExecuteInProcessResult:
    return dg.materialize([serving_marts], resources=build_definitions(config).resources)


def _metadata(result: dg.ExecuteInProcessResult) -> dict:
    (event,) = result.get_asset_materialization_events()
    return {key: value.value for key, value in event.materialization.metadata.items()}


def _marker(path: Path) -> dict:
    with duckdb.connect(str(path), read_only=True) as con:
        return json.loads(con.execute("SELECT _segmentation.serving_copy()").fetchone()[0])


def _tables(path: Path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        names = con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
            "WHERE database_name = current_database() ORDER BY 1"
        ).fetchall()
        return {
            name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for (name,) in names
        }


def _client(path: Path, mode: str, *statements: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CLIENT, str(path), mode, str(path.parent), *statements]
    )


def _wait(process: subprocess.Popen) -> None:
    process.wait(timeout=CLIENT_TIMEOUT_SECONDS)


@contextmanager
def _holding_client(path: Path, *statements: str) -> Iterator[subprocess.Popen]:
    """A client holding ``path`` open read-write until the block ends; then it checkpoints,
    writes more and dies."""
    process = _client(path, "hold", *statements)
    try:
        deadline = time.monotonic() + CLIENT_TIMEOUT_SECONDS
        while not (path.parent / "ready").exists():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        yield process
    finally:
        (path.parent / "go").touch()
        try:
            _wait(process)
        except subprocess.TimeoutExpired:
            process.kill()
            raise


def test_the_copy_is_marked_with_its_fingerprint_and_holds_only_the_marts(
    tmp_path: Path, warehouse: Path
) -> None:
    config = _config(tmp_path, warehouse)
    first = _metadata(_publish(config))
    marker = _marker(config.serving)
    assert marker["pipeline"] == "customer-segmentation"
    assert marker["format_version"] == 1
    assert marker["duckdb_version"] == duckdb.__version__
    assert marker["fingerprint"] == first["fingerprint"]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        expected = {
            f"marts.{table}": con.execute(f"SELECT count(*) FROM marts.{table}").fetchone()[0]
            for table in MART_CONTRACTS
        }
    assert _tables(config.serving) == expected  # the marker is no table: BI tools list tables
    assert {name: rows for name, (rows, _) in marker["tables"].items()} == expected
    # an untouched copy is republished, and the same content has the same fingerprint
    second = _metadata(_publish(config))
    assert second["discarded_foreign_changes"] == "none"
    assert second["fingerprint"] == first["fingerprint"]
    load_config(config.config_path)  # a marked copy is accepted when the config loads


@pytest.mark.parametrize(
    ("statement", "change"),
    [
        ("CREATE TABLE main.notes AS SELECT 1 AS n", "objects it did not write: table main.notes"),
        (
            "UPDATE marts.segment_summary SET customers = customers + 1 WHERE rowid = 0",
            "rows changed in: marts.segment_summary (rows updated)",
        ),
        ("DELETE FROM marts.customer_segments WHERE rowid < 3", "marts.customer_segments ("),
        (
            "ALTER TABLE marts.segment_summary ADD COLUMN note VARCHAR",
            "objects it did not write: column marts.segment_summary.note",
        ),
        ("CREATE VIEW main.mine AS SELECT 1 AS n", "objects it did not write: view main.mine"),
    ],
    ids=["new-table", "updated-row", "deleted-rows", "new-column", "new-view"],
)
def test_foreign_changes_stop_the_publish_until_discarding_is_allowed(
    tmp_path: Path, warehouse: Path, statement: str, change: str
) -> None:
    config = _config(tmp_path, warehouse)
    _publish(config)
    _wait(_client(config.serving, "close", statement))
    changed = config.serving.read_bytes()
    with pytest.raises(dg.Failure) as failure:
        _publish(config)
    message = failure.value.description or ""
    assert f"the serving copy {config.serving} was changed since this pipeline published it" in (
        message
    )
    assert change in message
    assert "serving_overwrite_foreign_changes: true" in message
    assert config.serving.read_bytes() == changed  # nothing discarded
    assert sorted(p.name for p in config.serving.parent.iterdir()) == ["serving.duckdb"]

    allowed = _config(tmp_path, warehouse, serving_overwrite_foreign_changes=True)
    metadata = _metadata(_publish(allowed))
    assert change in metadata["discarded_foreign_changes"]
    assert set(_tables(config.serving)) == {f"marts.{table}" for table in MART_CONTRACTS}
    assert _metadata(_publish(config))["discarded_foreign_changes"] == "none"


def test_a_crashed_clients_write_ahead_log_is_kept_until_discarding_is_allowed(
    tmp_path: Path, warehouse: Path
) -> None:
    config = _config(tmp_path, warehouse)
    _publish(config)
    _wait(_client(config.serving, "crash", "CREATE TABLE main.draft AS SELECT 1 AS n"))
    wal = config.serving.with_name("serving.duckdb.wal")
    assert wal.exists()
    before = (config.serving.read_bytes(), wal.read_bytes())
    with pytest.raises(dg.Failure, match="a write-ahead log serving.duckdb.wal beside it"):
        _publish(config)
    assert (config.serving.read_bytes(), wal.read_bytes()) == before
    assert "main.draft" in _tables(config.serving)  # readable, with the client's write

    allowed = _config(tmp_path, warehouse, serving_overwrite_foreign_changes=True)
    metadata = _metadata(_publish(allowed))
    assert "write-ahead log" in metadata["discarded_foreign_changes"]
    assert not wal.exists()
    assert "main.draft" not in _tables(config.serving)


@pytest.mark.parametrize("overwrite", [False, True], ids=["default", "discarding-allowed"])
def test_a_copy_open_read_write_elsewhere_is_never_replaced(
    tmp_path: Path, warehouse: Path, overwrite: bool
) -> None:
    switch = {"serving_overwrite_foreign_changes": True} if overwrite else {}
    config = _config(tmp_path, warehouse, **switch)
    _publish(config)
    with (
        _holding_client(config.serving, "CREATE TABLE main.notes AS SELECT 1 AS n"),
        pytest.raises(dg.Failure, match="is open read-write in another process"),
    ):
        _publish(config)
    # the client checkpointed, wrote on and died: had the publish replaced the file under it,
    # its log would now be replayed on the new copy and nobody could open it
    assert {"main.notes", "main.after_checkpoint"} <= set(_tables(config.serving))
    allowed = _config(tmp_path, warehouse, serving_overwrite_foreign_changes=True)
    _publish(allowed)
    assert set(_tables(config.serving)) == {f"marts.{table}" for table in MART_CONTRACTS}


def test_temporary_files_of_a_killed_publish_are_removed(tmp_path: Path, warehouse: Path) -> None:
    config = _config(tmp_path, warehouse)
    folder = config.serving.parent
    folder.mkdir(parents=True)
    stale = folder / f".serving.duckdb.{'a' * 32}.tmp"
    with duckdb.connect(str(stale)) as con:
        con.execute("CREATE TABLE half AS SELECT 1 AS n")
    stale_wal = folder / f".serving.duckdb.{'b' * 32}.tmp.wal"
    stale_wal.write_bytes(b"partial")
    busy = folder / f".serving.duckdb.{'c' * 32}.tmp"  # another publish still writing it
    unrelated = folder / f".other.duckdb.{'d' * 32}.tmp"
    unrelated.write_bytes(b"not ours")
    with _holding_client(busy):
        metadata = _metadata(_publish(config))
        assert busy.exists()
    assert not stale.exists() and not stale_wal.exists()
    assert unrelated.exists()
    assert metadata["removed_temporary_files"] == f"{stale.name}, {stale_wal.name}"


def test_a_file_that_appears_at_the_serving_path_after_loading_is_not_replaced(
    tmp_path: Path, warehouse: Path
) -> None:
    config = _config(tmp_path, warehouse, serving_overwrite_foreign_changes=True)
    config.serving.parent.mkdir(parents=True)
    with duckdb.connect(str(config.serving)) as con:
        con.execute("CREATE TABLE precious AS SELECT 42 AS answer")
    with pytest.raises(dg.Failure, match="without this pipeline's marker"):
        _publish(config)
    assert _tables(config.serving) == {"main.precious": 1}


def test_a_copy_published_before_the_marker_is_accepted_and_marked(
    tmp_path: Path, warehouse: Path
) -> None:
    config = _config(tmp_path, warehouse)
    _publish(config)
    with duckdb.connect(str(config.serving)) as con:
        con.execute("DROP SCHEMA _segmentation CASCADE")
    load_config(config.config_path)
    result = _publish(config)
    assert _marker(config.serving)["fingerprint"] == _metadata(result)["fingerprint"]


def test_the_serving_copy_is_refused_at_load_when_it_is_the_warehouse(
    tmp_path: Path, warehouse: Path
) -> None:
    before = os.stat(warehouse).st_mtime_ns
    path = write_config_file(
        tmp_path, config_mapping(warehouse=str(warehouse), serving=str(warehouse))
    )
    with pytest.raises(ConfigError, match="is the warehouse file"):
        load_config(path)
    assert os.stat(warehouse).st_mtime_ns == before
