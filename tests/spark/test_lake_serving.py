"""The serving copy published from the lake equals the DuckDB engine's: the DuckDB engine runs
two months of the real sample, its marts are written into the lake by Spark (as the Spark
engine's assets will write them), and both are published; every table has the same columns,
types, comments and rows. A publish that fails leaves the previous copy as it was."""

import hashlib
from pathlib import Path

import duckdb
import polars as pl
import pytest

from segmentation.config import SegmentationConfig, load_config
from segmentation.engines.spark.lake import export_raw, table_location, write_months, write_table
from segmentation.engines.spark.lake_commit import LakeWriteError
from segmentation.engines.spark.lake_serving import lake_summary, publish_lake
from segmentation.serving.dictionary import MART_CONTRACTS, MARTS_SCHEMA
from segmentation.serving.marker import read_marker
from segmentation.serving.publish import publish_marts
from tests.conftest import config_mapping, write_config_file
from tests.e2e.test_pipeline import materialize

pytestmark = pytest.mark.spark

PARTITIONS = ["2011-02", "2011-03"]
SECRET = b"lake-serving-test-secret"
# the tables of one month (written month by month) and those recomputed whole each run
MONTHLY = {"clv_model_params", "customer_segments", "segment_summary", "strategy_assignments"}
PARTITION_COLUMNS = {"segment_migration": "to_snapshot"}


@pytest.fixture(scope="module")
def duckdb_run(tmp_path_factory: pytest.TempPathFactory) -> SegmentationConfig:
    """The DuckDB engine's warehouse after two monthly runs of the real sample."""
    folder = tmp_path_factory.mktemp("duckdb_run")
    config = load_config(write_config_file(folder, config_mapping()))
    for partition in PARTITIONS:
        assert materialize(config, partition).success
    return config


def _write_lake(spark, config: SegmentationConfig, lake: str, folder: Path) -> None:
    """Every marts table of the warehouse into the lake, through Spark."""
    folder.mkdir()
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        for table in MART_CONTRACTS:
            path = folder / f"{table}.parquet"
            con.execute(f"COPY {MARTS_SCHEMA}.{table} TO '{path}' (FORMAT parquet)")
            frame = spark.read.parquet(str(path))
            column = PARTITION_COLUMNS.get(table, "snapshot_date")
            write = write_months if table in MONTHLY else write_table
            write(frame, lake, f"{MARTS_SCHEMA}.{table}", column)


def _tables(path: Path) -> dict[str, tuple[list[tuple], pl.DataFrame]]:
    """Each table of a serving copy: its columns with types and comments, and its rows."""
    tables = {}
    with duckdb.connect(str(path), read_only=True) as con:
        for table in MART_CONTRACTS:
            columns = con.execute(
                "SELECT column_name, data_type, comment FROM duckdb_columns() "
                "WHERE schema_name = 'marts' AND table_name = $table ORDER BY column_index",
                {"table": table},
            ).fetchall()
            rows = con.execute(f"SELECT * FROM marts.{table}").pl()
            tables[table] = (columns, rows.sort(rows.columns, nulls_last=True))
    return tables


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_serving_copy_from_the_lake_equals_the_duckdb_engines(
    spark, duckdb_run: SegmentationConfig, tmp_path: Path
) -> None:
    lake = str(tmp_path / "lake")
    _write_lake(spark, duckdb_run, lake, tmp_path / "export")
    tables = list(MART_CONTRACTS)
    from_warehouse = tmp_path / "warehouse_serving.duckdb"
    with duckdb.connect(str(duckdb_run.warehouse)) as con:
        publish_marts(con, from_warehouse, tables, secret=SECRET)
    from_lake = tmp_path / "lake_serving.duckdb"
    result = publish_lake(lake, from_lake, tables, secret=SECRET)

    expected, actual = _tables(from_warehouse), _tables(from_lake)
    assert expected["customer_segments"][1].height > 3_000  # two months
    assert expected["satisfaction_summary"][1].height == 0  # no feedback: written empty
    assert expected["segment_migration"][1].height > 0
    for table in tables:
        assert actual[table][0] == expected[table][0], table
        assert actual[table][1].equals(expected[table][1]), table
    # the same content, so the same fingerprint, and the marker the next publish checks
    assert result.pseudonymized
    with duckdb.connect(str(from_lake), read_only=True) as con:
        marker = read_marker(con)
    assert marker is not None and marker.fingerprint.digest() == result.fingerprint
    with duckdb.connect(str(from_warehouse), read_only=True) as con:
        assert read_marker(con).fingerprint.tables == marker.fingerprint.tables


def test_a_failed_publish_from_the_lake_leaves_the_previous_copy(
    spark, duckdb_run: SegmentationConfig, tmp_path: Path
) -> None:
    lake = str(tmp_path / "lake")
    _write_lake(spark, duckdb_run, lake, tmp_path / "export")
    target = tmp_path / "serving.duckdb"
    tables = list(MART_CONTRACTS)
    publish_lake(lake, target, tables)
    before = _digest(target)

    # a data file of the last table read is broken: the copy fails half way through
    location = Path(table_location(lake, f"{MARTS_SCHEMA}.strategy_assignments"))
    broken = sorted(location.glob("snapshot_date=*/*.parquet"))[-1]
    broken.write_bytes(b"not parquet")
    with pytest.raises(duckdb.Error):
        publish_lake(lake, target, tables)
    assert _digest(target) == before
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".serving")] == []

    # a table whose write was committed but not put in place is not published
    (location / "_staging-0" / "_commit").mkdir(parents=True)
    with pytest.raises(LakeWriteError, match="interrupted"):
        publish_lake(lake, target, tables)
    # nor a table the lake does not hold
    with pytest.raises(ValueError, match="holds no table written by the Spark engine"):
        publish_lake(lake, target, ["customer_segments", "not_written"])
    assert _digest(target) == before


def test_a_lake_given_as_a_uri_is_published_and_summarised_through_spark(
    spark, duckdb_run: SegmentationConfig, tmp_path: Path
) -> None:
    # a file: URI goes through Spark's Hadoop file system as s3a:// or hdfs:// would
    lake = tmp_path / "lake"
    _write_lake(spark, duckdb_run, str(lake), tmp_path / "export")
    with duckdb.connect(str(duckdb_run.warehouse), read_only=True) as con:
        export_raw(con, str(lake))
    tables = list(MART_CONTRACTS)
    local, through_spark = tmp_path / "local.duckdb", tmp_path / "spark.duckdb"
    expected = publish_lake(str(lake), local, tables, secret=SECRET)
    result = publish_lake(f"file://{lake}", through_spark, tables, secret=SECRET, spark=spark)
    assert result.fingerprint == expected.fingerprint
    before, after = _tables(local), _tables(through_spark)
    for table in tables:
        assert after[table][0] == before[table][0], table
        assert after[table][1].equals(before[table][1]), table
    summary = lake_summary(str(lake))
    assert summary is not None and len(summary) >= 5
    assert lake_summary(f"file://{lake}", spark=spark) == summary
    assert lake_summary(f"file://{tmp_path}/no-lake", spark=spark) is None

    with pytest.raises(ValueError, match="needs the Spark session"):
        publish_lake("s3a://bucket/lake", through_spark, tables)
    location = Path(table_location(str(lake), f"{MARTS_SCHEMA}.strategy_assignments"))
    (location / "_staging-0" / "_commit").mkdir(parents=True)
    with pytest.raises(LakeWriteError, match="interrupted"):
        publish_lake(f"file://{lake}", through_spark, tables, spark=spark)
