"""Atomic writes of the lake's tables: each partition of a table is replaced whole or not at all.

A table is a folder of partition folders (``snapshot_date=2011-03-31/``) and one ``_schema/``
folder holding a file without rows that records the table's columns in order, with their types
(the partition column included, which Spark keeps out of the data files). A write goes through
three steps:

1. **Stage.** Spark writes the new rows, partitioned, into a hidden folder of the table,
   ``_staging-<id>/``, and the schema into ``_staging-<id>/_schema/``. Spark and DuckDB readers
   skip folders whose name starts with ``_`` (and holds no ``=``), so nobody reads it. A Spark
   job that fails here leaves the table as it was; the staging folder is removed.
2. **Commit.** The driver writes ``_staging-<id>/_commit/``: one empty file named after each
   staged folder (and ``ALL`` when the write replaces the whole table). From then on the write
   is decided: whatever interrupts the next step, the next write of the table finishes it.
3. **Swap.** Per staged folder, the live one is renamed into ``_replaced-<id>/`` and the staged
   one into its place: two renames of a folder, atomic each on a local disk and on HDFS. A
   reader that lists the table sees the old partition or the new one, never files of both; in
   the instant between the two renames it sees the partition missing. Then ``_replaced-<id>/``
   and the staging folder are removed.

A write may replace a partition with nothing (``replaced``: the commit names it with
:data:`DROP_PREFIX`, and the swap retires the live one), and may carry one whole table beside
the partitions (``table``: staged as ``_staging-<id>/_table/``, its location in the commit,
swapped with the partitions). Both are decided by the one commit: the Spark landing replaces
``raw.<source>`` and the source's quarantine partition together this way.

Before staging, a write finishes what an interrupted write left (:func:`recover_table`):
committed staging is swapped in, uncommitted staging and replaced folders are removed. One
writer per table at a time, as one run at a time writes the DuckDB warehouse: a write takes
every staging folder it finds for an abandoned one.

The file operations go through Spark's Hadoop ``FileSystem`` in a classic session and through
PyArrow's file systems in a Spark Connect one (:func:`lake_files`), so the same code writes a
local lake, HDFS or an object store; how much of the guarantee an object store keeps is in
docs/spark.md (its renames copy). Both see the same files, so either finishes a write the
other was interrupted in.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from segmentation.engines.spark.connect import is_connect

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

STAGING_PREFIX = "_staging-"
REPLACED_PREFIX = "_replaced-"
SCHEMA_FOLDER = "_schema"
COMMIT_FOLDER = "_commit"
# in the commit folder: the write replaces the whole table (partitions it did not write go)
REPLACE_ALL = "ALL"
# in the commit folder, before a partition's name: the write replaces it with nothing
DROP_PREFIX = "DROP-"
# the staged folder of a whole table written with the partitions; its file in the commit
# folder holds the table's location
TABLE_FOLDER = "_table"
# what Spark leaves in an output folder besides the data: never a partition
_NOT_PARTITIONS = {"_temporary", COMMIT_FOLDER}


class LakeWriteError(RuntimeError):
    """A table of the lake could not be written or repaired."""


class LakeFiles:
    """The lake's folders, as one of two file system clients sees them: the same operations and
    the same files either way, so a write one started is finished by the other
    (:func:`lake_files` chooses by the session).

    :class:`HadoopLakeFiles`: Spark's Hadoop ``FileSystem`` through the driver's JVM (a classic
    session). :class:`ArrowLakeFiles`: PyArrow's file systems in this process (a Spark Connect
    session, whose driver is the server's).
    """

    def exists(self, location: str) -> bool:
        """Whether a file or folder exists at ``location``."""
        raise NotImplementedError

    def _entries(self, location: str) -> list[tuple[str, bool]]:
        """The entries of the existing folder ``location``: (name, whether a folder)."""
        raise NotImplementedError

    def _move(self, source: str, target: str) -> bool:
        """Move ``source`` to the free ``target``; False when the file system refuses."""
        raise NotImplementedError

    def folders(self, location: str) -> list[str]:
        """The names of the folders in ``location`` (none when it does not exist), sorted."""
        if not self.exists(location):
            return []
        return sorted(name for name, folder in self._entries(location) if folder)

    def files(self, location: str) -> list[str]:
        """The names of the files in ``location`` (none when it does not exist), sorted."""
        if not self.exists(location):
            return []
        return sorted(name for name, folder in self._entries(location) if not folder)

    def rename(self, source: str, target: str) -> None:
        """Move ``source`` to ``target``, which must not exist (Hadoop would move a folder
        into an existing one instead)."""
        if self.exists(target):
            raise LakeWriteError(f"cannot move {source} to {target}: it exists")
        if not self._move(source, target):
            raise LakeWriteError(f"cannot move {source} to {target} (the file system refused)")

    def make_folder(self, location: str) -> None:
        """Create ``location`` and its parents."""
        raise NotImplementedError

    def touch(self, location: str) -> None:
        """Create an empty file at ``location``."""
        raise NotImplementedError

    def write_text(self, location: str, text: str) -> None:
        """Create a file at ``location`` holding ``text`` (under 64 KiB) as Java's
        ``DataOutputStream.writeUTF`` writes it."""
        raise NotImplementedError

    def read_text(self, location: str) -> str:
        """The text :meth:`write_text` wrote at ``location``."""
        raise NotImplementedError

    def remove(self, location: str) -> None:
        """Remove ``location`` and everything in it (nothing when it does not exist)."""
        raise NotImplementedError


class HadoopLakeFiles(LakeFiles):
    """The lake's folders as Spark's Hadoop ``FileSystem`` sees them (local, HDFS, s3a ...),
    through the driver's JVM of a classic session."""

    def __init__(self, spark: SparkSession, location: str) -> None:
        if is_connect(spark):
            raise LakeWriteError(
                f"{location}: Hadoop's file system needs a classic Spark session (a JVM on the "
                f"driver); a Spark Connect session writes through ArrowLakeFiles"
            )
        self._path = spark._jvm.org.apache.hadoop.fs.Path
        hadoop = spark.sparkContext._jsc.hadoopConfiguration()
        self._fs = self._path(location).getFileSystem(hadoop)

    def exists(self, location: str) -> bool:
        """Whether a file or folder exists at ``location``."""
        return bool(self._fs.exists(self._path(location)))

    def _entries(self, location: str) -> list[tuple[str, bool]]:
        statuses = self._fs.listStatus(self._path(location))
        return [(status.getPath().getName(), bool(status.isDirectory())) for status in statuses]

    def _move(self, source: str, target: str) -> bool:
        return bool(self._fs.rename(self._path(source), self._path(target)))

    def make_folder(self, location: str) -> None:
        """Create ``location`` and its parents."""
        self._fs.mkdirs(self._path(location))

    def touch(self, location: str) -> None:
        """Create an empty file at ``location``."""
        self._fs.create(self._path(location), True).close()

    def write_text(self, location: str, text: str) -> None:
        """Create a file at ``location`` holding ``text`` (under 64 KiB), Java's ``writeUTF``."""
        stream = self._fs.create(self._path(location), True)
        try:
            stream.writeUTF(text)
        finally:
            stream.close()

    def read_text(self, location: str) -> str:
        """The text :meth:`write_text` wrote at ``location``."""
        stream = self._fs.open(self._path(location))
        try:
            return str(stream.readUTF())
        finally:
            stream.close()

    def remove(self, location: str) -> None:
        """Remove ``location`` and everything in it (nothing when it does not exist)."""
        self._fs.delete(self._path(location), True)


# URI schemes whose path is the bucket (the URI's host) and the key, as PyArrow names them
_BUCKET_SCHEMES = {"s3", "s3a", "s3n", "gs", "gcs"}
# file systems whose rename of a folder is one operation (PyArrow's move); the others
# (object stores) have no folders: a folder is moved object by object, as Hadoop's s3a does
_FOLDER_RENAMES = {"local", "hdfs"}


class ArrowLakeFiles(LakeFiles):
    """The lake's folders through PyArrow's file systems (local, ``s3://`` and ``s3a://``,
    ``gs://``, ``hdfs://``, ``abfss://``), in this process: for a Spark Connect session, whose
    Hadoop file system is the server's.

    Files and folders are the ones :class:`HadoopLakeFiles` makes: the same names, Hadoop's
    checksum files (``.<name>.crc``) left out of listings as Hadoop leaves them out, and
    :meth:`write_text` in the bytes of Java's ``writeUTF``. Credentials for an object store are
    PyArrow's (for S3 the usual ``AWS_*`` variables or profile), not ``spark.hadoop.*``.
    """

    def __init__(self, location: str) -> None:
        from pyarrow import fs

        self._fs, _ = fs.FileSystem.from_uri(self._uri(location))
        self._folder_renames = self._fs.type_name in _FOLDER_RENAMES

    @staticmethod
    def _uri(location: str) -> str:
        scheme, separator, rest = location.partition("://")
        if not separator:
            if location.startswith("file:"):
                return f"file://{os.path.abspath(location.removeprefix('file:'))}"
            return os.path.abspath(location)
        # PyArrow's S3 file system is Hadoop's s3a (and the older s3n)
        return f"s3://{rest}" if scheme in ("s3a", "s3n") else location

    def _local(self, location: str) -> str:
        """``location`` as a path of this file system."""
        uri = self._uri(location)
        scheme, separator, rest = uri.partition("://")
        if not separator:
            return uri
        if scheme == "file":
            return rest
        if scheme in _BUCKET_SCHEMES:
            return rest
        from pyarrow import fs

        return str(fs.FileSystem.from_uri(uri)[1])

    def _type(self, location: str) -> Any:
        return self._fs.get_file_info(self._local(location)).type

    def exists(self, location: str) -> bool:
        """Whether a file or folder exists at ``location``."""
        from pyarrow import fs

        return bool(self._type(location) != fs.FileType.NotFound)

    def _entries(self, location: str) -> list[tuple[str, bool]]:
        from pyarrow import fs

        infos = self._fs.get_file_info(fs.FileSelector(self._local(location)))
        return [
            (info.base_name, info.type == fs.FileType.Directory)
            for info in infos
            if not _is_checksum(info.base_name)
        ]

    def _move(self, source: str, target: str) -> bool:
        from pyarrow import fs

        kind = self._type(source)
        if kind == fs.FileType.NotFound:
            return False
        if self._folder_renames or kind != fs.FileType.Directory:
            self._fs.move(self._local(source), self._local(target))
            return True
        # an object store: copy every object, then remove the originals (Hadoop's s3a rename)
        base = self._local(source)
        moved = self._local(target)
        infos = self._fs.get_file_info(fs.FileSelector(base, recursive=True))
        self._fs.create_dir(moved, recursive=True)
        for info in infos:
            path = moved + info.path[len(base) :]
            if info.type == fs.FileType.Directory:
                self._fs.create_dir(path, recursive=True)
            else:
                self._fs.copy_file(info.path, path)
        self._fs.delete_dir(base)
        return True

    def make_folder(self, location: str) -> None:
        """Create ``location`` and its parents."""
        self._fs.create_dir(self._local(location), recursive=True)

    def touch(self, location: str) -> None:
        """Create an empty file at ``location``."""
        self._write(location, b"")

    def _write(self, location: str, data: bytes) -> None:
        with self._fs.open_output_stream(self._local(location)) as stream:
            stream.write(data)

    def write_text(self, location: str, text: str) -> None:
        """Create a file at ``location`` holding ``text`` (under 64 KiB), in the bytes of Java's
        ``writeUTF``."""
        self._write(location, java_utf(text))

    def read_text(self, location: str) -> str:
        """The text :meth:`write_text` (or Java's ``writeUTF``) wrote at ``location``."""
        with self._fs.open_input_stream(self._local(location)) as stream:
            return from_java_utf(stream.read())

    def remove(self, location: str) -> None:
        """Remove ``location`` and everything in it (nothing when it does not exist)."""
        from pyarrow import fs

        kind = self._type(location)
        if kind == fs.FileType.Directory:
            self._fs.delete_dir(self._local(location))
        elif kind != fs.FileType.NotFound:
            self._fs.delete_file(self._local(location))


def _is_checksum(name: str) -> bool:
    # Hadoop's local file system writes `.<file>.crc` beside each file and hides it
    return name.startswith(".") and name.endswith(".crc")


def java_utf(text: str) -> bytes:
    """``text`` as Java's ``DataOutputStream.writeUTF`` writes it: the length in bytes (two,
    big-endian), then modified UTF-8 (U+0000 as two bytes, a character beyond U+FFFF as its
    two UTF-16 surrogates of three bytes each).

    Raises:
        LakeWriteError: The encoded text exceeds 65,535 bytes (Java refuses it too).
    """
    body = bytearray()
    for unit in _utf16_units(text):
        if 0 < unit < 0x80:
            body.append(unit)
        elif unit < 0x800:
            body += bytes((0xC0 | unit >> 6, 0x80 | unit & 0x3F))
        else:
            body += bytes((0xE0 | unit >> 12, 0x80 | unit >> 6 & 0x3F, 0x80 | unit & 0x3F))
    if len(body) > 0xFFFF:
        raise LakeWriteError(f"a text of {len(body)} bytes is too long for writeUTF")
    return len(body).to_bytes(2, "big") + bytes(body)


def _utf16_units(text: str) -> list[int]:
    encoded = text.encode("utf-16-be", "surrogatepass")
    return [int.from_bytes(encoded[i : i + 2], "big") for i in range(0, len(encoded), 2)]


def from_java_utf(data: bytes) -> str:
    """The text of Java's ``writeUTF`` bytes (:func:`java_utf`).

    Raises:
        LakeWriteError: The bytes are not such a text (a length beyond them, a malformed
            sequence).
    """
    if len(data) < 2 or int.from_bytes(data[:2], "big") > len(data) - 2:
        raise LakeWriteError("not a text written by writeUTF: its length is missing or too big")
    body = data[2 : 2 + int.from_bytes(data[:2], "big")]
    units = []
    index = 0
    while index < len(body):
        first = body[index]
        if first < 0x80:
            units.append(first)
            index += 1
        elif first >> 5 == 0b110 and index + 1 < len(body):
            units.append((first & 0x1F) << 6 | body[index + 1] & 0x3F)
            index += 2
        elif first >> 4 == 0b1110 and index + 2 < len(body):
            middle, last = body[index + 1] & 0x3F, body[index + 2] & 0x3F
            units.append((first & 0x0F) << 12 | middle << 6 | last)
            index += 3
        else:
            raise LakeWriteError(f"not a text written by writeUTF: byte {first:#04x} at {index}")
    encoded = b"".join(unit.to_bytes(2, "big") for unit in units)
    return encoded.decode("utf-16-be", "surrogatepass")


def lake_files(spark: SparkSession, location: str) -> LakeFiles:
    """The lake's file operations for ``spark``'s kind: Hadoop's through the driver's JVM in a
    classic session, PyArrow's in this process for a Spark Connect one."""
    if is_connect(spark):
        return ArrowLakeFiles(location)
    return HadoopLakeFiles(spark, location)


def partitions(files: LakeFiles, location: str) -> list[str]:
    """The live partition folders of the table at ``location`` (``name=value``), sorted."""
    return [name for name in files.folders(location) if _is_partition(name)]


def _is_partition(name: str) -> bool:
    # the rule Spark's file index reads a folder by: hidden unless it names a partition
    return "=" in name and not name.startswith((".", "_"))


def _units(files: LakeFiles, staging: str) -> list[str]:
    """The staged folders that replace live ones: the partitions, the schema and a whole
    table written with them."""
    return [
        name
        for name in files.folders(staging)
        if name not in _NOT_PARTITIONS
        and (name in (SCHEMA_FOLDER, TABLE_FOLDER) or _is_partition(name))
    ]


def recover_table(spark: SparkSession, location: str) -> list[str]:
    """Finish or undo what interrupted writes left in the table at ``location``: the folders
    of a committed write are swapped in (its decision stands), uncommitted staging and replaced
    folders are removed. Returns what it did, one text per folder."""
    files = lake_files(spark, location)
    return _recover(files, location)


def _recover(files: LakeFiles, location: str) -> list[str]:
    done = []
    for name in files.folders(location):
        if not name.startswith(STAGING_PREFIX):
            continue
        staging = f"{location}/{name}"
        if files.exists(f"{staging}/{COMMIT_FOLDER}"):
            swapped = _swap(files, location, staging, name.removeprefix(STAGING_PREFIX))
            done.append(f"finished the interrupted write {name} ({len(swapped)} folders)")
        else:
            done.append(f"removed the unfinished write {name}")
        files.remove(staging)
    for name in files.folders(location):
        if name.startswith(REPLACED_PREFIX):
            files.remove(f"{location}/{name}")
            done.append(f"removed {name}")
    return done


def _swap(files: LakeFiles, location: str, staging: str, token: str) -> list[str]:
    """Put the staged folders of a committed write in place of the live ones; with
    ``REPLACE_ALL``, retire the live partitions the write does not hold. Returns the folders
    put in place."""
    commit = f"{staging}/{COMMIT_FOLDER}"
    committed = set(files.files(commit))
    replaced = f"{location}/{REPLACED_PREFIX}{token}"
    files.make_folder(replaced)

    def retire(name: str) -> None:
        if files.exists(f"{location}/{name}"):
            target = f"{replaced}/{name}"
            # left by an interrupted swap of this write: superseded by the live one
            files.remove(target)
            files.rename(f"{location}/{name}", target)

    if REPLACE_ALL in committed:
        for name in partitions(files, location):
            if name not in committed:
                retire(name)
    for name in sorted(committed):
        if name.startswith(DROP_PREFIX):
            # gone already when an interrupted swap retired it: nothing else writes it since
            retire(name.removeprefix(DROP_PREFIX))
    swapped = []
    for name in _units(files, staging):
        if name == TABLE_FOLDER:
            _swap_table(files, staging, replaced)
        else:
            retire(name)
            files.rename(f"{staging}/{name}", f"{location}/{name}")
        swapped.append(name)
    files.remove(replaced)
    return swapped


def _swap_table(files: LakeFiles, staging: str, replaced: str) -> None:
    """Put the staged whole table in place of the live one, at the location its commit names."""
    target = files.read_text(f"{staging}/{COMMIT_FOLDER}/{TABLE_FOLDER}")
    if files.exists(target):
        files.remove(f"{replaced}/{TABLE_FOLDER}")
        files.rename(target, f"{replaced}/{TABLE_FOLDER}")
    files.make_folder(target.rsplit("/", 1)[0])
    files.rename(f"{staging}/{TABLE_FOLDER}", target)


def write_atomically(
    frame: DataFrame,
    location: str,
    partition_column: str,
    replace_all: bool,
    *,
    replaced: Iterable[str] = (),
    table: tuple[DataFrame, str] | None = None,
    verify: Callable[[str], None] | None = None,
) -> list[str]:
    """Write ``frame`` into the table at ``location``, partitioned by ``partition_column``:
    each partition it holds replaces the live one whole (and, with ``replace_all``, the live
    partitions it does not hold are removed). Returns the partitions written.

    Args:
        frame: The rows.
        location: The table's folder.
        partition_column: The column whose values name the partitions.
        replace_all: Remove the live partitions ``frame`` does not hold.
        replaced: Partitions (``name=value``) this write replaces even when ``frame`` holds
            none of their rows: those without rows are removed.
        table: A whole table (rows, location) that replaces the one at its location with the
            same commit: whatever stops the write, the next write of this table (or
            :func:`recover_table`) leaves both old or both new. Its location must be on the
            file system of ``location``, and nothing else may write it.
        verify: Called with the staging folder once every row is staged, before the commit:
            what it raises stops the write, leaving every live partition as it was (a check
            of all the staged rows together, such as a key's uniqueness across tasks).

    Raises:
        LakeWriteError: A folder could not be moved; what was committed is finished by the
            next write of the table (:func:`recover_table`).
    """
    spark = frame.sparkSession
    files = lake_files(spark, location)
    _recover(files, location)
    token = uuid.uuid4().hex
    staging = f"{location}/{STAGING_PREFIX}{token}"
    try:
        frame.write.mode("error").partitionBy(partition_column).parquet(staging)
        # the columns in order with their types, the partition column included: the data files
        # lack it, and a table without rows has no data file at all
        spark.createDataFrame([], frame.schema).coalesce(1).write.parquet(
            f"{staging}/{SCHEMA_FOLDER}"
        )
        if table is not None:
            table[0].write.mode("error").parquet(f"{staging}/{TABLE_FOLDER}")
        written = [
            name for name in _units(files, staging) if name not in (SCHEMA_FOLDER, TABLE_FOLDER)
        ]
        dropped = [f"{DROP_PREFIX}{name}" for name in replaced if name not in written]
        if verify is not None:
            verify(staging)
        _commit(
            files,
            staging,
            [*written, SCHEMA_FOLDER, *dropped],
            replace_all,
            table[1] if table is not None else None,
        )
    except BaseException:
        _remove_quietly(files, staging)
        raise
    _swap(files, location, staging, token)
    files.remove(staging)
    return written


def _commit(
    files: LakeFiles,
    staging: str,
    names: Iterable[str],
    replace_all: bool,
    table: str | None = None,
) -> None:
    """Record the write as decided: the commit folder is complete only once renamed in.
    ``table``: the location of the whole table staged beside the partitions."""
    pending = f"{staging}/_pending{COMMIT_FOLDER}"
    files.make_folder(pending)
    for name in [*names, *([REPLACE_ALL] if replace_all else [])]:
        files.touch(f"{pending}/{name}")
    if table is not None:
        files.write_text(f"{pending}/{TABLE_FOLDER}", table)
    files.rename(pending, f"{staging}/{COMMIT_FOLDER}")


def _remove_quietly(files: LakeFiles, location: str) -> None:
    # the write's own error is the one to see; the next write removes what stays
    with contextlib.suppress(Exception):  # Py4J raises any Java exception
        files.remove(location)
