"""Atomic writes of the lake: a month is replaced whole or not at all. A Spark job that fails
after some of its tasks wrote files, and a driver stopped between the renames, both leave the
lake readable with every month either old or new; the next write finishes or discards what was
left, and months the write does not touch keep their very files. The recovery tests run with
both file clients (Hadoop's, a classic session's; PyArrow's, a Spark Connect session's), and
each finishes a write the other was interrupted in."""

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from segmentation.engines.spark import lake_commit
from segmentation.engines.spark.lake import read_table, table_location, write_months, write_table
from segmentation.engines.spark.lake_commit import (
    ArrowLakeFiles,
    HadoopLakeFiles,
    LakeFiles,
    LakeWriteError,
    from_java_utf,
    java_utf,
    recover_table,
)
from segmentation.engines.spark.lake_serving import create_lake_view

pytestmark = pytest.mark.spark

TABLE = "marts.strategy_assignments"
MONTHS = [date(2011, 1, 31), date(2011, 2, 28), date(2011, 3, 31)]
ROWS_PER_MONTH = 300
SCHEMA = "snapshot_date date, customer_id string, priority long, budget double"


def _version(spark, months: list[date], version: int, failing_partition: int | None = None):
    """ROWS_PER_MONTH rows per month with ``priority = version``, spread over 6 tasks; the task
    ``failing_partition`` raises after handing over its first rows (its file is half written
    while other tasks have written theirs)."""
    import pyarrow as pa
    from pyspark import TaskContext

    rows = [
        (month, f"c{index:04d}", version, index / 7)
        for month in months
        for index in range(ROWS_PER_MONTH)
    ]
    frame = spark.createDataFrame(rows, SCHEMA).repartition(6, "customer_id")
    if failing_partition is None:
        return frame

    def fail_midway(batches):
        failing = TaskContext.get().partitionId() == failing_partition
        for batch in batches:
            yield batch
            if failing:
                raise RuntimeError("a task that fails after writing some rows")
        yield pa.RecordBatch.from_pylist([], schema=batch.schema)

    return frame.mapInArrow(fail_midway, frame.schema)


def _read(spark, lake: str) -> pl.DataFrame:
    frame = pl.from_arrow(read_table(spark, lake, TABLE).toArrow())
    assert isinstance(frame, pl.DataFrame)
    return frame.sort("snapshot_date", "customer_id")


def _versions(frame: pl.DataFrame) -> dict[date, tuple[int, ...]]:
    """Per month, the versions its rows hold (one version per month: never a mix)."""
    grouped = frame.group_by("snapshot_date").agg(pl.col("priority").unique().sort(), pl.len())
    rows = grouped.iter_rows(named=True)
    return {row["snapshot_date"]: (*row["priority"], row["len"]) for row in rows}


def _files(folder: Path) -> dict[str, float]:
    return {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}


def _duckdb_read(location: Path) -> pl.DataFrame:
    """The table as the serving publish reads it (DuckDB over the lake's files)."""
    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA marts")
        create_lake_view(con, TABLE, location)
        return con.execute(f"SELECT * FROM {TABLE}").pl().sort("snapshot_date", "customer_id")


@pytest.fixture(params=["hadoop", "arrow"])
def files_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    """The file client the lake's writes use: Hadoop's through the JVM (a classic session's) or
    PyArrow's (a Spark Connect session's), whatever the session of the test is."""
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "arrow":
            patch.setattr(
                lake_commit, "lake_files", lambda spark, location: ArrowLakeFiles(location)
            )
        yield request.param


def test_a_failed_write_leaves_every_month_as_it_was_and_a_rerun_completes_it(
    spark, files_kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = str(tmp_path / "lake")
    location = Path(table_location(lake, TABLE))
    write_months(_version(spark, MONTHS, 1), lake, TABLE)
    before = _read(spark, lake)
    assert _versions(before) == {month: (1, ROWS_PER_MONTH) for month in MONTHS}
    march = _files(location / "snapshot_date=2011-03-31")

    # a driver killed during the job cannot clean up: keep what the failed job left behind
    monkeypatch.setattr(lake_commit, "_remove_quietly", lambda files, folder: None)
    with pytest.raises(Exception, match="a task that fails after writing some rows"):
        write_months(_version(spark, MONTHS[:2], 2, failing_partition=3), lake, TABLE)
    monkeypatch.undo()
    assert len(list(location.glob("_staging-*"))) == 1
    assert _read(spark, lake).equals(before)
    assert _duckdb_read(location).select(before.columns).equals(before)

    # a driver stopped after the job wrote every file, before the write was committed
    def stop(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(lake_commit, "_remove_quietly", lambda files, folder: None)
    monkeypatch.setattr(lake_commit, "_commit", stop)
    with pytest.raises(KeyboardInterrupt):
        write_months(_version(spark, MONTHS[:2], 3), lake, TABLE)
    monkeypatch.undo()
    staged = [path for path in location.glob("_staging-*") if any(path.rglob("*.parquet"))]
    assert len(staged) == 1 and len(list(staged[0].glob("snapshot_date=*"))) == 2
    assert _read(spark, lake).equals(before)
    assert _duckdb_read(location).select(before.columns).equals(before)

    write_months(_version(spark, MONTHS[:2], 2), lake, TABLE)
    after = _read(spark, lake)
    assert _versions(after) == {
        MONTHS[0]: (2, ROWS_PER_MONTH),
        MONTHS[1]: (2, ROWS_PER_MONTH),
        MONTHS[2]: (1, ROWS_PER_MONTH),
    }
    # the month the write did not hold kept its files; the stale staging is gone
    assert _files(location / "snapshot_date=2011-03-31") == march
    assert sorted(path.name for path in location.iterdir()) == [
        "_schema",
        *(f"snapshot_date={month}" for month in MONTHS),
    ]


def test_a_write_stopped_between_its_renames_is_finished_by_the_next(
    spark, files_kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = str(tmp_path / "lake")
    location = Path(table_location(lake, TABLE))
    write_months(_version(spark, MONTHS, 1), lake, TABLE)
    rename = LakeFiles.rename

    def stop_before_february_is_in(self, source: str, target: str) -> None:
        # February's old folder was moved out: the driver stops before the new one moves in
        if "_staging-" in source and target.endswith("snapshot_date=2011-02-28"):
            raise LakeWriteError("the driver stopped")
        rename(self, source, target)

    monkeypatch.setattr(LakeFiles, "rename", stop_before_february_is_in)
    with pytest.raises(LakeWriteError, match="the driver stopped"):
        write_months(_version(spark, MONTHS[:2], 2), lake, TABLE)
    monkeypatch.undo()
    # January is new, February is out of place (in no mixed state), March untouched
    assert sorted(path.name for path in location.glob("snapshot_date=*")) == [
        "snapshot_date=2011-01-31",
        "snapshot_date=2011-03-31",
    ]
    assert _versions(_read(spark, lake)) == {
        MONTHS[0]: (2, ROWS_PER_MONTH),
        MONTHS[2]: (1, ROWS_PER_MONTH),
    }
    # the serving publish refuses a table in that state rather than publish it without February
    with pytest.raises(LakeWriteError, match="interrupted while its months were being put"):
        _duckdb_read(location)

    done = recover_table(spark, str(location))
    assert len(done) == 1 and done[0].startswith("finished the interrupted write _staging-")
    assert _versions(_read(spark, lake)) == {
        MONTHS[0]: (2, ROWS_PER_MONTH),
        MONTHS[1]: (2, ROWS_PER_MONTH),
        MONTHS[2]: (1, ROWS_PER_MONTH),
    }
    assert _duckdb_read(location).equals(_read(spark, lake).select(_duckdb_read(location).columns))
    assert not list(location.glob("_staging-*")) and not list(location.glob("_replaced-*"))


def test_a_table_written_whole_drops_the_months_it_no_longer_holds(
    spark, files_kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyspark.sql import DataFrameReader

    lake = str(tmp_path / "lake")
    location = Path(table_location(lake, TABLE))
    write_table(_version(spark, MONTHS, 1), lake, TABLE)
    write_table(_version(spark, MONTHS[1:2], 2), lake, TABLE)
    assert _versions(_read(spark, lake)) == {MONTHS[1]: (2, ROWS_PER_MONTH)}

    write_table(spark.createDataFrame([], SCHEMA), lake, TABLE)
    assert not list(location.glob("snapshot_date=*"))
    # the paths read: Spark warns "All paths were ignored" when every one is named "_..."
    read = DataFrameReader.parquet
    paths: list[str] = []

    def recorded(reader: DataFrameReader, *given: str, **options: object) -> object:
        paths.extend(given)
        return read(reader, *given, **options)

    monkeypatch.setattr(DataFrameReader, "parquet", recorded)
    empty = read_table(spark, lake, TABLE)
    monkeypatch.undo()
    assert paths and not any(Path(path).name.startswith(("_", ".")) for path in paths)
    assert empty.count() == 0
    assert sorted(empty.columns) == sorted(["snapshot_date", "customer_id", "priority", "budget"])
    # DuckDB reads the empty table with its columns in order, and their types
    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA marts")
        create_lake_view(con, TABLE, location)
        described = con.execute(f"DESCRIBE {TABLE}").fetchall()
    assert [(row[0], row[1]) for row in described] == [
        ("snapshot_date", "DATE"),
        ("customer_id", "VARCHAR"),
        ("priority", "BIGINT"),
        ("budget", "DOUBLE"),
    ]


def test_a_month_of_the_write_without_rows_is_emptied_and_the_others_stay(
    spark, tmp_path: Path
) -> None:
    """A run's month that now computes to nothing keeps no rows of the earlier run (as the
    DuckDB engine's delete-then-insert of the month); a month outside the write stays."""
    lake = str(tmp_path / "lake")
    write_months(_version(spark, MONTHS, 1), lake, TABLE)
    write_months(_version(spark, MONTHS[1:2], 2), lake, TABLE, months=MONTHS[1:])
    assert _versions(_read(spark, lake)) == {
        MONTHS[0]: (1, ROWS_PER_MONTH),
        MONTHS[1]: (2, ROWS_PER_MONTH),
    }
    # without ``months``, a month the frame does not hold is not touched
    write_months(_version(spark, MONTHS[1:2], 3), lake, TABLE)
    assert set(_versions(_read(spark, lake))) == set(MONTHS[:2])


@pytest.mark.parametrize(("interrupted", "finisher"), [("hadoop", "arrow"), ("arrow", "hadoop")])
def test_either_file_client_finishes_the_others_interrupted_write(
    spark, interrupted: str, finisher: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A committed write with a whole table beside its months (a landing's), stopped between
    its renames by one client, is finished by the other: the commit's table location, a text
    file, reads the same in both; no checksum file of Hadoop's is taken for a partition."""
    lake = str(tmp_path / "lake")
    location = table_location(lake, TABLE)
    other = table_location(lake, "raw.products")
    clients = {
        "hadoop": lambda spark, folder: HadoopLakeFiles(spark, folder),
        "arrow": lambda spark, folder: ArrowLakeFiles(folder),
    }
    monkeypatch.setattr(lake_commit, "lake_files", clients[interrupted])
    write_months(_version(spark, MONTHS, 1), lake, TABLE)
    rename = LakeFiles.rename

    def stop_before_the_table(self, source: str, target: str) -> None:
        if source.endswith("/_table"):
            raise LakeWriteError("the driver stopped")
        rename(self, source, target)

    monkeypatch.setattr(LakeFiles, "rename", stop_before_the_table)
    with pytest.raises(LakeWriteError, match="the driver stopped"):
        lake_commit.write_atomically(
            _version(spark, MONTHS[:1], 2),
            location,
            "snapshot_date",
            replace_all=False,
            table=(_version(spark, MONTHS[1:2], 7), other),
        )
    monkeypatch.setattr(LakeFiles, "rename", rename)
    assert not Path(other).exists()

    monkeypatch.setattr(lake_commit, "lake_files", clients[finisher])
    done = recover_table(spark, location)
    assert len(done) == 1 and done[0].startswith("finished the interrupted write _staging-")
    assert _versions(_read(spark, lake)) == {
        MONTHS[0]: (2, ROWS_PER_MONTH),
        MONTHS[1]: (1, ROWS_PER_MONTH),
        MONTHS[2]: (1, ROWS_PER_MONTH),
    }
    table = pl.from_arrow(spark.read.parquet(other).toArrow())
    assert isinstance(table, pl.DataFrame)
    assert table.get_column("priority").unique().to_list() == [7]
    assert table.height == ROWS_PER_MONTH
    assert sorted(
        path.name for path in Path(location).iterdir() if not path.name.startswith(".")
    ) == [
        "_schema",
        *(f"snapshot_date={month}" for month in MONTHS),
    ]


# ASCII, a NUL, two- and three-byte characters, and one beyond U+FFFF (two surrogates)
TEXTS = ["s3a://bucket/lake/raw/products", "", "a\x00b", "Zürich/Ærø", "日本/lake", "lake/🙂"]


@pytest.mark.parametrize("text", TEXTS)
def test_text_files_read_the_same_in_both_file_clients(spark, text: str, tmp_path: Path) -> None:
    """Java's writeUTF bytes: PyArrow's client reads what Hadoop's wrote, and the reverse."""
    hadoop = HadoopLakeFiles(spark, str(tmp_path))
    arrow = ArrowLakeFiles(str(tmp_path))
    hadoop.write_text(str(tmp_path / "by_hadoop"), text)
    arrow.write_text(str(tmp_path / "by_arrow"), text)
    assert (tmp_path / "by_hadoop").read_bytes() == (tmp_path / "by_arrow").read_bytes()
    assert arrow.read_text(str(tmp_path / "by_hadoop")) == text
    assert hadoop.read_text(str(tmp_path / "by_arrow")) == text
    # Hadoop's checksum file is beside its file, and hidden from both listings
    assert (tmp_path / ".by_hadoop.crc").exists()
    assert arrow.files(str(tmp_path)) == hadoop.files(str(tmp_path)) == ["by_arrow", "by_hadoop"]


def test_a_text_that_is_not_writeutfs_is_refused() -> None:
    assert from_java_utf(java_utf("lake")) == "lake"
    with pytest.raises(LakeWriteError, match="length is missing or too big"):
        from_java_utf(b"\x00\x09lake")
    with pytest.raises(LakeWriteError, match="byte 0xff"):
        from_java_utf(b"\x00\x01\xff")
    with pytest.raises(LakeWriteError, match="too long for writeUTF"):
        java_utf("x" * 70_000)


def test_the_arrow_client_maps_s3a_to_pyarrows_s3_and_reaches_local_paths(tmp_path: Path) -> None:
    """``s3a://`` is PyArrow's ``s3://``; a relative path and a ``file:`` URI are local."""
    assert ArrowLakeFiles._uri("s3a://bucket/lake") == "s3://bucket/lake"
    assert ArrowLakeFiles._uri("file:/tmp/lake") == "file:///tmp/lake"
    local = ArrowLakeFiles(f"file:{tmp_path}")
    local.make_folder(f"file:{tmp_path}/a/b")
    assert local.folders(str(tmp_path)) == ["a"]
    local.rename(str(tmp_path / "a"), f"file:{tmp_path}/c")
    assert local.folders(f"file:{tmp_path}") == ["c"] and (tmp_path / "c" / "b").is_dir()
    with pytest.raises(LakeWriteError, match="it exists"):
        local.rename(str(tmp_path / "c" / "b"), str(tmp_path / "c"))
    local.remove(str(tmp_path / "c"))
    local.remove(str(tmp_path / "never"))
    assert local.folders(str(tmp_path)) == []
