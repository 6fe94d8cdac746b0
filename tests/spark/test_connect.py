"""The Spark engine over Spark Connect (``spark.master: sc://host:port``), against a real
server: PySpark's own Spark Connect server (its pip package ships the jar), started in its own
process on a free port. The client here has no JVM: the lake's folders are moved with PyArrow,
the bucket counts come from the session's configuration, and the catalogue travels inside the
tasks. The tables equal the DuckDB engine's.

A process that made a Connect session is in Connect mode (PySpark's builder sends every later
session there), so each test's session leaves the process classic again when it stops, and
this module stays out of the shared reference unit (``tests/conftest.py``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pyspark
import pytest

from assets.spark import SparkEngine
from pipelines.build_definitions import build_definitions
from pipelines.jobs import SNAPSHOT_JOB_NAME
from segmentation.config import SegmentationConfig, load_config
from segmentation.engines.compare import frame_differences
from segmentation.engines.settings import SparkSettings
from segmentation.engines.spark.behaviour import customer_behaviour
from segmentation.engines.spark.categories import customer_categories
from segmentation.engines.spark.connect import is_connect, parallelism
from segmentation.engines.spark.lake import (
    export_raw,
    read_table,
    table_location,
    write_months,
    write_table,
)
from segmentation.engines.spark.preflight import SparkPreflightError
from segmentation.engines.spark.session import (
    CONNECT_MODE_VARIABLE,
    check_lake,
    spark_conf,
    start_session,
    stop_session,
)
from segmentation.engines.spark.source_uris import list_source_files, read_bytes
from segmentation.keys import BEHAVIOUR_TABLE
from segmentation.raw.source_files import SourceError
from tests.conftest import config_mapping, write_config_file
from tests.spark.conftest import TEST_JAVA_OPTIONS
from tests.spark.equality import assert_same_table, serving_tables
from tests.spark.reference import behaviour_months, categories_months
from tests.spark.test_pipeline import TABLE_KEYS

pytestmark = pytest.mark.spark

SPARK_HOME = Path(pyspark.__file__).parent
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
# the server's start (a JVM, a SparkContext) takes about 10 s here; a busy machine, more
SERVER_START_SECONDS = 180
# the server's settings: two cores as the tests' classic session, no UI, few shuffle partitions,
# the JVM options of the tests' session
SERVER_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.session.timeZone": "UTC",
    "spark.connect.grpc.binding.address": "127.0.0.1",
    "spark.driver.extraJavaOptions": TEST_JAVA_OPTIONS,
}
MONTH = date(2011, 1, 31)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server on local[2], in its own process (its working folder a fresh one,
    not this process's); its URL."""
    folder = tmp_path_factory.mktemp("connect-server")
    port = _free_port()
    [jar] = (SPARK_HOME / "jars").glob("spark-connect_*.jar")
    conf = {**SERVER_CONF, "spark.connect.grpc.binding.port": str(port)}
    command = [str(SPARK_HOME / "bin" / "spark-submit"), "--master", "local[2]"]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    command += ["--class", SERVER_CLASS, str(jar)]
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in (CONNECT_MODE_VARIABLE, "SPARK_REMOTE")
    }
    # the server's Python workers run this environment's interpreter (the engine's packages)
    environment |= {"SPARK_HOME": str(SPARK_HOME), "PYSPARK_PYTHON": sys.executable}
    log = folder / "server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            command,
            cwd=folder,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not _answers(port):
            if server.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
                pytest.fail(f"the Spark Connect server did not start:\n{tail}")
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture
def connect(connect_server: str, tmp_path: Path) -> Iterator[object]:
    """A Spark Connect session on the server, started as the engine starts it; stopped after
    the test, the process classic again."""
    connect_mode_before = bool(os.environ.get(CONNECT_MODE_VARIABLE))
    session = start_session(SparkSettings(master=connect_server, lake=str(tmp_path / "lake")))
    try:
        yield session
    finally:
        stop_session(session, connect_mode_before)


def _polars(frame) -> pl.DataFrame:
    table = pl.from_arrow(frame.toArrow())
    assert isinstance(table, pl.DataFrame)
    return table


def test_behaviour_and_categories_over_connect_equal_the_duckdb_engines(
    connect, retail_catalogue, tmp_path: Path
) -> None:
    """A month of the real sample with its catalogue: the behaviour written into the lake
    (staged, committed and swapped from this process) and read back, and the categories (the
    catalogue inside the tasks), bit for bit the DuckDB engine's."""
    assert is_connect(connect) and not hasattr(connect, "sparkContext")
    # local[2] on the server: two buckets, as the classic session's cores
    assert parallelism(connect) == 2
    config, con = retail_catalogue
    lake = str(tmp_path / "lake")
    export_raw(con, lake, config)
    write_months(customer_behaviour(connect, lake, [MONTH], config), lake, BEHAVIOUR_TABLE)
    location = Path(table_location(lake, BEHAVIOUR_TABLE))
    assert sorted(path.name for path in location.iterdir()) == [
        "_schema",
        f"snapshot_date={MONTH}",
    ]
    [expected] = behaviour_months(con, [MONTH], config)
    assert expected.height > 1_000
    actual = _polars(read_table(connect, lake, BEHAVIOUR_TABLE)).select(expected.columns)
    assert_same_table(actual, expected)

    [expected_categories] = categories_months(con, [MONTH], config)
    categories = _polars(customer_categories(connect, lake, [MONTH], config))
    assert expected_categories.height > 1_000
    keys = ["snapshot_date", "customer_id", "category"]
    assert frame_differences(categories, expected_categories, keys) == []
    assert categories.sort(keys).equals(expected_categories.sort(keys))


def test_a_table_without_rows_is_read_from_its_schema_over_connect(connect, tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    table = "marts.strategy_assignments"
    empty = connect.createDataFrame([], "snapshot_date date, customer_id string, budget double")
    write_table(empty, lake, table)
    read = read_table(connect, lake, table)
    assert read.count() == 0
    assert sorted(read.columns) == ["budget", "customer_id", "snapshot_date"]


def test_a_lake_the_client_cannot_reach_stops_before_any_write(
    connect, connect_server: str, tmp_path: Path
) -> None:
    """Under Spark Connect this process moves the lake's folders: a lake it cannot reach, or
    one that is another place for the server, is refused with what to do."""
    with pytest.raises(SparkPreflightError) as unreachable:
        # PyArrow's HDFS client needs libhdfs and a JVM, which this process lacks
        check_lake(connect, "hdfs://127.0.0.1:1/lake")
    assert "cannot be reached from this process" in str(unreachable.value)
    assert "give it the same access as the server" in str(unreachable.value)

    # a relative path: the server resolves it in its own working folder, not this one's
    relative = f"lake-{tmp_path.name}"
    with pytest.raises(SparkPreflightError, match="is not the same place for this process"):
        check_lake(connect, relative)
    assert not Path(relative).exists()
    check_lake(connect, str(tmp_path / "lake"))
    assert not list((tmp_path / "lake").iterdir())


def test_the_resource_starts_a_connect_session_and_leaves_the_process_classic(
    connect_server: str, tmp_path: Path
) -> None:
    """dagster-pyspark's builder with ``spark.remote``: a Connect session for the run's steps,
    stopped when the run ends."""
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    @dg.asset
    def computed_on_spark(spark: SparkEngine) -> dg.MaterializeResult:
        session = spark.spark_session
        rows = session.range(1000).selectExpr("sum(id) AS total").collect()
        return dg.MaterializeResult(
            metadata={"total": rows[0]["total"], "connect": is_connect(session)}
        )

    settings = SparkSettings(master=connect_server, lake=str(tmp_path / "lake"))
    engine = SparkEngine(spark_config=spark_conf(settings), lake=settings.lake)
    connect_mode_before = bool(os.environ.get(CONNECT_MODE_VARIABLE))
    result = dg.materialize([computed_on_spark], resources={"spark": engine})
    assert result.success
    [materialization] = [
        event.materialization for event in result.get_asset_materialization_events()
    ]
    assert materialization.metadata["total"].value == sum(range(1000))
    assert materialization.metadata["connect"].value is True
    assert ConnectSession.getActiveSession() is None
    assert bool(os.environ.get(CONNECT_MODE_VARIABLE)) == connect_mode_before


def test_a_connect_session_beside_a_classic_one(spark, connect_server: str, tmp_path: Path) -> None:
    """A process running a classic session (a notebook's, the tests') gets a Connect session for
    an ``sc://`` master too (PySpark's generic builder refuses it), and its classic session
    works again once the Connect one stopped."""
    connect_mode_before = bool(os.environ.get(CONNECT_MODE_VARIABLE))
    session = start_session(SparkSettings(master=connect_server, lake=str(tmp_path / "lake")))
    try:
        assert is_connect(session) and not is_connect(spark)
        assert session.range(5).selectExpr("sum(id) AS total").collect()[0]["total"] == 10
    finally:
        stop_session(session, connect_mode_before)
    assert spark.range(3).selectExpr("sum(id) AS total").collect()[0]["total"] == 3


def _pipeline_config(folder: Path, **overrides: object) -> SegmentationConfig:
    folder.mkdir(parents=True, exist_ok=True)
    raw = config_mapping(snapshots={"start": "2010-12", "end": "2011-02"}, **overrides)
    return load_config(write_config_file(folder, raw))


@pytest.mark.bench
def test_the_pipeline_over_connect_equals_the_duckdb_engines(
    connect_server: str, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    """The snapshot job on two months of the real sample (one run, so the evaluation has a
    pair): landed, computed and checked on the Spark Connect server, the serving copy
    published from the lake. Every features and marts table equals the DuckDB run's, and so do
    the serving copies."""
    tags = {
        "dagster/asset_partition_range_start": "2011-01",
        "dagster/asset_partition_range_end": "2011-02",
    }
    runs = {}
    seconds = {}
    connect_mode_before = bool(os.environ.get(CONNECT_MODE_VARIABLE))
    for engine in ("duckdb", "spark"):
        overrides: dict[str, object] = {}
        if engine == "spark":
            overrides = {
                "engine": "spark",
                "spark": {"master": connect_server, "lake": "lake"},
            }
        config = _pipeline_config(tmp_path / engine, **overrides)
        job = build_definitions(config).resolve_job_def(SNAPSHOT_JOB_NAME)
        started = time.monotonic()
        result = job.execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), tags=tags, raise_on_error=False
        )
        seconds[engine] = round(time.monotonic() - started, 1)
        failures = [
            f"{event.step_key}: {event.event_specific_data.error.message}"
            for event in result.all_events
            if event.event_type == dg.DagsterEventType.STEP_FAILURE
        ]
        assert result.success, (engine, failures)
        runs[engine] = config
    record_property("seconds", seconds)
    assert bool(os.environ.get(CONNECT_MODE_VARIABLE)) == connect_mode_before

    # the lake is read here by a classic-free path: DuckDB over the lake's Parquet files
    lake = runs["spark"].spark.lake
    assert lake is not None
    for table, keys in TABLE_KEYS.items():
        with duckdb.connect(str(runs["duckdb"].warehouse), read_only=True) as con:
            expected = con.execute(f"SELECT * FROM {table}").pl()
        actual = _lake_table(lake, table)
        assert sorted(actual.columns) == sorted(expected.columns), table
        assert frame_differences(actual.select(expected.columns), expected, keys) == [], table
    segments = _lake_table(lake, "marts.customer_segments")
    assert segments.get_column("snapshot_date").n_unique() == 2
    assert _lake_table(lake, "marts.segment_migration").height > 0

    expected_serving = serving_tables(runs["duckdb"].serving)
    actual_serving = serving_tables(runs["spark"].serving)
    assert actual_serving.keys() == expected_serving.keys()
    for table, (columns, frame) in expected_serving.items():
        assert actual_serving[table][0] == columns, table
        keys = TABLE_KEYS[f"marts.{table}"]
        assert frame_differences(actual_serving[table][1], frame, keys) == [], table


def _lake_table(lake: str, table: str) -> pl.DataFrame:
    """A lake table as the serving publish reads it (DuckDB over its Parquet files)."""
    from segmentation.engines.spark.lake_serving import create_lake_view

    with duckdb.connect() as con:
        con.execute(f"CREATE SCHEMA {table.split('.')[0]}")
        create_lake_view(con, table, Path(table_location(lake, table)))
        return con.execute(f"SELECT * FROM {table}").pl()


def test_a_uri_source_over_connect_is_refused_with_what_to_do(connect, tmp_path: Path) -> None:
    """A URI source is listed and read through the driver's Hadoop file system, which a
    Connect session does not have here: a clear refusal before any task, not a missing
    attribute."""
    (tmp_path / "a.csv").write_text("customer_id\nc1\n")
    with pytest.raises(SourceError, match="Spark Connect session does not have here"):
        list_source_files(connect, "transactions", f"file://{tmp_path}/*.csv")
    with pytest.raises(SourceError, match="with an sc:// master give sources as paths"):
        read_bytes(connect, f"file://{tmp_path}/a.csv", 0, 4)
