"""The lake: where the Spark engine's tables live, one folder per table
(``<lake>/<schema>/<table>/``) of Parquet files, the monthly ones partitioned by
``snapshot_date``.

Every table is written atomically per partition (:mod:`segmentation.engines.spark.lake_commit`):
a failed write leaves the months it would have replaced as they were.

Until Spark lands the sources itself, the raw tables reach the lake as an export of the ones
the DuckDB landing wrote (:func:`export_raw`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from segmentation.engines.spark.lake_commit import (
    SCHEMA_FOLDER,
    lake_files,
    partitions,
    write_atomically,
)
from segmentation.engines.spark.preflight import local_lake
from segmentation.keys import SNAPSHOT_COLUMN
from segmentation.raw.publishing import empty_source_table
from segmentation.sql_files import read_sql
from segmentation.warehouse import table_exists

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import date

    from pyspark.sql import DataFrame, SparkSession

    from segmentation.config import SegmentationConfig

# the raw tables the export writes, and the SQL writing each
RAW_EXPORTS = {
    "raw.transactions": "spark/export_transactions.sql",
    "raw.customers": "spark/export_customers.sql",
    "raw.events": "spark/export_events.sql",
    "raw.feedback": "spark/export_feedback.sql",
    "raw.products": "spark/export_products.sql",
    "raw.customer_attributes": "spark/export_customer_attributes.sql",
}
# the columns of events and feedback that only describe a row: exported as nulls where the
# source declares them personal data (the export SQL's $personal)
DESCRIPTIVE_COLUMNS = {
    "raw.events": ("channel", "product_id", "campaign_id"),
    "raw.feedback": ("topic",),
}
EXPORT_FILE = "part-00000.parquet"


def table_location(lake: str, table: str) -> str:
    """The folder of ``table`` (``schema.name``) in the lake."""
    schema, name = table.split(".")
    return f"{lake.rstrip('/')}/{schema}/{name}"


def personal_columns(table: str, config: SegmentationConfig | None) -> list[str]:
    """The descriptive columns of ``table`` (raw.events, raw.feedback) that the export leaves
    out: those whose source column the source lists under ``pii_columns``; all of them
    without a config (nothing says which are personal; no feature reads them)."""
    descriptive = DESCRIPTIVE_COLUMNS.get(table, ())
    if config is None:
        return list(descriptive)
    source = getattr(config.sources, table.split(".")[1])
    if source is None:
        return []
    mapped = source.columns.model_dump()
    listed = set(source.pii_columns)
    return [name for name in descriptive if mapped.get(name) in listed]


def export_raw(
    con: duckdb.DuckDBPyConnection, lake: str, config: SegmentationConfig | None = None
) -> dict[str, str]:
    """Write the landed raw tables of the warehouse ``con`` into the lake for Spark to read,
    each as one Parquet file replacing the previous export at once (written beside it, then
    renamed); returns each table's folder. Names, e-mails and phones are left out, and so are
    the descriptive columns of events and feedback that ``config``'s sources declare personal
    data (:func:`personal_columns`). Events, feedback, products or an attribute history never
    landed (no such source) are exported empty, with their landed columns.

    Raises:
        ValueError: The lake is not on this machine (DuckDB writes the export).
    """
    root = local_lake(lake)
    if root is None:
        raise ValueError(
            f"spark.lake: {lake}: the raw tables are exported by DuckDB on this machine, which "
            f"writes a folder or a file: URI only"
        )
    folders = {}
    for table, sql in RAW_EXPORTS.items():
        folder = Path(table_location(str(root), table))
        folder.mkdir(parents=True, exist_ok=True)
        # a leading dot: Spark skips the file while it is being written
        partial = folder / f".{EXPORT_FILE}.partial"
        parameters: dict[str, object] = {"path": str(partial)}
        if table in DESCRIPTIVE_COLUMNS:
            parameters["personal"] = personal_columns(table, config)
        if table_exists(con, table):
            con.execute(read_sql(sql), parameters)
        else:
            # the table a landing without the source would have written, outside the warehouse
            with duckdb.connect() as scratch:
                empty_source_table(scratch, table.split(".")[1])
                scratch.execute(read_sql(sql), parameters)
        os.replace(partial, folder / EXPORT_FILE)
        folders[table] = str(folder)
    return folders


def read_table(spark: SparkSession, lake: str, table: str) -> DataFrame:
    """A table of the lake. Timestamps are read as UTC without a zone (TIMESTAMP_NTZ), as the
    warehouse holds them, whatever the Parquet files say. A written table without rows is read
    from its schema file: no rows, its columns."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampType

    location = table_location(lake, table)
    paths = [location]
    files = lake_files(spark, location)
    schema = f"{location}/{SCHEMA_FOLDER}"
    if not partitions(files, location) and files.exists(schema):
        # a written table without rows: only its schema has a file. The file is named, not
        # its folder: Spark warns of a path whose name starts with "_" ("All paths were
        # ignored") though it reads it
        paths = [f"{schema}/{name}" for name in files.files(schema) if _is_data_file(name)]
    frame = spark.read.parquet(*paths)
    return frame.select(
        *(
            F.col(field.name).cast("timestamp_ntz").alias(field.name)
            if isinstance(field.dataType, TimestampType)
            else F.col(field.name)
            for field in frame.schema.fields
        )
    )


def _is_data_file(name: str) -> bool:
    # what Spark reads of a folder: not its _SUCCESS marker, hidden or checksum files
    return not name.startswith(("_", ".")) and name.endswith(".parquet")


def write_months(
    frame: DataFrame,
    lake: str,
    table: str,
    partition_column: str = SNAPSHOT_COLUMN,
    *,
    months: Sequence[date] = (),
    verify: Callable[[str], None] | None = None,
) -> str:
    """Write a monthly table into the lake, partitioned by ``snapshot_date`` (or
    ``partition_column``): each month in ``frame`` replaces the same month in the lake whole,
    or not at all; the other months stay. Returns the table's folder.

    ``months`` are the months the write covers: one of them without rows in ``frame`` is
    emptied with the same commit (a run's month that now computes to nothing keeps no rows of
    an earlier run, as the DuckDB engine's delete-then-insert of the month).

    ``verify`` is called with the folder of the staged rows before the commit: what it raises
    stops the write (:func:`~segmentation.engines.spark.lake_commit.write_atomically`).

    A failed write leaves every month as it was; one that fails once its rows are all staged
    is finished by the next write of the table (:mod:`segmentation.engines.spark.lake_commit`).
    """
    location = table_location(lake, table)
    replaced = [f"{partition_column}={month.isoformat()}" for month in months]
    write_atomically(
        frame, location, partition_column, replace_all=False, replaced=replaced, verify=verify
    )
    return location


def write_table(
    frame: DataFrame, lake: str, table: str, partition_column: str = SNAPSHOT_COLUMN
) -> str:
    """Replace a table of the lake by ``frame``, partitioned by ``snapshot_date`` (or
    ``partition_column``): for the tables recomputed whole each run (the evaluation marts).
    Each month is replaced whole or not at all, as by :func:`write_months`, and the months
    ``frame`` does not hold are removed. Returns the table's folder."""
    location = table_location(lake, table)
    write_atomically(frame, location, partition_column, replace_all=True)
    return location
