"""Landing a source on Spark: every record of the source's files lands in the lake's
``raw.<source>`` or is quarantined in the lake's ``quality.rejected_rows`` with the reason the
DuckDB landing gives it (docs/spark.md, docs/landing.md).

Map, then cross-record steps, then the writes:

1. The driver lists the files (``config.files()``, the DuckDB landing's order: a file's number
   is its place) and reads the first file's columns (:func:`column_order`); every CSV header is
   checked for the mapped columns before any task runs. A source given as a URI (``s3a://``,
   ``file:``...) is listed and its first header read through Spark's Hadoop file system
   instead (:mod:`~segmentation.engines.spark.source_uris`), and Spark's ``binaryFile``
   source reads its files' bytes for the tasks, which stage them from a scratch copy.
2. ``mapInArrow`` over the file numbers, one file per task: the task runs the library's own
   staging of the file (CSV record checks, parse, per-row checks, row hash) and returns every
   record with its typed columns, its reason and its original text
   (:class:`~segmentation.engines.spark.landing_files.ParseFiles`). ``source_row`` is the
   file's own record number, so it needs no step across files.
3. Duplicates are a Spark window: among the good rows with equal hash and equal text, every
   row but the first (earlier file, then earlier row) is a ``duplicate_row``, as
   ``sql/raw/flag_duplicate_rows.sql`` decides it. For customers a second window, over the
   rows still good, flags every row but the first of a customer id as a
   ``duplicate_customer_id`` (``sql/raw/flag_duplicate_customers.sql``). A source with a key
   (``segmentation.raw.staging.row_key``: the attribute history's customer and instant, the
   catalogue's product id) gets a window over the rows still good by key instead, as
   ``sql/raw/flag_rows_repeating_a_key.sql`` decides it: rows of one key whose landed values
   differ are all the source's conflict, rows past the first with equal values
   ``duplicate_row``.
4. The reject-rate gate and the guard against removed or shrunk files run on the driver on
   per-file counts; then ``raw.<source>`` and the source's quarantine rows are written with
   one commit (both old or both new, as the DuckDB landing's one transaction).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import polars as pl

from segmentation.engines.settings import is_uri
from segmentation.engines.spark.lake import read_table, table_location
from segmentation.engines.spark.lake_commit import lake_files, recover_table, write_atomically
from segmentation.engines.spark.landing_files import (
    FILE_SEQ,
    NOTE,
    ParseFileContents,
    ParseFiles,
    column_order,
    parsed_schema,
)
from segmentation.engines.spark.source_uris import (
    SourceFile,
    list_source_files,
    unquoted_path,
    uri_column_order,
)
from segmentation.raw.columns import MASKED_VALUES, RAW_VALUES, ROW_HASH, SOURCE_FILE, SOURCE_ROW
from segmentation.raw.landing import LandingReport, check_reject_rate
from segmentation.raw.parsing_attributes import RowKey
from segmentation.raw.reasons import REASONS
from segmentation.raw.removed_files import refuse_removed, removed_files
from segmentation.raw.settings import (
    AnySource,
    CustomerAttributesSource,
    CustomersSource,
    EventsSource,
    FeedbackSource,
    ProductsSource,
    SourceName,
    TransactionsSource,
)
from segmentation.raw.source_files import SourceError
from segmentation.raw.staging import SOURCE_CONTRACTS, ContractViolation, row_key

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

QUARANTINE = "quality.rejected_rows"
# the sources the Spark landing takes: every source the DuckDB landing takes
SPARK_SOURCES: tuple[SourceName, ...] = (
    "transactions",
    "customers",
    "events",
    "feedback",
    "customer_attributes",
    "products",
)
# Spark's names of the types the raw contracts give the landed columns
_SPARK_TYPES = {
    pl.String: "string",
    pl.Float64: "double",
    pl.Boolean: "boolean",
    pl.Int64: "bigint",
}


def _spark_type(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        return "timestamp_ntz"  # the warehouse's TIMESTAMP: UTC without a zone
    return _SPARK_TYPES[dtype.base_type()]


# the landed columns of a source with a fixed set and their Spark types: its contract's (the
# columns sql/raw/publish_<source>.sql writes, in order); customers and the attribute history
# carry the config's custom attributes, so their columns come from the parse (_landed_columns)
LANDED_COLUMNS: dict[SourceName, tuple[tuple[str, str], ...]] = {
    source: tuple(
        (name, _spark_type(column.dtype.type))
        for name, column in SOURCE_CONTRACTS[source].to_schema().columns.items()
    )
    for source in ("transactions", "events", "feedback", "products")
}
# each source's configuration class: the parse follows the class, not the name
_SETTINGS: dict[SourceName, type] = {
    "transactions": TransactionsSource,
    "customers": CustomersSource,
    "events": EventsSource,
    "feedback": FeedbackSource,
    "customer_attributes": CustomerAttributesSource,
    "products": ProductsSource,
}
# the quarantine's columns and their Spark types (sql/quality/create_rejected_rows.sql)
QUARANTINE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source", "string"),
    (SOURCE_FILE, "string"),
    (SOURCE_ROW, "bigint"),
    ("reason", "string"),
    ("check", "string"),
    (RAW_VALUES, "string"),
    ("rejected_at", "timestamp_ntz"),
)


def land_source(
    spark: SparkSession,
    lake: str,
    source: SourceName,
    config: AnySource,
    now: datetime,
    custom: Mapping[str, str] | None = None,
    masked: frozenset[str] | None = None,
) -> LandingReport:
    """Land one source on Spark into the lake: ``raw.<source>`` and the source's rows of
    ``quality.rejected_rows``, equal to what ``segmentation.raw.landing.land_source`` writes
    into the warehouse for the same files and ``now``.

    Args:
        spark: The session.
        lake: The lake (a folder or a URI Spark writes).
        source: Which source (any of :data:`SPARK_SOURCES`).
        config: Its configuration.
        now: The landing's start (UTC, naive): the future-timestamp checks and ``rejected_at``.
        custom: Custom customer attributes and their types, as the DuckDB landing takes them
            (the customers and attribute-history sources).
        masked: The source's columns holding personal data: masked in ``raw_values``.

    Raises:
        ValueError: A name that is not a source, or a configuration of another source.
        RemovedFilesError: A file landed before is gone or shorter (before any write).
        RejectRateExceeded: Over ``max_reject_rate`` (nothing written).
        SourceError: No file matches, a file's header lacks a mapped column, or a file
            cannot be read as configured (the library's message, from the task).
        LakeWriteError: A folder of the write could not be moved; once the write was decided,
            the next landing (or ``lake_commit.recover_table`` on the quarantine) finishes it.
    """
    if source not in SPARK_SOURCES:
        raise ValueError(f"the Spark landing takes {', '.join(SPARK_SOURCES)}, not {source}")
    if not isinstance(config, _SETTINGS[source]):
        # the parse follows the configuration's kind: another source's would land wrong columns
        raise ValueError(
            f"{source}: the configuration given is a {type(config).__name__}, "
            f"not a {_SETTINGS[source].__name__}"
        )
    masked = masked or None
    files = source_files(spark, source, config)
    if not files:
        raise SourceError(f"sources.{source}.path: {config.path} matches no file")
    # a landing stopped once its write was decided is finished first: the rows landed before
    # are then those of one landing in both tables
    recover_table(spark, table_location(lake, QUARANTINE))
    before = previous_rows(spark, lake, source)
    removed = removed_files(before, file_names(files))
    if removed and not config.allow_removed_files:
        refuse_removed(source, removed, {})
    stage = staged_records(spark, source, config, files, now, custom, masked)
    stage.persist()
    try:
        with _task_errors():
            report, rows_by_file = _report(source, file_names(files), stage)
        shrunk = {
            name: (before[name], rows)
            for name, rows in rows_by_file.items()
            if name in before and rows < before[name]
        }
        if shrunk and not config.allow_removed_files:
            refuse_removed(source, {}, shrunk)
        check_reject_rate(source, report, config.max_reject_rate, False)
        _write(stage, lake, source, now)
    finally:
        stage.unpersist()
    return replace(
        report,
        removed_files={**removed, **shrunk},
        allow_removed_files=config.allow_removed_files,
    )


def source_files(
    spark: SparkSession, source: SourceName, config: AnySource
) -> list[Path] | list[SourceFile]:
    """The source's files in the DuckDB landing's order (a file's number is its place): a
    local path or glob's from ``config.files()``, a URI's listed through Spark's Hadoop file
    system (:func:`~segmentation.engines.spark.source_uris.list_source_files`).

    Raises:
        SourceError: A URI source's file system cannot be listed, or a file is too large.
    """
    if not is_uri(config.path):
        return config.files()
    return list_source_files(spark, source, config.path)


def file_names(files: Sequence[Path | SourceFile]) -> list[str]:
    """The files' names as ``source_file`` holds them."""
    return [file.name if isinstance(file, SourceFile) else str(file) for file in files]


def staged_records(
    spark: SparkSession,
    source: SourceName,
    config: AnySource,
    files: Sequence[Path] | Sequence[SourceFile],
    now: datetime,
    custom: Mapping[str, str] | None = None,
    masked: frozenset[str] | None = None,
) -> DataFrame:
    """Every record of the ``files`` with its final reason (null: it lands): the library's
    parse of each file in a Spark task, then the duplicates (and for customers the repeated
    ids, for a source with a key the rows repeating a key) flagged by windows.

    Columns: :func:`~segmentation.engines.spark.landing_files.parsed_schema`'s. Besides the
    records, a row per note about a file (reason
    :data:`~segmentation.engines.spark.landing_files.NOTE`, the note in ``raw_values``).
    """
    import pyarrow as pa
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

    listed = [file for file in files if isinstance(file, SourceFile)]
    local = [file for file in files if not isinstance(file, SourceFile)]
    if listed:
        order = uri_column_order(spark, source, config, listed)
    else:
        order = column_order(source, config, local)
    schema = from_arrow_schema(
        parsed_schema(source, config, now, custom), prefer_timestamp_ntz=True
    )
    task = ParseFiles(
        source=source,
        config=config,
        files=tuple(file_names(files)),
        order=tuple(order) if order is not None else None,
        now=now,
        custom=dict(custom) if custom else None,
        masked=masked,
        schema=to_arrow_schema(schema, prefers_large_types=False),
    )
    if listed:
        parsed = _read_contents(spark, source, listed).mapInArrow(
            ParseFileContents(task, {file.hadoop: seq for seq, file in enumerate(listed)}), schema
        )
        # Spark's file scan leaves out files of 0 bytes: the library notes them here
        empty = [seq for seq, file in enumerate(listed) if file.length == 0]
        if empty:
            notes = [batch for seq in empty for batch in task.parse_file(seq, pa.scalar(b""))]
            parsed = parsed.unionByName(
                spark.createDataFrame(pa.Table.from_batches(notes, task.schema), schema)
            )
    else:
        # one file per task: a file's records are numbered by the file alone
        numbers = spark.range(0, len(files), 1, numPartitions=max(1, len(files)))
        parsed = numbers.select(F.col("id").cast("int").alias(FILE_SEQ)).mapInArrow(task, schema)
    # exact duplicates among the good rows: equal text (equal text has equal hash; the hash
    # only spreads the rows), the first by file then row lands
    same_row = Window.partitionBy(
        F.col("reason").isNull(), F.col(ROW_HASH), F.col(RAW_VALUES)
    ).orderBy(FILE_SEQ, SOURCE_ROW)
    duplicate = F.col("reason").isNull() & (F.row_number().over(same_row) > 1)
    flagged = parsed.withColumn(
        "reason", F.when(duplicate, F.lit("duplicate_row")).otherwise(F.col("reason"))
    )
    if source == "customers":
        # one row per customer id: among the rows still good after the duplicates, the first by
        # file then row lands, so that no attribute silently overwrites another
        same_customer = Window.partitionBy(F.col("reason").isNull(), F.col("customer_id")).orderBy(
            FILE_SEQ, SOURCE_ROW
        )
        repeated = F.col("reason").isNull() & (F.row_number().over(same_customer) > 1)
        return flagged.withColumn(
            "reason", F.when(repeated, F.lit("duplicate_customer_id")).otherwise(F.col("reason"))
        )
    key = row_key(source, config, custom)
    if key is None:
        return flagged
    return flagged.withColumn("reason", _key_reason(key))


def _read_contents(spark: SparkSession, source: SourceName, files: list[SourceFile]) -> DataFrame:
    """The files' bytes as ``binaryFile`` rows (``path``, ``content``); Spark packs small files
    into one task, a file's records are still numbered by the file alone.

    Raises:
        SourceError: Spark's file source would skip a file (its readers leave out names
            starting with ``_`` or ``.``): never a file landed as if it had no rows.
    """
    # each file by its own path, glob characters escaped: a name holding [ or * is no pattern
    paths = [re.sub(r"([\\{}\[\]*?])", r"\\\1", file.hadoop) for file in files]
    frame = spark.read.format("binaryFile").load(paths)
    read = {unquoted_path(uri) for uri in frame.inputFiles()}
    skipped = [file.name for file in files if urlparse(file.name).path not in read]
    if skipped:
        raise SourceError(
            f"sources.{source}.path: Spark's file reader skips {', '.join(skipped[:5])} (a name "
            f"starting with _ or . is hidden to it): rename the file(s), nothing was landed"
        )
    return frame.select("path", "content")


def _key_reason(key: RowKey) -> Column:
    """The reason of every row once the rows still good are unique on ``key``, as
    ``sql/raw/flag_rows_repeating_a_key.sql`` decides it: all rows of a key whose landed values
    differ get the key's conflict, every row but the first (file, then row) of a key whose
    rows agree ``duplicate_row``; the other rows keep theirs.

    Two windows over the good rows of one key, on the executors: the values differ when their
    smallest and largest differ (Spark orders and compares structs field by field, a null
    equal to a null, as the SQL's ``count(DISTINCT row(...))`` does).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    good = F.col("reason").isNull()
    same_key = Window.partitionBy(good, *(F.col(name) for name in key.key))
    if key.values:
        values = F.struct(*(F.col(name) for name in key.values))
        differ = ~F.min(values).over(same_key).eqNullSafe(F.max(values).over(same_key))
    else:
        # a source landing no values beside its key: rows of one key cannot disagree
        differ = F.lit(False)
    later = F.row_number().over(same_key.orderBy(FILE_SEQ, SOURCE_ROW)) > 1
    return (
        F.when(good & differ, F.lit(key.conflict))
        .when(good & later, F.lit("duplicate_row"))
        .otherwise(F.col("reason"))
    )


# a library error raised inside a task, as the task's traceback names it
_TASK_ERROR = re.compile(r"^segmentation\.raw\.\w+\.(SourceError|ContractViolation): (.*)$", re.M)


@contextmanager
def _task_errors() -> Iterator[None]:
    """A file that cannot be read as configured fails a task with the library's message; the
    driver raises it as the library's own error, without Spark's stack traces around it."""
    from pyspark.errors import PythonException

    try:
        yield
    except PythonException as error:
        found = _TASK_ERROR.findall(str(error))
        if not found:
            raise
        kind, message = found[-1]
        raise (SourceError if kind == "SourceError" else ContractViolation)(message) from None


def previous_rows(spark: SparkSession, lake: str, source: SourceName) -> dict[str, int]:
    """Rows per source file that the lake's ``raw.<source>`` and quarantine hold for
    ``source``: what the previous landings took from each file (none without those tables)."""
    rows: Counter[str] = Counter()
    landed = _existing(spark, lake, f"raw.{source}")
    if landed is not None:
        rows.update(dict(landed.groupBy(SOURCE_FILE).count().collect()))
    quarantine = _existing(spark, lake, QUARANTINE)
    if quarantine is not None:
        mine = quarantine.where(quarantine["source"] == source)
        rows.update(dict(mine.groupBy(SOURCE_FILE).count().collect()))
    return {name: int(rows[name]) for name in sorted(rows)}


def _existing(spark: SparkSession, lake: str, table: str) -> DataFrame | None:
    """The lake's ``table``, or None where it was never written."""
    from pyspark.errors import AnalysisException

    location = table_location(lake, table)
    # asked first: Spark's read of a missing folder logs a warning with a Java stack trace
    if not lake_files(spark, location).exists(location):
        return None
    try:
        frame = read_table(spark, lake, table)
        frame.schema  # noqa: B018 - resolves the path now
    except AnalysisException as error:
        if "PATH_NOT_FOUND" in str(error) or "UNABLE_TO_INFER_SCHEMA" in str(error):
            return None
        raise
    return frame


def _report(
    source: SourceName, files: list[str], stage: DataFrame
) -> tuple[LandingReport, dict[str, int]]:
    """Rows per reason and file of the stage (landed and rejected) and the notes per file, as
    the DuckDB landing reports them, and the source rows per file, 0 for a file without rows
    (two small Spark jobs)."""
    from pyspark.sql import functions as F

    by_reason: Counter[str] = Counter()
    by_file: Counter[str] = Counter()
    rows_by_file = dict.fromkeys(files, 0)
    landed = 0
    for file_seq, reason, rows in stage.groupBy(FILE_SEQ, "reason").count().collect():
        if reason == NOTE:
            continue
        rows_by_file[files[file_seq]] += rows
        if reason is None:
            landed += rows
        else:
            by_reason[reason] += rows
            by_file[files[file_seq]] += rows
    # a few rows per file at most (counts and encodings, never the file's text)
    noted = stage.where(F.col("reason") == NOTE).select(FILE_SEQ, SOURCE_ROW, RAW_VALUES)
    notes: dict[str, list[str]] = {}
    for file_seq, _, note in sorted(noted.collect()):
        notes.setdefault(files[file_seq], []).append(note)
    report = LandingReport(
        source=source,
        files=files,
        source_rows=landed + sum(by_reason.values()),
        landed_rows=landed,
        rejected_by_reason=dict(by_reason.most_common()),
        rejected_by_file=dict(by_file.most_common()),
        notes=notes,
    )
    return report, rows_by_file


def _write(stage: DataFrame, lake: str, source: SourceName, now: datetime) -> None:
    """Replace the lake's ``raw.<source>`` with the good rows and the source's quarantine rows
    (a folder per source) with the rejected ones, in one commit of the quarantine table: a
    failure at any point leaves both as the previous landing wrote them, or (once the write
    is decided) the next landing finishes both (:mod:`~segmentation.engines.spark.lake_commit`).
    """
    from pyspark.sql import functions as F

    landed = stage.where(F.col("reason").isNull()).select(*_landed_columns(stage, source))
    write_atomically(
        _rejected(stage, source, now),
        table_location(lake, QUARANTINE),
        "source",
        replace_all=False,
        # without rejected rows the source's folder goes: no rows of an earlier landing stay
        replaced=[f"source={source}"],
        table=(landed, table_location(lake, f"raw.{source}")),
    )


def _landed_columns(stage: DataFrame, source: SourceName) -> list[Column]:
    """The columns of ``raw.<source>``: the fixed list where the source has one, else (customers)
    the parsed columns in their order without the bookkeeping, the file's name where its
    number was, as ``sql/raw/publish_customers.sql`` selects them."""
    from pyspark.sql import functions as F

    if source in LANDED_COLUMNS:
        return [F.col(name).cast(kind).alias(name) for name, kind in LANDED_COLUMNS[source]]
    dropped = {ROW_HASH, "reason", SOURCE_FILE, RAW_VALUES, MASKED_VALUES}
    return [
        F.col(SOURCE_FILE) if name == FILE_SEQ else F.col(name)
        for name in stage.columns
        if name not in dropped
    ]


def _rejected(stage: DataFrame, source: SourceName, now: datetime) -> DataFrame:
    """The source's quarantine rows: the check in words, the original row with personal values
    masked."""
    from itertools import chain

    from pyspark.sql import functions as F

    checks = F.create_map(*(F.lit(text) for text in chain.from_iterable(REASONS[source].items())))
    return stage.where(F.col("reason").isNotNull() & (F.col("reason") != NOTE)).select(
        F.lit(source).alias("source"),
        F.col(SOURCE_FILE),
        F.col(SOURCE_ROW),
        F.col("reason"),
        checks[F.col("reason")].alias("check"),
        F.coalesce(F.col(MASKED_VALUES), F.col(RAW_VALUES)).alias(RAW_VALUES),
        F.lit(now.isoformat(sep=" ")).cast("timestamp_ntz").alias("rejected_at"),
    )


def land_nothing(spark: SparkSession, lake: str, source: SourceName, empty: DataFrame) -> None:
    """An optional source that is not configured: ``raw.<source>`` replaced by ``empty`` (its
    landed columns, no rows: the engine's stages read the table) and the source's quarantine
    rows removed, in one commit, as :func:`land_source` writes the two (a landing of the
    source stopped after its commit is finished first, so its rows cannot come back later)."""
    quarantine = spark.createDataFrame(
        [], ", ".join(f"`{name}` {kind}" for name, kind in QUARANTINE_COLUMNS)
    )
    write_atomically(
        quarantine,
        table_location(lake, QUARANTINE),
        "source",
        replace_all=False,
        replaced=[f"source={source}"],
        table=(empty, table_location(lake, f"raw.{source}")),
    )
