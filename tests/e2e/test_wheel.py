"""The wheel built from this repository runs the demo without the repository.

`uv build` makes the wheel; a fresh virtual environment in a temporary folder gets the locked
dependency versions (`uv export --frozen --no-dev`) and the wheel: the wheels come from uv's
cache that `make install` filled, the package index is asked only which files exist (a fresh
machine's cache holds the locked wheels but not the index pages an offline install needs).
Every command then runs from a folder outside the checkout, with nothing pointing back at it,
and does what `make demo-data` and `make run` do.
"""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# the uv that `make install` puts in the checkout; a uv on PATH will do elsewhere
UV = PROJECT_ROOT / ".tools" / "bin" / "uv"
# small, so the 24 monthly partitions of the demo run quickly
DEMO_CUSTOMERS = 400
# not passed on: what `make test` or a developer's shell set to reach the checkout, and the
# switch that would make every process compile the installed modules again
_DROPPED = (
    "PYTHONDONTWRITEBYTECODE",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "UV_PROJECT_ENVIRONMENT",
    "SEGMENTATION_CONFIG",
    "DAGSTER_HOME",
)

# run by the installed interpreter: where each package and bundled file was found
_PROBE = """
import json, sys
import assets, pipelines, segmentation, synthetic
from segmentation.bundled import BUNDLED_ROOT
from segmentation.config import DEMO_CONFIG
from segmentation.sql_files import SQL_ROOT, read_sql
from segmentation.strategies.settings import DEFAULT_PLAYBOOK
try:
    import benchmarks
    has_benchmarks = True
except ImportError:
    has_benchmarks = False
read_sql("raw/landing_counts.sql")
print(json.dumps({
    "packages": [m.__file__ for m in (assets, pipelines, segmentation, synthetic)],
    "sys_path": sys.path,
    "bundled_root": str(BUNDLED_ROOT),
    "sql_root": str(SQL_ROOT),
    "demo_config": str(DEMO_CONFIG),
    "playbook": str(DEFAULT_PLAYBOOK),
    "has_benchmarks": has_benchmarks,
}))
"""


def _uv() -> str:
    found = str(UV) if UV.is_file() else shutil.which("uv")
    if found is None:
        pytest.fail(f"uv is missing: run `make install` (it installs uv at {UV})")
    return found


def _environment(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _DROPPED}
    return env | extra


def _run(args: list[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=_environment(**extra),
        capture_output=True,
        text=True,
        timeout=600,
    )
    command = " ".join(str(arg) for arg in args)[:300]
    assert result.returncode == 0, f"{command}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


def _site_packages(python: Path, cwd: Path) -> Path:
    script = "import sysconfig; print(sysconfig.get_path('purelib'))"
    return Path(_run([python, "-c", script], cwd).stdout.strip())


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Iterator[Path]:
    """The python of a fresh virtual environment holding the wheel and the locked dependencies."""
    folder = tmp_path_factory.mktemp("wheel")
    uv = _uv()
    _run(
        [uv, "build", "--wheel", "--offline", "--quiet", "--out-dir", folder / "dist"], PROJECT_ROOT
    )
    [wheel] = (folder / "dist").glob("customer_segmentation-*.whl")
    locked = folder / "locked.txt"
    _run(
        [uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "--quiet"]
        + ["--output-file", locked],
        PROJECT_ROOT,
    )
    _run([uv, "venv", "--quiet", "--python", sys.executable, folder / "venv"], folder)
    python = folder / "venv" / "bin" / "python"
    # the exact locked versions, with no resolution; `uv pip check` then proves they satisfy the
    # wheel's own requirements
    _run(
        [uv, "pip", "install", "--quiet", "--no-deps", "--python", python] + ["-r", locked, wheel],
        folder,
    )
    _run([uv, "pip", "check", "--quiet", "--python", python], folder)
    yield python


def test_the_installed_package_is_used_with_its_bundled_files(
    installed: Path, tmp_path: Path
) -> None:
    site_packages = _site_packages(installed, tmp_path)
    found = json.loads(_run([installed, "-c", _PROBE], tmp_path).stdout)

    for path in found["packages"]:
        assert Path(path).is_relative_to(site_packages), path
    assert not [entry for entry in found["sys_path"] if entry.startswith(str(PROJECT_ROOT))]
    # a measuring tool for this repository, not part of the package
    assert found["has_benchmarks"] is False

    bundled = site_packages / "segmentation" / "_bundled"
    assert Path(found["bundled_root"]) == bundled
    assert Path(found["sql_root"]) == bundled / "sql"
    assert Path(found["demo_config"]) == bundled / "config" / "demo.yaml"
    assert Path(found["playbook"]) == bundled / "config" / "playbook.yaml"
    # the repository's sql/ and config files, shipped as they are
    repo_sql = {
        path.relative_to(PROJECT_ROOT / "sql") for path in (PROJECT_ROOT / "sql").rglob("*.sql")
    }
    shipped_sql = {path.relative_to(bundled / "sql") for path in (bundled / "sql").rglob("*.sql")}
    assert shipped_sql == repo_sql
    for relative in [*(Path("sql") / path for path in repo_sql), *_CONFIG_FILES]:
        assert (bundled / relative).read_bytes() == (PROJECT_ROOT / relative).read_bytes(), relative


_CONFIG_FILES = (
    Path("config/demo.yaml"),
    Path("config/playbook.yaml"),
    Path("config/dagster.yaml"),
)


def test_the_bundled_demo_config_alone_stops_before_writing(
    installed: Path, tmp_path: Path
) -> None:
    """Without SEGMENTATION_CONFIG the wheel finds its own demo config, whose data paths lie in
    site-packages where no data is: the run stops at the config check and writes nothing."""
    result = subprocess.run(
        [str(installed), "-m", "pipelines.partitions", "--range"],
        cwd=tmp_path,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "sources.transactions.path" in result.stderr
    assert "matches no file" in result.stderr
    bundled = _site_packages(installed, tmp_path) / "segmentation" / "_bundled"
    assert sorted(path.name for path in bundled.iterdir()) == ["config", "sql"]


@pytest.mark.long
def test_the_wheel_runs_the_demo(installed: Path, tmp_path: Path) -> None:
    # the checkout's layout in a folder of one's own: config/demo.yaml's paths (../data/demo,
    # ../warehouse) then land beside it, as `make run` lands them beside config/ in the checkout
    copy = (
        "import shutil, sys\n"
        "from segmentation.bundled import bundled_path\n"
        "shutil.copy(bundled_path('config/demo.yaml'), sys.argv[1])\n"
        "shutil.copy(bundled_path('config/dagster.yaml'), sys.argv[2])\n"
    )
    (tmp_path / "config").mkdir()
    (tmp_path / "home").mkdir()
    config, home = tmp_path / "config" / "demo.yaml", tmp_path / "home"
    _run([installed, "-c", copy, config, home / "dagster.yaml"], tmp_path)
    env = {"SEGMENTATION_CONFIG": str(config), "DAGSTER_HOME": str(home)}

    _run(
        [installed, "-m", "synthetic.generate", "--customers", DEMO_CUSTOMERS]
        + ["--out", "data/demo", "--start", "2010-01-01", "--end", "2011-12-31", "--seed", "42"],
        tmp_path,
    )
    partitions = _run([installed, "-m", "pipelines.partitions", "--range"], tmp_path, **env)
    assert partitions.stdout.strip() == "2010-01...2011-12"
    run = _run(
        [installed, "-m", "pipelines.run", "--select", "*"]
        + ["--partition-range", partitions.stdout.strip()],
        tmp_path,
        **env,
    )
    assert "succeeded" in run.stdout
    summary = _run([installed, "-m", "pipelines.summary"], tmp_path, **env)
    assert "Latest snapshot" in summary.stdout

    with duckdb.connect(str(tmp_path / "warehouse" / "segmentation.duckdb"), read_only=True) as con:
        per_month = dict(
            con.execute(
                "SELECT snapshot_date, count(*) FROM marts.customer_segments GROUP BY 1"
            ).fetchall()
        )
        strategies = con.execute(
            "SELECT count(*) FROM marts.strategy_assignments"
            " WHERE snapshot_date = DATE '2011-12-31'"
        ).fetchone()[0]
    # every customer signed up by a month's end has that month's segment row, read from the
    # generated source file rather than from the warehouse
    signups = pl.read_parquet(tmp_path / "data" / "demo" / "customers.parquet")["signup_date"]
    month_ends = sorted(per_month)
    assert len(month_ends) == 24
    assert (month_ends[0], month_ends[-1]) == (date(2010, 1, 31), date(2011, 12, 31))
    for month_end, rows in per_month.items():
        assert rows == (signups <= month_end).sum(), month_end
    assert per_month[date(2011, 12, 31)] == DEMO_CUSTOMERS
    assert strategies == DEMO_CUSTOMERS
    assert (tmp_path / "warehouse" / "serving.duckdb").is_file()
