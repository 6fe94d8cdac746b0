"""Wall time and peak resident memory (RSS) per benchmark stage, measured inside one process.

Peak RSS per stage on Linux: before a stage, ``5`` is written to ``/proc/self/clear_refs``,
which resets the process's high-water mark (``VmHWM`` in ``/proc/self/status``) to its current
RSS; after the stage, ``VmHWM`` is the highest RSS reached during the stage. That peak includes
what the process already held when the stage started (the interpreter, imported libraries and the
frames kept from earlier stages), reported separately as ``rss_start``. DuckDB's buffers live in
the same process, so they are counted. Where the reset is not possible (not Linux), the peak is
``ru_maxrss``, the peak since the process started, and ``peak_scope`` says so.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
MIB = 1024 * 1024
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


@dataclass
class Stage:
    stage: str
    seconds: float
    peak_rss_mib: float
    rss_start_mib: float
    peak_scope: str
    extra: dict[str, Any] = field(default_factory=dict)


class Recorder:
    """Collects one :class:`Stage` per ``with recorder.stage(name):`` block."""

    def __init__(self, on_stage: Callable[[Recorder], None] | None = None) -> None:
        self.stages: list[Stage] = []
        self._on_stage = on_stage

    @contextmanager
    def stage(self, name: str, **extra: Any) -> Iterator[dict[str, Any]]:
        scoped = reset_peak()
        rss_start = current_rss_mib()
        info: dict[str, Any] = dict(extra)
        start = time.perf_counter()
        yield info
        seconds = time.perf_counter() - start
        self.stages.append(
            Stage(
                stage=name,
                seconds=round(seconds, 3),
                peak_rss_mib=round(peak_rss_mib(), 1),
                rss_start_mib=round(rss_start, 1),
                peak_scope="stage" if scoped else "process",
                extra=info,
            )
        )
        print(f"  {name:<40} {seconds:9.2f} s  peak {self.stages[-1].peak_rss_mib:9.1f} MiB")
        if self._on_stage is not None:
            self._on_stage(self)

    def as_json(self) -> list[dict[str, Any]]:
        return [asdict(stage) for stage in self.stages]
