"""The serving copy of the Spark engine: the lake's marts published into the same DuckDB file,
with the same tables, columns, types, comments, marker and guards as the DuckDB engine's.

There is one publish (:func:`segmentation.serving.publish.publish_marts`). It copies
``marts.<table>`` from a DuckDB connection; here those are views of an in-memory database over
the lake's Parquet files, so BI tools see no difference between the engines. A lake on this
machine needs no Spark: DuckDB reads it. A lake on another file system (``s3a://``...) is read
by Spark and its tables copied to this machine as Arrow.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from segmentation.engines.settings import is_uri
from segmentation.engines.spark.lake import table_location
from segmentation.engines.spark.lake_commit import (
    COMMIT_FOLDER,
    SCHEMA_FOLDER,
    STAGING_PREFIX,
    LakeWriteError,
)
from segmentation.engines.spark.lake_commit import (
    lake_files as lake_file_client,
)
from segmentation.engines.spark.preflight import local_lake
from segmentation.reports.run_summary import SummarySection, summary_sections
from segmentation.serving.dictionary import MARTS_SCHEMA
from segmentation.serving.publish import PublishResult, publish_marts
from segmentation.sql_files import compose_sql, quote_identifier, render_sql
from segmentation.warehouse import qualified, sql_text

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def _data_files(folder: Path) -> list[Path]:
    # Spark's part files; its hidden checksums and markers start with "." or "_"
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix == ".parquet" and not path.name.startswith((".", "_"))
    )


def lake_files(location: Path) -> tuple[list[Path], list[Path]]:
    """The schema file and the partition files of the lake table at ``location``.

    Raises:
        ValueError: The table was never written (no schema file).
        LakeWriteError: A write of the table was committed but not finished: the next write
            of the table finishes it (``lake_commit.recover_table``).
    """
    unfinished = sorted(
        path.name for path in location.glob(f"{STAGING_PREFIX}*") if (path / COMMIT_FOLDER).is_dir()
    )
    if unfinished:
        raise LakeWriteError(
            f"{location}: a write of this table was interrupted while its months were being "
            f"put in place ({', '.join(unfinished)}); nothing was published: write the table "
            f"again (or run segmentation.engines.spark.lake_commit.recover_table) first"
        )
    schema = _data_files(location / SCHEMA_FOLDER) if (location / SCHEMA_FOLDER).is_dir() else []
    if not schema:
        raise ValueError(
            f"cannot publish: {location} holds no table written by the Spark engine (no "
            f"{SCHEMA_FOLDER} folder); write the marts into the lake first"
        )
    partitions = [
        folder
        for folder in sorted(location.iterdir())
        if folder.is_dir() and "=" in folder.name and not folder.name.startswith((".", "_"))
    ]
    return schema, [path for folder in partitions for path in _data_files(folder)]


def create_lake_view(con: duckdb.DuckDBPyConnection, view: str, location: Path) -> int:
    """Create the view ``view`` (``schema.name``) over the lake table at ``location``: its
    columns in the order and with the types its schema file records (the partition column
    read from the folder names); returns the number of data files it reads."""
    schema, files = lake_files(location)
    relation = con.read_parquet([str(path) for path in schema])
    columns = ", ".join(
        f"CAST({quote_identifier(name)} AS {kind}) AS {quote_identifier(name)}"
        for name, kind in zip(relation.columns, relation.types, strict=True)
    )
    statement = compose_sql(
        "spark/create_lake_view.sql",
        view=qualified(*view.split(".")),
        columns=columns,
        files="[" + ", ".join(sql_text(str(path)) for path in files or schema) + "]",
        hive="true" if files else "false",
    )
    con.execute(statement)
    return len(files)


def publish_lake(
    lake: str,
    target: Path,
    tables: Sequence[str],
    secret: bytes | None = None,
    overwrite_foreign_changes: bool = False,
    spark: SparkSession | None = None,
) -> PublishResult:
    """Publish ``marts.<table>`` of the lake for each of ``tables`` to the DuckDB serving file
    ``target``, as :func:`~segmentation.serving.publish.publish_marts` publishes the
    warehouse's: the same checks of the file it replaces, the same atomic move, comments,
    marker and pseudonyms. A failure before the move leaves the previous copy as it was.

    A lake given as a URI is read through ``spark`` when one is given (any file system
    Spark's Hadoop reaches: ``s3a://``, ``abfss://``, ``hdfs://``, ``file:``): each table read
    by Spark and brought to this machine as Arrow (:func:`copy_lake_table`), with the columns
    and types of the local route. A path is read by DuckDB directly.

    Raises:
        ValueError: The lake is not on this machine and no session is given, or a table is
            missing from it.
        LakeWriteError: A table has a committed but unfinished write.
        ServingFileError: The file at ``target`` may not be replaced.
    """
    root = _lake_root(lake, spark, "the serving copy is published")
    with duckdb.connect() as con:
        con.execute(render_sql("warehouse/create_schema.sql", schema=MARTS_SCHEMA))
        for table in tables:
            if root is None:
                assert spark is not None
                copy_lake_table(con, spark, lake, f"{MARTS_SCHEMA}.{table}")
                continue
            location = Path(table_location(str(root), f"{MARTS_SCHEMA}.{table}"))
            create_lake_view(con, f"{MARTS_SCHEMA}.{table}", location)
        return publish_marts(con, target, tables, secret, overwrite_foreign_changes)


def _lake_root(lake: str, spark: SparkSession | None, what: str) -> Path | None:
    """The lake's folder for DuckDB to read, or None when Spark reads it (a URI, and a
    session given)."""
    if spark is not None and is_uri(lake):
        return None
    root = local_lake(lake)
    if root is None:
        raise ValueError(
            f"spark.lake: {lake}: {what} by DuckDB on this machine, which reads a lake folder "
            f"or a file: URI; another file system's lake needs the Spark session"
        )
    return root


def copy_lake_table(
    con: duckdb.DuckDBPyConnection, spark: SparkSession, lake: str, table: str
) -> int:
    """Copy the lake's ``table`` (``schema.name``), read by Spark, into the table of that name
    on ``con``: the columns in the order and with the types DuckDB reads from its schema file
    (fetched through Hadoop: it holds no rows), as :func:`create_lake_view` gives them. The
    rows travel to this machine as Arrow. Returns the number of rows.

    Raises:
        ValueError: The table was never written (no schema file).
        LakeWriteError: A write of the table was committed but not finished.
    """
    from segmentation.engines.spark.lake import read_table
    from segmentation.engines.spark.source_uris import read_bytes

    location = table_location(lake, table)
    files = lake_file_client(spark, location)
    unfinished = [
        name
        for name in files.folders(location)
        if name.startswith(STAGING_PREFIX) and files.exists(f"{location}/{name}/{COMMIT_FOLDER}")
    ]
    if unfinished:
        raise LakeWriteError(
            f"{location}: a write of this table was interrupted while its months were being "
            f"put in place ({', '.join(unfinished)}); nothing was published: write the table "
            f"again (or run segmentation.engines.spark.lake_commit.recover_table) first"
        )
    schema_folder = f"{location}/{SCHEMA_FOLDER}"
    schema_files = [
        name
        for name in files.files(schema_folder)
        if name.endswith(".parquet") and not name.startswith((".", "_"))
    ]
    if not schema_files:
        raise ValueError(
            f"cannot publish: {location} holds no table written by the Spark engine (no "
            f"{SCHEMA_FOLDER} folder); write the marts into the lake first"
        )
    with tempfile.TemporaryDirectory(prefix="lake-schema-") as scratch:
        local = Path(scratch) / schema_files[0]
        schema_file = f"{schema_folder}/{schema_files[0]}"
        local.write_bytes(read_bytes(spark, schema_file, 0, _length(spark, schema_file)))
        relation = con.read_parquet(str(local))
        names, kinds = relation.columns, relation.types
    rows = read_table(spark, lake, table).select(*names).toArrow()
    columns = ", ".join(
        f"CAST({quote_identifier(name)} AS {kind}) AS {quote_identifier(name)}"
        for name, kind in zip(names, kinds, strict=True)
    )
    con.register("lake_rows", rows)
    try:
        con.execute(
            compose_sql(
                "spark/copy_lake_table.sql",
                table=qualified(*table.split(".")),
                columns=columns,
            )
        )
    finally:
        con.unregister("lake_rows")
    return rows.num_rows


def _length(spark: SparkSession, hadoop: str) -> int:
    """The size of the file at ``hadoop``, through Hadoop."""
    path = spark._jvm.org.apache.hadoop.fs.Path(hadoop)  # type: ignore[attr-defined]
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return int(fs.getFileStatus(path).getLen())


def lake_summary(
    lake: str,
    cross_sell_rules: Sequence[str] | None = None,
    spark: SparkSession | None = None,
) -> list[SummarySection] | None:
    """The run summary (:func:`~segmentation.reports.run_summary.summary_sections`) of the
    lake's tables, read by DuckDB as views over their Parquet files: the same sections the
    DuckDB engine's warehouse gives. ``None`` when the lake does not exist yet.

    A folder that holds no Parquet table is left out, as a table the pipeline has not written
    yet is left out of the warehouse's summary.

    A lake given as a URI is read through ``spark`` when one is given: every table with a
    schema file is read by Spark and brought to this machine as Arrow
    (:func:`copy_lake_table`). The raw tables, which the summary only counts, are counted by
    Spark: on this machine each is a table of that many rows and one column,
    ``counted_rows_only`` (a query reading a raw column fails rather than reading nulls).

    Raises:
        ValueError: The lake is not on this machine and no session is given.
        LakeWriteError: A table has a committed but unfinished write.
    """
    root = _lake_root(lake, spark, "the summary is read")
    if root is None:
        assert spark is not None
        return _summary_through_spark(spark, lake, cross_sell_rules)
    if not root.is_dir():
        return None
    with duckdb.connect() as con:
        for schema in sorted(path for path in root.iterdir() if path.is_dir()):
            con.execute(render_sql("warehouse/create_schema.sql", schema=schema.name))
            for location in sorted(path for path in schema.iterdir() if path.is_dir()):
                view = f"{schema.name}.{location.name}"
                if (location / SCHEMA_FOLDER).is_dir():
                    create_lake_view(con, view, location)
                elif files := _data_files(location):
                    # a table written whole, without partitions (the landing's raw tables)
                    statement = compose_sql(
                        "spark/create_lake_view.sql",
                        view=qualified(schema.name, location.name),
                        columns="*",
                        files="[" + ", ".join(sql_text(str(path)) for path in files) + "]",
                        hive="false",
                    )
                    con.execute(statement)
        return summary_sections(con, cross_sell_rules)


def _summary_through_spark(
    spark: SparkSession, lake: str, cross_sell_rules: Sequence[str] | None
) -> list[SummarySection] | None:
    """:func:`lake_summary` of a lake Spark reads: the same tables, copied to this machine."""
    from segmentation.engines.spark.lake import read_table

    files = lake_file_client(spark, lake)
    if not files.exists(lake):
        return None
    with duckdb.connect() as con:
        for schema in files.folders(lake):
            if schema.startswith((".", "_")):
                continue
            con.execute(render_sql("warehouse/create_schema.sql", schema=schema))
            for name in files.folders(f"{lake.rstrip('/')}/{schema}"):
                table = f"{schema}.{name}"
                location = table_location(lake, table)
                if files.exists(f"{location}/{SCHEMA_FOLDER}"):
                    copy_lake_table(con, spark, lake, table)
                elif any(
                    part.endswith(".parquet") and not part.startswith((".", "_"))
                    for part in files.files(location)
                ):
                    # a table written whole, without partitions (the landing's raw tables):
                    # the summary counts their rows, so only the count leaves Spark
                    con.execute(
                        compose_sql("spark/counted_lake_table.sql", table=qualified(schema, name)),
                        {"rows": read_table(spark, lake, table).count()},
                    )
        return summary_sections(con, cross_sell_rules)
