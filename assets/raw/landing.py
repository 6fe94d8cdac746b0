"""Land a configured source into the warehouse: every source row lands or is quarantined.

Each file is parsed and checked by polars' streaming engine in batches (memory bounded by the
batch, not the file) and staged as Parquet files in a directory under the warehouse's
``temp_directory``, which DuckDB reads as the view ``landing_parsed``. A row travels as typed
columns plus a 64-bit hash of its original values; only rows that need their original text
(rejected rows, and rows whose hash repeats: duplicate candidates) get it, from a second read of
their files, and duplicates are decided by comparing that text exactly. Rows found to break a
check after parsing (duplicates) are listed in ``landing_flagged``; ``landing_stage`` is the
staged rows with those reasons applied. If the reject rate is within the source's limit, the
canonical table and the source's quarantine rows are swapped in by one transaction; otherwise
nothing is written. The staged files are deleted either way.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import duckdb
import pandera.polars as pa
import polars as pl

from assets.raw.contracts import CustomersContract, TransactionsContract
from assets.raw.parsing import (
    CUSTOMER_REASONS,
    RAW_VALUES,
    ROW_HASH,
    SOURCE_FILE,
    SOURCE_ROW,
    TRANSACTION_REASONS,
    SourceError,
    parse_customers,
    parse_transactions,
    raw_values,
    require_columns,
    scan_source_file,
)
from assets.sql_files import read_sql
from assets.warehouse import registered, scratch_directory, sql_text, transaction
from pipelines.config import CustomersSource, TransactionsSource

# rows per parsed batch (one staged Parquet file): ~100-200 MB of typed columns
BATCH_ROWS = 1_000_000
# row hashes sorted at a time when looking for repeats: 8 bytes each, ~0.4 GB with the sort's copy
HASHES_PER_SORT = 25_000_000
_STAGING_VIEWS = ("landing_stage", "landing_parsed")
_STAGING_TABLES = ("landing_files", "landing_flagged", "landing_raw", "landing_raw_needed")

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


def _scan(
    path: Path, source: SourceName, config: TransactionsSource | CustomersSource
) -> pl.LazyFrame:
    frame = scan_source_file(path, config.file_format(path), config.delimiter)
    require_columns(frame, config.columns.model_dump(), path, source)
    return frame


def _staged(batch: pl.DataFrame, file_seq: int) -> pl.DataFrame:
    """The staged form of a parsed batch: the file as its number (in the file name's place),
    the check in words left to the quarantine insert."""
    return (
        batch.drop("check", strict=False)
        .with_columns(pl.lit(file_seq, dtype=pl.Int32).alias(SOURCE_FILE))
        .rename({SOURCE_FILE: "file_seq"})
    )


def _drop_staging(con: duckdb.DuckDBPyConnection) -> None:
    for view in _STAGING_VIEWS:
        con.execute(f"DROP VIEW IF EXISTS {view}")
    for table in _STAGING_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {table}")


def stage_source(
    con: duckdb.DuckDBPyConnection,
    source: SourceName,
    config: TransactionsSource | CustomersSource,
    now: datetime,
    directory: Path,
    custom: Mapping[str, str] | None = None,
) -> tuple[list[Path], list[Path]]:
    """Parse every file of the source into Parquet files in ``directory``, queryable as the view
    ``landing_stage`` (file names in ``landing_files``); returns the source files and the staged
    files."""
    files = config.files()
    if not files:
        raise SourceError(f"sources.{source}.path: {config.path} matches no file")
    _drop_staging(con)
    con.execute("CREATE TEMP TABLE landing_files (file_seq INTEGER, source_file VARCHAR)")
    staged: list[Path] = []
    for file_seq, path in enumerate(files):
        con.execute("INSERT INTO landing_files VALUES (?, ?)", [file_seq, str(path)])
        parsed = _parse(source, _scan(path, source, config), config, now, custom or {})
        # the check in words is joined at the quarantine insert, not carried per row
        parsed = parsed.drop("check")
        try:
            for batch in parsed.collect_batches(chunk_size=BATCH_ROWS):
                _check_contract(source, batch)
                staged.append(directory / f"{len(staged):06d}.parquet")
                # lz4 and no statistics: written once, read whole a few times, then deleted
                _staged(batch, file_seq).write_parquet(
                    staged[-1], compression="lz4", statistics=False
                )
        except pl.exceptions.PolarsError as error:
            raise SourceError(f"cannot parse {source} file {path}: {error}") from None
    if not staged:
        # every file was empty: the stage still needs its columns
        empty = _parse(source, _scan(files[0], source, config), config, now, custom or {})
        staged.append(directory / "empty.parquet")
        _staged(empty.head(0).collect(), 0).write_parquet(staged[-1])
    file_list = ", ".join(sql_text(str(path)) for path in staged)
    con.execute(f"CREATE TEMP VIEW landing_parsed AS SELECT * FROM read_parquet([{file_list}])")
    con.execute(
        "CREATE TEMP TABLE landing_flagged (file_seq INTEGER, source_row BIGINT, reason VARCHAR)"
    )
    con.execute(read_sql("raw/create_landing_stage.sql"))
    return files, staged


def repeated_hashes(staged: list[Path]) -> pl.DataFrame:
    """The row hashes that more than one good staged row has (column ``row_hash``).

    Found by sorting the hashes in polars and comparing neighbours: DuckDB's group-by over
    every row's hash took ~10x as long (15.6 s for 101M rows). The hashes are sorted in parts
    of about :data:`HASHES_PER_SORT` (by value modulo the number of parts), each part read
    from the staged files again, so memory does not grow with the number of rows. Every copy of
    a hash falls in the same part: millions of identical rows make their part that much larger.
    """
    good = pl.scan_parquet(staged).filter(pl.col("reason").is_null()).select(ROW_HASH)
    rows = good.select(pl.len()).collect().item()
    parts = max(1, math.ceil(rows / HASHES_PER_SORT))
    found = [pl.Series(ROW_HASH, [], dtype=pl.UInt64)]
    for part in range(parts):
        hashes = good.filter(pl.col(ROW_HASH) % parts == part).sort(ROW_HASH).collect()
        column = hashes.get_column(ROW_HASH)
        found.append(column.filter(column == column.shift(1)).unique())
    return pl.concat(found).to_frame()


def _stage_raw_values(
    con: duckdb.DuckDBPyConnection,
    source: SourceName,
    config: TransactionsSource | CustomersSource,
    files: list[Path],
    staged: list[Path],
) -> None:
    """The original text of the rows that may be quarantined into ``landing_raw``: rows already
    rejected, rows whose hash repeats (duplicate candidates) and, for customers, rows whose
    customer id repeats. Only their files are read again."""
    with registered(con, "landing_repeated_hashes", repeated_hashes(staged)):
        con.execute(
            read_sql("raw/find_rows_needing_raw_values.sql"),
            {"by_customer": source == "customers"},
        )
    con.execute(
        f"CREATE TEMP TABLE landing_raw (file_seq INTEGER, {SOURCE_ROW} BIGINT, "
        f"{RAW_VALUES} VARCHAR)"
    )
    needed = con.execute("SELECT DISTINCT file_seq FROM landing_raw_needed ORDER BY 1").fetchall()
    for (file_seq,) in needed:
        rows = con.execute(
            f"SELECT {SOURCE_ROW} FROM landing_raw_needed WHERE file_seq = ? ORDER BY 1",
            [file_seq],
        ).pl()
        frame = _scan(files[file_seq], source, config).join(rows.lazy(), on=SOURCE_ROW, how="semi")
        try:
            for batch in raw_values(frame).collect_batches(chunk_size=BATCH_ROWS):
                with registered(con, "_raw", batch):
                    con.execute("INSERT INTO landing_raw SELECT ?, * FROM _raw", [file_seq])
        except pl.exceptions.PolarsError as error:
            raise SourceError(f"cannot re-read {source} file {files[file_seq]}: {error}") from None
    con.execute("DROP TABLE landing_raw_needed")


def _gate(
    source: SourceName, report: LandingReport, max_reject_rate: float, before_duplicates: bool
) -> None:
    if report.reject_rate <= max_reject_rate:
        return
    top_reasons = ", ".join(
        f"{reason}: {count:,}"
        for reason, count in Counter(report.rejected_by_reason).most_common(5)
    )
    worst_files = ", ".join(
        f"{name} ({count:,})" for name, count in Counter(report.rejected_by_file).most_common(3)
    )
    at_least = "at least " if before_duplicates else ""
    raise RejectRateExceeded(
        f"{source}: {at_least}{report.rejected_rows:,} of {report.source_rows:,} rows rejected "
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
    with scratch_directory(con, "landing-") as directory:
        try:
            files, staged = stage_source(con, source, config, now, directory, custom)
            return _land_staged(con, source, config, files, staged, now)
        finally:
            _drop_staging(con)


def _land_staged(
    con: duckdb.DuckDBPyConnection,
    source: SourceName,
    config: TransactionsSource | CustomersSource,
    files: list[Path],
    staged: list[Path],
    now: datetime,
) -> LandingReport:
    """Flag duplicates in the staged rows (the Parquet files ``staged``), gate on the reject
    rate, swap in atomically."""
    # parse rejects alone over the limit: fail before re-reading files for their text
    _gate(source, _report(con, source, files), config.max_reject_rate, True)
    _stage_raw_values(con, source, config, files, staged)
    con.execute(read_sql("raw/flag_duplicate_rows.sql"))
    if source == "customers":
        con.execute(read_sql("raw/flag_duplicate_customers.sql"))
    report = _report(con, source, files)
    _gate(source, report, config.max_reject_rate, False)
    reasons = TRANSACTION_REASONS if source == "transactions" else CUSTOMER_REASONS
    checks = pl.DataFrame(
        {"reason": list(reasons), "check": list(reasons.values())},
        schema={"reason": pl.Utf8, "check": pl.Utf8},
    )
    with registered(con, "landing_reasons", checks), transaction(con):
        con.execute(read_sql("quality/create_rejected_rows.sql"))
        con.execute(read_sql(f"raw/publish_{source}.sql"))
        con.execute(read_sql("raw/delete_rejected_rows.sql"), {"source": source})
        con.execute(
            read_sql("raw/insert_rejected_rows.sql"), {"source": source, "rejected_at": now}
        )
    return report


def _report(con: duckdb.DuckDBPyConnection, source: SourceName, files: list[Path]) -> LandingReport:
    by_reason: Counter[str] = Counter()
    by_file: Counter[str] = Counter()
    landed = 0
    for file_seq, reason, rows in con.execute(read_sql("raw/landing_counts.sql")).fetchall():
        if reason is None:
            landed += rows
        else:
            by_reason[reason] += rows
            by_file[str(files[file_seq])] += rows
    return LandingReport(
        source=source,
        files=[str(path) for path in files],
        source_rows=landed + sum(by_reason.values()),
        landed_rows=landed,
        rejected_by_reason=dict(by_reason.most_common()),
        rejected_by_file=dict(by_file.most_common()),
    )


def empty_customers_table(con: duckdb.DuckDBPyConnection) -> None:
    """Without a customers source, ``raw.customers`` exists empty so downstream SQL still runs."""
    try:
        with transaction(con):
            con.execute(read_sql("quality/create_rejected_rows.sql"))
            con.execute("CREATE OR REPLACE TEMP VIEW landing_stage AS " + _EMPTY_CUSTOMERS)
            con.execute(
                "CREATE OR REPLACE TEMP TABLE landing_files (file_seq INTEGER, source_file VARCHAR)"
            )
            con.execute(read_sql("raw/publish_customers.sql"))
            con.execute(read_sql("raw/delete_rejected_rows.sql"), {"source": "customers"})
    finally:
        _drop_staging(con)


_EMPTY_CUSTOMERS = (
    "SELECT NULL::VARCHAR AS customer_id, NULL::DATE AS signup_date, NULL::DATE AS birth_date, "
    "NULL::DOUBLE AS income, NULL::VARCHAR AS gender, NULL::VARCHAR AS region, "
    "NULL::VARCHAR AS country, NULL::VARCHAR AS industry, NULL::VARCHAR AS acquisition_channel, "
    "NULL::VARCHAR AS email, NULL::VARCHAR AS phone, NULL::VARCHAR AS name, "
    "0 AS file_seq, NULL::BIGINT AS source_row, NULL::UBIGINT AS row_hash, "
    "NULL::VARCHAR AS reason LIMIT 0"
)
