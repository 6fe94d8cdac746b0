"""`make test` sets up Java 17 (or 21) for the Spark engine's tests before the suite, and says
what to do where it cannot; the default engine's `make run` needs no Java."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.spark

MAKE = shutil.which("make") or "make"
TOOLS = ("sh", "grep", "head", "mkdir")


def _make(*args: str, path: str | None = None, **env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "JAVA_HOME"}
    environment |= env
    if path is not None:
        environment["PATH"] = path
    return subprocess.run(
        [MAKE, "--no-print-directory", *args],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _bin(folder: Path, **scripts: str) -> str:
    """A PATH of the shell tools the target uses and the given scripts, and no Java."""
    folder.mkdir()
    for tool in TOOLS:
        (folder / tool).symlink_to(shutil.which(tool) or tool)
    for name, body in scripts.items():
        (folder / name.replace("_", "-")).write_text(f"#!/bin/sh\n{body}\n")
        (folder / name.replace("_", "-")).chmod(0o755)
    return str(folder)


def test_make_test_sets_up_java_before_the_suite_and_make_run_does_not() -> None:
    planned = _make("-n", "test").stdout
    assert "openjdk-17-jre-headless" in planned
    assert planned.index("openjdk-17-jre-headless") < planned.index("pytest")
    assert "openjdk" not in _make("-n", "run").stdout


def test_the_java_here_is_accepted() -> None:
    result = _make("java-deps")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("java: ")
    assert 'version "17' in result.stdout or 'version "21' in result.stdout


def test_without_java_and_without_root_it_says_what_to_run(tmp_path: Path) -> None:
    path = _bin(tmp_path / "bin", id="echo 1000")
    result = _make("java-deps", path=path)
    assert result.returncode != 0
    assert result.stderr.splitlines()[:2] == [
        "java-deps: Java 17 or 21 is missing (Spark 4.0 runs on those) and installing it needs "
        "root:",
        "  sudo apt-get update && sudo apt-get install -y --no-install-recommends "
        "openjdk-17-jre-headless",
    ]


def test_as_root_it_installs_debians_java_21_where_the_release_has_no_17(
    tmp_path: Path,
) -> None:
    log = tmp_path / "apt.log"
    path = _bin(
        tmp_path / "bin",
        id="echo 0",
        apt_get=f'echo "apt-get $*" >> {log}',
        # a release without openjdk-17 (Debian 13)
        apt_cache='[ "$2" != openjdk-17-jre-headless ]',
    )
    result = _make("java-deps", path=path)
    assert log.read_text().splitlines() == [
        "apt-get update",
        "apt-get install -y --no-install-recommends openjdk-21-jre-headless",
    ]
    # the fake install put no java on PATH: said, not ignored
    assert result.returncode != 0
    assert "installed openjdk-21-jre-headless, but the java on PATH is still no Java 17" in (
        result.stderr
    )


def test_a_java_home_spark_cannot_run_on_is_named(tmp_path: Path) -> None:
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("#!/bin/sh\necho 'openjdk version \"25\" 2025-09-16' >&2\n")
    (home / "bin" / "java").chmod(0o755)
    result = _make("java-deps", JAVA_HOME=str(home))
    assert result.returncode != 0
    assert f"JAVA_HOME={home} holds no Java 17 or 21" in result.stderr
