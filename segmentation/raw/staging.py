"""Stage a source for landing: parse every file into Parquet files DuckDB reads as one view.

Each CSV file is first made safe to parse (``segmentation.raw.csv_records.prepare_csv``):
records that are not well-formed CSV become quarantine entries with their line number and text,
and a file that is not UTF-8 is transcoded. Each file is then parsed and checked by polars'
streaming engine in batches (memory bounded by the batch, not the file) and staged as Parquet
files in a directory under the warehouse's ``temp_directory``, which DuckDB reads as the view
``landing_parsed``. A row travels as typed columns plus a 64-bit hash of its original values;
only rows that need their original text (rejected rows, and rows whose hash repeats: duplicate
candidates) get it in ``landing_raw``, from a second read of their files, and duplicates are
decided by comparing that text exactly. Rows found to break a check after parsing (duplicates)
are listed in ``landing_flagged``; ``landing_stage`` is the staged rows with those reasons
applied.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pandera.polars as pa
import polars as pl

from segmentation.privacy import MASK
from segmentation.raw.columns import (
    MASKED_VALUES,
    RAW_VALUES,
    ROW_HASH,
    SOURCE_FILE,
    SOURCE_ROW,
)
from segmentation.raw.contracts import (
    CustomerAttributesContract,
    CustomersContract,
    EventsContract,
    FeedbackContract,
    ProductsContract,
    TransactionsContract,
)
from segmentation.raw.csv_records import PreparedCsv, prepare_csv
from segmentation.raw.csv_text import read_csv_header
from segmentation.raw.parsing import parse_customers, parse_transactions, raw_values
from segmentation.raw.parsing_attributes import (
    PRODUCT_KEY,
    RowKey,
    attribute_key,
    parse_customer_attributes,
    parse_products,
)
from segmentation.raw.parsing_events import parse_events, parse_feedback
from segmentation.raw.reasons import STRUCTURAL_REASONS
from segmentation.raw.settings import (
    AnySource,
    CustomerAttributesSource,
    CustomersSource,
    EventsSource,
    FeedbackSource,
    ProductsSource,
    SourceName,
    TransactionsSource,
)
from segmentation.raw.source_files import (
    SourceError,
    check_header,
    require_columns,
    scan_source_file,
)
from segmentation.sql_files import read_sql, render_sql
from segmentation.warehouse import registered

# rows per parsed batch (one staged Parquet file): ~100-200 MB of typed columns
BATCH_ROWS = 1_000_000
# row hashes sorted at a time when looking for repeats: 8 bytes each, ~0.4 GB with the sort's copy
HASHES_PER_SORT = 25_000_000


class ContractViolation(RuntimeError):
    """Rows that passed parsing broke the table contract (a bug, never silently landed)."""


# each source's contract: its landed columns in order, with their types
SOURCE_CONTRACTS: dict[SourceName, type[pa.DataFrameModel]] = {
    "transactions": TransactionsContract,
    "customers": CustomersContract,
    "events": EventsContract,
    "feedback": FeedbackContract,
    "customer_attributes": CustomerAttributesContract,
    "products": ProductsContract,
}


@dataclass
class Staging:
    """What staging produced: per file (by its number), the file polars reads and whether it
    is a numbered copy, and the quarantine entries of records that are not rows."""

    files: list[Path]
    staged: list[Path] = field(default_factory=list)
    readable: dict[int, tuple[Path, bool]] = field(default_factory=dict)
    structural: dict[int, list[Path]] = field(default_factory=dict)
    order: list[str] | None = None
    notes: dict[str, list[str]] = field(default_factory=dict)


def stage_source(
    con: duckdb.DuckDBPyConnection,
    source: SourceName,
    config: AnySource,
    now: datetime,
    directory: Path,
    custom: Mapping[str, str] | None = None,
    mask: str | None = None,
) -> Staging:
    """Parse every file of the source into Parquet files in ``directory``, queryable as the view
    ``landing_stage`` (file names in ``landing_files``). ``mask``: the token that replaces the
    text of quarantined records that are not rows (a source holding personal data)."""
    files = config.files()
    if not files:
        raise SourceError(f"sources.{source}.path: {config.path} matches no file")
    drop_staging(con)
    con.execute(read_sql("raw/create_landing_files.sql"))
    staging = Staging(files=files)
    for file_seq, path in enumerate(files):
        con.execute(
            read_sql("raw/insert_landing_file.sql"),
            {"file_seq": file_seq, "source_file": str(path)},
        )
        _stage_file(source, config, now, directory, custom or {}, file_seq, path, staging, mask)
    if not staging.staged:
        # every file was empty: the stage still needs its columns
        empty = _parse(source, _empty_frame(config), config, now, custom or {}, None)
        staging.staged.append(directory / "empty.parquet")
        _staged(empty.head(0).collect(), 0).write_parquet(staging.staged[-1])
    con.execute(
        read_sql("raw/set_staged_files.sql"), {"files": [str(path) for path in staging.staged]}
    )
    con.execute(read_sql("raw/create_landing_parsed.sql"))
    con.execute(read_sql("raw/create_landing_stage.sql"))
    return staging


def stage_file(
    source: SourceName,
    config: AnySource,
    now: datetime,
    directory: Path,
    file_seq: int,
    staging: Staging,
    custom: Mapping[str, str] | None = None,
    mask: str | None = None,
) -> None:
    """Parse the source's file number ``file_seq`` of ``staging.files`` into staged Parquet
    files in ``directory`` (added to ``staging``), as :func:`stage_source` does for each file.

    A ``staging.order`` given beforehand (the first file's columns) orders the row hash and the
    text of every row; without it, this file's columns set it. The Spark landing runs this
    inside its tasks, one file at a time.
    """
    _stage_file(
        source,
        config,
        now,
        directory,
        custom or {},
        file_seq,
        staging.files[file_seq],
        staging,
        mask,
    )


def staged_schema(
    source: SourceName,
    config: AnySource,
    now: datetime,
    custom: Mapping[str, str] | None = None,
) -> pl.Schema:
    """The columns and types of the source's staged rows (:func:`stage_file`'s Parquet files):
    the parse run on no rows."""
    empty = _parse(source, _empty_frame(config), config, now, custom or {}, None)
    return _staged(empty.head(0).collect(), 0).schema


def file_raw_values(
    source: SourceName,
    config: AnySource,
    staging: Staging,
    file_seq: int,
    masked: frozenset[str] | None,
) -> pl.LazyFrame:
    """Every record of a staged file with its original text: ``source_row``, ``raw_values``
    and ``masked_values`` (null without ``masked`` columns), the records that were never rows
    (malformed CSV) included, in the form :func:`stage_raw_values` gives the rows it reads."""
    read_path, numbered = staging.readable[file_seq]
    frame = _scan(read_path, staging.files[file_seq], source, config, numbered)
    text = raw_values(frame, staging.order, masked, MASK)
    if masked is None:
        text = text.with_columns(pl.lit(None, dtype=pl.Utf8).alias(MASKED_VALUES))
    parts = [text]
    if staging.structural.get(file_seq):
        parts.append(
            pl.scan_parquet(staging.structural[file_seq]).select(
                pl.col(SOURCE_ROW).cast(pl.Int64), RAW_VALUES, MASKED_VALUES
            )
        )
    return pl.concat(parts, how="vertical_relaxed")


def _stage_file(
    source: SourceName,
    config: AnySource,
    now: datetime,
    directory: Path,
    custom: Mapping[str, str],
    file_seq: int,
    path: Path,
    staging: Staging,
    mask: str | None,
) -> None:
    """Parse one source file into staged Parquet files (and its structural rejects)."""
    prepared: PreparedCsv | None = None
    if config.file_format(path) == "csv":
        header = read_csv_header(path, config.delimiter, config.encoding, source)
        if header is not None:
            check_header(header, source_columns(config), path, source)
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
    config: AnySource,
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


def _scan(
    read_path: Path,
    source_path: Path,
    source: SourceName,
    config: AnySource,
    numbered: bool = False,
) -> pl.LazyFrame:
    frame = scan_source_file(
        read_path, config.file_format(source_path), config.delimiter, numbered=numbered
    )
    require_columns(frame, source_columns(config), source_path, source)
    return frame


def source_columns(config: AnySource) -> dict[str, str | None]:
    """Canonical column -> the source's column, for every column the source reads (an
    attribute history's ``valid_from`` included)."""
    if isinstance(config, CustomerAttributesSource):
        return config.source_columns()
    return config.columns.model_dump()


def row_key(
    source: SourceName, config: AnySource, custom: Mapping[str, str] | None = None
) -> RowKey | None:
    """The key a source's rows must be unique on beyond whole rows (an attribute history: a
    customer and instant; the catalogue: a product id); None for the other sources."""
    if isinstance(config, CustomerAttributesSource):
        return attribute_key(config.columns.model_dump(), custom or {})
    if isinstance(config, ProductsSource):
        return PRODUCT_KEY
    return None


def _parse(
    source: SourceName,
    frame: pl.LazyFrame,
    config: AnySource,
    now: datetime,
    custom: Mapping[str, str],
    order: list[str] | None,
) -> pl.LazyFrame:
    columns = config.columns.model_dump()
    if isinstance(config, CustomerAttributesSource):
        return parse_customer_attributes(
            frame,
            columns,
            config.valid_from,
            now,
            custom,
            timestamp_format=config.timestamp_format,
            date_format=config.date_format,
            timezone=config.timezone,
            decimal_comma=config.decimal_comma,
            list_separator=config.list_separator,
            column_order=order,
        )
    if isinstance(config, ProductsSource):
        return parse_products(frame, columns, column_order=order)
    if isinstance(config, EventsSource):
        return parse_events(
            frame,
            columns,
            config.event_types.lookup(),
            config.timestamp_format,
            now,
            timezone=config.timezone,
            column_order=order,
        )
    if isinstance(config, FeedbackSource):
        return parse_feedback(
            frame,
            columns,
            config.kinds.lookup(),
            config.scales(),
            config.timestamp_format,
            now,
            timezone=config.timezone,
            decimal_comma=config.decimal_comma,
            column_order=order,
        )
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
    assert isinstance(config, CustomersSource)
    return parse_customers(
        frame,
        columns,
        config.date_format,
        now,
        custom,
        decimal_comma=config.decimal_comma,
        list_separator=config.list_separator,
        column_order=order,
    )


def _stage_rows(
    source: SourceName,
    parsed: pl.LazyFrame,
    file_seq: int,
    directory: Path,
    staging: Staging,
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


def _check_contract(source: SourceName, parsed: pl.DataFrame) -> None:
    """Fail when a good row of a parsed batch breaks the table contract."""
    schema = _staging_schema(source)
    # an attribute history has only the attribute columns its source maps
    present = [name for name in schema.columns if name in parsed.columns]
    good = parsed.filter(pl.col("reason").is_null()).select(present)
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
            f"{source}: rows that passed parsing break "
            f"{SOURCE_CONTRACTS[source].__name__}:\n{failures}"
        ) from None


def _staging_schema(source: SourceName) -> pa.DataFrameSchema:
    """The contract without uniqueness: duplicates are quarantined after all files are staged."""
    schema = SOURCE_CONTRACTS[source].to_schema()
    for name, column in schema.columns.items():
        if column.unique:
            schema = schema.update_column(name, unique=False)
    if schema.unique:
        schema = copy.deepcopy(schema)
        schema.unique = None
    return schema


def _staged(batch: pl.DataFrame, file_seq: int) -> pl.DataFrame:
    """The staged form of a parsed batch: the file as its number (in the file name's place),
    the check in words left to the quarantine insert."""
    return (
        batch.drop("check", strict=False)
        .with_columns(pl.lit(file_seq, dtype=pl.Int32).alias(SOURCE_FILE))
        .rename({SOURCE_FILE: "file_seq"})
    )


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


def _empty_frame(config: AnySource) -> pl.LazyFrame:
    """A frame with the mapped source columns and no rows: the parse's schema without a file."""
    mapped = {name for name in source_columns(config).values() if name is not None}
    schema = {SOURCE_ROW: pl.Int64, **dict.fromkeys(sorted(mapped), pl.Utf8), SOURCE_FILE: pl.Utf8}
    return pl.LazyFrame(schema=schema)


def stage_raw_values(
    con: duckdb.DuckDBPyConnection,
    source: SourceName,
    config: AnySource,
    staging: Staging,
    masked: frozenset[str] | None,
    key: RowKey | None = None,
) -> None:
    """The original text of the rows that may be quarantined into ``landing_raw``: rows already
    rejected, rows whose hash repeats (duplicate candidates), for customers rows whose customer
    id repeats and, with a ``key`` (:func:`row_key`), rows whose key repeats. Only their files
    are read again. With ``masked`` columns, each row's text with those values masked goes
    beside it (``masked_values``: what the quarantine keeps, while duplicates are still decided
    on the real text)."""
    with registered(con, "landing_repeated_hashes", repeated_hashes(staging.staged)):
        con.execute(
            read_sql("raw/find_rows_needing_raw_values.sql"),
            {"structural": list(STRUCTURAL_REASONS)},
        )
    repeating = ["customer_id"] if source == "customers" else list(key.key) if key else None
    if repeating:
        con.execute(render_sql("raw/find_rows_repeating_a_key.sql", key=repeating))
    con.execute(read_sql("raw/create_landing_raw.sql"))
    needed = con.execute(read_sql("raw/files_needing_raw_values.sql")).fetchall()
    for (file_seq,) in needed:
        rows = con.execute(read_sql("raw/rows_needing_raw_values.sql"), {"file_seq": file_seq}).pl()
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
                    con.execute(read_sql("raw/insert_raw_values.sql"), {"file_seq": file_seq})
        except (pl.exceptions.PolarsError, OSError) as error:
            raise SourceError(
                f"cannot re-read {source} file {path}: {type(error).__name__}"
            ) from None
    for file_seq, rejects in staging.structural.items():
        con.execute(
            read_sql("raw/insert_structural_raw_values.sql"),
            {"file_seq": file_seq, "files": [str(path) for path in rejects]},
        )
    con.execute(read_sql("raw/drop_landing_raw_needed.sql"))


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


def flag_duplicates(
    con: duckdb.DuckDBPyConnection, source: SourceName, key: RowKey | None = None
) -> None:
    """List in ``landing_flagged`` the good rows that repeat an earlier source row exactly, for
    customers the good rows that repeat an earlier row's customer id and, with a ``key``
    (:func:`row_key`), the rows sharing a key: all of them when their values differ
    (``key.conflict``), else every one but the first (``duplicate_row``). After
    :func:`stage_raw_values`: the rows' text decides exact duplicates."""
    con.execute(read_sql("raw/flag_duplicate_rows.sql"))
    if source == "customers":
        con.execute(read_sql("raw/flag_duplicate_customers.sql"))
    if key is not None:
        con.execute(
            render_sql(
                "raw/flag_rows_repeating_a_key.sql", key=list(key.key), values=list(key.values)
            ),
            {"conflict": key.conflict},
        )


def drop_staging(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the staging views and tables of a landing on this connection (if any)."""
    con.execute(read_sql("raw/drop_landing_staging.sql"))
