"""The Spark engine's features chain of a landed warehouse (raw export, behaviour, CLV,
engagement) written into one lake per test process: the input of the CLV, engagement, value
and features tests.

Each of those modules built the same lake again before computing its own stage: the real
sample's 25 months of behaviour were computed by Spark four times, its CLV and engagement
twice. Here the first test that asks for a table computes it (and the tables it reads), and
the others read the same lake. The tests only read it: a test that changes a lake's files, or
writes a partial chain on purpose, builds a lake of its own. Keyed like ``reference.once``: the
connection itself, the snapshots and the whole configuration.
"""

from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb

from segmentation.config import SegmentationConfig
from segmentation.engines.spark.behaviour import customer_behaviour
from segmentation.engines.spark.clv import customer_clv
from segmentation.engines.spark.engagement import customer_engagement
from segmentation.engines.spark.lake import export_raw, write_months
from segmentation.keys import BEHAVIOUR_TABLE, CLV_TABLE, ENGAGEMENT_TABLE

# the tables a stage reads from the lake, written before it
NEEDS = {BEHAVIOUR_TABLE: (), CLV_TABLE: (BEHAVIOUR_TABLE,), ENGAGEMENT_TABLE: (BEHAVIOUR_TABLE,)}


class ChainLakes:
    """One lake per warehouse, snapshots and configuration, holding the chain's tables that
    were asked for."""

    def __init__(self, spark, folder: Callable[[], Path]) -> None:
        """``spark``: the tests' session; ``folder()``: a new empty folder for a lake."""
        self._spark = spark
        self._folder = folder
        self._lakes: dict[
            tuple[duckdb.DuckDBPyConnection, tuple[date, ...], str], tuple[str, set[str]]
        ] = {}

    def lake(
        self,
        con: duckdb.DuckDBPyConnection,
        snapshots: list[date],
        config: SegmentationConfig,
        *tables: str,
    ) -> str:
        """The lake of ``con``'s raw tables (exported with ``config``'s personal data left
        out) with ``tables`` of ``snapshots`` computed by the Spark engine and written."""
        key = (con, tuple(sorted(snapshots)), config.model_dump_json())
        if key not in self._lakes:
            lake = str(self._folder() / "lake")
            export_raw(con, lake, config)
            self._lakes[key] = (lake, set())
        lake, written = self._lakes[key]
        for table in tables:
            self._write(lake, written, table, snapshots, config)
        return lake

    def _write(
        self,
        lake: str,
        written: set[str],
        table: str,
        snapshots: list[date],
        config: SegmentationConfig,
    ) -> None:
        if table in written:
            return
        for needed in NEEDS[table]:
            self._write(lake, written, needed, snapshots, config)
        spark = self._spark
        if table == BEHAVIOUR_TABLE:
            frame = customer_behaviour(spark, lake, snapshots, config)
        elif table == CLV_TABLE:
            frame = customer_clv(spark, lake, snapshots, config).customers
        else:
            frame = customer_engagement(spark, lake, snapshots, config)
        write_months(frame, lake, table)
        written.add(table)
