"""A run whose process is killed with -9 is failed by run monitoring, and the queue moves on.

The committed ``config/dagster.yaml`` in a temporary ``DAGSTER_HOME``: a `make run` (``python -m
pipelines.run``) is killed with SIGKILL while its steps run, a run of the job waits in the queue
behind it (one run at a time), then the real ``dagster-daemon`` starts: its run monitoring must
fail the dead run, and its queue must then start the waiting one.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import DagsterEventType

from pipelines.jobs import SNAPSHOT_JOB_NAME
from tests.conftest import config_mapping, write_config_file

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAEMON_TIMEOUT = 60


def _stop(process: subprocess.Popen) -> None:
    """Kill a process and everything it started (its own session), then reap it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@pytest.fixture
def environment(tmp_path: Path) -> Iterator[dict[str, str]]:
    config = write_config_file(
        tmp_path, config_mapping(snapshots={"start": "2010-12", "end": "2011-03"})
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "config" / "dagster.yaml", home / "dagster.yaml")
    yield os.environ | {"SEGMENTATION_CONFIG": str(config), "DAGSTER_HOME": str(home)}


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait(condition, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            pytest.fail(f"{what} not within {timeout} s\n{tail}")
        time.sleep(0.2)


def _status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus:
    run = instance.get_run_by_id(run_id)
    assert run is not None
    return run.status


def test_a_killed_run_is_failed_and_the_queue_moves_on(environment, tmp_path: Path) -> None:
    home = environment["DAGSTER_HOME"]
    with dg.DagsterInstance.from_config(home) as instance:
        # a `make run`, killed with -9 once its steps execute
        worker_log = tmp_path / "run.log"
        worker = _start([sys.executable, "-m", "pipelines.run"], environment, worker_log)
        # a run of the job waiting in the queue (launched through the coordinator)
        queued_log = tmp_path / "launch.log"
        launch = _start(
            [str(BIN / "dagster"), "job", "launch", "-w", "workspace.yaml"]
            + ["-j", SNAPSHOT_JOB_NAME, "--tags", json.dumps({"dagster/partition": "2011-03"})],
            environment,
            queued_log,
        )
        try:

            def killed_run() -> str | None:
                for record in instance.get_run_records():
                    if record.dagster_run.job_name != SNAPSHOT_JOB_NAME:
                        return record.dagster_run.run_id
                return None

            def steps_running() -> bool:
                run_id = killed_run()
                return run_id is not None and bool(
                    instance.all_logs(run_id, of_type=DagsterEventType.STEP_START)
                )

            _wait(steps_running, 60, "the run's first step", worker_log)
            _stop(worker)
            dead = killed_run()
            assert dead is not None
            assert launch.wait(timeout=60) == 0, queued_log.read_text()[-3000:]
        finally:
            _stop(worker)
            _stop(launch)
        [waiting] = [
            r.dagster_run.run_id
            for r in instance.get_run_records()
            if r.dagster_run.job_name == SNAPSHOT_JOB_NAME
        ]
        assert _status(instance, dead) == dg.DagsterRunStatus.STARTED  # nothing records its end
        assert _status(instance, waiting) == dg.DagsterRunStatus.QUEUED

        daemon_log = tmp_path / "daemon.log"
        daemon = _start(
            [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], environment, daemon_log
        )
        try:
            _wait(
                lambda: _status(instance, dead) == dg.DagsterRunStatus.FAILURE,
                DAEMON_TIMEOUT,
                "the killed run failed by run monitoring",
                daemon_log,
            )
            _wait(
                lambda: (
                    _status(instance, waiting)
                    not in (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING)
                ),
                DAEMON_TIMEOUT,
                "the queued run started",
                daemon_log,
            )
            run = instance.get_run_by_id(waiting)
            assert run is not None
            if run.status == dg.DagsterRunStatus.STARTED:
                # the worker the code server started for it is seen alive
                health = instance.run_launcher.check_run_worker_health(run)
                assert health.status.value == "RUNNING", health
        finally:
            _stop(daemon)
        [failure] = instance.all_logs(dead, of_type=DagsterEventType.RUN_FAILURE)
        assert failure.dagster_event is not None
        assert "is gone (killed or crashed)" in (failure.dagster_event.message or "")


def test_a_live_run_is_reported_running(environment) -> None:
    """The health check never fails a run whose worker lives: asked from inside a live run."""
    seen = []

    @dg.op
    def ask(context: dg.OpExecutionContext) -> None:
        seen.append(context.instance.run_launcher.check_run_worker_health(context.run))

    @dg.job
    def live() -> None:
        ask()

    with dg.DagsterInstance.from_config(environment["DAGSTER_HOME"]) as instance:
        assert live.execute_in_process(instance=instance).success
    [health] = seen
    assert health.status.value == "RUNNING", health
    assert f"worker process {os.getpid()} is alive" in str(health)
