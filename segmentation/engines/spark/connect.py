"""What differs between a classic Spark session and a Spark Connect one, for the engine.

A classic session (``local[*]``, ``spark://``, ``yarn``, ``k8s://``) runs the driver's JVM in
this process: its ``SparkContext`` knows the cluster's cores, and its Hadoop file system
reaches the lake. A Spark Connect session (``sc://``) is a gRPC client: the driver runs in
the server, so neither is reachable from here; the engine asks the session's configuration
for the parallelism and reaches the lake with PyArrow's file systems
(:class:`~segmentation.engines.spark.lake_commit.ArrowLakeFiles`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_LOCAL_CORES = re.compile(r"local\[(\d+)(?:,\s*\d+)?\]")


def is_connect(spark: SparkSession) -> bool:
    """Whether ``spark`` is a Spark Connect session (no driver JVM in this process)."""
    # the classic session holds its Py4J gateway; a Connect session never has one
    return not hasattr(spark, "_jvm")


def parallelism(spark: SparkSession) -> int:
    """How many tasks the session runs at once: the least number of customer buckets.

    A classic session answers with ``SparkContext.defaultParallelism`` (the cores of the
    executors). A Spark Connect session has no ``SparkContext``: the first of these that its
    configuration holds answers, ``spark.default.parallelism``; the N of a ``local[N]`` master;
    ``spark.executor.instances`` times ``spark.executor.cores``; else
    ``spark.sql.shuffle.partitions``. The engine's answers do not depend on it, only how the
    work is split (tests compare several bucket counts).
    """
    if not is_connect(spark):
        return int(spark.sparkContext.defaultParallelism)
    conf = spark.conf
    if (default := conf.get("spark.default.parallelism", None)) is not None:
        return max(1, int(default))
    master = conf.get("spark.master", None) or ""
    if (local := _LOCAL_CORES.fullmatch(master.strip())) is not None:
        return max(1, int(local.group(1)))
    instances = conf.get("spark.executor.instances", None)
    cores = conf.get("spark.executor.cores", None)
    if instances is not None and cores is not None:
        return max(1, int(instances) * int(cores))
    return max(1, int(conf.get("spark.sql.shuffle.partitions", "200") or "200"))
