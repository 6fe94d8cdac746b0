"""The monthly assets on Spark: check every month against its contract inside the tasks, write
the months into the lake, and report each month's own metadata (mirrors ``assets.monthly``).

What the check covers. ``validated`` puts the table's pandera contract on every task's rows
(``mapInArrow``): types, nulls, ranges and the contract's whole-frame checks hold for each
task's batch, and the write job fails before the lake's atomic commit when one breaks, so the
months of the run keep what they held. A key's uniqueness is checked within a batch: the
engine's per-customer stages give every customer's rows to one bucket, so a duplicate key
there is always seen; a duplicate split across two tasks (possible only for stages that do
not group by customer, reading the lake's files as they come) is not. Nothing of a month is
collected to the driver; the task's message names the failed checks and counts, never a value
(Spark writes it to its logs as well as to Dagster's).

What differs from the DuckDB engine: a run's months are written together in one atomic write
per table (all of them or none, not month after month), and two tables of one asset (segments
and summary, CLV and its parameters) are two writes: a failure between them leaves the first
written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any

import pandera.polars as pa
import polars as pl
import pyarrow as pa_arrow

from assets.metadata import counts_table
from assets.monthly import ContractViolation, MonthlyTable, check_month
from segmentation.engines.spark.lake import read_table, write_months
from segmentation.keys import SNAPSHOT_COLUMN
from segmentation.privacy import failure_summary, safe_failure_cases

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# how a task's contract failure reaches the driver: one line, no value of a row
_BREACH = "spark contract breach:"
_BREACH_LINE = re.compile(rf"{re.escape(_BREACH)} (.*)$", re.M)


class BatchContractError(ValueError):
    """A task's rows break the table's contract (raised inside the task)."""


class ValidateBatches:
    """The ``mapInArrow`` function checking each task's rows against a contract, passing them
    on unchanged when they hold. Picklable: the contract class travels by name."""

    def __init__(self, table: str, contract: type[pa.DataFrameModel], hidden: frozenset[str]):
        self.table = table
        self.contract = contract
        self.hidden = hidden

    def __call__(self, batches: Iterator[pa_arrow.RecordBatch]) -> Iterator[pa_arrow.RecordBatch]:
        held = list(batches)
        if not held:
            return
        frame = pl.from_arrow(pa_arrow.Table.from_batches(held))
        assert isinstance(frame, pl.DataFrame)
        try:
            self.contract.to_schema().validate(frame, lazy=True)
        except pa.errors.SchemaErrors as error:
            cases = safe_failure_cases(error.failure_cases, None, self.hidden)
            months = ""
            if SNAPSHOT_COLUMN in frame.columns:
                dates = frame.get_column(SNAPSHOT_COLUMN).unique().sort()
                months = f" (snapshots {dates.min()} to {dates.max()})"
            raise BatchContractError(
                f"{_BREACH} {self.table}{months} breaks {self.contract.__name__}: "
                f"{failure_summary(cases)}"
            ) from None
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
    (every month or none), then report each month's rows and the counts of ``counted``
    columns to that month's materialization."""
    write_checked(lake, frame, output, snapshots)
    report_written(spark, lake, output, snapshots, counted)


def write_checked(
    lake: str, frame: DataFrame, output: MonthlyTable, snapshots: Sequence[date]
) -> None:
    """Check ``frame`` in its tasks and write its months into the lake, every month or none."""
    with contract_errors(output.table, snapshots):
        write_months(validated(frame, output), lake, output.table, months=snapshots)


# the pseudo column whose one value counts a month's rows
_ROWS = "__rows"


def report_written(
    spark: SparkSession,
    lake: str,
    output: MonthlyTable,
    snapshots: Sequence[date],
    counted: Sequence[str] = (),
    extra: dict[date, dict[str, Any]] | None = None,
) -> None:
    """Each written month's metadata, from one Spark aggregate of the lake's table (never the
    month itself): ``dagster/row_count``, the snapshot and a count table per ``counted``
    column, plus ``extra``'s per month."""
    from pyspark.sql import functions as F

    written = read_table(spark, lake, output.table).where(F.col(SNAPSHOT_COLUMN).isin(*snapshots))
    # every column's values side by side in one job: (snapshot, column, value) -> rows
    pairs = F.explode(
        F.array(
            F.struct(F.lit(_ROWS).alias("name"), F.lit("").alias("value")),
            *(
                F.struct(F.lit(name).alias("name"), F.col(name).cast("string").alias("value"))
                for name in counted
            ),
        )
    ).alias("pair")
    rows: dict[date, int] = {}
    counts: dict[str, dict[date, dict[str, int]]] = {name: {} for name in counted}
    for day, name, value, n in (
        written.select(SNAPSHOT_COLUMN, pairs)
        .groupBy(SNAPSHOT_COLUMN, "pair.name", "pair.value")
        .count()
        .collect()
    ):
        if name == _ROWS:
            rows[day] = int(n)
        else:
            label = NULL_LABELS.get(name, "None") if value is None else value
            counts[name].setdefault(day, {})[label] = int(n)
    for snapshot in sorted(snapshots):
        height = rows.get(snapshot, 0)
        output.rows[snapshot] = height
        if output.on_month is None:
            continue
        metadata: dict[str, Any] = {"dagster/row_count": height, "snapshot_date": str(snapshot)}
        for column, per_month in counts.items():
            found = dict(sorted(per_month.get(snapshot, {}).items(), key=lambda kv: -kv[1]))
            metadata[COUNT_KEYS.get(column, f"{column}s")] = counts_table(
                found, column, total=height
            )
        metadata |= (extra or {}).get(snapshot, {})
        output.on_month(snapshot, metadata)


# how the DuckDB assets' count tables show a null label
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
        held = list(batches)
        if not held:
            return
        frame = pl.from_arrow(pa_arrow.Table.from_batches(held))
        assert isinstance(frame, pl.DataFrame)
        try:
            self.contract.to_schema().validate(frame, lazy=True)
        except pa.errors.SchemaErrors as error:
            cases = safe_failure_cases(error.failure_cases, None, self.hidden)
            counts = cases.group_by("column", "check").len("failures")
            table = counts.select(
                pl.col("column").cast(pl.String),
                pl.col("check").cast(pl.String),
                pl.col("failures").cast(pl.Int64),
            ).to_arrow()
            yield from table.cast(FAILURE_COUNTS).to_batches()
