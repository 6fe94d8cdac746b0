"""The command-line contract: `dagster asset materialize --partition YYYY-MM`, config errors."""

import os
import subprocess
import sys
from pathlib import Path

import duckdb

from tests.conftest import config_mapping, write_config_file

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAGSTER = Path(sys.executable).parent / "dagster"


def _write_config(folder: Path, **changes) -> Path:
    snapshots = {"start": "2011-01", "end": "2011-03"}
    return write_config_file(folder, config_mapping(snapshots=snapshots, **changes))


def _materialize(config: Path, home: Path, partition: str) -> subprocess.CompletedProcess:
    command = [str(DAGSTER), "asset", "materialize", "-m", "pipelines.definitions"]
    return _run([*command, "--select", "*", "--partition", partition], config, home)


def _run(args: list[str], config: Path, home: Path) -> subprocess.CompletedProcess:
    env = os.environ | {"SEGMENTATION_CONFIG": str(config), "DAGSTER_HOME": str(home)}
    home.mkdir(exist_ok=True)
    return subprocess.run(
        args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def test_cli_materializes_one_partition(tmp_path: Path) -> None:
    config = _write_config(tmp_path)
    result = _materialize(config, tmp_path / "dagster_home", "2011-03")
    assert result.returncode == 0, result.stderr[-3000:]
    with duckdb.connect(str(tmp_path / "warehouse" / "segmentation.duckdb"), read_only=True) as con:
        snapshots = con.execute(
            "SELECT DISTINCT snapshot_date::VARCHAR FROM marts.strategy_assignments"
        ).fetchall()
    assert snapshots == [("2011-03-31",)]


def test_partitions_command_prints_the_range(tmp_path: Path) -> None:
    config = _write_config(tmp_path)
    result = _run(
        [sys.executable, "-m", "pipelines.partitions", "--range"], config, tmp_path / "home"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2011-01...2011-03"


def test_cli_config_error_names_the_key_and_writes_nothing(tmp_path: Path) -> None:
    config = _write_config(tmp_path, warehose="typo.duckdb")
    result = _materialize(config, tmp_path / "dagster_home", "2011-03")
    assert result.returncode != 0
    assert "warehose: unknown key" in result.stderr + result.stdout
    assert not (tmp_path / "warehouse").exists()
