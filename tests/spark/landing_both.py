"""A source landed by both engines, and the lake's raw table and quarantine rows compared with
the warehouse's: the Spark landing tests' shared steps."""

from dataclasses import replace

import duckdb
import polars as pl

from segmentation.config import (
    ATTRIBUTE_SOURCES,
    SegmentationConfig,
    custom_attributes,
    pii_source_columns,
)
from segmentation.engines.spark.lake import read_table
from segmentation.engines.spark.landing import QUARANTINE, land_source
from segmentation.raw import landing as duckdb_landing
from segmentation.raw.landing import LandingReport
from segmentation.raw.settings import SourceName
from tests.spark.conftest import LANDED_AT

# the order both tables' rows are compared in
ORDER = ["source_file", "source_row"]


def land_both(
    spark, config: SegmentationConfig, source: SourceName, lake: str
) -> tuple[duckdb.DuckDBPyConnection, LandingReport]:
    """The source landed by the DuckDB engine (its warehouse returned) and by Spark into
    ``lake`` (its report returned), with the config's custom attributes and personal columns;
    the two reports agree (counts, files, per-file notes)."""
    settings = getattr(config.sources, source)
    custom = custom_attributes(config, source) if source in ATTRIBUTE_SOURCES else None
    masked = pii_source_columns(config, source)
    con = duckdb.connect()
    expected = duckdb_landing.land_source(con, source, settings, LANDED_AT, custom, masked)
    report = land_source(spark, lake, source, settings, LANDED_AT, custom, masked)
    assert report == replace(expected, stale_staging_removed=0)
    return con, report


def assert_lake_equals_warehouse(
    spark, lake: str, con: duckdb.DuckDBPyConnection, source: SourceName
) -> pl.DataFrame:
    """The lake's raw.<source> and quarantine rows equal the warehouse's; the quarantine rows."""
    expected_landed = con.execute(f"SELECT * FROM raw.{source}").pl().sort(ORDER)
    expected_rejected = (
        con.execute("SELECT * FROM quality.rejected_rows WHERE source = ?", [source])
        .pl()
        .sort(ORDER)
    )
    landed = pl.from_arrow(read_table(spark, lake, f"raw.{source}").toArrow())
    quarantine = read_table(spark, lake, QUARANTINE)
    rejected = pl.from_arrow(quarantine.where(quarantine["source"] == source).toArrow())
    assert isinstance(landed, pl.DataFrame) and isinstance(rejected, pl.DataFrame)
    landed = landed.sort(ORDER)
    # the lake's quarantine is a folder per source: its column comes last there
    rejected = rejected.select(expected_rejected.columns).sort(ORDER)
    assert landed.schema == expected_landed.schema
    assert landed.equals(expected_landed)
    assert rejected.schema == expected_rejected.schema
    assert rejected.equals(expected_rejected)
    return rejected
