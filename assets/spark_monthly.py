"""The monthly assets on Spark: check every month against its contract inside the tasks, write
the months into the lake, and report each month's own metadata (mirrors ``assets.monthly``).

What the check covers. ``validated`` puts the table's pandera contract on every task's rows
(``mapInArrow``): types, nulls, ranges and the contract's whole-frame checks hold for each
task's batch, and the write job fails before the lake's atomic commit when one breaks, so the
months of the run keep what they held. A key repeated across two tasks is found once every row
is staged, before the commit: the contract's unique columns are grouped over all the staged
rows (``repeated_key_groups``), in the same Spark query that counts the months' metadata, and
a key held by more than one row stops the write. Nothing of a month is collected to the
driver; the messages name the failed checks and counts, never a value (Spark writes a task's
to its logs as well as to Dagster's).

What differs from the DuckDB engine: a run's months are written together in one atomic write
per table (all of them or none, not month after month), and two tables of one asset (segments
and summary, CLV and its parameters) are two writes: a failure between them leaves the first
written.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import pandera.polars as pa
import polars as pl
import pyarrow as pa_arrow

from assets.metadata import counts_table
from assets.monthly import ContractViolation, MonthlyTable, check_month
from segmentation.engines.spark.lake import write_months
from segmentation.engines.spark.lake_commit import lake_files, partitions
from segmentation.keys import SNAPSHOT_COLUMN
from segmentation.privacy import counts_summary, failure_summary, safe_failure_cases

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# how a task's contract failure reaches the driver: one line, no value of a row
_BREACH = "spark contract breach:"
_BREACH_LINE = re.compile(rf"{re.escape(_BREACH)} (.*)$", re.M)


class BatchContractError(ValueError):
    """A task's rows break the table's contract (raised inside the task)."""


def task_failures(
    contract: type[pa.DataFrameModel],
    hidden: frozenset[str],
    batches: Iterator[pa_arrow.RecordBatch],
) -> tuple[list[pa_arrow.RecordBatch], pl.DataFrame | None, pl.DataFrame | None]:
    """A task's batches checked against ``contract`` together (lazily: every failing check):
    the batches as they came, their rows (None without any) and the failure cases with no
    personal value (``hidden`` columns masked; None when the rows hold)."""
    held = list(batches)
    if not held:
        return held, None, None
    frame = pl.from_arrow(pa_arrow.Table.from_batches(held))
    assert isinstance(frame, pl.DataFrame)
    try:
        contract.to_schema().validate(frame, lazy=True)
    except pa.errors.SchemaErrors as error:
        return held, frame, safe_failure_cases(error.failure_cases, None, hidden)
    return held, frame, None


class ValidateBatches:
    """The ``mapInArrow`` function checking each task's rows against a contract, passing them
    on unchanged when they hold. Picklable: the contract class travels by name."""

    def __init__(self, table: str, contract: type[pa.DataFrameModel], hidden: frozenset[str]):
        self.table = table
        self.contract = contract
        self.hidden = hidden

    def __call__(self, batches: Iterator[pa_arrow.RecordBatch]) -> Iterator[pa_arrow.RecordBatch]:
        held, frame, cases = task_failures(self.contract, self.hidden, batches)
        if frame is not None and cases is not None:
            months = ""
            if SNAPSHOT_COLUMN in frame.columns:
                dates = frame.get_column(SNAPSHOT_COLUMN).unique().sort()
                months = f" (snapshots {dates.min()} to {dates.max()})"
            raise BatchContractError(
                f"{_BREACH} {self.table}{months} breaks {self.contract.__name__}: "
                f"{failure_summary(cases)}"
            )
        yield from held


def validated(frame: DataFrame, output: MonthlyTable) -> DataFrame:
    """``frame`` with ``output``'s contract checked in every task that computes it."""
    task = ValidateBatches(output.table, output.contract, frozenset(output.privacy.hidden))
    return frame.mapInArrow(task, frame.schema)


@contextmanager
def contract_errors(table: str, snapshots: Sequence[date]) -> Iterator[None]:
    """A task's contract failure raised on the driver as the DuckDB path's
    ``ContractViolation``: the table, the run's snapshots and the failed checks."""
    from pyspark.errors import PythonException

    try:
        yield
    except PythonException as error:
        found = _BREACH_LINE.findall(str(error))
        if not found:
            raise
        first, last = min(snapshots), max(snapshots)
        raise ContractViolation(
            description=f"{found[-1]}; nothing of the snapshots {first} to {last} was written",
            metadata={"table": table, "snapshots": f"{first} to {last}"},
            allow_retries=False,
        ) from None


def write_checked_months(
    spark: SparkSession,
    lake: str,
    frame: DataFrame,
    output: MonthlyTable,
    snapshots: Sequence[date],
    counted: Sequence[str] = (),
) -> None:
    """Check ``frame`` (``output``'s months ``snapshots``) in its tasks, write it into the lake
    (every month or none), then report each month's rows, preview and the counts of
    ``counted`` columns to that month's materialization."""
    report_written(output, snapshots, write_checked(lake, frame, output, snapshots, counted))


@dataclass
class Written:
    """What a checked write put into each month, from Spark aggregates of its staged rows: rows,
    counts per labelled column and value, and up to 10 rows per month for the preview."""

    rows: dict[date, int] = field(default_factory=dict)
    counts: dict[str, dict[date, dict[Any, int]]] = field(default_factory=dict)
    previews: dict[date, pl.DataFrame] = field(default_factory=dict)


def write_checked(
    lake: str,
    frame: DataFrame,
    output: MonthlyTable,
    snapshots: Sequence[date],
    counted: Sequence[str] = (),
) -> Written:
    """Check ``frame`` in its tasks and write its months into the lake, every month or none.

    Once every row is staged and before the commit, one Spark job over the staged rows counts
    each month's rows and ``counted`` labels and the rows repeating a key of the contract
    across the whole frame; a repeated key stops the write with a ``ContractViolation`` (the
    checks and counts, no value). A second job takes each month's preview rows."""
    found: list[Written] = []
    verify = functools.partial(_verify_staged, frame, output, snapshots, counted, found)
    with contract_errors(output.table, snapshots):
        write_months(validated(frame, output), lake, output.table, months=snapshots, verify=verify)
    return found[0]


def _verify_staged(
    frame: DataFrame,
    output: MonthlyTable,
    snapshots: Sequence[date],
    counted: Sequence[str],
    found: list[Written],
    staging: str,
) -> None:
    spark = frame.sparkSession
    months = partitions(lake_files(spark, staging), staging)
    if not months:  # nothing staged: no month has rows, no key repeats
        found.append(Written(counts={name: {} for name in counted}))
        return
    # the partition folders, not the hidden staging folder, named: Spark would warn of it
    staged = (
        spark.read.option("basePath", staging)
        .schema(frame.schema)
        .parquet(*(f"{staging}/{month}" for month in months))
        .select(*frame.columns)
    )
    checks = key_checks(output.contract)
    written = _month_counts(staged, counted, checks)
    failures = key_failures(checks, written.pop(None, {}))
    if failures:
        first, last = min(snapshots), max(snapshots)
        raise ContractViolation(
            description=f"{output.table} (snapshots {first} to {last}) breaks "
            f"{output.contract.__name__}: {counts_summary(failures)}; nothing of the "
            f"snapshots {first} to {last} was written",
            metadata={"table": output.table, "snapshots": f"{first} to {last}"},
            allow_retries=False,
        )
    result = Written(counts={name: {} for name in counted})
    for (day, name), per_value in written.items():
        if name == _ROWS:
            result.rows[day] = per_value[""]
        else:
            result.counts[name][day] = per_value
    result.previews = _month_previews(staged, checks)
    found.append(result)


# the pseudo column whose one value counts a month's rows
_ROWS = "__rows"


def _month_counts(
    staged: DataFrame, counted: Sequence[str], checks: Sequence[KeyCheck]
) -> dict[Any, Any]:
    """One Spark query: per (month, column) the rows per value (``_ROWS``: the month's rows), and
    under the key None the key checks' offenders by aggregate row name.

    The labels' rows and each key check's repeated groups are summed by one aggregation: one
    shuffle per key check and one for all the sums, where a sum of its own per check would
    add a shuffle (a Spark job under adaptive execution) per check and write."""
    from functools import reduce

    from pyspark.sql import functions as F

    # every column's values side by side: (snapshot, column, value) -> rows
    pairs = F.explode(
        F.array(
            F.struct(F.lit(_ROWS).alias("name"), F.lit("").alias("value")),
            *(
                F.struct(F.lit(name).alias("name"), F.col(name).cast("string").alias("value"))
                for name in counted
            ),
        )
    ).alias("pair")
    labels = staged.select(SNAPSHOT_COLUMN, pairs).select(
        SNAPSHOT_COLUMN, "pair.name", "pair.value", F.lit(1).cast("long").alias("n")
    )
    keys = [
        groups.select(
            F.lit(None).cast("date").alias(SNAPSHOT_COLUMN),
            "name",
            F.lit(None).cast("string").alias("value"),
            "n",
        )
        for groups in repeated_key_groups(staged, checks)
    ]
    sums = (
        reduce(lambda a, b: a.unionByName(b), keys, labels)
        .groupBy(SNAPSHOT_COLUMN, "name", "value")
        .agg(F.sum("n").alias("n"))
    )
    result: dict[Any, Any] = {None: {}}
    for day, name, value, n in sums.collect():
        if day is None:
            result[None][name] = n
        else:
            label = NULL_LABELS.get(name) if value is None else value
            result.setdefault((day, name), {})[label] = int(n)
    return result


# rows of each month a materialization previews, as the DuckDB path's ``MonthlyTable.preview``
PREVIEW_ROWS = 10


def _month_previews(staged: DataFrame, checks: Sequence[KeyCheck]) -> dict[date, pl.DataFrame]:
    """Each month's first rows in key order: one Spark job, each task keeping its own first
    rows per month before the shuffle (a window limited by its row number)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    combined = [check.columns for check in checks if len(check.columns) > 1]
    order = [c for c in (combined[0] if combined else staged.columns) if c != SNAPSHOT_COLUMN]
    place = F.row_number().over(Window.partitionBy(SNAPSHOT_COLUMN).orderBy(*order))
    rows = collect(staged.withColumn("__place", place).where(F.col("__place") <= PREVIEW_ROWS))
    # a few rows a month: sorted here, not by another Spark job
    rows = rows.sort(SNAPSHOT_COLUMN, "__place").drop("__place")
    return {
        month.get_column(SNAPSHOT_COLUMN)[0]: month
        for month in rows.partition_by(SNAPSHOT_COLUMN, maintain_order=True)
    }


def report_written(
    output: MonthlyTable,
    snapshots: Sequence[date],
    written: Written,
    extra: dict[date, dict[str, Any]] | None = None,
) -> None:
    """Each written month's metadata from what ``write_checked`` counted (never the month
    itself): ``dagster/row_count``, the snapshot, the preview and a count table per counted
    column, plus ``extra``'s per month: the DuckDB path's names and types."""
    for snapshot in sorted(snapshots):
        height = written.rows.get(snapshot, 0)
        output.rows[snapshot] = height
        if output.on_month is None:
            continue
        metadata: dict[str, Any] = {
            "dagster/row_count": height,
            "snapshot_date": str(snapshot),
            "preview": output.privacy.preview(
                written.previews.get(snapshot, pl.DataFrame()), rows=PREVIEW_ROWS
            ),
        }
        for column, per_month in written.counts.items():
            found = dict(sorted(per_month.get(snapshot, {}).items(), key=lambda kv: -kv[1]))
            metadata[COUNT_KEYS.get(column, f"{column}s")] = counts_table(
                found, column, total=height
            )
        metadata |= (extra or {}).get(snapshot, {})
        output.on_month(snapshot, metadata)


# how the DuckDB assets' count tables show a null label (others show it as a null)
NULL_LABELS = {"nps_class": "(no NPS)"}


# the metadata keys the DuckDB assets give their count tables
COUNT_KEYS = {
    "dominant_channel": "customers_by_dominant_channel",
    "nps_class": "nps_classes",
    "lifecycle_stage": "lifecycle_stages",
    "value_tier": "value_tiers",
    "rfm_segment": "rfm_segments",
    "cluster": "clusters",
    "intent_class": "intent_classes",
    "satisfaction_class": "satisfaction_classes",
    "needs_class": "needs_classes",
    "psychographic_class": "psychographic_classes",
}


def write_small_months(
    spark: SparkSession,
    lake: str,
    frame: pl.DataFrame,
    output: MonthlyTable,
    snapshots: Sequence[date],
) -> None:
    """A monthly table the driver computed (small: model parameters, the summary): each month
    checked by the DuckDB path's ``check_month``, then every month written into the lake at
    once, each month's rows and preview reported."""
    months = {snapshot: frame.filter(pl.col(SNAPSHOT_COLUMN) == snapshot) for snapshot in snapshots}
    for snapshot, month in months.items():
        check_month(output.table, snapshot, month, output.contract, output.privacy)
    write_months(spark_frame(spark, frame), lake, output.table, months=list(months))
    for snapshot in sorted(months):
        output.record(snapshot, months[snapshot])


def spark_frame(spark: SparkSession, frame: pl.DataFrame) -> DataFrame:
    """A driver's polars frame as a Spark frame, its Arrow types kept (an empty frame too)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    table = frame.to_arrow()
    schema = from_arrow_schema(table.schema, prefer_timestamp_ntz=True)
    if frame.is_empty():
        return spark.createDataFrame([], schema)
    return spark.createDataFrame(table, schema=schema)


def collect(frame: DataFrame) -> pl.DataFrame:
    """A small Spark frame (a mart the driver reads back) as polars."""
    result = pl.from_arrow(frame.toArrow())
    assert isinstance(result, pl.DataFrame)
    return result


# a task's contract failures: how many per column and check, never a value
FAILURE_COUNTS = pa_arrow.schema(
    [("column", pa_arrow.string()), ("check", pa_arrow.string()), ("failures", pa_arrow.int64())]
)


class CountFailures:
    """The ``mapInArrow`` function of a contract check on Spark: each task validates its rows
    and returns its failures counted per column and check (no rows when they hold)."""

    def __init__(self, contract: type[pa.DataFrameModel], hidden: frozenset[str]):
        self.contract = contract
        self.hidden = hidden

    def __call__(self, batches: Iterator[pa_arrow.RecordBatch]) -> Iterator[pa_arrow.RecordBatch]:
        _, _, cases = task_failures(self.contract, self.hidden, batches)
        if cases is None:
            return
        counts = cases.group_by("column", "check").len("failures")
        table = counts.select(
            pl.col("column").cast(pl.String),
            pl.col("check").cast(pl.String),
            pl.col("failures").cast(pl.Int64),
        ).to_arrow()
        yield from table.cast(FAILURE_COUNTS).to_batches()


@dataclass(frozen=True)
class KeyCheck:
    """A uniqueness the contract declares, named as pandera names its failures: one column
    (``field_uniqueness``, on that column) or a combined key (``multiple_fields_uniqueness``,
    on the schema's name)."""

    columns: tuple[str, ...]
    column: str
    check: str


def key_checks(contract: type[pa.DataFrameModel]) -> list[KeyCheck]:
    """The contract's unique columns, single ones first, then the combined key (the order of
    ``segmentation.quality.validation.unique_keys``, the DuckDB engine's whole-table check)."""
    schema = contract.to_schema()
    checks = [
        KeyCheck((name,), name, "field_uniqueness")
        for name, column in schema.columns.items()
        if column.unique
    ]
    if schema.unique:
        combined = [schema.unique] if isinstance(schema.unique, str) else list(schema.unique)
        name = schema.name or contract.__name__
        checks.append(KeyCheck(tuple(combined), name, "multiple_fields_uniqueness"))
    return checks


# the name column's values of the aggregate rows that count a key check's offenders
_KEY_ROWS = "__key:"


def key_offenders(frame: DataFrame, checks: Sequence[KeyCheck]) -> list[DataFrame]:
    """Per key check, one row (``name``, ``n``): the rows of ``frame`` whose key another row
    holds too, all copies counted as pandera counts them (``n`` null when there are none).
    Grouped over the whole frame, so a key repeated in two tasks is counted; only the counts
    reach the driver, never a key."""
    from pyspark.sql import functions as F

    return [
        groups.agg(F.sum("n").cast("long").alias("n")).select(
            F.lit(f"{_KEY_ROWS}{number}").alias("name"), "n"
        )
        for number, groups in enumerate(repeated_key_groups(frame, checks))
    ]


def repeated_key_groups(frame: DataFrame, checks: Sequence[KeyCheck]) -> list[DataFrame]:
    """Per key check, a row (``name``, ``n``) per key of ``frame`` that more than one row
    holds, ``n`` its rows: the offenders before they are summed (``key_offenders``), for a
    query that sums them with other counts. Only the counts leave, never a key."""
    from pyspark.sql import functions as F

    return [
        frame.groupBy(*check.columns)
        .count()
        .where(F.col("count") > 1)
        .select(F.lit(f"{_KEY_ROWS}{number}").alias("name"), F.col("count").cast("long").alias("n"))
        for number, check in enumerate(checks)
    ]


def key_failures(checks: Sequence[KeyCheck], counted: dict[str, int]) -> list[tuple[str, str, int]]:
    """(column, check, failures) of the key checks whose offenders ``counted`` (by aggregate
    row name) holds."""
    found = [
        (check.column, check.check, counted.get(f"{_KEY_ROWS}{number}") or 0)
        for number, check in enumerate(checks)
    ]
    return [failure for failure in found if failure[2]]
