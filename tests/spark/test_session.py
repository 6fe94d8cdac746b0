"""Starting the session: Java is started without copying the process, so a driver that holds
more address space than the machine has memory (DuckDB's behaviour query reserves hundreds of
GiB it never touches) still starts Spark under Linux's default overcommit heuristic."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.spark

OVERCOMMIT = Path("/proc/sys/vm/overcommit_memory")

# reserves 1.2 times the machine's memory in two untouched private mappings, shows that a
# fork is refused then, and starts a session
SCRIPT = """
import mmap, subprocess, sys
from segmentation.engines.settings import SparkSettings
from segmentation.engines.spark.session import start_session

total = next(int(line.split()[1]) for line in open("/proc/meminfo")
             if line.startswith("MemTotal")) * 1024
chunk = int(total * 0.6) // mmap.PAGESIZE * mmap.PAGESIZE
held = [mmap.mmap(-1, chunk, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                  prot=mmap.PROT_READ | mmap.PROT_WRITE) for _ in range(2)]
try:
    subprocess.run(["true"], preexec_fn=lambda: None, check=True)
    print("fork: allowed")
except OSError as error:
    print("fork: refused", error.errno)
spark = start_session(SparkSettings(master="local[1]", lake=sys.argv[1],
                                    conf={"spark.ui.enabled": False}))
print("rows:", spark.range(5).count())
spark.stop()
"""


@pytest.mark.skipif(
    not OVERCOMMIT.exists() or OVERCOMMIT.read_text().strip() != "0",
    reason="needs Linux's default overcommit heuristic (vm.overcommit_memory = 0)",
)
def test_spark_starts_in_a_process_holding_more_address_space_than_memory(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "lake")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == ["fork: refused 12", "rows: 5"]


# a session whose spark.pyspark.python is a wrapper that notes each start of a Python worker
WORKER_SCRIPT = """
import sys
from segmentation.engines.settings import SparkSettings
from segmentation.engines.spark.session import start_session

spark = start_session(SparkSettings(master="local[1]", lake=sys.argv[1],
                                    conf={"spark.ui.enabled": False,
                                          "spark.pyspark.python": sys.argv[2]}))
print("rows:", spark.range(3).rdd.map(lambda row: row.id).count())
spark.stop()
"""


def test_the_workers_run_the_interpreter_spark_pyspark_python_names(tmp_path: Path) -> None:
    """The cluster recipe's `spark.pyspark.python`: only spark-submit turns it into the
    workers' interpreter, and the Dagster run starts its session without spark-submit. Without
    the engine passing it on, every executor would start its `python3` (which lacks this
    package: a task fails with "No module named 'segmentation'")."""
    started = tmp_path / "started"
    wrapper = tmp_path / "worker-python"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {started}\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    result = subprocess.run(
        [sys.executable, "-c", WORKER_SCRIPT, str(tmp_path / "lake"), str(wrapper)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        # a variable set by the caller would hide whether the setting was passed on
        env={k: v for k, v in os.environ.items() if k != "PYSPARK_PYTHON"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == ["rows: 3"]
    assert "pyspark.daemon" in started.read_text()
