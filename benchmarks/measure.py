"""Wall time and peak resident memory (RSS) per benchmark stage, measured inside one process.

Peak RSS per stage on Linux: before a stage, ``5`` is written to ``/proc/self/clear_refs``,
which resets the process's high-water mark (``VmHWM`` in ``/proc/self/status``) to its current
RSS; after the stage, ``VmHWM`` is the highest RSS reached during the stage. That peak includes
what the process already held when the stage started (the interpreter, imported libraries and the
frames kept from earlier stages), reported separately as ``rss_start``. DuckDB's buffers live in
the same process, so they are counted. Where the reset is not possible (not Linux), the peak is
``ru_maxrss``, the peak since the process started, and ``peak_scope`` says so.

A process that starts others (Spark's Java process and its Python workers) is measured as a
tree instead (``Recorder(tree=True)``): the resident memory of the process and all its
descendants, summed from ``/proc`` and sampled every 0.1 s (:class:`TreePeak`); a peak shorter
than the interval can be missed.

Each stage also says where its seconds went (``phases``): the seconds its code spent reading
from the warehouse or the sources, checking contracts and rows, and writing to the warehouse, as
the library marks them (``segmentation.phases``), and the rest, ``computing`` (everything not
marked: the transforms, DuckDB queries that aggregate, the assets' metadata).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from segmentation.phases import PHASES, collecting

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
MIB = 1024 * 1024
COMPUTING = "computing"
# the columns of a stage's phase split, in the order the results show them
PHASE_COLUMNS = (*PHASES, COMPUTING)
# the ``part`` extra of a stage (benchmarks.stages records it, benchmarks.run sums by it): the
# landing assets, and the monthly assets (features .. strategies) a backfill repeats
LANDING_PART, MONTHLY_PART = "landing", "monthly"
# DuckDB's memory limit in every benchmark (it spills beyond it; polars frames come on top), and
# where the results go
DUCKDB_MEMORY_LIMIT = "4GB"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
# The two CLV fits of the pymc group, each timed FIT_RUNS times ("<name>, run <k>"); the fastest
# run counts. Ours takes 10-30 ms, which a single timing measures poorly (one run took 0.018 s,
# another 0.034 s).
OUR_FIT = "ours: fit_bgnbd + fit_gamma_gamma"
PYMC_FIT = "pymc-marketing: BG/NBD + GG (map)"
FIT_RUNS = 3
# The RFM peers' stages ("<peer>: <step>, run <k>", each peer PEER_RUNS times, the fastest run
# counts) and the cli group's ("<name>, run <k>" for the definitions load): named here, so the
# orchestrator reads the results without importing the peers' or the pipeline's libraries
PEER_RUNS = 3
PANDAS_READ, PANDAS_SCORE = "pandas: read parquet", "pandas: rfm scores + segments"
SQL_RFM = "sql: duckdb rfm model"
POLARS_RFM = "polars: lazy rfm model"
DEFINITIONS_LOAD = "process start: import pipelines.definitions"
CLI_RUN = "cli: dagster asset materialize"
# The writes group's copies of the snapshot's tables (benchmarks.write_floor), each
# "<name>, run <k>", WRITE_RUNS times; the fastest run of each counts
WRITE_COPIES = {
    "file": "writes: into a fresh warehouse file",
    "uncompressed": "writes: into a fresh file, compression off",
    "memory": "writes: into memory, no file",
}
WRITE_RUNS = 2
# the schemas of the tables landing writes; the snapshot's other tables are the monthly assets'
LANDING_SCHEMAS = ("raw", "quality")
# the stage groups `make bench` runs, in its order (each in a fresh process: benchmarks.stages)
BENCH_GROUPS = (
    "floor",
    "pipeline",
    "cli",
    "backfill",
    "pandas_rfm",
    "sql_rfm",
    "polars_rfm",
    "pymc",
    # last: its copies (several GB) evict the sources and the warehouse from the page cache
    "writes",
)
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _status_kib(key: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def current_rss_mib() -> float:
    kib = _status_kib("VmRSS")
    return kib / 1024 if kib is not None else float("nan")


def reset_peak() -> bool:
    """Reset the peak-RSS mark to the current RSS; False when the platform does not allow it."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mib() -> float:
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib / 1024
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # bytes on macOS, KiB on Linux
    return maxrss / MIB if sys.platform == "darwin" else maxrss / 1024


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            statm = (entry / "statm").read_text().split()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
        rss[int(entry.name)] = int(statm[1]) * _PAGE
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += rss.get(current, 0)
        todo += children.get(current, [])
    return total


class TreePeak:
    """The highest resident memory of this process and its descendants, sampled every 0.1 s."""

    def __init__(self) -> None:
        self.start = self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(os.getpid()))
            self._stop.wait(0.1)

    def __enter__(self) -> TreePeak:
        # the first sample is the start: the tree may shrink before the sampler's first look,
        # and a stage's peak is never below what it started with
        self.start = self.peak = tree_rss(os.getpid())
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss(os.getpid()))


@dataclass
class Stage:
    stage: str
    seconds: float
    peak_rss_mib: float
    rss_start_mib: float
    peak_scope: str
    extra: dict[str, Any] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    # user + system CPU seconds of the process (all its threads, DuckDB's and polars' included)
    # during the stage; None where the work ran in processes not measured (a Spark tree)
    cpu_seconds: float | None = None


def cpu_seconds() -> float:
    """User + system CPU seconds this process has used so far, every thread included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def phase_split(marked: dict[str, float], seconds: float) -> dict[str, float]:
    """The marked phases' seconds and ``computing``, the stage's remainder, each to 1 ms."""
    split = {name: round(marked.get(name, 0.0), 3) for name in PHASES}
    split[COMPUTING] = round(max(seconds - sum(marked.values()), 0.0), 3)
    return split


class Recorder:
    """Collects one :class:`Stage` per ``with recorder.stage(name):`` block.

    Args:
        on_stage: Called after every stage (e.g. to save what was measured so far).
        tree: Measure the process tree (:class:`TreePeak`) instead of this process's
            high-water mark, and note the 1-minute load average at each stage's end.
    """

    def __init__(
        self, on_stage: Callable[[Recorder], None] | None = None, tree: bool = False
    ) -> None:
        self.stages: list[Stage] = []
        self._on_stage = on_stage
        self._tree = tree

    @contextmanager
    def stage(self, name: str, **extra: Any) -> Iterator[dict[str, Any]]:
        info: dict[str, Any] = dict(extra)
        if self._tree:
            with TreePeak() as tree, collecting() as marked:
                start = time.perf_counter()
                yield info
                seconds = time.perf_counter() - start
            rss_start = tree.start / MIB
            peak, scope, cpu = tree.peak / MIB, "process tree", None
            info["load average"] = round(os.getloadavg()[0], 2)
        else:
            scoped = reset_peak()
            rss_start = current_rss_mib()
            with collecting() as marked:
                cpu_start, start = cpu_seconds(), time.perf_counter()
                yield info
                seconds = time.perf_counter() - start
                cpu: float | None = cpu_seconds() - cpu_start
            # the kernel keeps RSS in per-CPU counters that VmRSS and VmHWM read a batch apart
            # (a stage that freed memory read 766.3 MiB of peak after 766.4 at its start)
            peak, scope = max(peak_rss_mib(), rss_start), "stage" if scoped else "process"
        self.add(
            Stage(
                stage=name,
                seconds=round(seconds, 3),
                peak_rss_mib=round(peak, 1),
                rss_start_mib=round(rss_start, 1),
                peak_scope=scope,
                extra=info,
                phases=phase_split(marked, seconds),
                cpu_seconds=None if cpu is None else round(cpu, 3),
            )
        )

    def add(self, stage: Stage) -> None:
        """Record a stage measured elsewhere (e.g. a child process, :func:`run_process`)."""
        self.stages.append(stage)
        print(f"  {stage.stage:<40} {stage.seconds:9.2f} s  peak {stage.peak_rss_mib:9.1f} MiB")
        if self._on_stage is not None:
            self._on_stage(self)

    def as_json(self) -> list[dict[str, Any]]:
        return [asdict(stage) for stage in self.stages]


@dataclass(frozen=True)
class ProcessRun:
    """One child process, from its start to its exit: wall seconds, the peak resident memory of
    its process tree (sampled every 0.1 s), its CPU seconds (user + system, its waited-for
    descendants included) and its exit code."""

    seconds: float
    peak_rss_mib: float
    cpu_seconds: float
    returncode: int


def run_process(command: Sequence[str], env: Mapping[str, str], cwd: Path, log: Path) -> ProcessRun:
    """Run ``command`` to its end with its output in ``log``, measuring it as a whole.

    Args:
        command: The program and its arguments.
        env: Its whole environment.
        cwd: Its working directory.
        log: Where its stdout and stderr go.

    Returns:
        What the run took (:class:`ProcessRun`).
    """
    peak = 0
    with log.open("wb") as output:
        start = time.perf_counter()
        child = subprocess.Popen(command, env=dict(env), cwd=cwd, stdout=output, stderr=output)
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, tree_rss(child.pid))
            time.sleep(0.1)
        seconds = time.perf_counter() - start
    # reaped here, not by Popen: tell it, so it does not wait for the pid again
    child.returncode = os.waitstatus_to_exitcode(status)
    return ProcessRun(
        seconds=round(seconds, 3),
        peak_rss_mib=round(peak / MIB, 1),
        cpu_seconds=round(usage.ru_utime + usage.ru_stime, 3),
        returncode=child.returncode,
    )
