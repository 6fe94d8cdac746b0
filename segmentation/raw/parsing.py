"""Read source files and parse their rows into canonical, typed columns; each bad row gets a reason.

Two parts. First, a CSV file is made safe to parse (:func:`prepare_csv`): its records are
checked before polars reads it, so that no malformed record can fail, merge or shift the others.
A regular file (every line one record with as many fields as the header, quotes balanced, UTF-8)
is read in place after one vectorised pass over its lines; any other file is split record by
record in Python into a copy that numbers each good record, and every record that cannot be a row
(wrong number of fields, unbalanced quotes, NUL bytes, the broken tail of a truncated compressed
file) becomes a quarantine entry with its line number and text. Non-UTF-8 files are transcoded
into the copy's directory first.

Second, pure polars: a source file becomes a lazy frame of canonical columns plus
``reason``/``check`` (null for a good row) and a 64-bit hash of the original row (``row_hash``)
that finds duplicate candidates without carrying the row's text, so that every source row ends in
exactly one of the landed table or the quarantine. The original row as JSON text
(``raw_values``) is built only for the rows that need it.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import re
import zlib
from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

import polars as pl

from segmentation.raw.contracts import EPOCH

SOURCE_FILE = "source_file"
SOURCE_ROW = "source_row"
RAW_VALUES = "raw_values"
MASKED_VALUES = "masked_values"
ROW_HASH = "row_hash"

# reasons a record gets before it is parsed into columns: it is not a well-formed CSV record
STRUCTURAL_REASONS: dict[str, str] = {
    "malformed_record": "the record has as many fields as the header",
    "unbalanced_quote": (
        "quotes are balanced: a quoted field is closed before the next delimiter or line end, "
        "and no quote stands inside an unquoted field"
    ),
    "nul_byte": "the record holds no NUL byte (a sign of a damaged file)",
    "truncated_file": (
        "the file is complete (a compressed file that breaks off lands up to the break; "
        "the rest is this one entry)"
    ),
}
# reason code -> the check that failed, in words; the order is the order checks apply.
TRANSACTION_REASONS: dict[str, str] = {
    **STRUCTURAL_REASONS,
    "missing_customer_id": "customer_id is present",
    "missing_timestamp": "order_ts is present",
    "unparseable_timestamp": "order_ts parses as a timestamp",
    "unparseable_number": "quantity, unit_price and amount parse as numbers",
    "missing_amount": "amount is present or quantity and unit_price are",
    "non_finite_amount": "amount, quantity and unit_price are finite",
    "timestamp_before_1970": "order_ts is on or after 1970-01-01",
    "timestamp_in_future": "order_ts is not after the landing run",
    "duplicate_row": "row is not an exact duplicate of an earlier source row",
}
CUSTOMER_REASONS: dict[str, str] = {
    **STRUCTURAL_REASONS,
    "missing_customer_id": "customer_id is present",
    "unparseable_date": "signup_date and birth_date parse as dates",
    "unparseable_number": "income and numeric custom attributes parse as numbers",
    "unparseable_value": "boolean custom attributes parse as true/false",
    "non_finite_number": "income is finite and not negative",
    "date_in_future": "signup_date and birth_date are not after the landing run",
    "duplicate_row": "row is not an exact duplicate of an earlier source row",
    "duplicate_customer_id": "customer_id appears once (the first row is kept)",
}

ISO_TIMESTAMP_FORMATS = (
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d",
)
ISO_DATE_FORMATS = ("%Y-%m-%d",)
# timestamps that carry their UTC offset (``+08:00``, ``+0800``, ``Z``): tried after the naive
# formats, so they parse with or without a configured format
OFFSET_TIMESTAMP_FORMATS = (
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M%#z",
    "%Y-%m-%dT%H:%M%#z",
)
_OFFSET_DIRECTIVE = re.compile(r"%[:#]*z")
_OFFSET_SUFFIX = r"(?:Z|[+-]\d\d(?::?\d\d)?)$"
# a time of day followed by its offset: the offset is dropped from a value read as a date
_TRAILING_OFFSET = r"^(.*\d:\d\d(?::\d\d(?:[.,]\d+)?)?)\s*(?:Z|[+-]\d\d(?::?\d\d)?)$"
# a number written with a decimal comma, thousands optionally grouped by dots
_DECIMAL_COMMA_NUMBER = r"^[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?(?:[eE][+-]?\d+)?$"
_NON_FINITE_WORD = r"(?i)^[+-]?(?:inf|infinity|nan)$"


class SourceError(ValueError):
    """A source file that cannot be read as configured. The message names the file, and the line
    or column where that helps, but never quotes a value of the file."""


# --------------------------------------------------------------------------------------------
# CSV files: every record lands, is quarantined, or the file fails naming its problem
# --------------------------------------------------------------------------------------------

# the column of a numbered copy that carries each record's number in its source file
ROW_NUMBER = "__source_row__"
# a quoted field may span lines; a record longer than this is cut off at its first line
MAX_RECORD_CHARS = 1 << 20
# characters of a malformed record's text kept in the quarantine
RAW_TEXT_CHARS = 10_000
_READ_BYTES = 1 << 20
_WRITE_RECORDS = 20_000
_REJECT_BATCH = 100_000
# polars reads each line of a file as one field for the regularity check: a byte no text file
# holds (a line that does hold it just takes the careful path)
_LINE_SEPARATOR = "\x1f"
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_REJECT_SCHEMA = {
    SOURCE_ROW: pl.Int64,
    "reason": pl.Utf8,
    RAW_VALUES: pl.Utf8,
    MASKED_VALUES: pl.Utf8,
}


@dataclass
class PreparedCsv:
    """A CSV source file made safe to parse.

    Attributes:
        path: The file polars reads: the source itself, its UTF-8 transcoding or a numbered copy.
        numbered: ``path`` is a copy whose first column (:data:`ROW_NUMBER`) holds each record's
            number in the source file (records that could not be rows are not in it).
        records: The rows polars must read from ``path`` (a cross-check of the two readers).
        rejects: Parquet files of quarantine entries for records that are not rows (columns
            ``source_row``, ``reason``, ``raw_values``, ``masked_values``).
        rejected: How many such entries.
        notes: What a person should know about the file (empty, blank lines, truncated, ...).
    """

    path: Path
    numbered: bool = False
    records: int = 0
    rejects: list[Path] = field(default_factory=list)
    rejected: int = 0
    notes: list[str] = field(default_factory=list)
    empty: bool = False


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


class _Decompressed(io.RawIOBase):
    """The bytes of a file, decompressed when it is gzip. A gzip stream that breaks off (a
    truncated or damaged file) ends the bytes at the last line break before the break: the
    partial line after it is kept in ``tail`` and ``broken_at`` is its byte offset."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        with open(path, "rb") as probe:
            magic = probe.read(4)
        if magic.startswith(_ZSTD_MAGIC):
            raise SourceError(
                f"{path} is zstd-compressed and needs repairing or transcoding, which only works "
                f"on plain or gzip files: decompress it (zstd -d) or recompress it with gzip"
            )
        self._compressed = magic.startswith(_GZIP_MAGIC)
        # closed by close(): the stream lives as long as this reader
        self._stream = gzip.open(path, "rb") if self._compressed else open(path, "rb")  # noqa: SIM115
        self._ready = memoryview(b"")
        self._held = b""
        self._done = False
        self.delivered = 0
        self.broken_at: int | None = None
        self.tail = b""

    def readable(self) -> bool:
        return True

    def _refill(self) -> None:
        while not self._ready and not self._done:
            try:
                # read1: one decompressed block at a time, so a break loses no block before it
                chunk = (
                    self._stream.read1(_READ_BYTES)
                    if self._compressed
                    else self._stream.read(_READ_BYTES)
                )
            except (EOFError, OSError, zlib.error):
                # the stream broke off: what was decompressed up to the last line break counts
                self._done = True
                self.broken_at = self.delivered
                self.tail, self._held = self._held, b""
                return
            if not chunk:
                self._done = True
                self._ready = memoryview(self._held)
                self._held = b""
            elif self._compressed:
                data = self._held + chunk
                cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
                self._ready, self._held = memoryview(data[:cut]), data[cut:]
            else:
                self._ready = memoryview(chunk)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        self._refill()
        size = min(len(buffer), len(self._ready))
        buffer[:size] = self._ready[:size]
        self._ready = self._ready[size:]
        self.delivered += size
        return size

    def close(self) -> None:
        self._stream.close()
        super().close()


def _text_stream(stream: _Decompressed, encoding: str) -> io.TextIOWrapper:
    # universal newlines: CR-only and CRLF files split into lines like LF files
    return io.TextIOWrapper(
        io.BufferedReader(stream, _READ_BYTES), encoding=encoding, errors="strict", newline=None
    )


def _line_breaks(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _decode_error(
    path: Path, encoding: str, source: str, before: str, error: UnicodeDecodeError
) -> SourceError:
    """A file that is not text in ``encoding``: the line, the byte offset and the fix."""
    offending = error.object[error.start : error.end][:4].hex(" ")
    # a UTF-8 file is read as utf-8-sig (its byte-order mark dropped): name the user's key value
    encoding = "utf-8" if _is_utf8(encoding) else encoding
    with open(path, "rb") as probe:
        start = probe.read(4)
    if start.startswith((b"\xff\xfe", b"\xfe\xff")):
        fix = "utf-16 (the file starts with a UTF-16 byte-order mark)"
    elif _is_utf8(encoding):
        fix = "for example cp1252 (Excel and Windows exports), latin-1 or utf-16"
    else:
        fix = "the one its exporter wrote"
    return SourceError(
        f"{source} source file {path} is not valid {encoding} text: line "
        f"{_line_breaks(before) + 1} holds the bytes {offending}, which {encoding} cannot "
        f"decode. Set sources.{source}.encoding to the file's encoding: {fix}."
    )


def _locate_decode_error(path: Path, encoding: str, source: str) -> SourceError:
    """Read ``path`` again as ``encoding`` to name the line where decoding fails."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    before: list[str] = []
    with _Decompressed(path) as raw:
        while chunk := raw.read(_READ_BYTES):
            state = decoder.getstate()
            try:
                before.append(decoder.decode(chunk))
            except UnicodeDecodeError as error:
                prefix = codecs.getincrementaldecoder(encoding)(errors="replace")
                prefix.setstate(state)
                start = max(0, error.start - len(state[0]))
                before.append(prefix.decode(chunk[:start]))
                return _decode_error(path, encoding, source, "".join(before), error)
            # only the line count is needed: keep the line breaks, not the text
            before = ["\n" * _line_breaks("".join(before))]
    return SourceError(f"{source} source file {path} is not valid {encoding} text")


def read_csv_header(path: Path, delimiter: str, encoding: str, source: str) -> list[str] | None:
    """The column names of a CSV file's first line; ``None`` for a file without content."""
    with open(path, "rb") as probe:
        zstd = probe.read(4).startswith(_ZSTD_MAGIC)
    if zstd:
        # Python cannot decompress zstd: polars reads the names (of a UTF-8 file only)
        try:
            names = pl.scan_csv(path, separator=delimiter, infer_schema=False, raise_if_empty=False)
            return names.collect_schema().names() or None
        except (pl.exceptions.PolarsError, OSError) as error:
            raise SourceError(f"cannot read {path} as csv: {type(error).__name__}") from None
    try:
        with _Decompressed(path) as raw, _text_stream(raw, encoding) as text:
            line = text.readline()
    except UnicodeDecodeError:
        raise _locate_decode_error(path, encoding, source) from None
    # a UTF-8 byte-order mark is not part of the first name
    line = line.removeprefix("\ufeff").rstrip("\n")
    if not line:
        return None
    if "\x00" in line:
        raise SourceError(
            f"{source} source file {path}: the header line holds NUL bytes, so the file is "
            f"probably UTF-16 or UTF-32 text: set sources.{source}.encoding: utf-16 (or utf-32)"
        )
    try:
        return next(csv.reader([line], delimiter=delimiter, strict=True))
    except csv.Error:
        raise SourceError(
            f"{source} source file {path}: the header line is not valid CSV (unbalanced quotes)"
        ) from None


def _transcode(path: Path, encoding: str, target: Path, source: str) -> tuple[int | None, str]:
    """Write ``path`` (``encoding``, maybe gzip) to ``target`` as UTF-8, in bounded memory.
    Returns where a compressed stream broke off (or None) and the partial line there."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    with _Decompressed(path) as raw, open(target, "w", encoding="utf-8", newline="") as out:
        while chunk := raw.read(_READ_BYTES):
            try:
                out.write(decoder.decode(chunk))
            except UnicodeDecodeError:
                raise _locate_decode_error(path, encoding, source) from None
        try:
            out.write(decoder.decode(b"", final=True))
        except UnicodeDecodeError:
            raise _locate_decode_error(path, encoding, source) from None
        return raw.broken_at, raw.tail.decode(encoding, errors="replace")


def _field_pattern(delimiter: str, line_breaks: bool) -> str:
    d = f"\\x{ord(delimiter):02X}"
    inside = '(?:[^"\\x00]|"")*' if line_breaks else '(?:[^"\\x00\\n]|"")*'
    return f'(?:"{inside}"|[^"{d}\\r\\n\\x00]*)'


def _record_pattern(delimiter: str, fields: int | None, line_breaks: bool = False) -> str:
    """A regular expression a well-formed record matches as a whole: ``fields`` fields (any
    number when None), each quoted (``""`` inside for a quote) or free of quotes, line breaks
    and NUL bytes."""
    one = _field_pattern(delimiter, line_breaks)
    d = f"\\x{ord(delimiter):02X}"
    count = "*" if fields is None else f"{{{fields - 1}}}"
    return f"^{one}(?:{d}{one}){count}\\r?$"


def _regular_lines(path: Path, delimiter: str, fields: int) -> int | None:
    """The number of lines of ``path`` when every line is one well-formed record of ``fields``
    fields (then polars reads the file as it is); None otherwise.

    One multi-threaded polars pass over the lines: ~0.05 s for the 290,000-line sample.
    """
    lines = pl.scan_csv(
        path,
        has_header=False,
        separator=_LINE_SEPARATOR,
        quote_char=None,
        new_columns=["line"],
        infer_schema=False,
        raise_if_empty=False,
    )
    regular = pl.col("line").str.contains(_record_pattern(delimiter, fields)).fill_null(False)
    try:
        counts = lines.select(pl.len(), regular.all().alias("regular")).collect()
    except (pl.exceptions.PolarsError, OSError):
        # invalid UTF-8, a broken gzip stream, the separator byte inside a line: look closer
        return None
    return int(counts.item(0, 0)) if counts.item(0, 1) else None


def _json(entries: dict[str, object]) -> str:
    return json.dumps(entries, ensure_ascii=False)


class _Rejects:
    """Quarantine entries of records that are not rows, written to Parquet in batches."""

    def __init__(self, directory: Path, stem: str, mask: str | None) -> None:
        self._directory = directory
        self._stem = stem
        self._mask = mask
        self._rows: list[tuple[int, str, str, str | None]] = []
        self.files: list[Path] = []
        self.count = 0

    def add(self, record: int, line: int, reason: str, text: str, **extra: int) -> None:
        """One entry: the record's number, its first line, the reason and its text (clipped)."""
        if len(text) > RAW_TEXT_CHARS:
            text = text[:RAW_TEXT_CHARS] + f"... ({len(text) - RAW_TEXT_CHARS} more characters)"
        raw = _json({"line": line, **extra, "text": text})
        masked = None if self._mask is None else _json({"line": line, **extra, "text": self._mask})
        self._rows.append((record, reason, raw, masked))
        self.count += 1
        if len(self._rows) >= _REJECT_BATCH:
            self.flush()

    def flush(self) -> None:
        if not self._rows:
            return
        path = self._directory / f"{self._stem}.rejects-{len(self.files):04d}.parquet"
        pl.DataFrame(self._rows, schema=_REJECT_SCHEMA, orient="row").write_parquet(path)
        self.files.append(path)
        self._rows = []


@dataclass
class _Split:
    records: int = 0
    written: int = 0
    blank_lines: int = 0
    last_line: int = 1


def _split_records(
    lines: Iterator[str], delimiter: str, fields: int, out: TextIO, rejects: _Rejects
) -> _Split:
    """Split text lines (the header already read) into records; write each well-formed one to
    ``out`` after its number, hand every other one to ``rejects``.

    A record is one line, or several when a quoted field holds line breaks. A record that is
    not well-formed loses only its first line: the lines after it are read again as records, so
    an unbalanced quote cannot swallow the good rows that follow it (each line is read at most
    twice). A quoted field longer than :data:`MAX_RECORD_CHARS` counts as unbalanced. Blank
    lines are not records.
    """
    exact = re.compile(_record_pattern(delimiter, fields, line_breaks=True))
    loose = re.compile(_record_pattern(delimiter, None, line_breaks=True))
    split = _Split()
    pending: deque[tuple[int, str]] = deque()
    buffer: list[str] = []

    def next_line() -> tuple[int, str] | None:
        if pending:
            return pending.popleft()
        raw = next(lines, None)
        if raw is None:
            return None
        split.last_line += 1
        return split.last_line, raw[:-1] if raw.endswith("\n") else raw

    def keep(record: int, text: str) -> None:
        buffer.append(f"{record}{delimiter}{text}\n")
        split.written += 1
        if len(buffer) >= _WRITE_RECORDS:
            out.write("".join(buffer))
            buffer.clear()

    while (item := next_line()) is not None:
        number, line = item
        if not line:
            split.blank_lines += 1
            continue
        split.records += 1
        record = split.records
        if '"' not in line:
            if "\x00" in line:
                rejects.add(record, number, "nul_byte", line)
            elif line.count(delimiter) + 1 == fields:
                keep(record, line)
            else:
                rejects.add(record, number, "malformed_record", line)
            continue
        parts = [line]
        quotes = line.count('"')
        size = len(line)
        while quotes % 2 and size <= MAX_RECORD_CHARS:
            following = next_line()
            if following is None:
                break
            # the lines of a record are consecutive: line ``number + i`` is ``parts[i]``
            parts.append(following[1])
            quotes += following[1].count('"')
            size += len(following[1]) + 1
        text = "\n".join(parts)
        if quotes % 2 == 0 and "\x00" not in text and loose.fullmatch(text):
            if exact.fullmatch(text):
                keep(record, text)
            else:
                rejects.add(record, number, "malformed_record", text)
            continue
        # not a record: reject its first line alone and read the lines after it again
        for offset, part in reversed(list(enumerate(parts[1:], start=1))):
            pending.appendleft((number + offset, part))
        reason = "nul_byte" if "\x00" in line else "unbalanced_quote"
        rejects.add(record, number, reason, line)
    out.write("".join(buffer))
    return split


def prepare_csv(
    path: Path,
    delimiter: str,
    encoding: str,
    directory: Path,
    stem: str,
    source: str,
    mask: str | None = None,
    careful: bool = False,
) -> PreparedCsv:
    """Make one CSV source file safe to parse; copies go to ``directory`` named ``stem.*``.

    Args:
        path: The source file (plain or gzip; zstd only when it needs no repair).
        delimiter: The field separator.
        encoding: The file's text encoding; non-UTF-8 files are transcoded first.
        directory: Scratch space for the copies, deleted by the caller.
        stem: Prefix of the copies' names.
        source: The source's name, for messages.
        mask: When given, the text of quarantined records is stored as this token (a source
            holding personal data); the line number stays.
        careful: Split the file record by record even if it looks regular (used when polars
            failed to read a file the regularity check passed).

    Raises:
        SourceError: The file is not text in ``encoding`` (naming the line and the fix).
    """
    if path.stat().st_size == 0:
        return PreparedCsv(path, empty=True, notes=["empty file (0 bytes): no rows"])
    readable, broken_at, tail = path, None, ""
    notes: list[str] = []
    if not _is_utf8(encoding):
        readable = directory / f"{stem}.utf8.csv"
        broken_at, tail = _transcode(path, encoding, readable, source)
        notes.append(f"read as {encoding}")
    header = read_csv_header(readable, delimiter, "utf-8-sig", source)
    if header is None:
        return PreparedCsv(path, empty=True, notes=[*notes, "no header line: no rows"])
    if ROW_NUMBER in header:
        raise SourceError(f"{source} source file {path} has a column named {ROW_NUMBER!r}")
    fields = len(header)
    if broken_at is None and not careful:
        lines = _regular_lines(readable, delimiter, fields)
        if lines is not None:
            if lines == 1:
                notes.append("header only: no rows")
            return PreparedCsv(readable, records=lines - 1, notes=notes)
    numbered = directory / f"{stem}.records.csv"
    rejects = _Rejects(directory, stem, mask)
    try:
        with (
            _Decompressed(readable) as raw,
            _text_stream(raw, "utf-8-sig") as text,
            open(numbered, "w", encoding="utf-8", newline="") as out,
        ):
            first = text.readline().rstrip("\n")
            out.write(f"{ROW_NUMBER}{delimiter}{first}\n")
            split = _split_records(iter(text), delimiter, fields, out, rejects)
            if raw.broken_at is not None:
                broken_at, tail = raw.broken_at, raw.tail.decode("utf-8", errors="replace")
    except UnicodeDecodeError:
        raise _locate_decode_error(path, encoding, source) from None
    if broken_at is not None:
        rejects.add(split.records + 1, split.last_line + 1, "truncated_file", tail, byte=broken_at)
        notes.append(
            f"truncated: the compressed data breaks off at byte {broken_at:,} of its content "
            f"(line {split.last_line + 1}); the rows before the break landed"
        )
    rejects.flush()
    if split.records == 0 and broken_at is None:
        notes.append("header only: no rows")
    if split.blank_lines:
        notes.append(f"{split.blank_lines:,} blank line(s) skipped")
    malformed = rejects.count - (broken_at is not None)
    if malformed:
        notes.append(f"{malformed:,} record(s) not well-formed CSV: quarantined")
    return PreparedCsv(
        numbered,
        numbered=True,
        records=split.written,
        rejects=rejects.files,
        rejected=rejects.count,
        notes=notes,
    )


# --------------------------------------------------------------------------------------------
# Scanning and parsing: polars
# --------------------------------------------------------------------------------------------


def scan_source_file(
    path: Path, file_format: str, delimiter: str = ",", numbered: bool = False
) -> pl.LazyFrame:
    """Scan one source file with its original columns, plus its name and 1-based row numbers.

    CSV is read as text so that nothing is coerced (or lost) before the checks see it. A
    ``numbered`` copy (see :func:`prepare_csv`) carries each row's number in the source file.
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
    present = [name for name in names if name not in _BOOKKEEPING]
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


_BOOKKEEPING = {SOURCE_FILE, SOURCE_ROW}


def _text(schema: pl.Schema, column: str | None) -> pl.Expr:
    if column is None:
        return pl.lit(None, dtype=pl.Utf8)
    expr = pl.col(column).cast(pl.Utf8).str.strip_chars()
    return pl.when(expr.str.len_chars() > 0).then(expr)


def _number(schema: pl.Schema, column: str | None, decimal_comma: bool = False) -> pl.Expr:
    if column is None:
        return pl.lit(None, dtype=pl.Float64)
    if schema[column].is_numeric():
        return pl.col(column).cast(pl.Float64)
    text = _text(schema, column)
    if decimal_comma:
        # "1.234,56" -> "1234.56"; a value in the other convention ("1,234.56", "1.5") does not
        # match and stays unparseable rather than being read a thousand times off
        text = (
            pl.when(text.str.contains(_DECIMAL_COMMA_NUMBER))
            .then(text.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True))
            .when(text.str.contains(_NON_FINITE_WORD))
            .then(text)
        )
    return text.cast(pl.Float64, strict=False)


def _has_offset(fmt: str | None) -> bool:
    return fmt is not None and _OFFSET_DIRECTIVE.search(fmt) is not None


def _local_to_utc(expr: pl.Expr, timezone: str) -> pl.Expr:
    """Naive local times of ``timezone`` as naive UTC. The first of two equal local times (the
    hour the clocks go back) is taken; a time the clocks skip does not exist and becomes null
    (an unparseable timestamp)."""
    if timezone == "UTC":
        return expr
    return (
        expr.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
        .dt.replace_time_zone(None)
    )


def _timestamp(schema: pl.Schema, column: str, fmt: str | None, timezone: str = "UTC") -> pl.Expr:
    """Timestamps as naive UTC: values with an offset are converted by it, naive values are
    local times of ``timezone``."""
    dtype = schema[column]
    if isinstance(dtype, pl.Datetime):
        expr = pl.col(column)
        if dtype.time_zone is not None:
            return (
                expr.dt.convert_time_zone("UTC").dt.replace_time_zone(None).dt.cast_time_unit("us")
            )
        return _local_to_utc(expr.dt.cast_time_unit("us"), timezone)
    if dtype == pl.Date:
        return _local_to_utc(pl.col(column).cast(pl.Datetime("us")), timezone)
    text = _text(schema, column)
    naive_formats: tuple[str, ...] = ()
    offset_formats = OFFSET_TIMESTAMP_FORMATS
    if _has_offset(fmt):
        offset_formats = (fmt, *OFFSET_TIMESTAMP_FORMATS)  # type: ignore[assignment]
    else:
        naive_formats = (fmt,) if fmt else ISO_TIMESTAMP_FORMATS
    candidates = []
    if naive_formats:
        naive = pl.coalesce(
            [
                text.str.strptime(pl.Datetime("us"), f, strict=False, exact=True)
                for f in naive_formats
            ]
        )
        candidates.append(_local_to_utc(naive, timezone))
    # the offset formats parse only values that end like an offset: on the others (nulls) they
    # cost next to nothing (4 full parses took the sample's parse from 0.17 to 0.21 s)
    with_offset = pl.when(text.str.contains(_OFFSET_SUFFIX)).then(text)
    candidates += [
        (with_offset if f in OFFSET_TIMESTAMP_FORMATS else text)
        .str.strptime(pl.Datetime("us", "UTC"), f, strict=False, exact=True)
        .dt.convert_time_zone("UTC")
        .dt.replace_time_zone(None)
        for f in offset_formats
    ]
    return pl.coalesce(candidates)


def _date(schema: pl.Schema, column: str | None, fmt: str | None) -> pl.Expr:
    """Dates as written. A date-time with an offset gives its date as written, the offset
    dropped: a birth or signup date is a day in the calendar, not an instant."""
    if column is None:
        return pl.lit(None, dtype=pl.Date)
    dtype = schema[column]
    if dtype == pl.Date:
        return pl.col(column)
    if isinstance(dtype, pl.Datetime):
        return pl.col(column).dt.date()
    text = _text(schema, column).str.replace(_TRAILING_OFFSET, "${1}")
    if fmt:
        fmt = _OFFSET_DIRECTIVE.sub("", fmt).rstrip()
        fmt = fmt.removesuffix("Z").rstrip() if fmt.endswith("%SZ") or fmt.endswith("%MZ") else fmt
    formats = (fmt,) if fmt else ISO_DATE_FORMATS + ISO_TIMESTAMP_FORMATS
    return pl.coalesce(
        [text.str.strptime(pl.Datetime("us"), f, strict=False, exact=True) for f in formats]
    ).dt.date()


def _present(schema: pl.Schema, column: str) -> pl.Expr:
    """True where the source has a value: not null and, for text, not blank."""
    if isinstance(schema[column], (pl.String, pl.Categorical, pl.Enum)):
        return _text(schema, column).is_not_null()
    # a typed value is never blank: formatting numbers or timestamps as text to ask would cost
    # more than the whole parse
    return pl.col(column).is_not_null()


def _unparsed(schema: pl.Schema, column: str | None, parsed: pl.Expr) -> pl.Expr:
    """True where the source has a value that did not parse."""
    if column is None:
        return pl.lit(False)
    return _present(schema, column) & parsed.is_null()


def _originals(schema: pl.Schema, order: Sequence[str] | None = None) -> list[str]:
    """The source's own columns; in ``order`` (the first file's header) where given, so that the
    same row in a file with its columns in another order has the same hash and text."""
    names = [name for name in schema.names() if name not in _BOOKKEEPING]
    if order is None:
        return names
    rank = {name: index for index, name in enumerate(order)}
    return sorted(names, key=lambda name: (rank.get(name, len(rank)), name))


def raw_values(
    frame: pl.LazyFrame,
    order: Sequence[str] | None = None,
    masked: frozenset[str] | None = None,
    mask: str = "***",
) -> pl.LazyFrame:
    """``source_row`` and the original row, every source column as text, as JSON.

    With ``masked`` (column names holding personal data), a ``masked_values`` column holds the
    same JSON with those columns' values replaced by ``mask`` (null stays null): what the
    quarantine stores, while ``raw_values`` still compares rows exactly.
    """
    originals = _originals(frame.collect_schema(), order)
    columns = [pl.col(SOURCE_ROW), _json_row(originals, frozenset()).alias(RAW_VALUES)]
    if masked is not None:
        columns.append(_json_row(originals, masked, mask).alias(MASKED_VALUES))
    return frame.select(columns)


def _json_row(originals: list[str], masked: frozenset[str], mask: str = "***") -> pl.Expr:
    values = [
        (
            pl.when(pl.col(name).is_not_null()).then(pl.lit(mask)).alias(name)
            if name in masked
            else pl.col(name).cast(pl.Utf8)
        )
        for name in originals
    ]
    return pl.struct(values).struct.json_encode()


def _row_hash(schema: pl.Schema, order: Sequence[str] | None = None) -> pl.Expr:
    """A 64-bit hash of the original values: rows with equal ``raw_values`` hash equal, so rows
    with a unique hash cannot be duplicates and only the others are compared exactly (a
    collision costs one more row's text, never a row)."""
    return pl.struct([pl.col(name) for name in _originals(schema, order)]).hash().alias(ROW_HASH)


def _reason(checks: list[tuple[str, pl.Expr]], reasons: Mapping[str, str]) -> list[pl.Expr]:
    # the first failing check as a small integer, named afterwards: a chain of text
    # when/then builds a full text column per check
    first_failed = pl.coalesce(
        [
            pl.when(failed).then(pl.lit(index, dtype=pl.UInt8))
            for index, (_, failed) in enumerate(checks)
        ]
    )
    codes = {index: code for index, (code, _) in enumerate(checks)}
    reason = first_failed.replace_strict(codes, default=None, return_dtype=pl.Utf8)
    check = first_failed.replace_strict(
        {index: reasons[code] for index, code in codes.items()}, default=None, return_dtype=pl.Utf8
    )
    return [reason.alias("reason"), check.alias("check")]


def parse_transactions(
    frame: pl.LazyFrame,
    columns: Mapping[str, str | None],
    timestamp_format: str | None,
    now: datetime,
    *,
    timezone: str = "UTC",
    decimal_comma: bool = False,
    column_order: Sequence[str] | None = None,
) -> pl.LazyFrame:
    """Canonical transaction columns plus ``reason``/``check`` for rows that must not land.

    Returns and cancellations (negative quantity or amount, or an order id starting with ``C``)
    are valid business events: they land with ``is_return`` set. ``timezone`` says what naive
    timestamps mean (offsets in the data always win); ``decimal_comma`` reads ``1.234,56``;
    ``column_order`` is the source's column order for the row hash (see :func:`_originals`).
    """
    schema = frame.collect_schema()

    def number(name: str) -> pl.Expr:
        return _number(schema, columns.get(name), decimal_comma)

    quantity = number("quantity")
    unit_price = number("unit_price")
    amount = number("amount") if columns.get("amount") is not None else quantity * unit_price
    order_ts = _timestamp(schema, columns["order_ts"], timestamp_format, timezone)  # type: ignore[arg-type]
    customer_id = _customer_id(schema, columns["customer_id"])  # type: ignore[arg-type]
    order_id = _text(schema, columns.get("order_id"))

    parsed = frame.select(
        customer_id.alias("customer_id"),
        order_id.alias("order_id"),
        order_ts.alias("order_ts"),
        quantity.alias("quantity"),
        unit_price.alias("unit_price"),
        amount.alias("amount"),
        _text(schema, columns.get("product_id")).alias("product_id"),
        _text(schema, columns.get("channel")).str.to_lowercase().alias("channel"),
        _text(schema, columns.get("country")).alias("country"),
        pl.col(SOURCE_FILE),
        pl.col(SOURCE_ROW),
        _row_hash(schema, column_order),
        (~_present(schema, columns["order_ts"])).alias("_ts_missing"),  # type: ignore[arg-type]
        pl.any_horizontal(
            _unparsed(schema, columns.get(name), number(name))
            for name in ("quantity", "unit_price", "amount")
        ).alias("_number_unparsed"),
    )
    finite = pl.all_horizontal(
        pl.col(name).is_null() | pl.col(name).is_finite()
        for name in ("quantity", "unit_price", "amount")
    )
    checks = [
        ("missing_customer_id", pl.col("customer_id").is_null()),
        ("missing_timestamp", pl.col("_ts_missing")),
        ("unparseable_timestamp", pl.col("order_ts").is_null()),
        ("unparseable_number", pl.col("_number_unparsed")),
        ("missing_amount", pl.col("amount").is_null()),
        ("non_finite_amount", ~finite),
        ("timestamp_before_1970", pl.col("order_ts") < EPOCH),
        ("timestamp_in_future", pl.col("order_ts") > now),
    ]
    is_return = (
        (pl.col("quantity") < 0).fill_null(False)
        | (pl.col("amount") < 0).fill_null(False)
        | pl.col("order_id").str.starts_with("C").fill_null(False)
    )
    return parsed.with_columns(
        *_reason(checks, TRANSACTION_REASONS), is_return.alias("is_return")
    ).drop("_ts_missing", "_number_unparsed")


_BOOLEANS = {"true": True, "t": True, "yes": True, "y": True, "1": True}
_BOOLEANS |= {"false": False, "f": False, "no": False, "n": False, "0": False}


def _custom_attribute(
    schema: pl.Schema, column: str, kind: str, date_format: str | None, decimal_comma: bool
) -> pl.Expr:
    if kind == "text":
        return _text(schema, column)
    if kind == "date":
        return _date(schema, column, date_format)
    if kind == "boolean":
        if schema[column] == pl.Boolean:
            return pl.col(column)
        return (
            _text(schema, column)
            .str.to_lowercase()
            .replace_strict(_BOOLEANS, default=None, return_dtype=pl.Boolean)
        )
    number = _number(schema, column, decimal_comma)
    if kind == "integer":
        return pl.when(number == number.round(0)).then(number).cast(pl.Int64, strict=False)
    return number


def parse_customers(
    frame: pl.LazyFrame,
    columns: Mapping[str, str | None],
    date_format: str | None,
    now: datetime,
    custom: Mapping[str, str] | None = None,
    *,
    decimal_comma: bool = False,
    column_order: Sequence[str] | None = None,
) -> pl.LazyFrame:
    """Canonical customer columns plus ``reason``/``check`` for rows that must not land.

    ``custom`` maps custom attributes (keys of ``columns`` beyond the canonical ones) to their
    type: text, integer, float, boolean or date. They land as typed columns after the
    canonical ones; a value that does not parse as its type rejects the row.
    """
    custom = dict(custom or {})
    schema = frame.collect_schema()
    customs = {
        name: _custom_attribute(schema, columns[name], kind, date_format, decimal_comma)  # type: ignore[arg-type]
        for name, kind in custom.items()
    }

    def unparsed(kinds: tuple[str, ...]) -> pl.Expr:
        flags = [
            _unparsed(schema, columns[name], customs[name])
            for name, kind in custom.items()
            if kind in kinds
        ]
        return pl.any_horizontal(pl.lit(False), *flags)

    text_columns = ("gender", "region", "country", "industry", "acquisition_channel")
    pii_columns = ("email", "phone", "name")
    signup = _date(schema, columns.get("signup_date"), date_format)
    birth = _date(schema, columns.get("birth_date"), date_format)
    income = _number(schema, columns.get("income"), decimal_comma)
    parsed = frame.select(
        _customer_id(schema, columns["customer_id"]).alias("customer_id"),  # type: ignore[arg-type]
        signup.alias("signup_date"),
        birth.alias("birth_date"),
        income.alias("income"),
        *(_text(schema, columns.get(name)).alias(name) for name in text_columns + pii_columns),
        pl.col(SOURCE_FILE),
        pl.col(SOURCE_ROW),
        _row_hash(schema, column_order),
        *(expr.alias(name) for name, expr in customs.items()),
        (
            _unparsed(schema, columns.get("signup_date"), signup)
            | _unparsed(schema, columns.get("birth_date"), birth)
            | unparsed(("date",))
        ).alias("_date_unparsed"),
        (_unparsed(schema, columns.get("income"), income) | unparsed(("integer", "float"))).alias(
            "_number_unparsed"
        ),
        unparsed(("boolean",)).alias("_value_unparsed"),
    )
    today = now.date()
    checks = [
        ("missing_customer_id", pl.col("customer_id").is_null()),
        ("unparseable_date", pl.col("_date_unparsed")),
        ("unparseable_number", pl.col("_number_unparsed")),
        ("unparseable_value", pl.col("_value_unparsed")),
        (
            "non_finite_number",
            pl.col("income").is_not_null()
            & (~pl.col("income").is_finite() | (pl.col("income") < 0)),
        ),
        (
            "date_in_future",
            (pl.col("signup_date") > today).fill_null(False)
            | (pl.col("birth_date") > today).fill_null(False),
        ),
    ]
    return parsed.with_columns(*_reason(checks, CUSTOMER_REASONS)).drop(
        "_date_unparsed", "_number_unparsed", "_value_unparsed"
    )


def _customer_id(schema: pl.Schema, column: str) -> pl.Expr:
    """Customer ids as text; integral floats (``13085.0`` from a float column) lose the ``.0``."""
    if schema[column].is_float():
        value = pl.col(column)
        integral = value.is_finite() & (value == value.round(0))
        return (
            pl.when(integral)
            .then(value.cast(pl.Int64, strict=False).cast(pl.Utf8))
            .otherwise(_text(schema, column))
        )
    return _text(schema, column)
