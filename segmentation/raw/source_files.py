"""Reading one source file as configured: its columns as they are, and its header checked.

A file that cannot be read as configured raises :class:`SourceError`, whose message names the
file (and the line or column where that helps) but never quotes a value of the file.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from segmentation.raw.columns import BOOKKEEPING, ROW_NUMBER, SOURCE_FILE, SOURCE_ROW


class SourceError(ValueError):
    """A source file that cannot be read as configured. The message names the file, and the line
    or column where that helps, but never quotes a value of the file."""


def scan_source_file(
    path: Path, file_format: str, delimiter: str = ",", numbered: bool = False
) -> pl.LazyFrame:
    """Scan one source file with its original columns, plus its name and 1-based row numbers.

    CSV is read as text so that nothing is coerced (or lost) before the checks see it. A
    ``numbered`` copy (see ``segmentation.raw.csv_records.prepare_csv``) carries each row's
    number in the source file.
    """
    try:
        if file_format == "csv" and numbered:
            frame = pl.scan_csv(path, separator=delimiter, infer_schema=False)
            frame = frame.select(
                pl.col(ROW_NUMBER).cast(pl.Int64).alias(SOURCE_ROW), pl.exclude(ROW_NUMBER)
            )
        elif file_format == "csv":
            frame = pl.scan_csv(
                path,
                separator=delimiter,
                infer_schema=False,
                row_index_name=SOURCE_ROW,
                row_index_offset=1,
            )
        else:
            frame = pl.scan_parquet(path).with_row_index(SOURCE_ROW, offset=1)
        frame.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as error:
        # a Parquet file's error is about its footer and schema; a CSV reader's error may quote
        # the file's text, which may be personal data
        detail = str(error).splitlines()[0][:300] if file_format == "parquet" else None
        raise SourceError(
            f"cannot read {path} as {file_format}: {detail or type(error).__name__}"
        ) from None
    return frame.with_columns(
        pl.col(SOURCE_ROW).cast(pl.Int64), pl.lit(str(path)).alias(SOURCE_FILE)
    )


_EMAIL_OR_NUMBER = re.compile(r"@|\d{5,}")


def _column_list(names: Sequence[str]) -> str:
    """Column names for a message. A name that looks like an e-mail or a long number is masked:
    a file without a header line has a row of data where its names should be."""
    shown = ["'***'" if _EMAIL_OR_NUMBER.search(name) else repr(name[:60]) for name in names[:40]]
    more = f" and {len(names) - 40} more" if len(names) > 40 else ""
    listing = ", ".join(shown) + more
    if any(_EMAIL_OR_NUMBER.search(name) for name in names):
        listing += " (values masked: the first line looks like data; does the file have a header?)"
    return listing


def check_header(
    names: Sequence[str], mapping: Mapping[str, str | None], path: Path, source: str
) -> None:
    """Fail naming the column and the file when a mapped source column is missing or appears
    more than once in the header."""
    present = [name for name in names if name not in BOOKKEEPING]
    missing = [
        f"{source_column!r} (mapped to {canonical})"
        for canonical, source_column in mapping.items()
        if source_column is not None and source_column not in present
    ]
    if missing:
        hint = f"Fix sources.{source}.columns in the config."
        if len(present) == 1 and any(mark in present[0] for mark in ",;|\t"):
            hint = f"Is sources.{source}.delimiter right? The header was read as one column."
        raise SourceError(
            f"{source} source file {path} has no column {', '.join(missing)}; "
            f"its columns are: {_column_list(present)}. {hint}"
        )
    counts = Counter(present)
    repeated = sorted(
        {
            source_column
            for source_column in mapping.values()
            if source_column is not None and counts[source_column] > 1
        }
    )
    if repeated:
        raise SourceError(
            f"{source} source file {path} has more than one column named "
            f"{', '.join(repr(name) for name in repeated)}: rename them in the file "
            f"(which one is meant cannot be told)"
        )


def require_columns(
    frame: pl.LazyFrame, mapping: Mapping[str, str | None], path: Path, source: str
) -> None:
    """Fail with the column and the file named when a mapped source column is missing."""
    check_header(frame.collect_schema().names(), mapping, path, source)
