"""The preflight before the Spark engine starts or writes: a missing or unsupported Java, a
master that does not answer and a lake that cannot be written each give one line saying what
to do, all of them in one error, within seconds."""

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from segmentation.engines.spark.preflight import (
    SparkPreflightError,
    find_java,
    lake_problem,
    master_problems,
    preflight,
    preflight_problems,
)

pytestmark = pytest.mark.spark


def test_the_java_spark_starts_is_found_and_supported() -> None:
    java = find_java()
    assert not isinstance(java, str), java
    assert java.major in (17, 21)


def test_no_java_says_how_to_install_it(tmp_path: Path) -> None:
    problem = find_java({"PATH": str(tmp_path)})
    assert isinstance(problem, str)
    assert problem.startswith("java: no Java found")
    assert "apt-get install openjdk-17-jre-headless" in problem


def test_a_java_home_without_java_is_named(tmp_path: Path) -> None:
    problem = find_java({"JAVA_HOME": str(tmp_path), "PATH": os.environ["PATH"]})
    assert isinstance(problem, str)
    assert f"JAVA_HOME={tmp_path} holds no bin/java" in problem


def _fake_java(folder: Path, version: str) -> Path:
    executable = folder / "bin" / "java"
    executable.parent.mkdir(parents=True)
    executable.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2025-09-16' >&2\n")
    executable.chmod(0o755)
    return folder


@pytest.mark.parametrize(("version", "major"), [("25", 25), ("11.0.2", 11), ("1.8.0_392", 8)])
def test_a_java_spark_does_not_run_on_is_refused(tmp_path: Path, version: str, major: int) -> None:
    home = _fake_java(tmp_path / "jdk", version)
    problem = find_java({"JAVA_HOME": str(home)})
    assert isinstance(problem, str)
    assert f"is Java {major}; Spark 4.0 runs on Java 17 or 21" in problem


def test_java_21_is_accepted(tmp_path: Path) -> None:
    java = find_java({"JAVA_HOME": str(_fake_java(tmp_path / "jdk", "21.0.5"))})
    assert not isinstance(java, str) and java.major == 21


def test_a_local_master_needs_no_network() -> None:
    assert master_problems("local[2]") == []


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_standalone_master_that_refuses_is_reported_at_once() -> None:
    port = _closed_port()
    started = time.monotonic()
    problems = master_problems(f"spark://127.0.0.1:{port}")
    assert time.monotonic() - started < 2
    assert problems == [
        f"spark.master: nothing answers at spark://127.0.0.1:{port} (127.0.0.1:{port}: "
        f"Connection refused): start the master, or correct its host and port"
    ]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose connections hang: a listener whose one-slot queue is full, so the kernel
    drops further handshakes (a host that does not answer)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.2)
    yield port
    for filler in fillers:
        filler.close()
    server.close()


def test_a_master_that_does_not_answer_fails_within_seconds(silent_port: int) -> None:
    started = time.monotonic()
    problems = master_problems(f"spark://127.0.0.1:{silent_port}", timeout=1.0)
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 3, elapsed
    assert len(problems) == 1 and "nothing answers at spark://127.0.0.1" in problems[0]


def test_one_answering_master_of_a_high_availability_list_is_enough() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert master_problems(f"spark://127.0.0.1:{_closed_port()},127.0.0.1:{port}") == []


def test_yarn_needs_its_configuration_folder(tmp_path: Path) -> None:
    assert "HADOOP_CONF_DIR or YARN_CONF_DIR" in master_problems("yarn", {})[0]
    assert master_problems("yarn", {"YARN_CONF_DIR": str(tmp_path)}) == []


def test_spark_connect_needs_a_server_and_no_java(tmp_path: Path) -> None:
    port = _closed_port()
    problems = preflight_problems(
        f"sc://127.0.0.1:{port}", str(tmp_path / "lake"), {"PATH": str(tmp_path)}
    )
    assert not [problem for problem in problems if problem.startswith("java:")]
    assert any(f"nothing answers at sc://127.0.0.1:{port}" in problem for problem in problems)


def test_a_lake_under_a_file_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    problem = lake_problem(str(tmp_path / "file" / "lake"))
    assert problem == (
        f"spark.lake: {tmp_path}/file/lake cannot be written: {tmp_path}/file is a file, not a "
        f"folder; choose another location"
    )


def test_a_lake_where_nothing_can_be_created_is_reported() -> None:
    # /proc takes no new files, not even from root
    problem = lake_problem("/proc/segmentation-lake")
    assert problem is not None and problem.startswith("spark.lake: /proc/segmentation-lake")
    assert "make it writable for this user, or choose another location" in problem


def test_checking_a_lake_leaves_nothing_behind(tmp_path: Path) -> None:
    assert lake_problem(str(tmp_path / "new" / "lake")) is None
    assert lake_problem(f"file://{tmp_path}") is None
    assert list(tmp_path.iterdir()) == []


def test_a_lake_on_another_file_system_is_left_to_spark() -> None:
    assert lake_problem("s3a://bucket/segmentation") is None


def test_every_problem_is_in_one_message(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    port = _closed_port()
    with pytest.raises(SparkPreflightError) as raised:
        preflight(
            f"spark://127.0.0.1:{port}", str(tmp_path / "file" / "lake"), {"PATH": str(tmp_path)}
        )
    lines = str(raised.value).splitlines()
    assert lines[0] == "the Spark engine cannot start:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "java",
        "spark.master",
        "spark.lake",
    ]


def test_a_spark_connect_token_never_reaches_the_message(tmp_path: Path) -> None:
    port = _closed_port()
    problems = preflight_problems(
        f"sc://127.0.0.1:{port}/;token=s3cr3t;user_id=ana", str(tmp_path / "lake"), {}
    )
    assert any(f"nothing answers at sc://127.0.0.1:{port} (" in problem for problem in problems)
    assert not [problem for problem in problems if "s3cr3t" in problem or "ana" in problem]
