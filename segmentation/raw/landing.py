"""Land a configured source into the warehouse: every source row lands or is quarantined.

The steps, each in its own module: before anything is read, the guard against removed files
(``segmentation.raw.removed_files``); staging the parsed rows (``segmentation.raw.staging``);
after staging, the guard against shrunk files; flagging duplicates; the reject-rate gate; and
publishing (``segmentation.raw.publishing``): if the reject rate is within the source's limit,
the canonical table and the source's quarantine rows are swapped in by one transaction;
otherwise nothing is written. The staged files are deleted either way, and staging directories a
killed landing left behind are deleted by the next one (``segmentation.raw.staging_cleanup``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

import duckdb
import polars as pl

from segmentation.phases import CHECKING, READING, WRITING, phase
from segmentation.privacy import MASK
from segmentation.raw.parsing_attributes import RowKey
from segmentation.raw.publishing import publish
from segmentation.raw.removed_files import (
    previous_rows,
    refuse_removed,
    removed_files,
    shrunk_files,
)
from segmentation.raw.settings import AnySource, SourceName
from segmentation.raw.staging import (
    Staging,
    drop_staging,
    flag_duplicates,
    row_key,
    stage_raw_values,
    stage_source,
)
from segmentation.raw.staging_cleanup import STAGING_PREFIX, claim, remove_stale_staging
from segmentation.sql_files import read_sql, render_sql
from segmentation.warehouse import scratch_directory


class RejectRateExceeded(RuntimeError):
    """Too many rows of a source failed their checks; nothing was written."""


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


def land_source(
    con: duckdb.DuckDBPyConnection,
    source: SourceName,
    config: AnySource,
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
        custom: Custom customer attributes and their types (the customers and attributes
            sources; each lands those it maps).
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
    removed = removed_files(before, config.files())
    if removed and not config.allow_removed_files:
        refuse_removed(source, removed, {})
    stale = remove_stale_staging(con)
    with scratch_directory(con, STAGING_PREFIX) as directory:
        claim(directory)
        try:
            with phase(READING):
                staging = stage_source(
                    con, source, config, now, directory, custom, MASK if masked else None
                )
            key = row_key(source, config, custom)
            with phase(CHECKING):
                report = _land_staged(con, source, config, staging, now, before, masked, key)
        finally:
            drop_staging(con)
    return replace(
        report,
        removed_files={**removed, **report.removed_files},
        allow_removed_files=config.allow_removed_files,
        stale_staging_removed=stale,
    )


def landed_sample(
    con: duckdb.DuckDBPyConnection, source: SourceName, rows: int = 10
) -> pl.DataFrame:
    """The first ``rows`` rows of ``raw.<source>`` as landed, for a preview."""
    return con.execute(
        render_sql("raw/landed_sample.sql", table=f"raw.{source}"), {"rows": rows}
    ).pl()


@dataclass(frozen=True)
class HistoryCounts:
    """What ``raw.customer_attributes`` holds: rows, distinct customers, rows per customer (the
    first and each change) and the span of ``valid_from`` (None without rows)."""

    history_rows: int
    customers: int
    rows_per_customer_mean: float
    rows_per_customer_median: float
    rows_per_customer_max: int
    first_valid_from: datetime | None
    last_valid_from: datetime | None


def attribute_history_counts(con: duckdb.DuckDBPyConnection) -> HistoryCounts:
    """The counts of ``raw.customer_attributes`` as landed, for the raw asset's metadata."""
    row = con.execute(read_sql("raw/attribute_history_counts.sql")).fetchone()
    return HistoryCounts(*row)


def products_per_category(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Category -> its products in ``raw.products`` as landed, most products first."""
    return dict(con.execute(read_sql("raw/products_per_category.sql")).fetchall())


def _land_staged(
    con: duckdb.DuckDBPyConnection,
    source: SourceName,
    config: AnySource,
    staging: Staging,
    now: datetime,
    before: Mapping[str, int],
    masked: frozenset[str] | None,
    key: RowKey | None,
) -> LandingReport:
    """Refuse shrunk files, flag duplicates (and rows repeating a ``key``) in the staged rows,
    gate on the reject rate, swap in atomically."""
    # one count of the staged rows for both: each count reads every staged file again
    counts = _staged_counts(con)
    report = _report(source, staging, counts)
    shrunk = shrunk_files(before, staging.files, counts)
    if shrunk and not config.allow_removed_files:
        refuse_removed(source, {}, shrunk)
    # parse rejects alone over the limit: fail before re-reading files for their text
    _gate(source, report, config.max_reject_rate, True)
    stage_raw_values(con, source, config, staging, masked, key)
    flag_duplicates(con, source, key)
    report = _report(source, staging, _staged_counts(con))
    _gate(source, report, config.max_reject_rate, False)
    with phase(WRITING):
        publish(con, source, now)
    return replace(report, removed_files=shrunk)


def check_reject_rate(
    source: SourceName, report: LandingReport, max_reject_rate: float, before_duplicates: bool
) -> None:
    """Raise :class:`RejectRateExceeded` when ``report``'s reject rate is over the source's
    ``max_reject_rate``, naming the worst files and the top reasons (``before_duplicates``:
    the count is a lower bound, duplicates are not flagged yet)."""
    _gate(source, report, max_reject_rate, before_duplicates)


def _gate(
    source: SourceName, report: LandingReport, max_reject_rate: float, before_duplicates: bool
) -> None:
    """Raise :class:`RejectRateExceeded` when the report's reject rate is over the limit."""
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


def _staged_counts(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str | None, int]]:
    """The staged rows per file and reason (None: landed), as ``landing_counts.sql`` counts
    them: each call reads every staged file."""
    return con.execute(read_sql("raw/landing_counts.sql")).fetchall()


def _report(
    source: SourceName, staging: Staging, counts: list[tuple[int, str | None, int]]
) -> LandingReport:
    """Rows per reason and file of the stage as it stands (``counts``: :func:`_staged_counts`):
    landed and rejected."""
    by_reason: Counter[str] = Counter()
    by_file: Counter[str] = Counter()
    landed = 0
    files = staging.files
    for file_seq, reason, rows in counts:
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
