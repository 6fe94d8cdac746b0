"""The Spark session resource of ``engine: spark``: dagster-pyspark's PySparkResource, started
after the engine's preflight (Java, the master, the lake), stopped at the end of the run.

Imported by the Spark path alone: importing it imports PySpark (dagster-pyspark does).
"""

from __future__ import annotations

import os
from typing import Any

import dagster as dg
import polars as pl
from dagster_pyspark import PySparkResource
from pydantic import PrivateAttr

from assets.resources import table_name
from assets.spark_monthly import collect, spark_frame
from segmentation.config import SegmentationConfig
from segmentation.engines.spark.lake import read_table, write_table
from segmentation.engines.spark.preflight import shown_master
from segmentation.engines.spark.session import (
    CONNECT_MODE_VARIABLE,
    active_session,
    build_session,
    check_lake,
    master_of,
    prepare,
    spark_conf,
    stop_session,
)
from segmentation.keys import SNAPSHOT_COLUMN


class SparkEngine(PySparkResource):
    """The session of the Spark engine (``spark_session``), with the lake it writes to.

    Set up when a run starts (the in-process executor sets up every resource of the run's
    steps before the first one): the preflight runs first, so a missing Java, a master that
    does not answer or a lake that cannot be written stops the run before any step writes.
    A session it starts is stopped when the run ends; one already active in the process (a
    notebook's) is used and left running. A Spark Connect master (``sc://``, the configuration's
    ``spark.remote``) gets a Connect session, also beside a classic session of the process.
    """

    lake: str | None = None
    _started: bool = PrivateAttr(default=False)
    _connect_mode_before: bool = PrivateAttr(default=False)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        prepare(self.spark_config, self.lake)
        self._started = not active_session(self.spark_config)
        self._connect_mode_before = bool(os.environ.get(CONNECT_MODE_VARIABLE))
        # dagster-pyspark's own setup is PySpark's generic builder, which refuses a Spark
        # Connect session beside a classic one in the process; the engine's builds either
        self._spark_session = build_session(self.spark_config)
        check_lake(self.spark_session, self.lake)
        context.log.info(
            f"Spark {self.spark_session.version} at {shown_master(master_of(self.spark_config))}"
        )

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._started and self.spark_session is not None:
            stop_session(self.spark_session, self._connect_mode_before)


def spark_engine_for(config: SegmentationConfig) -> SparkEngine:
    """The Spark resource of a loaded configuration (its ``spark`` keys)."""
    conf: dict[str, Any] = spark_conf(config.spark)
    return SparkEngine(spark_config=conf, lake=config.spark.lake)


# the lake tables written whole each run that are not partitioned by snapshot_date
PARTITION_COLUMNS = {"marts.segment_migration": "to_snapshot"}


class LakeIOManager(dg.ConfigurableIOManager):
    """The Spark path's IO manager: stores the polars frames an asset returns (the evaluation
    marts, small and computed on the driver) as lake tables named after the asset key, each
    replacing the table whole, every partition or none (``lake.write_table``)."""

    spark: SparkEngine
    lake: str

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame | None) -> None:
        if obj is None:
            return
        if not isinstance(obj, pl.DataFrame):
            raise TypeError(f"{context.asset_key.to_user_string()}: expected a polars DataFrame")
        if context.has_asset_partitions:
            raise ValueError(
                f"{context.asset_key.to_user_string()}: the lake's IO manager writes whole "
                f"tables; monthly assets write their months themselves"
            )
        table = table_name(context.asset_key)
        column = PARTITION_COLUMNS.get(table, SNAPSHOT_COLUMN)
        write_table(spark_frame(self.spark.spark_session, obj), self.lake, table, column)
        context.add_output_metadata({"dagster/row_count": obj.height, "table": table})

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        table = table_name(context.asset_key)
        return collect(read_table(self.spark.spark_session, self.lake, table))


def spark_resources(config: SegmentationConfig) -> dict[str, Any]:
    """The resources ``engine: spark`` adds or replaces: the session (``spark``) and the IO
    manager writing to the lake."""
    engine = spark_engine_for(config)
    assert config.spark.lake is not None  # the config's own check requires it with spark
    return {"spark": engine, "io_manager": LakeIOManager(spark=engine, lake=config.spark.lake)}
