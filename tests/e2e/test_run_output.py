"""What `make run` prints: one line per step and the failure, recorded in the Dagster instance;
and what `make test` sets up before the suite runs."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from tests.conftest import RETAIL_COLUMNS, config_mapping, sample_transactions, write_config_file

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RANGE = "2011-02...2011-03"
# how the run prints a duration: seconds, or minutes and seconds from a minute on (a busy machine)
DURATION = r"(\d+\.\d s|\d+ min \d+ s)"
# every asset of the pipeline and every check: one step each
STEP_COUNT = 27
CHROMIUM = Path("/usr/bin/chromium")


def _run(folder: Path, *args: str, **changes) -> subprocess.CompletedProcess:
    config = write_config_file(
        folder, config_mapping(snapshots={"start": "2010-12", "end": "2011-03"}, **changes)
    )
    home = folder / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copy(PROJECT_ROOT / "config" / "dagster.yaml", home / "dagster.yaml")
    env = os.environ | {"SEGMENTATION_CONFIG": str(config), "DAGSTER_HOME": str(home)}
    env.pop("PYTHONWARNINGS", None)
    return subprocess.run(
        [sys.executable, "-m", "pipelines.run", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def quiet_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    folder = tmp_path_factory.mktemp("run_output")
    return folder, _run(folder, "--partition-range", RANGE)


def test_prints_one_line_per_step_and_nothing_else(quiet_run) -> None:
    _, result = quiet_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    output = result.stdout + result.stderr
    for noise in ("DEBUG", "BetaWarning", "SupersessionWarning", "Traceback", " - dagster - "):
        assert noise not in output
    steps = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert len(steps) == STEP_COUNT
    assert [line.split("]")[0] for line in steps] == [
        f"[{n:>2}/{STEP_COUNT}" for n in range(1, STEP_COUNT + 1)
    ]
    assert len(result.stdout.splitlines()) == STEP_COUNT + 2  # the run's first and last lines
    assert re.fullmatch(rf"Run \S+ succeeded in {DURATION}", result.stdout.splitlines()[-1])
    for step in steps:
        assert re.search(rf"{DURATION}$", step), step


def test_a_step_line_names_its_assets_partitions_and_rows(quiet_run) -> None:
    folder, result = quiet_run
    with duckdb.connect(str(folder / "warehouse" / "segmentation.duckdb"), read_only=True) as con:
        segments, summary = (
            con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("marts.customer_segments", "marts.segment_summary")
        )
        landed = con.execute("SELECT count(*) FROM raw.transactions").fetchone()[0]
    lines = result.stdout.splitlines()
    [line] = [x for x in lines if "marts/customer_segments, marts/segment_summary" in x]
    assert f"2011-02...2011-03 (2 partitions)  {segments:,} + {summary:,} rows" in line
    [line] = [x for x in lines if "  raw/transactions  " in x]
    assert f"{landed:,} rows" in line
    assert any("check raw/transactions contract  passed" in x for x in lines)


def test_the_run_is_recorded_in_dagster_home(quiet_run) -> None:
    folder, result = quiet_run
    run_id = result.stdout.splitlines()[0].split()[1]
    with dg.DagsterInstance.from_config(str(folder / "dagster_home")) as instance:
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags["dagster/asset_partition_range_start"] == "2011-02"
        assert run.tags["dagster/asset_partition_range_end"] == "2011-03"
        records = instance.fetch_materializations(
            dg.AssetKey(["marts", "customer_segments"]), limit=10
        ).records
        assert sorted(r.asset_materialization.partition for r in records) == ["2011-02", "2011-03"]
        assert {r.run_id for r in records} == {run_id}
        # the full event log stays in the instance
        assert len(instance.all_logs(run_id)) > 100


def test_a_failing_step_prints_its_error_and_exits_non_zero(tmp_path: Path) -> None:
    transactions = sample_transactions()
    transactions["columns"] = RETAIL_COLUMNS | {"customer_id": "Customer Identifier"}
    result = _run(tmp_path, "--partition-range", RANGE, sources={"transactions": transactions})
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "DEBUG" not in output
    assert re.search(r"\]  raw/transactions  FAILED", result.stdout)
    assert "raw/transactions failed:\nSourceError: " in result.stdout
    assert "has no column 'Customer Identifier' (mapped to customer_id)" in result.stdout
    assert "FAILED after" in result.stdout.splitlines()[-1]


def test_verbose_prints_dagsters_event_log(tmp_path: Path) -> None:
    result = _run(tmp_path, "--partition-range", "2011-03", "--verbose")
    assert result.returncode == 0, result.stderr[-3000:]
    assert " - dagster - DEBUG - " in result.stdout + result.stderr
    assert sum(line.startswith("[") for line in result.stdout.splitlines()) == STEP_COUNT


def test_a_partition_outside_the_config_is_refused(tmp_path: Path) -> None:
    result = _run(tmp_path, "--partition-range", "2009-01...2011-03")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "partition 2009-01 is not a partition of this config (2010-12...2011-03; "
        "see `python -m pipelines.partitions`)"
    )


def _make(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=PROJECT_ROOT,
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_run_prints_progress_and_verbose_the_full_log() -> None:
    quiet = _make("-n", "run").stdout
    assert "python -m pipelines.run --select '*'" in quiet
    assert "--verbose" not in quiet
    assert "--verbose" in _make("-n", "run", "VERBOSE=1").stdout


def test_make_test_sets_up_the_browser_before_the_suite() -> None:
    planned = _make("-n", "test").stdout
    assert "apt-get install -y --no-install-recommends chromium" in planned
    assert planned.index("chromium") < planned.index("pytest")
    assert "make test" in (PROJECT_ROOT / ".ci" / "run").read_text()


def test_ui_deps_without_root_says_what_to_run(tmp_path: Path) -> None:
    # an `id` that answers as an ordinary user would
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "id").write_text("#!/bin/sh\necho 1000\n")
    (fake / "id").chmod(0o755)
    result = _make("ui-deps", PATH=f"{fake}:{os.environ['PATH']}")
    if CHROMIUM.exists():
        assert result.returncode == 0 and "chromium is installed" in result.stdout
    else:
        assert result.returncode != 0
        assert "sudo apt-get install -y --no-install-recommends chromium" in result.stderr


def test_a_config_error_prints_the_message_alone(tmp_path: Path) -> None:
    result = _run(tmp_path, warehose="typo.duckdb")
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert "warehose: unknown key" in result.stderr
    assert not (tmp_path / "warehouse").exists()
