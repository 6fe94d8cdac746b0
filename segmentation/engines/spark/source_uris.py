"""Sources given as a URI (``s3a://``, ``abfss://``, ``hdfs://``, ``file:``): listed and read
through Spark's Hadoop ``FileSystem`` on the driver, their bytes read by Spark's ``binaryFile``
source for the tasks (docs/spark.md, "What every executor needs").

A local path or glob keeps the library's own listing (``config.files()``). A URI's glob is
Hadoop's, with Python's rules where the two differ and the config check cannot refuse it: a
name starting with ``.`` is matched only by a pattern part starting with ``.``, as
``glob.glob`` does; ``[!a]`` means ``[^a]``; ``**`` is refused at the config load.

A file is one ``binaryFile`` row, so it must be smaller than :data:`MAX_FILE_BYTES`: a
larger one is refused before any task, never read in part.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.parquet as pq

from segmentation.engines.spark.connect import is_connect
from segmentation.raw.columns import BOOKKEEPING
from segmentation.raw.csv_text import Decompressed, read_csv_header, text_stream
from segmentation.raw.settings import AnySource, SourceName
from segmentation.raw.source_files import SourceError, check_header
from segmentation.raw.staging import source_columns

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# binaryFile holds a file in one row: Spark refuses files over 2^31 - 1 bytes; the row's other
# columns and headers need a little room below that
MAX_FILE_BYTES = 2**31 - 2**20
# the first read of a CSV header; doubled until the first line is whole
_HEAD_BYTES = 64 * 1024
_PARQUET_MAGIC = b"PAR1"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True)
class SourceFile:
    """One file of a URI source.

    Attributes:
        name: The file's name in the raw tables and the quarantine (``source_file``): the
            source's scheme and authority as the config writes them, then the file's path.
        hadoop: The path as Hadoop prints it (``binaryFile``'s ``path`` column).
        length: Its size in bytes.
    """

    name: str
    hadoop: str
    length: int


def _driver_jvm(spark: SparkSession, location: str) -> object:
    """The driver's JVM, whose Hadoop file system lists and reads ``location``.

    Raises:
        SourceError: ``spark`` is a Spark Connect session, which has no JVM in this process.
    """
    if is_connect(spark):
        raise SourceError(
            f"{location}: a URI is listed and read through the driver's Hadoop file system, "
            f"which a Spark Connect session does not have here; with an sc:// master give "
            f"sources as paths, or run with a classic master"
        )
    return spark._jvm  # type: ignore[attr-defined]


def _prefix(pattern: str) -> str:
    """The scheme and authority of ``pattern`` as written (``s3a://bucket``, ``file://``)."""
    parsed = urlparse(pattern)
    return (
        f"{parsed.scheme}://{parsed.netloc}"
        if pattern.startswith(f"{parsed.scheme}://")
        else f"{parsed.scheme}:"
    )


def _hidden_mismatch(pattern_path: str, path: str) -> bool:
    """Whether ``path`` has a part starting with ``.`` where the pattern's part does not
    (Python's glob skips those; Hadoop's does not)."""
    wanted = pattern_path.strip("/").split("/")
    found = path.strip("/").split("/")
    return any(
        part.startswith(".") and not (index < len(wanted) and wanted[index].startswith("."))
        for index, part in enumerate(found)
    )


def list_source_files(spark: SparkSession, source: SourceName, pattern: str) -> list[SourceFile]:
    """The files a URI source's path or glob matches, through Hadoop's ``FileSystem``, in the
    order ``config.files()`` gives a local glob's files (sorted by name).

    Raises:
        SourceError: A file is too large for a ``binaryFile`` row, the file system cannot
            be reached (Hadoop's reason), or ``spark`` is a Spark Connect session.
    """
    jvm: Any = _driver_jvm(spark, pattern)
    hadoop_pattern = re.sub(r"\[!", "[^", pattern)
    path = jvm.org.apache.hadoop.fs.Path(hadoop_pattern)
    try:
        fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        statuses = fs.globStatus(path) or []
    except Exception as error:  # py4j's error holds Hadoop's exception
        java = getattr(error, "java_exception", None)
        reason = (str(java.toString()) if java is not None else str(error)).splitlines()[0][:300]
        hint = ""
        if "ClassNotFoundException" in reason or "No FileSystem for scheme" in reason:
            hint = (
                " (the file system's Hadoop connector is not installed: for s3a:// the "
                "hadoop-aws jar of Spark's Hadoop version, e.g. through spark.jars.packages)"
            )
        raise SourceError(f"sources.{source}.path: cannot list {pattern}: {reason}{hint}") from None
    prefix = _prefix(pattern)
    pattern_path = urlparse(pattern).path
    files = []
    for status in statuses:
        if not status.isFile():
            continue
        found = str(status.getPath().toUri().getPath())
        if _hidden_mismatch(pattern_path, found):
            continue
        files.append(SourceFile(prefix + found, str(status.getPath().toString()), status.getLen()))
    files.sort(key=lambda file: file.name)
    too_large = [file for file in files if file.length >= MAX_FILE_BYTES]
    if too_large:
        listing = ", ".join(f"{file.name} ({file.length:,} bytes)" for file in too_large[:5])
        raise SourceError(
            f"sources.{source}.path: a file of a URI source is read by Spark as one row, "
            f"which holds less than {MAX_FILE_BYTES:,} bytes; split these files (nothing was "
            f"read): {listing}"
        )
    return files


def read_bytes(spark: SparkSession, hadoop: str, start: int, length: int) -> bytes:
    """``length`` bytes of the file at ``hadoop`` from ``start``, through Hadoop.

    Raises:
        SourceError: ``spark`` is a Spark Connect session.
    """
    jvm: Any = _driver_jvm(spark, hadoop)
    path = jvm.org.apache.hadoop.fs.Path(hadoop)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    stream = fs.open(path)
    try:
        stream.seek(start)
        return bytes(jvm.org.apache.commons.io.IOUtils.toByteArray(stream, length))
    finally:
        stream.close()


@contextlib.contextmanager
def named_as(local: Path, name: str) -> Iterator[None]:
    """A library error about the local copy ``local`` names the source file ``name``."""
    try:
        yield
    except SourceError as error:
        raise SourceError(str(error).replace(str(local), name)) from None


def _first_line_whole(local: Path, encoding: str) -> bool:
    """Whether the first line of the (maybe gzip) head at ``local`` ends within it."""
    try:
        with Decompressed(local) as raw, text_stream(raw, encoding) as text:
            return text.readline().endswith("\n")
    except (UnicodeDecodeError, SourceError, OSError, EOFError):
        return False


def _csv_header(
    spark: SparkSession, source: SourceName, config: AnySource, file: SourceFile, scratch: Path
) -> list[str] | None:
    """The header of a CSV file of a URI source, from as few of its first bytes as hold its
    first line (the whole file when compressed with zstd), read as the library reads a local
    file's."""
    local = scratch / Path(urlparse(file.name).path).name
    size = _HEAD_BYTES
    while True:
        head = read_bytes(spark, file.hadoop, 0, min(size, file.length))
        local.write_bytes(head)
        whole = len(head) >= file.length
        if whole or (
            not head.startswith(_ZSTD_MAGIC) and _first_line_whole(local, config.encoding)
        ):
            break
        size *= 2
    with named_as(local, file.name):
        return read_csv_header(local, config.delimiter, config.encoding, source)


def _parquet_names(spark: SparkSession, source: SourceName, file: SourceFile) -> list[str]:
    """The column names of a Parquet file of a URI source, from its footer alone."""
    tail = read_bytes(spark, file.hadoop, max(0, file.length - 8), min(8, file.length))
    if len(tail) < 8 or tail[4:] != _PARQUET_MAGIC:
        raise SourceError(f"cannot read {file.name} as parquet: not a Parquet file")
    footer_length = int.from_bytes(tail[:4], "little")
    if footer_length + 12 > file.length:
        raise SourceError(f"cannot read {file.name} as parquet: its footer is damaged")
    footer = read_bytes(spark, file.hadoop, file.length - 8 - footer_length, footer_length)
    try:
        # the footer alone, framed as a file: the schema needs no column data
        schema = pq.read_schema(pa.BufferReader(_PARQUET_MAGIC + footer + tail))
    except (pa.ArrowException, OSError) as error:
        detail = str(error).splitlines()[0][:300]
        raise SourceError(f"cannot read {file.name} as parquet: {detail}") from None
    return list(schema.names)


def uri_column_order(
    spark: SparkSession, source: SourceName, config: AnySource, files: list[SourceFile]
) -> list[str] | None:
    """What :func:`~segmentation.engines.spark.landing_files.column_order` gives for local
    files: the columns of the first file with content, read from its header or footer. The
    other files' headers are checked by their tasks (the library's check, the same message),
    before any write."""
    from segmentation.engines.spark.landing_files import polars_names

    with tempfile.TemporaryDirectory(prefix="source-head-") as scratch:
        for file in files:
            if config.file_format(Path(urlparse(file.name).path)) == "parquet":
                names = _parquet_names(spark, source, file)
            else:
                header = _csv_header(spark, source, config, file, Path(scratch))
                if header is None:
                    continue
                local = Path(scratch) / Path(urlparse(file.name).path).name
                with named_as(local, file.name):
                    check_header(header, source_columns(config), local, source)
                names = polars_names(header, config.delimiter)
            return [name for name in names if name not in BOOKKEEPING]
    return None


def unquoted_path(uri: str) -> str:
    """The decoded path of a URI Spark lists (``DataFrame.inputFiles``)."""
    return unquote(urlparse(uri).path)
