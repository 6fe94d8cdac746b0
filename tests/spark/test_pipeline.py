"""The Dagster pipeline with ``engine: spark``: the snapshot job run as one single-run backfill
of three months on the committed real sample, once per engine. Every features and marts table
the Spark run leaves in the lake equals the DuckDB run's warehouse table, the two serving
copies hold the same tables, and each month's materialization reports its own rows. A stage
whose tasks break the contract fails before the lake's commit: the lake and the serving copy
keep the previous run's months, and a re-run completes them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pandera.polars as pa
import polars as pl
import pyarrow as pa_arrow
import pytest
from rich.console import Console

from assets.monthly import ContractViolation, MonthlyTable
from assets.spark_monthly import (
    FAILURE_COUNTS,
    BatchContractError,
    CountFailures,
    ValidateBatches,
    spark_frame,
    write_checked,
)
from pipelines.build_definitions import build_definitions
from pipelines.jobs import SNAPSHOT_JOB_NAME
from pipelines.summary import print_summary
from segmentation.config import SegmentationConfig, load_config
from segmentation.engines.compare import frame_differences
from segmentation.engines.spark.lake import read_table
from segmentation.segments.contracts import CustomerSegmentsContract
from tests.conftest import config_mapping, write_config_file
from tests.spark.catalogue_lake import CATALOGUE, PRODUCT_COLUMNS
from tests.spark.equality import serving_tables
from tests.spark.marts_lake import duckdb_marts

pytestmark = pytest.mark.spark

MONTHS = ["2011-01", "2011-02", "2011-03"]
RANGE_TAGS = {
    "dagster/asset_partition_range_start": MONTHS[0],
    "dagster/asset_partition_range_end": MONTHS[-1],
}
# the session the Spark tests share: two cores, no UI, few shuffle partitions
SPARK_KEYS = {
    "master": "local[2]",
    "lake": "lake",
    "conf": {"spark.ui.enabled": False, "spark.sql.shuffle.partitions": 4},
}
CUSTOMER = ["snapshot_date", "customer_id"]
SEGMENT = ["snapshot_date", "dimension", "segment"]
# every features and marts table the job writes, and the columns that identify its rows
TABLE_KEYS = {
    "features.customer_behaviour": CUSTOMER,
    "features.customer_engagement": CUSTOMER,
    "features.customer_categories": [*CUSTOMER, "category"],
    "features.customer_clv": CUSTOMER,
    "features.customer_features": CUSTOMER,
    "marts.clv_model_params": ["snapshot_date", "model", "parameter"],
    "marts.customer_segments": CUSTOMER,
    "marts.segment_summary": SEGMENT,
    "marts.strategy_assignments": CUSTOMER,
    "marts.segment_migration": [
        "from_snapshot",
        "to_snapshot",
        "dimension",
        "from_segment",
        "to_segment",
    ],
    "marts.segment_outcomes": SEGMENT,
    "marts.strategy_effect": ["snapshot_date", "strategy"],
    "marts.satisfaction_summary": SEGMENT,
    "marts.clv_backtest": ["snapshot_date"],
}
MONTHLY = [
    "features.customer_behaviour",
    "features.customer_clv",
    "features.customer_features",
    "marts.clv_model_params",
    "marts.customer_segments",
    "marts.segment_summary",
    "marts.strategy_assignments",
]


@dataclass(frozen=True)
class Run:
    """One engine's run of the snapshot job: its config, instance and wall time."""

    config: SegmentationConfig
    instance: dg.DagsterInstance
    result: dg.ExecuteInProcessResult
    seconds: float


def _config(folder: Path, **overrides: object) -> SegmentationConfig:
    folder.mkdir(parents=True, exist_ok=True)
    raw = config_mapping(snapshots={"start": "2010-12", "end": MONTHS[-1]}, **overrides)
    # the sample's catalogue: category mixes, uncatalogued transactions, next best categories
    raw["sources"]["products"] = {
        "path": str(CATALOGUE),
        "columns": {name: name for name in PRODUCT_COLUMNS},
    }
    return load_config(write_config_file(folder, raw))


def _run_job(
    config: SegmentationConfig,
    instance: dg.DagsterInstance,
    tags: dict[str, str] | None = None,
    partition_key: str | None = None,
    selection: list[dg.AssetKey] | None = None,
) -> tuple[dg.ExecuteInProcessResult, float]:
    job = build_definitions(config).resolve_job_def(SNAPSHOT_JOB_NAME)
    started = time.monotonic()
    result = job.execute_in_process(
        instance=instance,
        tags=tags,
        partition_key=partition_key,
        asset_selection=selection,
        raise_on_error=False,
    )
    return result, time.monotonic() - started


@pytest.fixture(scope="module")
def runs(spark, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """The three months as one run with each engine (the Spark run on the tests' session)."""
    done = {}
    for engine in ("duckdb", "spark"):
        folder = tmp_path_factory.mktemp(f"pipeline_{engine}")
        overrides = {"engine": "spark", "spark": SPARK_KEYS} if engine == "spark" else {}
        config = _config(folder, **overrides)
        instance = dg.DagsterInstance.ephemeral()
        result, seconds = _run_job(config, instance, RANGE_TAGS)
        assert result.success, (engine, _step_failures(result))
        done[engine] = Run(config, instance, result, seconds)
    return done


def _step_failures(result: dg.ExecuteInProcessResult) -> list[str]:
    return [
        f"{event.step_key}: {event.event_specific_data.error.message}"
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.STEP_FAILURE
    ]


def _lake(config: SegmentationConfig) -> str:
    assert config.spark.lake is not None
    return config.spark.lake


def _lake_table(spark, config: SegmentationConfig, table: str) -> pl.DataFrame:
    frame = pl.from_arrow(read_table(spark, _lake(config), table).toArrow())
    assert isinstance(frame, pl.DataFrame)
    return frame


def _warehouse_table(path: Path, table: str) -> pl.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(f"SELECT * FROM {table}").pl()


@pytest.mark.long
def test_every_table_of_the_spark_run_equals_the_duckdb_runs(
    spark, runs: dict[str, Run], record_property: pytest.RecordProperty
) -> None:
    expected_run, actual_run = runs["duckdb"], runs["spark"]
    record_property("seconds", {engine: round(run.seconds, 1) for engine, run in runs.items()})
    for table, keys in TABLE_KEYS.items():
        expected = _warehouse_table(expected_run.config.warehouse, table)
        actual = _lake_table(spark, actual_run.config, table)
        # Spark reads a table's partition column last; the serving copy restores the order
        assert sorted(actual.columns) == sorted(expected.columns), table
        assert frame_differences(actual.select(expected.columns), expected, keys) == [], table
    # the three months, and real work in them
    segments = _lake_table(spark, actual_run.config, "marts.customer_segments")
    assert segments.get_column("snapshot_date").n_unique() == len(MONTHS)
    assert _lake_table(spark, actual_run.config, "marts.segment_migration").height > 0


@pytest.mark.long
def test_the_serving_copies_hold_the_same_tables(runs: dict[str, Run]) -> None:
    expected = serving_tables(runs["duckdb"].config.serving)
    actual = serving_tables(runs["spark"].config.serving)
    assert actual.keys() == expected.keys()
    for table, (columns, frame) in expected.items():
        assert actual[table][0] == columns, table
        keys = TABLE_KEYS[f"marts.{table}"]
        assert frame_differences(actual[table][1], frame, keys) == [], table


def _materializations(instance: dg.DagsterInstance, table: str) -> list[dg.AssetMaterialization]:
    key = dg.AssetKey(table.split("."))
    records = instance.fetch_materializations(key, limit=100).records
    return [record.asset_materialization for record in records]


@pytest.mark.long
def test_each_month_reports_its_own_rows(runs: dict[str, Run]) -> None:
    """Both engines give each partition's materialization that month's row count."""
    for engine, run in runs.items():
        for table in MONTHLY:
            rows = _warehouse_rows(runs["duckdb"].config.warehouse, table)
            events = _materializations(run.instance, table)
            by_month = {event.partition: event.metadata for event in events}
            assert sorted(by_month) == MONTHS, (engine, table)
            for month, metadata in by_month.items():
                assert metadata["dagster/row_count"].value == rows[month], (engine, table, month)
    # the per-month count tables of the DuckDB path, aggregated by Spark
    [january] = [
        event.metadata
        for event in _materializations(runs["spark"].instance, "marts.customer_segments")
        if event.partition == MONTHS[0]
    ]
    assert {"rfm_segments", "clusters", "snapshot_date"} <= set(january)


def _shape(value: dg.MetadataValue) -> object:
    """What a metadata value is, not what it holds: its kind, and for a table its columns and
    the types each column's values take."""
    if isinstance(value, dg.TableMetadataValue):
        columns = tuple((column.name, column.type) for column in value.schema.columns)
        types = {
            (name, type(field).__name__)
            for record in value.records
            for name, field in record.data.items()
            if field is not None
        }
        return ("table", columns, frozenset(types))
    return type(value).__name__


def _metadata_shapes(instance: dg.DagsterInstance) -> dict[tuple, dict[str, object]]:
    """Every materialization's metadata keys and value shapes, by asset and partition."""
    shapes: dict[tuple, dict[str, object]] = {}
    for key in instance.get_asset_keys():
        for record in instance.fetch_materializations(key, limit=100).records:
            event = record.asset_materialization
            assert event is not None
            shapes[(key.to_user_string(), event.partition)] = {
                name: _shape(value) for name, value in event.metadata.items()
            }
    return shapes


@pytest.mark.long
def test_every_materialization_has_the_duckdb_runs_metadata_names_and_types(
    runs: dict[str, Run],
) -> None:
    """A Dagster user sees the same metadata names, with values of the same types, on both
    engines: every asset and month (the count tables' labels too, the previews)."""
    expected = _metadata_shapes(runs["duckdb"].instance)
    actual = _metadata_shapes(runs["spark"].instance)
    assert sorted(actual) == sorted(expected)
    gaps = {
        where: {
            name: (expected[where].get(name), actual[where].get(name))
            for name in expected[where].keys() | actual[where].keys()
            if expected[where].get(name) != actual[where].get(name)
        }
        for where in expected
    }
    assert {where: gap for where, gap in gaps.items() if gap} == {}


def _warehouse_rows(path: Path, table: str) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            f"SELECT strftime(snapshot_date, '%Y-%m'), count(*) FROM {table} GROUP BY ALL"
        ).fetchall()
    return dict(rows)


class NoClvContract(CustomerSegmentsContract):
    """The segments' contract with a check every real month breaks: no CLV at all."""

    clv_12m: pl.Float64 = pa.Field(nullable=True, lt=0)


@pytest.mark.long
def test_a_contract_violation_in_the_tasks_leaves_the_lake_and_serving_copy(
    spark, runs: dict[str, Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The segments of one month break the contract inside Spark's tasks: the run fails with
    the check's name and counts (no customer's value), the lake's segments and the serving
    copy are the previous run's, and the same partition re-run completes."""
    import assets.segments.assets as segment_assets

    run = runs["spark"]
    before = _lake_table(spark, run.config, "marts.customer_segments")
    served = run.config.serving.read_bytes()
    selection = [
        dg.AssetKey(["marts", "customer_segments"]),
        dg.AssetKey(["marts", "segment_summary"]),
        dg.AssetKey(["serving", "marts"]),
    ]
    monkeypatch.setattr(segment_assets, "CustomerSegmentsContract", NoClvContract)
    failed, _ = _run_job(run.config, run.instance, partition_key=MONTHS[-1], selection=selection)
    assert not failed.success
    [failure] = [
        event for event in failed.all_events if event.event_type == dg.DagsterEventType.STEP_FAILURE
    ]
    message = str(failure.event_specific_data.error.message)
    assert "marts.customer_segments" in message and "NoClvContract" in message
    assert "clv_12m: less_than(0) failed" in message
    assert "nothing of the snapshots 2011-03-31 to 2011-03-31 was written" in message
    customers = set(before.get_column("customer_id").head(50).to_list())
    assert not any(customer in message for customer in customers)
    after = _lake_table(spark, run.config, "marts.customer_segments")
    assert frame_differences(after, before, CUSTOMER) == []
    assert run.config.serving.read_bytes() == served

    monkeypatch.undo()
    again, _ = _run_job(run.config, run.instance, partition_key=MONTHS[-1], selection=selection)
    assert again.success
    redone = _lake_table(spark, run.config, "marts.customer_segments")
    assert frame_differences(redone, before, CUSTOMER) == []


@pytest.mark.long
def test_a_key_repeated_across_tasks_fails_the_run_and_leaves_the_lake_and_serving_copy(
    spark, runs: dict[str, Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The segments of March gain three customers' rows again, from another task (the lake's
    earlier rows): no task sees the repeat, the check of the staged rows does. The run fails
    with the check and its count and no customer id; the lake's segments and the serving
    copy are the previous run's."""
    from dataclasses import replace

    from pyspark.sql import functions as F

    import segmentation.engines.spark.segments as spark_segments

    run = runs["spark"]
    before = _lake_table(spark, run.config, "marts.customer_segments")
    served = run.config.serving.read_bytes()
    march = date(2011, 3, 31)
    repeated = before.filter(pl.col("snapshot_date") == march).get_column("customer_id").head(3)
    compute = spark_segments.customer_segments

    def with_repeats(*args: object, **kwargs: object) -> spark_segments.SparkSegments:
        result = compute(*args, **kwargs)  # type: ignore[arg-type]
        earlier = read_table(spark, _lake(run.config), "marts.customer_segments").where(
            (F.col("snapshot_date") == march) & F.col("customer_id").isin(*repeated)
        )
        return replace(result, segments=result.segments.unionByName(earlier))

    monkeypatch.setattr(spark_segments, "customer_segments", with_repeats)
    selection = [
        dg.AssetKey(["marts", "customer_segments"]),
        dg.AssetKey(["marts", "segment_summary"]),
        dg.AssetKey(["serving", "marts"]),
    ]
    failed, _ = _run_job(run.config, run.instance, partition_key=MONTHS[-1], selection=selection)
    assert not failed.success
    [failure] = [
        event for event in failed.all_events if event.event_type == dg.DagsterEventType.STEP_FAILURE
    ]
    message = str(failure.event_specific_data.error.message)
    assert (
        "marts.customer_segments (snapshots 2011-03-31 to 2011-03-31) breaks "
        "CustomerSegmentsContract: CustomerSegmentsContract: multiple_fields_uniqueness failed "
        "6x; nothing of the snapshots 2011-03-31 to 2011-03-31 was written"
    ) in message
    # the message and the failure's metadata (table, snapshots): no customer of the month
    shown = message + repr(failure.event_specific_data.user_failure_data)
    assert not any(customer in shown for customer in before.get_column("customer_id"))
    after = _lake_table(spark, run.config, "marts.customer_segments")
    assert frame_differences(after, before, CUSTOMER) == []
    assert run.config.serving.read_bytes() == served


def test_the_definitions_are_the_same_with_either_engine(tmp_path: Path) -> None:
    """The same assets, groups, partitions, checks, job, schedule and sensor; the Spark
    path's kinds add spark, and it has the session resource and the lake's IO manager."""
    duck = build_definitions(_config(tmp_path / "duckdb"))
    spark = build_definitions(_config(tmp_path / "spark", engine="spark", spark=SPARK_KEYS))
    duck_graph, spark_graph = duck.resolve_asset_graph(), spark.resolve_asset_graph()
    keys = duck_graph.get_all_asset_keys()
    assert spark_graph.get_all_asset_keys() == keys
    assert spark_graph.asset_check_keys == duck_graph.asset_check_keys
    for key in keys:
        expected, actual = duck_graph.get(key), spark_graph.get(key)
        assert actual.group_name == expected.group_name, key
        assert actual.partitions_def == expected.partitions_def, key
        assert actual.kinds == expected.kinds | {"spark"}, key
        assert actual.parent_keys == expected.parent_keys, key
    assert [job.name for job in spark.resolve_all_job_defs()] == [
        job.name for job in duck.resolve_all_job_defs()
    ]
    assert [s.name for s in spark.schedules or []] == [s.name for s in duck.schedules or []]
    assert [s.name for s in spark.sensors or []] == [s.name for s in duck.sensors or []]
    assert set(spark.resources or {}) == set(duck.resources or {}) | {"spark"}
    assert "spark" not in {kind for key in keys for kind in duck_graph.get(key).kinds}


def _segments_batch(retail) -> pa_arrow.RecordBatch:
    """The DuckDB engine's segments of the real sample's January 2011, one Arrow batch, as a
    Spark task holds them."""
    config, con = retail
    month = duckdb_marts(con, [date(2011, 1, 31)], config).segments
    return month.to_arrow().combine_chunks().to_batches()[0]


def test_a_tasks_check_names_checks_and_counts_never_a_customer(retail) -> None:
    """What a task of the contract check raises and counts: the failed checks and how often,
    the snapshots; no customer id, no value (a duplicated key in the batch is caught)."""
    batch = _segments_batch(retail)
    table = pa_arrow.Table.from_batches([batch])
    doubled = pa_arrow.concat_tables([table, table.slice(0, 3)]).to_batches()
    check = ValidateBatches("marts.customer_segments", CustomerSegmentsContract, frozenset())
    assert list(check(iter([batch]))) == [batch]
    with pytest.raises(BatchContractError) as raised:
        list(check(iter(doubled)))
    message = str(raised.value)
    assert "marts.customer_segments (snapshots 2011-01-31 to 2011-01-31)" in message
    assert "breaks CustomerSegmentsContract" in message and "uniqueness failed" in message
    assert not any(customer in message for customer in table.column("customer_id").to_pylist())
    counted = pl.from_arrow(
        pa_arrow.Table.from_batches(
            list(CountFailures(NoClvContract, frozenset())(iter([batch]))), FAILURE_COUNTS
        )
    )
    assert isinstance(counted, pl.DataFrame)
    assert counted.columns == ["column", "check", "failures"]
    clv = counted.filter(pl.col("column") == "clv_12m")
    assert clv.get_column("failures").sum() > 0


def _summary_lines(config: SegmentationConfig) -> list[str]:
    console = Console(record=True, width=120)
    print_summary(config, console)
    return console.export_text().splitlines()


@pytest.mark.long
def test_the_run_summary_reads_the_lake_and_shows_what_the_duckdb_run_shows(
    runs: dict[str, Run], tmp_path: Path
) -> None:
    expected = _summary_lines(runs["duckdb"].config)
    actual = _summary_lines(runs["spark"].config)
    assert actual[0].startswith("Lake (engine: spark): ")
    # the paths differ; every section (rows landed, quarantine, segments, tiers ...) is the same
    assert actual[2:] == expected[2:]
    assert any("raw.transactions" in line for line in actual)
    never_ran = _config(tmp_path, engine="spark", spark=SPARK_KEYS)
    assert "The lake does not exist yet" in _summary_lines(never_ran)[-1]


@contextmanager
def _jobs_counted(spark) -> Iterator[list[int]]:
    """The Spark jobs started inside the block (their ids, filled in as it ends)."""
    group = f"counted-{time.monotonic_ns()}"
    context = spark.sparkContext
    context.setJobGroup(group, "counted")
    jobs: list[int] = []
    try:
        yield jobs
    finally:
        jobs.extend(context.statusTracker().getJobIdsForGroup(group))
        context.setLocalProperty("spark.jobGroup.id", None)


def test_a_key_repeated_across_tasks_stops_the_write_before_the_commit(
    spark, retail, tmp_path: Path
) -> None:
    """Three customers of January written twice, in another task than their first rows: no
    task sees a repeated key, the check of the staged rows does. The write fails with the
    contract's check and count and no customer, and the lake keeps the previous month; the
    same write without the repeat costs the same Spark jobs."""
    config, con = retail
    month = duckdb_marts(con, [date(2011, 1, 31)], config).segments
    lake = str(tmp_path / "lake")
    output = MonthlyTable("marts.customer_segments", CustomerSegmentsContract)
    snapshots = [date(2011, 1, 31)]
    with _jobs_counted(spark) as clean_jobs:
        written = write_checked(lake, spark_frame(spark, month), output, snapshots)
    assert written.rows == {date(2011, 1, 31): month.height}
    before = _read_lake(spark, lake, "marts.customer_segments")
    # a union keeps its inputs' partitions apart: the repeats are in tasks of their own
    repeated = spark_frame(spark, month).union(spark_frame(spark, month.head(3)))
    assert repeated.rdd.getNumPartitions() >= 2
    with pytest.raises(ContractViolation) as raised, _jobs_counted(spark) as failed_jobs:
        write_checked(lake, repeated, output, snapshots)
    message = str(raised.value.description)
    assert message == (
        "marts.customer_segments (snapshots 2011-01-31 to 2011-01-31) breaks "
        "CustomerSegmentsContract: CustomerSegmentsContract: multiple_fields_uniqueness "
        "failed 6x; nothing of the snapshots 2011-01-31 to 2011-01-31 was written"
    )
    shown = message + repr(raised.value.metadata)
    assert not any(customer in shown for customer in month.get_column("customer_id"))
    after = _read_lake(spark, lake, "marts.customer_segments")
    assert frame_differences(after, before, CUSTOMER) == []
    assert not [
        name
        for name in Path(lake, "marts", "customer_segments").iterdir()
        if name.name.startswith("_staging")
    ]
    # what the jobs ran (Spark's adaptive execution runs a query's shuffles as jobs of their
    # own): the staged rows and the schema file, then one query (collect) counting the
    # months' labels and the repeated keys together, then the preview (toArrow); the failed
    # write stops after the counts
    assert _actions(spark, clean_jobs) == {"parquet", "collect", "toArrow"}
    assert _actions(spark, failed_jobs) == {"parquet", "collect"}
    assert _call_sites(spark, clean_jobs, "collect") == _call_sites(spark, failed_jobs, "collect")
    assert len(_call_sites(spark, clean_jobs, "collect")) == 1


def _stage_names(spark, jobs: list[int]) -> set[str]:
    """The call sites of the jobs' stages ("collect at <file>:<line>")."""
    tracker = spark.sparkContext.statusTracker()
    names = set()
    for job in jobs:
        info = tracker.getJobInfo(job)
        assert info is not None
        names |= {stage.name for stage in map(tracker.getStageInfo, info.stageIds) if stage}
    return names


def _actions(spark, jobs: list[int]) -> set[str]:
    return {name.split(" at ")[0] for name in _stage_names(spark, jobs)}


def _call_sites(spark, jobs: list[int], action: str) -> set[str]:
    return {name for name in _stage_names(spark, jobs) if name.startswith(f"{action} at ")}


def _read_lake(spark, lake: str, table: str) -> pl.DataFrame:
    frame = pl.from_arrow(read_table(spark, lake, table).toArrow())
    assert isinstance(frame, pl.DataFrame)
    return frame


def test_the_raw_check_counts_a_key_repeated_in_two_files(spark, tmp_path: Path) -> None:
    """A raw table written into the lake by something else, one customer id in two files: the
    blocking contract check fails as the DuckDB engine's does (the key check first, 0 rows
    checked), naming the check and its count, never the id."""
    from types import SimpleNamespace

    from assets.spark_stages import contract_failures
    from segmentation.raw.contracts import CustomersContract
    from segmentation.raw.publishing import empty_customers_table

    folder = tmp_path / "lake" / "raw" / "customers"
    folder.mkdir(parents=True)
    customers = pl.DataFrame(
        {
            "customer_id": ["C-secret-1", "C-2"],
            "country": ["UK", "FR"],
            "source_file": ["customers.csv", "customers.csv"],
            "source_row": [1, 2],
        }
    )
    with duckdb.connect() as scratch:
        empty_customers_table(scratch)
        empty = scratch.execute("SELECT * FROM raw.customers").pl()
    landed = pl.concat([empty, customers], how="diagonal_relaxed").select(empty.columns)
    landed.write_parquet(folder / "part-1.parquet")
    landed.head(1).with_columns(source_file=pl.lit("later.csv")).write_parquet(
        folder / "part-2.parquet"
    )
    config = _config(
        tmp_path / "config", engine="spark", spark=SPARK_KEYS | {"lake": str(tmp_path / "lake")}
    )
    engine = SimpleNamespace(spark_session=spark)
    previous = spark.conf.get("spark.sql.files.openCostInBytes")
    # a file costs what a task may read: a task per file
    spark.conf.set(
        "spark.sql.files.openCostInBytes", spark.conf.get("spark.sql.files.maxPartitionBytes")
    )
    try:
        rows, failures = contract_failures(
            engine, config, "raw.customers", CustomersContract, frozenset()
        )
        per_task = read_table(spark, _lake(config), "raw.customers").rdd.getNumPartitions()
    finally:
        spark.conf.set("spark.sql.files.openCostInBytes", previous)
    assert per_task == 2
    assert rows == 0
    assert failures.rows() == [("customer_id", "field_uniqueness", 2)]
    # without the repeat every row is checked
    (folder / "part-2.parquet").unlink()
    rows, failures = contract_failures(
        engine, config, "raw.customers", CustomersContract, frozenset()
    )
    assert (rows, failures.height) == (2, 0)
