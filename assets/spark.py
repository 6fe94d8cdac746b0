"""The Spark session resource of ``engine: spark``: dagster-pyspark's PySparkResource, started
after the engine's preflight (Java, the master, the lake), stopped at the end of the run.

Imported by the Spark path alone: importing it imports PySpark (dagster-pyspark does).
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from dagster_pyspark import PySparkResource
from pydantic import PrivateAttr
from pyspark.sql import SparkSession

from segmentation.config import SegmentationConfig
from segmentation.engines.spark.preflight import shown_master
from segmentation.engines.spark.session import (
    check_lake,
    java_started_without_fork,
    master_of,
    prepare,
    spark_conf,
)


class SparkEngine(PySparkResource):
    """The session of the Spark engine (``spark_session``), with the lake it writes to.

    Set up when a run starts (the in-process executor sets up every resource of the run's
    steps before the first one): the preflight runs first, so a missing Java, a master that
    does not answer or a lake that cannot be written stops the run before any step writes.
    A session it starts is stopped when the run ends; one already active in the process (a
    notebook's) is used and left running.
    """

    lake: str | None = None
    _started: bool = PrivateAttr(default=False)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        prepare(self.spark_config, self.lake)
        self._started = SparkSession.getActiveSession() is None
        with java_started_without_fork():
            super().setup_for_execution(context)
        check_lake(self.spark_session, self.lake)
        context.log.info(
            f"Spark {self.spark_session.version} at {shown_master(master_of(self.spark_config))}"
        )

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._started and self.spark_session is not None:
            self.spark_session.stop()


def spark_engine_for(config: SegmentationConfig) -> SparkEngine:
    """The Spark resource of a loaded configuration (its ``spark`` keys)."""
    conf: dict[str, Any] = spark_conf(config.spark)
    return SparkEngine(spark_config=conf, lake=config.spark.lake)
