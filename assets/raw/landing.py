"""Land a configured source into the warehouse: every source row lands or is quarantined.

File by file (memory bounded by the largest file), rows are parsed and checked in polars and
staged in a DuckDB temp table; duplicates are flagged across all files in SQL; if the reject rate
is within the source's limit, the canonical table and the source's quarantine rows are swapped in
by one transaction. Otherwise nothing is written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import duckdb
import pandera.polars as pa
import polars as pl

from assets.raw.contracts import CustomersContract, TransactionsContract
from assets.raw.parsing import (
    RAW_VALUES,
    SourceError,
    parse_customers,
    parse_transactions,
    require_columns,
    scan_source_file,
)
from assets.sql_files import read_sql
from assets.warehouse import registered, transaction
from pipelines.config import CustomersSource, TransactionsSource

SourceName = Literal["transactions", "customers"]


class RejectRateExceeded(RuntimeError):
    """Too many rows of a source failed their checks; nothing was written."""


class ContractViolation(RuntimeError):
    """Rows that passed parsing broke the table contract (a bug, never silently landed)."""


@dataclass(frozen=True)
class LandingReport:
    """What one landing did: counts that add up to the source rows."""

    source: SourceName
    files: list[str]
    source_rows: int
    landed_rows: int
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    rejected_by_file: dict[str, int] = field(default_factory=dict)

    @property
    def rejected_rows(self) -> int:
        return sum(self.rejected_by_reason.values())

    @property
    def reject_rate(self) -> float:
        return self.rejected_rows / self.source_rows if self.source_rows else 0.0


_CONTRACTS: dict[SourceName, type[pa.DataFrameModel]] = {
    "transactions": TransactionsContract,
    "customers": CustomersContract,
}


def _parse(
    source: SourceName,
    frame: pl.LazyFrame,
    config: TransactionsSource | CustomersSource,
    now: datetime,
    custom: Mapping[str, str],
) -> pl.LazyFrame:
    columns = config.columns.model_dump()
    if isinstance(config, TransactionsSource):
        return parse_transactions(frame, columns, config.timestamp_format, now)
    return parse_customers(frame, columns, config.date_format, now, custom)


def _staging_schema(source: SourceName) -> pa.DataFrameSchema:
    """The contract without uniqueness: duplicates are quarantined after all files are staged."""
    schema = _CONTRACTS[source].to_schema()
    for name, column in schema.columns.items():
        if column.unique:
            schema = schema.update_column(name, unique=False)
    return schema


def _check_contract(source: SourceName, parsed: pl.DataFrame) -> None:
    schema = _staging_schema(source)
    good = parsed.filter(pl.col("reason").is_null()).select(list(schema.columns.keys()))
    try:
        schema.validate(good, lazy=True)
    except pa.errors.SchemaErrors as error:
        raise ContractViolation(
            f"{source}: rows that passed parsing break {_CONTRACTS[source].__name__}:\n"
            f"{error.failure_cases.head(20)}"
        ) from None


def stage_source(
    con: duckdb.DuckDBPyConnection,
    source: SourceName,
    config: TransactionsSource | CustomersSource,
    now: datetime,
    custom: Mapping[str, str] | None = None,
) -> list[str]:
    """Parse every file of the source into the temp table ``landing_stage``; returns the files."""
    files = config.files()
    if not files:
        raise SourceError(f"sources.{source}.path: {config.path} matches no file")
    con.execute("DROP TABLE IF EXISTS landing_stage")
    mapping: Mapping[str, str | None] = config.columns.model_dump()
    for file_seq, path in enumerate(files):
        frame = scan_source_file(path, config.file_format(path), config.delimiter)
        require_columns(frame, mapping, path, source)
        try:
            parsed = _parse(source, frame, config, now, custom or {}).collect()
        except pl.exceptions.PolarsError as error:
            raise SourceError(f"cannot parse {source} file {path}: {error}") from None
        _check_contract(source, parsed)
        parsed = parsed.with_columns(pl.lit(file_seq, dtype=pl.Int32).alias("file_seq"))
        with registered(con, "_parsed", parsed):
            if file_seq == 0:
                con.execute("CREATE TEMP TABLE landing_stage AS SELECT * FROM _parsed")
            else:
                con.execute("INSERT INTO landing_stage BY NAME SELECT * FROM _parsed")
    return [str(path) for path in files]


def _gate(source: SourceName, report: LandingReport, max_reject_rate: float) -> None:
    if report.reject_rate <= max_reject_rate:
        return
    top_reasons = ", ".join(
        f"{reason}: {count:,}"
        for reason, count in Counter(report.rejected_by_reason).most_common(5)
    )
    worst_files = ", ".join(
        f"{name} ({count:,})" for name, count in Counter(report.rejected_by_file).most_common(3)
    )
    raise RejectRateExceeded(
        f"{source}: {report.rejected_rows:,} of {report.source_rows:,} rows rejected "
        f"({report.reject_rate:.2%} > max_reject_rate {max_reject_rate:.2%}); nothing was written. "
        f"Files: {worst_files}. Top reasons: {top_reasons}. "
        f"Fix the source or the column mapping, or raise sources.{source}.max_reject_rate."
    )


def land_source(
    con: duckdb.DuckDBPyConnection,
    source: SourceName,
    config: TransactionsSource | CustomersSource,
    now: datetime,
    custom: Mapping[str, str] | None = None,
) -> LandingReport:
    """Land one source: stage, flag duplicates, gate on the reject rate, swap in atomically.

    ``custom``: custom customer attributes and their types (customers source only).
    """
    files = stage_source(con, source, config, now, custom)
    con.execute(read_sql("raw/flag_duplicate_rows.sql"))
    if source == "customers":
        con.execute(read_sql("raw/flag_duplicate_customers.sql"))
    counts = con.execute(read_sql("raw/landing_counts.sql")).fetchall()
    by_reason: Counter[str] = Counter()
    by_file: Counter[str] = Counter()
    landed = 0
    for source_file, reason, rows in counts:
        if reason is None:
            landed += rows
        else:
            by_reason[reason] += rows
            by_file[source_file] += rows
    report = LandingReport(
        source=source,
        files=files,
        source_rows=landed + sum(by_reason.values()),
        landed_rows=landed,
        rejected_by_reason=dict(by_reason.most_common()),
        rejected_by_file=dict(by_file.most_common()),
    )
    _gate(source, report, config.max_reject_rate)

    try:
        with transaction(con):
            con.execute(read_sql("quality/create_rejected_rows.sql"))
            con.execute(read_sql(f"raw/publish_{source}.sql"))
            con.execute(read_sql("raw/delete_rejected_rows.sql"), {"source": source})
            con.execute(
                read_sql("raw/insert_rejected_rows.sql"), {"source": source, "rejected_at": now}
            )
    finally:
        con.execute("DROP TABLE IF EXISTS landing_stage")
        con.execute("DROP TABLE IF EXISTS landing_result")
    return report


def empty_customers_table(con: duckdb.DuckDBPyConnection) -> None:
    """Without a customers source, ``raw.customers`` exists empty so downstream SQL still runs."""
    try:
        with transaction(con):
            con.execute(read_sql("quality/create_rejected_rows.sql"))
            con.execute("CREATE OR REPLACE TEMP TABLE landing_result AS " + _EMPTY_CUSTOMERS)
            con.execute(read_sql("raw/publish_customers.sql"))
            con.execute(read_sql("raw/delete_rejected_rows.sql"), {"source": "customers"})
    finally:
        con.execute("DROP TABLE IF EXISTS landing_result")


_EMPTY_CUSTOMERS = (
    "SELECT NULL::VARCHAR AS customer_id, NULL::DATE AS signup_date, NULL::DATE AS birth_date, "
    "NULL::VARCHAR AS gender, NULL::DOUBLE AS income, NULL::VARCHAR AS region, "
    "NULL::VARCHAR AS country, NULL::VARCHAR AS industry, NULL::VARCHAR AS acquisition_channel, "
    "NULL::VARCHAR AS email, NULL::VARCHAR AS phone, NULL::VARCHAR AS name, "
    "NULL::VARCHAR AS source_file, NULL::BIGINT AS source_row, 0 AS file_seq, "
    f'NULL::VARCHAR AS reason, NULL::VARCHAR AS "check", NULL::VARCHAR AS {RAW_VALUES} LIMIT 0'
)
