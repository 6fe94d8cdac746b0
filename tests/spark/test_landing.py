"""The transactions source landed by Spark (the library's parse of each file inside a Spark
task, duplicates found by a Spark window) writes the lake's raw.transactions and quarantine
rows equal to what the DuckDB landing writes into the warehouse: same rows, columns and types,
same reasons, same original text with personal values masked."""

import gzip
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from segmentation.config import SegmentationConfig, load_config, pii_source_columns
from segmentation.engines.spark.lake import read_table
from segmentation.engines.spark.landing import QUARANTINE, land_source
from segmentation.raw import landing as duckdb_landing
from segmentation.raw.landing import RejectRateExceeded
from segmentation.raw.removed_files import RemovedFilesError
from tests.conftest import SAMPLE_CSV, config_mapping, sample_transactions, write_config_file
from tests.spark.conftest import LANDED_AT

pytestmark = pytest.mark.spark

ORDER = ["source_file", "source_row"]


def _warehouse_tables(con: duckdb.DuckDBPyConnection) -> tuple[pl.DataFrame, pl.DataFrame]:
    landed = con.execute("SELECT * FROM raw.transactions").pl().sort(ORDER)
    rejected = (
        con.execute("SELECT * FROM quality.rejected_rows WHERE source = 'transactions'")
        .pl()
        .sort(ORDER)
    )
    return landed, rejected


def _lake_tables(spark, lake: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    landed = pl.from_arrow(read_table(spark, lake, "raw.transactions").toArrow())
    quarantine = read_table(spark, lake, QUARANTINE)
    rejected = pl.from_arrow(quarantine.where(quarantine["source"] == "transactions").toArrow())
    assert isinstance(landed, pl.DataFrame) and isinstance(rejected, pl.DataFrame)
    return landed.sort(ORDER), rejected.sort(ORDER)


def _assert_lake_equals_warehouse(spark, lake: str, con: duckdb.DuckDBPyConnection) -> None:
    expected_landed, expected_rejected = _warehouse_tables(con)
    landed, rejected = _lake_tables(spark, lake)
    assert landed.schema == expected_landed.schema
    assert landed.equals(expected_landed)
    # the lake's quarantine is a folder per source: its column comes last there
    rejected = rejected.select(expected_rejected.columns)
    assert rejected.schema == expected_rejected.schema
    assert rejected.equals(expected_rejected)
    assert _per_reason(rejected) == _per_reason(expected_rejected)


def _per_reason(rejected: pl.DataFrame) -> dict[str, int]:
    return dict(rejected.group_by("reason").len().iter_rows())


def _land_in_duckdb(config: SegmentationConfig) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    duckdb_landing.land_source(
        con,
        "transactions",
        config.sources.transactions,
        LANDED_AT,
        masked=pii_source_columns(config, "transactions"),
    )
    return con


def test_spark_landing_equals_duckdb_on_the_real_sample(spark, retail, tmp_path: Path) -> None:
    config, con = retail
    lake = str(tmp_path / "lake")
    report = land_source(spark, lake, "transactions", config.sources.transactions, LANDED_AT)
    _assert_lake_equals_warehouse(spark, lake, con)
    landed, rejected = _warehouse_tables(con)
    assert report.landed_rows == landed.height > 280_000
    assert report.rejected_by_reason == _per_reason(rejected)
    assert report.source_rows == 290_325
