"""The DuckDB engine's segments, segment summary and strategy assignments, month by month, and
the same tables written into a lake: the input and the expected output of the Spark engine's
summary and evaluation tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from segmentation.config import SegmentationConfig
from segmentation.engines.spark.lake import export_raw, write_months
from segmentation.keys import ASSIGNMENTS_TABLE, SEGMENTS_TABLE
from segmentation.monthly import strategy_assignments_month
from segmentation.raw.publishing import empty_source_table
from segmentation.warehouse import table_exists
from tests.spark.reference import once, segments_months


@dataclass(frozen=True)
class DuckdbMarts:
    """The DuckDB engine's monthly marts of some snapshots (every month's rows together)."""

    segments: pl.DataFrame
    summary: pl.DataFrame
    assignments: pl.DataFrame


def duckdb_marts(
    con: duckdb.DuckDBPyConnection, snapshots: list[date], config: SegmentationConfig
) -> DuckdbMarts:
    """The segments, summary and assignments the DuckDB engine's assets write for
    ``snapshots``, from the landed warehouse ``con``; computed once per process (the summary
    and evaluation tests share them)."""

    def compute() -> DuckdbMarts:
        assert config.playbook is not None
        months = segments_months(con, snapshots, config).values()
        return DuckdbMarts(
            pl.concat(segments for segments, _ in months),
            pl.concat(summary for _, summary in months),
            pl.concat(
                strategy_assignments_month(segments, config.playbook) for segments, _ in months
            ),
        )

    return once("marts", con, snapshots, config, compute)


def write_marts(spark, lake: str, marts: DuckdbMarts) -> None:
    """The segments and assignments months written into the lake."""
    write_months(spark.createDataFrame(marts.segments.to_arrow()), lake, SEGMENTS_TABLE)
    write_months(spark.createDataFrame(marts.assignments.to_arrow()), lake, ASSIGNMENTS_TABLE)


class MartsLakes:
    """One lake per warehouse, snapshots and configuration holding the warehouse's raw export
    (``config``'s personal data left out) and the DuckDB engine's segments and assignments
    (``duckdb_marts``), written once per process: the strategies, summary and evaluation tests
    read it instead of writing the same months into lakes of their own. Keyed like
    ``reference.once``."""

    def __init__(self, spark, folder: Callable[[], Path]) -> None:
        """``spark``: the tests' session; ``folder()``: a new empty folder for a lake."""
        self._spark = spark
        self._folder = folder
        self._lakes: dict[tuple[duckdb.DuckDBPyConnection, tuple[date, ...], str], str] = {}

    def lake(
        self, con: duckdb.DuckDBPyConnection, snapshots: list[date], config: SegmentationConfig
    ) -> str:
        """The lake of ``con``'s raw tables and the marts of ``snapshots``."""
        key = (con, tuple(sorted(snapshots)), config.model_dump_json())
        if key not in self._lakes:
            lake = str(self._folder() / "lake")
            export_raw(con, lake, config)
            write_marts(self._spark, lake, duckdb_marts(con, snapshots, config))
            self._lakes[key] = lake
        return self._lakes[key]


@contextmanager
def with_marts(con: duckdb.DuckDBPyConnection, marts: DuckdbMarts) -> Iterator[None]:
    """The warehouse ``con`` with the marts' segments and assignments as its tables, and an
    empty raw.feedback without a feedback source (as the pipeline lands it), dropped afterwards
    (the landed warehouse is shared by the session's tests)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    tables = {SEGMENTS_TABLE: marts.segments, ASSIGNMENTS_TABLE: marts.assignments}
    made = [] if table_exists(con, "raw.feedback") else ["raw.feedback"]
    try:
        if made:
            empty_source_table(con, "feedback")
        for table, frame in tables.items():
            con.register("_mart", frame.to_arrow())
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _mart")
            con.unregister("_mart")
        yield
    finally:
        for table in [*tables, *made]:
            con.execute(f"DROP TABLE IF EXISTS {table}")
