"""The repository is a `dg` project: `dg list defs`, `dg check defs` and `dg launch` load the same
code location as `dagster asset materialize -m pipelines.definitions` and workspace.yaml."""

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import duckdb
import yaml

from pipelines.build_definitions import build_definitions
from pipelines.jobs import SNAPSHOT_JOB_NAME
from pipelines.schedules import SCHEDULE_NAME
from pipelines.sensors import SENSOR_NAME
from segmentation.config import load_config
from tests.conftest import config_mapping, write_config_file

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DG = Path(sys.executable).parent / "dg"


def _write_config(folder: Path, **changes) -> Path:
    folder.mkdir(exist_ok=True)
    snapshots = {"start": "2011-01", "end": "2011-03"}
    return write_config_file(folder, config_mapping(snapshots=snapshots, **changes))


def _dg(args: list[str], config: Path, home: Path) -> subprocess.CompletedProcess:
    home.mkdir(exist_ok=True)
    shutil.copy(PROJECT_ROOT / "config" / "dagster.yaml", home / "dagster.yaml")
    env = os.environ | {
        "SEGMENTATION_CONFIG": str(config),
        "DAGSTER_HOME": str(home),
        # as `uv run` sets it: dg compares it with the project's .venv and warns on a mismatch
        "VIRTUAL_ENV": str(Path(sys.executable).parents[1]),
    }
    return subprocess.run(
        [str(DG), *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def test_dg_lists_the_code_locations_definitions(tmp_path: Path) -> None:
    config = _write_config(tmp_path)
    result = _dg(["list", "defs", "--json"], config, tmp_path / "home")
    assert result.returncode == 0, result.stderr[-3000:]
    listed = json.loads(result.stdout)

    defs = build_definitions(load_config(config))
    graph = defs.resolve_asset_graph()
    expected = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {asset["asset_key"] for asset in listed["assets"]} == expected
    assert {"marts/customer_segments", "marts/strategy_assignments", "serving/marts"} <= expected
    assert [job["name"] for job in listed["jobs"]] == [SNAPSHOT_JOB_NAME]
    assert [schedule["name"] for schedule in listed["schedules"]] == [SCHEDULE_NAME]
    assert [sensor["name"] for sensor in listed["sensors"]] == [SENSOR_NAME]


def test_dg_check_defs_passes_and_names_a_config_error(tmp_path: Path) -> None:
    good = _dg(["check", "defs"], _write_config(tmp_path / "good"), tmp_path / "home")
    assert good.returncode == 0, good.stderr[-3000:]
    assert "All definitions loaded successfully" in good.stdout

    bad = _dg(
        ["check", "defs"], _write_config(tmp_path / "bad", warehose="typo.duckdb"), tmp_path / "h"
    )
    assert bad.returncode != 0
    assert "warehose: unknown key" in bad.stdout + bad.stderr


def test_dg_launch_materializes_one_partition(tmp_path: Path) -> None:
    config = _write_config(tmp_path)
    result = _dg(["launch", "--assets", "*", "--partition", "2011-03"], config, tmp_path / "home")
    assert result.returncode == 0, result.stderr[-3000:]
    with duckdb.connect(str(tmp_path / "warehouse" / "segmentation.duckdb"), read_only=True) as con:
        segments = con.execute(
            "SELECT snapshot_date::VARCHAR, count(*) FROM marts.customer_segments GROUP BY 1"
        ).fetchall()
        # every customer with a landed purchase up to the snapshot has a segment row
        buyers = con.execute(
            "SELECT count(DISTINCT customer_id) FROM raw.transactions"
            " WHERE order_ts < DATE '2011-04-01'"
        ).fetchone()[0]
        assignments = con.execute(
            "SELECT DISTINCT snapshot_date::VARCHAR FROM marts.strategy_assignments"
        ).fetchall()
    assert segments == [("2011-03-31", buyers)]
    assert buyers > 0
    assert assignments == [("2011-03-31",)]


def test_dg_project_and_workspace_name_one_code_location() -> None:
    """`dg dev` (make dev) and `dagster dev -w workspace.yaml` show the same code location, so
    the schedule and sensor states kept in DAGSTER_HOME carry over from one to the other."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["dg"]
    workspace = yaml.safe_load((PROJECT_ROOT / "workspace.yaml").read_text())
    [entry] = workspace["load_from"]
    module = entry["python_module"]
    assert project["directory_type"] == "project"
    assert project["project"]["code_location_target_module"] == module["module_name"]
    # without a location_name Dagster names the location after the module
    location = module.get("location_name", module["module_name"])
    assert project["project"]["code_location_name"] == location
