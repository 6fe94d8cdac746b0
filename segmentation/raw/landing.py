"""Land a configured source into the warehouse: every source row lands or is quarantined.

Before anything is read, the landing refuses (unless the source says
``allow_removed_files: true``) when a file that was landed before is no longer matched by the
source's path; after staging, when a file now yields fewer rows than were landed and quarantined
from it before. Either would silently delete rows from the landed table and rewrite history.

Each CSV file is first made safe to parse (``prepare_csv`` in ``segmentation.raw.parsing``): records
that are not well-formed CSV become quarantine entries with their line number and text, and a
file that is not UTF-8 is transcoded. Each file is then parsed and checked by polars' streaming
engine in batches (memory bounded by the batch, not the file) and staged as Parquet files in a
directory under the warehouse's ``temp_directory``, which DuckDB reads as the view
``landing_parsed``. A row travels as typed columns plus a 64-bit hash of its original values;
only rows that need their original text (rejected rows, and rows whose hash repeats: duplicate
candidates) get it, from a second read of their files, and duplicates are decided by comparing
that text exactly. Rows found to break a check after parsing (duplicates) are listed in
``landing_flagged``; ``landing_stage`` is the staged rows with those reasons applied. If the
reject rate is within the source's limit, the canonical table and the source's quarantine rows
are swapped in by one transaction; otherwise nothing is written. The staged files are deleted
either way, and staging directories a killed landing left behind are deleted by the next one.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Literal

import duckdb
import pandera.polars as pa
import polars as pl

from segmentation.privacy import MASK
from segmentation.raw.contracts import CustomersContract, TransactionsContract
from segmentation.raw.parsing import (
    CUSTOMER_REASONS,
    MASKED_VALUES,
    RAW_VALUES,
    ROW_HASH,
    SOURCE_FILE,
    SOURCE_ROW,
    STRUCTURAL_REASONS,
    TRANSACTION_REASONS,
    PreparedCsv,
    SourceError,
    check_header,
    parse_customers,
    parse_transactions,
    prepare_csv,
    raw_values,
    read_csv_header,
    require_columns,
    scan_source_file,
)
from segmentation.raw.settings import CustomersSource, TransactionsSource
from segmentation.sql_files import read_sql
from segmentation.warehouse import (
    quote_table,
    registered,
    scratch_directory,
    sql_text,
    table_exists,
    transaction,
)

# rows per parsed batch (one staged Parquet file): ~100-200 MB of typed columns
BATCH_ROWS = 1_000_000
# row hashes sorted at a time when looking for repeats: 8 bytes each, ~0.4 GB with the sort's copy
HASHES_PER_SORT = 25_000_000
_STAGING_VIEWS = ("landing_stage", "landing_parsed")
_STAGING_TABLES = ("landing_files", "landing_flagged", "landing_raw", "landing_raw_needed")
# the prefix of staging directories, and the file in each that names the process using it
STAGING_PREFIX = "landing-"
STAGING_OWNER = "owner.json"
# a staging directory without an owner file is left alone this long: its landing may have
# created it an instant ago and not yet written the file
_UNOWNED_GRACE_SECONDS = 3600
# files listed by name in a message; the rest are counted
_FILES_NAMED = 10

SourceName = Literal["transactions", "customers"]


class RejectRateExceeded(RuntimeError):
    """Too many rows of a source failed their checks; nothing was written."""


class RemovedFilesError(RuntimeError):
    """Files landed before are gone from the source, or hold fewer rows; nothing was written."""


class ContractViolation(RuntimeError):
    """Rows that passed parsing broke the table contract (a bug, never silently landed)."""


@dataclass(frozen=True)
class LandingReport:
    """What one landing did: counts that add up to the source rows.

    ``notes`` holds what a person should know per file (empty, blank lines, transcoded,
    truncated, malformed records); ``removed_files`` the files landed before that are gone
    (0 rows now) or shorter, as (rows before, rows now), when ``allow_removed_files`` let the
    landing go on; ``stale_staging_removed`` the staging directories of killed landings deleted.
    """

    source: SourceName
    files: list[str]
    source_rows: int
    landed_rows: int
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    rejected_by_file: dict[str, int] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    removed_files: dict[str, tuple[int, int]] = field(default_factory=dict)
    allow_removed_files: bool = False
    stale_staging_removed: int = 0

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


@dataclass
class _Staging:
    """What staging produced: per file (by its number), the file polars reads and whether it
    is a numbered copy, and the quarantine entries of records that are not rows."""

    files: list[Path]
    staged: list[Path] = field(default_factory=list)
    readable: dict[int, tuple[Path, bool]] = field(default_factory=dict)
    structural: dict[int, list[Path]] = field(default_factory=dict)
    order: list[str] | None = None
    notes: dict[str, list[str]] = field(default_factory=dict)


def _parse(
    source: SourceName,
    frame: pl.LazyFrame,
    config: TransactionsSource | CustomersSource,
    now: datetime,
    custom: Mapping[str, str],
    order: list[str] | None,
) -> pl.LazyFrame:
    columns = config.columns.model_dump()
    if isinstance(config, TransactionsSource):
        return parse_transactions(
            frame,
            columns,
            config.timestamp_format,
            now,
            timezone=config.timezone,
            decimal_comma=config.decimal_comma,
            column_order=order,
        )
    return parse_customers(
        frame,
        columns,
        config.date_format,
        now,
        custom,
        decimal_comma=config.decimal_comma,
        column_order=order,
    )


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
        # columns and checks only: a failing value may be personal data
        failures = (
            error.failure_cases.group_by("column", "check")
            .agg(pl.len().alias("rows"))
            .sort("column", "check")
        )
        raise ContractViolation(
            f"{source}: rows that passed parsing break {_CONTRACTS[source].__name__}:\n{failures}"
        ) from None


def _scan(
    read_path: Path,
    source_path: Path,
    source: SourceName,
    config: TransactionsSource | CustomersSource,
    numbered: bool = False,
) -> pl.LazyFrame:
    frame = scan_source_file(
        read_path, config.file_format(source_path), config.delimiter, numbered=numbered
    )
    require_columns(frame, config.columns.model_dump(), source_path, source)
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


def _scratch_base(con: duckdb.DuckDBPyConnection) -> Path:
    """Where ``scratch_directory`` puts staging directories for this connection."""
    in_memory = con.execute(
        "SELECT path IS NULL FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()[0]
    if in_memory:
        return Path(tempfile.gettempdir())
    return Path(con.execute("SELECT current_setting('temp_directory')").fetchone()[0])


def _claim(directory: Path) -> None:
    """Name this process as the staging directory's user, so a later landing can tell a
    directory left by a killed landing from one in use."""
    owner = {"pid": os.getpid(), "host": socket.gethostname()}
    (directory / STAGING_OWNER).write_text(json.dumps(owner))


def _abandoned(directory: Path) -> bool:
    try:
        owner = json.loads((directory / STAGING_OWNER).read_text())
        pid, host = int(owner["pid"]), str(owner["host"])
    except (OSError, ValueError, KeyError, TypeError):
        try:
            age = time.time() - directory.stat().st_mtime
        except OSError:
            return False
        return age > _UNOWNED_GRACE_SECONDS
    if host != socket.gethostname():
        return False  # another machine's process: nothing here can tell whether it runs
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def remove_stale_staging(con: duckdb.DuckDBPyConnection) -> int:
    """Delete the staging directories that landings killed mid-way left under this warehouse's
    scratch space (their process is gone); returns how many."""
    base = _scratch_base(con)
    if not base.is_dir():
        return 0
    removed = 0
    for directory in base.glob(f"{STAGING_PREFIX}*"):
        if directory.is_dir() and _abandoned(directory):
            shutil.rmtree(directory, ignore_errors=True)
            removed += not directory.exists()
    return removed


def _empty_frame(config: TransactionsSource | CustomersSource) -> pl.LazyFrame:
    """A frame with the mapped source columns and no rows: the parse's schema without a file."""
    mapped = {name for name in config.columns.model_dump().values() if name is not None}
    schema = {SOURCE_ROW: pl.Int64, **dict.fromkeys(sorted(mapped), pl.Utf8), SOURCE_FILE: pl.Utf8}
    return pl.LazyFrame(schema=schema)


def _structural_batches(
    prepared: PreparedCsv, parsed_schema: pl.Schema, path: Path
) -> list[pl.DataFrame]:
    """Staged rows for the records that are not rows: their number and reason, nothing else."""
    batches = []
    for rejects in prepared.rejects:
        entries = pl.read_parquet(rejects, columns=[SOURCE_ROW, "reason"])
        batches.append(
            entries.select(
                (
                    pl.col(name).cast(dtype)
                    if name in (SOURCE_ROW, "reason")
                    else pl.lit(str(path) if name == SOURCE_FILE else None, dtype=dtype).alias(name)
                )
                for name, dtype in parsed_schema.items()
            )
        )
    return batches


def _stage_rows(
    source: SourceName,
    parsed: pl.LazyFrame,
    file_seq: int,
    directory: Path,
    staging: _Staging,
) -> int:
    rows = 0
    for batch in parsed.collect_batches(chunk_size=BATCH_ROWS):
        _check_contract(source, batch)
        staging.staged.append(directory / f"{len(staging.staged):06d}.parquet")
        # lz4 and no statistics: written once, read whole a few times, then deleted
        _staged(batch, file_seq).write_parquet(
            staging.staged[-1], compression="lz4", statistics=False
        )
        rows += batch.height
    return rows


def _stage_file(
    source: SourceName,
    config: TransactionsSource | CustomersSource,
    now: datetime,
    directory: Path,
    custom: Mapping[str, str],
    file_seq: int,
    path: Path,
    staging: _Staging,
    mask: str | None,
) -> None:
    """Parse one source file into staged Parquet files (and its structural rejects)."""
    prepared: PreparedCsv | None = None
    if config.file_format(path) == "csv":
        header = read_csv_header(path, config.delimiter, config.encoding, source)
        if header is not None:
            check_header(header, config.columns.model_dump(), path, source)
        prepared = _prepare(path, config, directory, file_seq, source, mask, careful=False)
        if prepared.empty:
            staging.notes[str(path)] = prepared.notes
            return
    for attempt in range(2):
        read_path, numbered = (prepared.path, prepared.numbered) if prepared else (path, False)
        first = len(staging.staged)
        failure = ""
        frame = _scan(read_path, path, source, config, numbered)
        if staging.order is None:
            staging.order = [
                name
                for name in frame.collect_schema().names()
                if name not in (SOURCE_ROW, SOURCE_FILE)
            ]
        # the check in words is joined at the quarantine insert, not carried per row
        parsed = _parse(source, frame, config, now, custom, staging.order).drop("check")
        try:
            rows: int | None = _stage_rows(source, parsed, file_seq, directory, staging)
        except (pl.exceptions.PolarsError, OSError) as error:
            rows, failure = None, type(error).__name__
        if prepared is None or rows == prepared.records:
            if rows is None:
                # the reader's message may quote the file's text: only its kind is named
                raise SourceError(f"cannot parse {source} file {path}: {failure}")
            break
        for stale in staging.staged[first:]:
            stale.unlink(missing_ok=True)
        del staging.staged[first:]
        if attempt or prepared.numbered:
            read = "an error" if rows is None else f"{rows:,} rows, not {prepared.records:,}"
            raise SourceError(f"cannot parse {source} file {path}: the split records gave {read}")
        # the regularity check passed a file polars cannot read alike: split it record by record
        prepared = _prepare(path, config, directory, file_seq, source, mask, careful=True)
    staging.readable[file_seq] = (prepared.path, prepared.numbered) if prepared else (path, False)
    if prepared is None:
        return
    if prepared.notes:
        staging.notes[str(path)] = prepared.notes
    if prepared.rejects:
        staging.structural[file_seq] = prepared.rejects
        for batch in _structural_batches(prepared, parsed.collect_schema(), path):
            staging.staged.append(directory / f"{len(staging.staged):06d}.parquet")
            _staged(batch, file_seq).write_parquet(staging.staged[-1])


def _prepare(
    path: Path,
    config: TransactionsSource | CustomersSource,
    directory: Path,
    file_seq: int,
    source: SourceName,
    mask: str | None,
    careful: bool,
) -> PreparedCsv:
    return prepare_csv(
        path,
        config.delimiter,
        config.encoding,
        directory,
        f"{file_seq:06d}{'-careful' if careful else ''}",
        source,
        mask=mask,
        careful=careful,
    )


def stage_source(
    con: duckdb.DuckDBPyConnection,
    source: SourceName,
    config: TransactionsSource | CustomersSource,
    now: datetime,
    directory: Path,
    custom: Mapping[str, str] | None = None,
    mask: str | None = None,
) -> _Staging:
    """Parse every file of the source into Parquet files in ``directory``, queryable as the view
    ``landing_stage`` (file names in ``landing_files``). ``mask``: the token that replaces the
    text of quarantined records that are not rows (a source holding personal data)."""
    files = config.files()
    if not files:
        raise SourceError(f"sources.{source}.path: {config.path} matches no file")
    _drop_staging(con)
    con.execute("CREATE TEMP TABLE landing_files (file_seq INTEGER, source_file VARCHAR)")
    staging = _Staging(files=files)
    for file_seq, path in enumerate(files):
        con.execute("INSERT INTO landing_files VALUES (?, ?)", [file_seq, str(path)])
        _stage_file(source, config, now, directory, custom or {}, file_seq, path, staging, mask)
    if not staging.staged:
        # every file was empty: the stage still needs its columns
        empty = _parse(source, _empty_frame(config), config, now, custom or {}, None)
        staging.staged.append(directory / "empty.parquet")
        _staged(empty.head(0).collect(), 0).write_parquet(staging.staged[-1])
    file_list = ", ".join(sql_text(str(path)) for path in staging.staged)
    con.execute(f"CREATE TEMP VIEW landing_parsed AS SELECT * FROM read_parquet([{file_list}])")
    con.execute(
        "CREATE TEMP TABLE landing_flagged (file_seq INTEGER, source_row BIGINT, reason VARCHAR)"
    )
    con.execute(read_sql("raw/create_landing_stage.sql"))
    return staging


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
    staging: _Staging,
    masked: frozenset[str] | None,
) -> None:
    """The original text of the rows that may be quarantined into ``landing_raw``: rows already
    rejected, rows whose hash repeats (duplicate candidates) and, for customers, rows whose
    customer id repeats. Only their files are read again. With ``masked`` columns, each row's
    text with those values masked goes beside it (``masked_values``: what the quarantine keeps,
    while duplicates are still decided on the real text)."""
    with registered(con, "landing_repeated_hashes", repeated_hashes(staging.staged)):
        con.execute(
            read_sql("raw/find_rows_needing_raw_values.sql"),
            {"by_customer": source == "customers", "structural": list(STRUCTURAL_REASONS)},
        )
    con.execute(
        f"CREATE TEMP TABLE landing_raw (file_seq INTEGER, {SOURCE_ROW} BIGINT, "
        f"{RAW_VALUES} VARCHAR, {MASKED_VALUES} VARCHAR)"
    )
    needed = con.execute("SELECT DISTINCT file_seq FROM landing_raw_needed ORDER BY 1").fetchall()
    for (file_seq,) in needed:
        rows = con.execute(
            f"SELECT {SOURCE_ROW} FROM landing_raw_needed WHERE file_seq = ? ORDER BY 1",
            [file_seq],
        ).pl()
        read_path, numbered = staging.readable[file_seq]
        path = staging.files[file_seq]
        frame = _scan(read_path, path, source, config, numbered).join(
            rows.lazy(), on=SOURCE_ROW, how="semi"
        )
        text = raw_values(frame, staging.order, masked, MASK)
        if masked is None:
            text = text.with_columns(pl.lit(None, dtype=pl.Utf8).alias(MASKED_VALUES))
        try:
            for batch in text.collect_batches(chunk_size=BATCH_ROWS):
                with registered(con, "_raw", batch):
                    con.execute(
                        f"INSERT INTO landing_raw SELECT ?, {SOURCE_ROW}, {RAW_VALUES}, "
                        f"{MASKED_VALUES} FROM _raw",
                        [file_seq],
                    )
        except (pl.exceptions.PolarsError, OSError) as error:
            raise SourceError(
                f"cannot re-read {source} file {path}: {type(error).__name__}"
            ) from None
    for file_seq, rejects in staging.structural.items():
        listed = ", ".join(sql_text(str(path)) for path in rejects)
        con.execute(
            f"INSERT INTO landing_raw SELECT ?, {SOURCE_ROW}, {RAW_VALUES}, {MASKED_VALUES} "
            f"FROM read_parquet([{listed}])",
            [file_seq],
        )
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


def previous_rows(con: duckdb.DuckDBPyConnection, source: SourceName) -> dict[str, int]:
    """Rows per source file that the landed table and the quarantine hold for ``source``: what
    the previous landings took from each file."""
    landed = f"raw.{source}"
    empty = "(SELECT NULL::VARCHAR AS source_file, NULL::VARCHAR AS source LIMIT 0)"
    sql = read_sql("raw/previous_rows_per_file.sql").format(
        landed=quote_table(landed) if table_exists(con, landed) else empty,
        rejected=(
            quote_table("quality.rejected_rows")
            if table_exists(con, "quality.rejected_rows")
            else empty
        ),
    )
    return {name: int(rows) for name, rows in con.execute(sql, {"source": source}).fetchall()}


def _named(files: Mapping[str, tuple[int, int]], now: bool) -> str:
    listed = [
        f"{name} ({before:,} rows before" + (f", {after:,} now)" if now else ")")
        for name, (before, after) in list(files.items())[:_FILES_NAMED]
    ]
    more = len(files) - _FILES_NAMED
    return ", ".join(listed) + (f" and {more:,} more" if more > 0 else "")


def _refuse_removed(
    source: SourceName,
    removed: Mapping[str, tuple[int, int]],
    shrunk: Mapping[str, tuple[int, int]],
) -> None:
    parts = []
    if removed:
        parts.append(
            f"{len(removed):,} file(s) landed before no longer match sources.{source}.path: "
            f"{_named(removed, now=False)}"
        )
    if shrunk:
        parts.append(f"{len(shrunk):,} file(s) now hold fewer rows: {_named(shrunk, now=True)}")
    raise RemovedFilesError(
        f"{source}: {'; '.join(parts)}. Nothing was written: landing now would delete their "
        f"rows from raw.{source} and change the history built on them. If the removal is "
        f"intended, set sources.{source}.allow_removed_files: true for this run."
    )


def land_source(
    con: duckdb.DuckDBPyConnection,
    source: SourceName,
    config: TransactionsSource | CustomersSource,
    now: datetime,
    custom: Mapping[str, str] | None = None,
    masked: frozenset[str] | None = None,
) -> LandingReport:
    """Land one source: guard against removed files, stage, flag duplicates, gate on the
    reject rate, swap in atomically.

    Args:
        con: The warehouse connection.
        source: Which source.
        config: Its configuration.
        now: The landing's start (UTC, naive) for the future-timestamp checks.
        custom: Custom customer attributes and their types (customers source only).
        masked: The source's columns holding personal data (see
            ``segmentation.config.pii_source_columns``): their values are masked in the
            quarantine's ``raw_values``, and so is the whole text of a malformed record.

    Raises:
        RemovedFilesError: A file landed before is gone or shorter (before any write).
        RejectRateExceeded: Over ``max_reject_rate`` (nothing written).
        SourceError: A file cannot be read as configured.
    """
    masked = masked or None
    before = previous_rows(con, source)
    current = {str(path) for path in config.files()}
    removed = {name: (rows, 0) for name, rows in before.items() if name not in current}
    if removed and not config.allow_removed_files:
        _refuse_removed(source, removed, {})
    stale = remove_stale_staging(con)
    with scratch_directory(con, STAGING_PREFIX) as directory:
        _claim(directory)
        try:
            staging = stage_source(
                con, source, config, now, directory, custom, MASK if masked else None
            )
            report = _land_staged(con, source, config, staging, now, before, masked)
        finally:
            _drop_staging(con)
    return replace(
        report,
        removed_files={**removed, **report.removed_files},
        allow_removed_files=config.allow_removed_files,
        stale_staging_removed=stale,
    )


def _land_staged(
    con: duckdb.DuckDBPyConnection,
    source: SourceName,
    config: TransactionsSource | CustomersSource,
    staging: _Staging,
    now: datetime,
    before: Mapping[str, int],
    masked: frozenset[str] | None,
) -> LandingReport:
    """Refuse shrunk files, flag duplicates in the staged rows, gate on the reject rate, swap
    in atomically."""
    report = _report(con, source, staging)
    rows_now = _rows_by_file(con, staging.files)
    shrunk = {
        name: (before[name], rows)
        for name, rows in rows_now.items()
        if name in before and rows < before[name]
    }
    if shrunk and not config.allow_removed_files:
        _refuse_removed(source, {}, shrunk)
    # parse rejects alone over the limit: fail before re-reading files for their text
    _gate(source, report, config.max_reject_rate, True)
    _stage_raw_values(con, source, config, staging, masked)
    con.execute(read_sql("raw/flag_duplicate_rows.sql"))
    if source == "customers":
        con.execute(read_sql("raw/flag_duplicate_customers.sql"))
    report = _report(con, source, staging)
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
    return replace(report, removed_files=shrunk)


def _rows_by_file(con: duckdb.DuckDBPyConnection, files: list[Path]) -> dict[str, int]:
    """Source rows (landed or rejected) per file of this landing, 0 for a file without rows."""
    rows = dict.fromkeys((str(path) for path in files), 0)
    for file_seq, _, count in con.execute(read_sql("raw/landing_counts.sql")).fetchall():
        rows[str(files[file_seq])] += count
    return rows


def _report(con: duckdb.DuckDBPyConnection, source: SourceName, staging: _Staging) -> LandingReport:
    by_reason: Counter[str] = Counter()
    by_file: Counter[str] = Counter()
    landed = 0
    files = staging.files
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
        notes=dict(staging.notes),
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
