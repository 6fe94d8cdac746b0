"""The serving copy of the Spark engine: the lake's marts published into the same DuckDB file,
with the same tables, columns, types, comments, marker and guards as the DuckDB engine's.

There is one publish (:func:`segmentation.serving.publish.publish_marts`). It copies
``marts.<table>`` from a DuckDB connection; here those are views of an in-memory database over
the lake's Parquet files, so BI tools see no difference between the engines. Needs no Spark:
DuckDB reads the lake.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from segmentation.engines.spark.lake import table_location
from segmentation.engines.spark.lake_commit import (
    COMMIT_FOLDER,
    SCHEMA_FOLDER,
    STAGING_PREFIX,
    LakeWriteError,
)
from segmentation.engines.spark.preflight import local_lake
from segmentation.reports.run_summary import SummarySection, summary_sections
from segmentation.serving.dictionary import MARTS_SCHEMA
from segmentation.serving.publish import PublishResult, publish_marts
from segmentation.sql_files import compose_sql, quote_identifier, render_sql
from segmentation.warehouse import qualified, sql_text


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
) -> PublishResult:
    """Publish ``marts.<table>`` of the lake for each of ``tables`` to the DuckDB serving file
    ``target``, as :func:`~segmentation.serving.publish.publish_marts` publishes the
    warehouse's: the same checks of the file it replaces, the same atomic move, comments,
    marker and pseudonyms. A failure before the move leaves the previous copy as it was.

    Raises:
        ValueError: The lake is not on this machine, or a table is missing from it.
        LakeWriteError: A table has a committed but unfinished write.
        ServingFileError: The file at ``target`` may not be replaced.
    """
    root = local_lake(lake)
    if root is None:
        raise ValueError(
            f"spark.lake: {lake}: the serving copy is published by DuckDB on this machine, "
            f"which reads a lake folder or a file: URI only"
        )
    with duckdb.connect() as con:
        con.execute(render_sql("warehouse/create_schema.sql", schema=MARTS_SCHEMA))
        for table in tables:
            location = Path(table_location(str(root), f"{MARTS_SCHEMA}.{table}"))
            create_lake_view(con, f"{MARTS_SCHEMA}.{table}", location)
        return publish_marts(con, target, tables, secret, overwrite_foreign_changes)


def lake_summary(
    lake: str, cross_sell_rules: Sequence[str] | None = None
) -> list[SummarySection] | None:
    """The run summary (:func:`~segmentation.reports.run_summary.summary_sections`) of the
    lake's tables, read by DuckDB as views over their Parquet files: the same sections the
    DuckDB engine's warehouse gives. ``None`` when the lake does not exist yet.

    A folder that holds no Parquet table is left out, as a table the pipeline has not written
    yet is left out of the warehouse's summary.

    Raises:
        ValueError: The lake is not on this machine.
        LakeWriteError: A table has a committed but unfinished write.
    """
    root = local_lake(lake)
    if root is None:
        raise ValueError(
            f"spark.lake: {lake}: the summary is read by DuckDB on this machine, which reads "
            f"a lake folder or a file: URI only"
        )
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
