"""The monthly snapshot assets, one month at a time: what each computes, checks and writes.

A single-run backfill hands every monthly asset all of the run's partitions at once. Each asset
opens the warehouse once and then, month by month in ascending order, reads that month's inputs,
computes it with the functions below, checks the result against the table's pandera contract
and writes it in one transaction of its own (``write_month``). Only one month's frames are held
in memory at a time, whatever the length of the backfill (the behaviour scan of all months waits
in a DuckDB temp table, which spills to disk, and is handed over month by month).

Consequences for a failing run: the months before the failure are written, complete and
correct; the failing month keeps what it held before (a contract violation is found before
anything of the month is written); later months are not touched. A re-run replaces every month
it covers, so re-running the same range finishes the job.

The functions are what the assets call, so a benchmark can measure exactly the same work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import dagster as dg
import duckdb
import pandera.polars as pa
import polars as pl
from dagster._core.execution.context.invocation import (  # not exported; no public equivalent
    DirectAssetExecutionContext,
)

from assets.metadata import column_schema, counts_table, preview
from assets.partitions import PARTITION_FORMAT
from assets.resources import Warehouse
from segmentation.config import (
    SegmentationConfig,
    pii_attributes,
    pseudonym_secret,
)
from segmentation.keys import SNAPSHOT_COLUMN
from segmentation.phases import CHECKING, phase
from segmentation.privacy import failure_summary, safe_failure_cases
from segmentation.sql_files import read_sql
from segmentation.warehouse import replace_partitions_together


def asset_key(table: str) -> dg.AssetKey:
    """Table ``marts.customer_segments`` -> asset key ``["marts", "customer_segments"]``."""
    return dg.AssetKey(table.split("."))


def table_metadata(table: str, contract: type[pa.DataFrameModel]) -> dict[str, Any]:
    """Definition metadata of a monthly asset: its table and columns, shown before any run."""
    return {"table": table, "dagster/column_schema": column_schema(contract)}


# --- reading, checking and writing one month ---


# DuckDB checkpoints once the WAL passes 16 MB. A month smaller than a row group (122,880 rows)
# is committed through the WAL, so with the default every month's commit would also checkpoint
# and rewrite the table's last row group (at 72,500 customers ~2 s a month); larger months are
# written to the file directly. Checkpoints then come every few months and when the connection
# closes, at the cost of holding up to this much not yet checkpointed data in memory.
CHECKPOINT_THRESHOLD = "256MB"


@contextmanager
def monthly_connection(warehouse: Warehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    """The one warehouse connection a monthly asset reads and writes all its months with."""
    with warehouse.connect() as con:
        con.execute(
            read_sql("warehouse/set_checkpoint_threshold.sql"), {"threshold": CHECKPOINT_THRESHOLD}
        )
        try:
            yield con
        finally:
            with suppress(duckdb.Error):  # never hide the error that ended the months
                con.execute(read_sql("warehouse/reset_checkpoint_threshold.sql"))


class ContractViolation(dg.Failure):
    """A month's frame breaks its table's contract; nothing of that month was written."""


@dataclass(frozen=True)
class Privacy:
    """What the metadata of a monthly asset may show of a customer.

    ``secret`` is the pseudonym secret when ``pseudonymize: true``: customer ids are then shown
    as the serving copy's pseudonyms. ``hidden`` are the custom attributes holding personal data
    (``pii: true``): never shown.
    """

    secret: bytes | None = None
    hidden: frozenset[str] = frozenset()

    @classmethod
    def of(cls, config: SegmentationConfig) -> Privacy:
        """The privacy a config asks for."""
        return cls(pseudonym_secret(config), pii_attributes(config))

    def preview(self, frame: pl.DataFrame, rows: int = 10) -> dg.MarkdownMetadataValue:
        """The first rows, with pseudonyms for customer ids and without personal columns."""
        return preview(frame, rows=rows, secret=self.secret, hidden=self.hidden)


def check_month(
    table: str,
    snapshot: date,
    frame: pl.DataFrame,
    contract: type[pa.DataFrameModel],
    privacy: Privacy | None = None,
) -> None:
    """Validate a month's frame against its table's contract; raise ``ContractViolation`` naming
    the table and the snapshot when it fails.

    The same validation as the contract's Dagster type (``contract_type``): the contract's schema,
    lazily, so every failing check is reported. It is called directly because
    ``dg.check_dagster_type`` sets up a throwaway instance per call (~0.25 s), once per month.
    The message names the failing checks and counts, never a value (it goes to the event log);
    the failure cases in the metadata show customer ids as pseudonyms when pseudonymizing and
    mask personal columns.
    """
    privacy = privacy or Privacy()
    try:
        with phase(CHECKING):
            contract.to_schema().validate(frame, lazy=True)
    except pa.errors.SchemaErrors as error:
        cases = safe_failure_cases(error.failure_cases, privacy.secret, privacy.hidden)
        raise ContractViolation(
            description=f"{table} for snapshot {snapshot} breaks {contract.__name__}; nothing "
            f"of this snapshot was written. Failed: {failure_summary(cases)}",
            metadata={
                "table": table,
                "snapshot_date": str(snapshot),
                "failure_cases": preview(cases, rows=20),
            },
            allow_retries=False,
        ) from None


def _no_metadata(_frame: pl.DataFrame) -> dict[str, Any]:
    return {}


def partition_key(snapshot: date) -> str:
    """Snapshot date 2011-03-31 -> its partition key ``2011-03``."""
    return snapshot.strftime(PARTITION_FORMAT)


@dataclass
class MonthlyTable:
    """A table a monthly asset writes, its contract, and what the run wrote to it so far.

    ``month_metadata`` computes the count tables of one month's frame. Each month's row count,
    preview and counts go to that month's own materialization event (``on_month``, see
    ``report_months_to``) as the month is written; the table keeps only the rows per month,
    never a frame.
    """

    table: str
    contract: type[pa.DataFrameModel]
    month_metadata: Callable[[pl.DataFrame], dict[str, Any]] = _no_metadata
    privacy: Privacy = field(default_factory=Privacy)
    on_month: Callable[[date, dict[str, Any]], None] | None = None
    rows: dict[date, int] = field(default_factory=dict)

    def describe_month(self, snapshot: date, frame: pl.DataFrame) -> dict[str, Any]:
        """The metadata of one month: its rows, a preview and its count tables."""
        return {
            "dagster/row_count": frame.height,
            "snapshot_date": str(snapshot),
            "preview": self.privacy.preview(frame),
            **self.month_metadata(frame),
        }

    def record(self, snapshot: date, frame: pl.DataFrame) -> None:
        """Count a written month and hand its metadata to ``on_month``."""
        self.rows[snapshot] = frame.height
        if self.on_month is not None:
            self.on_month(snapshot, self.describe_month(snapshot, frame))

    def metadata(self) -> dict[str, Any]:
        """What the whole run wrote: every month's event shows it, under its own month's row
        count, preview and counts (which replace ``dagster/row_count``, here the run's total)."""
        return {
            "dagster/row_count": sum(self.rows.values()),
            "dagster/column_schema": column_schema(self.contract),
            "table": self.table,
            "snapshots": len(self.rows),
            "rows_per_snapshot": counts_table(
                {str(snapshot): rows for snapshot, rows in sorted(self.rows.items())},
                SNAPSHOT_COLUMN,
            ),
        }


def report_months_to(
    context: dg.AssetExecutionContext, *tables: MonthlyTable
) -> tuple[MonthlyTable, ...]:
    """Attach each month's metadata to that month's materialization of the table's asset.

    Dagster emits one materialization per partition of a single-run backfill, each with the
    asset's metadata; metadata added for one partition key goes to that partition's event only
    and wins over the asset's. A directly invoked asset (the benchmark) has no events: there
    the months are only counted.
    """
    if isinstance(context, DirectAssetExecutionContext):
        return tables
    for table in tables:
        key = asset_key(table.table)

        def on_month(snapshot: date, metadata: dict[str, Any], key: dg.AssetKey = key) -> None:
            context.add_asset_metadata(
                metadata, asset_key=key, partition_key=partition_key(snapshot)
            )

        table.on_month = on_month
    return tables


def write_month(
    con: duckdb.DuckDBPyConnection,
    snapshot: date,
    *outputs: tuple[MonthlyTable, pl.DataFrame],
) -> None:
    """Check every output frame of one month against its contract, then replace that month of
    every output table in one transaction: all of the month's tables or none."""
    for output, frame in outputs:
        check_month(output.table, snapshot, frame, output.contract, output.privacy)
    replace_partitions_together(
        con, {output.table: frame for output, frame in outputs}, SNAPSHOT_COLUMN, [snapshot]
    )
    for output, frame in outputs:
        output.record(snapshot, frame)
