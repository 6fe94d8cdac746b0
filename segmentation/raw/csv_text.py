"""The bytes of a CSV source file as text: decompressed, decoded, and its header line read.

A gzip file is decompressed on the fly, and one that breaks off (truncated or damaged) ends at
its last complete line, the rest kept aside for the quarantine. A file that is not text in its
configured encoding fails naming the line, the bytes and the encoding to set; a file in another
encoding than UTF-8 is transcoded into a UTF-8 copy.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zlib
from pathlib import Path

import polars as pl

from segmentation.raw.source_files import SourceError

_READ_BYTES = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


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
        with Decompressed(path) as raw, text_stream(raw, encoding) as text:
            line = text.readline()
    except UnicodeDecodeError:
        raise locate_decode_error(path, encoding, source) from None
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


def transcode(path: Path, encoding: str, target: Path, source: str) -> tuple[int | None, str]:
    """Write ``path`` (``encoding``, maybe gzip) to ``target`` as UTF-8, in bounded memory.
    Returns where a compressed stream broke off (or None) and the partial line there."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    with Decompressed(path) as raw, open(target, "w", encoding="utf-8", newline="") as out:
        while chunk := raw.read(_READ_BYTES):
            try:
                out.write(decoder.decode(chunk))
            except UnicodeDecodeError:
                raise locate_decode_error(path, encoding, source) from None
        try:
            out.write(decoder.decode(b"", final=True))
        except UnicodeDecodeError:
            raise locate_decode_error(path, encoding, source) from None
        return raw.broken_at, raw.tail.decode(encoding, errors="replace")


class Decompressed(io.RawIOBase):
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


def text_stream(stream: Decompressed, encoding: str) -> io.TextIOWrapper:
    """The text of ``stream`` in ``encoding``, strictly decoded, split into lines."""
    # universal newlines: CR-only and CRLF files split into lines like LF files
    return io.TextIOWrapper(
        io.BufferedReader(stream, _READ_BYTES), encoding=encoding, errors="strict", newline=None
    )


def is_utf8(encoding: str) -> bool:
    """Whether ``encoding`` names UTF-8 (with or without a byte-order mark)."""
    return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


def locate_decode_error(path: Path, encoding: str, source: str) -> SourceError:
    """Read ``path`` again as ``encoding`` to name the line where decoding fails."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    before: list[str] = []
    with Decompressed(path) as raw:
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


def _decode_error(
    path: Path, encoding: str, source: str, before: str, error: UnicodeDecodeError
) -> SourceError:
    """A file that is not text in ``encoding``: the line, the byte offset and the fix."""
    offending = error.object[error.start : error.end][:4].hex(" ")
    # a UTF-8 file is read as utf-8-sig (its byte-order mark dropped): name the user's key value
    encoding = "utf-8" if is_utf8(encoding) else encoding
    with open(path, "rb") as probe:
        start = probe.read(4)
    if start.startswith((b"\xff\xfe", b"\xfe\xff")):
        fix = "utf-16 (the file starts with a UTF-16 byte-order mark)"
    elif is_utf8(encoding):
        fix = "for example cp1252 (Excel and Windows exports), latin-1 or utf-16"
    else:
        fix = "the one its exporter wrote"
    return SourceError(
        f"{source} source file {path} is not valid {encoding} text: line "
        f"{_line_breaks(before) + 1} holds the bytes {offending}, which {encoding} cannot "
        f"decode. Set sources.{source}.encoding to the file's encoding: {fix}."
    )


def _line_breaks(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")
