"""The run launcher of the local Dagster instance: Dagster's default one, plus a health check of
each run's worker process, so run monitoring can fail a run whose process died.

A run whose process is killed (``kill -9``, out of memory, a host restart) cannot record its own
end: it stays STARTED forever, and with ``max_concurrent_runs: 1`` it holds the daemon's queue.
Run monitoring (``run_monitoring`` in ``config/dagster.yaml``) asks the run launcher whether each
STARTED run's worker is still alive and fails the run when it is not; Dagster's
``DefaultRunLauncher`` cannot answer, so monitoring would never fail such a run.

Every run records the process id of its worker in its ``RUN_START`` event (the process of
``make run`` or ``dagster asset materialize``, or the worker a code server started for a run of
the UI, the schedule or the sensor). The worker is alive when that process exists, is not a
zombie and started before the run did (a later process with a reused id is another program).
This holds where the run workers execute on the machine of the daemon: the local deployment this
instance config describes (SQLite storage under ``$DAGSTER_HOME``, local code servers). A run
launched on a code server of another host is reported as running: it is never failed wrongly.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from dagster._core.events import DagsterEventType
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.tags import GRPC_INFO_TAG

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
# a process that began this long after the run's start event is not the run's worker
START_SLACK_SECONDS = 2.0
PROC = Path("/proc")


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name, or None without /proc."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except FileNotFoundError:
        return [] if not PROC.is_dir() else None
    except OSError:
        return []
    # the command name is in parentheses and may itself hold spaces or parentheses
    return text[text.rindex(")") + 2 :].split()


def _boot_time() -> float | None:
    try:
        for line in (PROC / "stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def process_alive(pid: int, started_by: float) -> bool:
    """Whether process ``pid`` is running and began no later than ``started_by`` (epoch seconds).

    Reads /proc where there is one (Linux): a zombie (killed, not yet reaped) is dead, and a
    process that began after ``started_by`` reuses a dead worker's id. Elsewhere the process only
    has to exist.
    """
    fields = _proc_stat(pid)
    if fields is None:
        return False
    if fields:
        state, start_ticks = fields[0], fields[19]
        if state in ("Z", "X"):
            return False
        boot = _boot_time()
        if boot is not None:
            began = boot + int(start_ticks) / os.sysconf("SC_CLK_TCK")
            return began <= started_by + START_SLACK_SECONDS
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` that can tell run monitoring whether a run's worker is alive."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        """RUNNING while the run's worker process lives, FAILED once it is gone."""
        grpc_info = run.tags.get(GRPC_INFO_TAG)
        if grpc_info:
            host = json.loads(grpc_info).get("host")
            if host and host not in LOCAL_HOSTS:
                return CheckRunHealthResult(
                    WorkerStatus.RUNNING, f"worker on {host}: not checked from this host"
                )
        starts = self._instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_START)
        if not starts:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no RUN_START event yet")
        start = starts[-1]
        pid = start.dagster_event.pid if start.dagster_event else None
        if pid is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "the worker's process id is unknown")
        if process_alive(pid, start.timestamp):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"worker process {pid} is alive")
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"the run's worker process {pid} is gone (killed or crashed) "
            f"{time.time() - start.timestamp:.0f} s after the run started",
        )
