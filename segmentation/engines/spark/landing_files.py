"""The map step of the Spark landing: one source file parsed and checked by the library's own
landing code inside a Spark task, every record of it returned as Arrow.

No PySpark here: the driver plans with :func:`column_order` and :func:`parsed_schema`, and
Spark calls :class:`ParseFiles` on the executors (``mapInArrow`` over the files' numbers). A
task stages its file exactly as the DuckDB landing does
(``segmentation.raw.staging.stage_file``: the CSV record checks, the parse, the per-row checks,
the row hash) in a scratch folder of its own, and returns every record with its typed columns,
its reason (null for a good row) and its original text. Cross-record checks (duplicates) need
every file's rows: they are Spark's step (``segmentation.engines.spark.landing``).
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

import polars as pl
import pyarrow as pa

from segmentation.engines.spark.source_uris import named_as
from segmentation.privacy import MASK
from segmentation.raw.columns import (
    BOOKKEEPING,
    MASKED_VALUES,
    RAW_VALUES,
    ROW_HASH,
    SOURCE_FILE,
    SOURCE_ROW,
)
from segmentation.raw.csv_text import read_csv_header
from segmentation.raw.settings import AnySource, SourceName
from segmentation.raw.source_files import SourceError, check_header, scan_source_file
from segmentation.raw.staging import (
    BATCH_ROWS,
    Staging,
    file_raw_values,
    source_columns,
    stage_file,
    staged_schema,
)

# the column of the files' frame that numbers the files (their position in config.files())
FILE_SEQ = "file_seq"
# the reason of the rows that carry a file's notes (empty, blank lines, transcoded, truncated,
# malformed records; never the file's text) to the driver's report: no source row has it
NOTE = "(note)"


def column_order(source: SourceName, config: AnySource, files: list[Path]) -> list[str] | None:
    """The source's columns in the order of the first file with content, as the DuckDB landing
    takes them (``Staging.order``): they order every row's hash and text, so that the same row
    in files with their columns in other orders is found as a duplicate. Every CSV header is
    checked for the mapped columns on the way (a clear message before any task runs). None
    when no file has content.

    Read on the driver from the headers and Parquet footers only.
    """
    order: list[str] | None = None
    for path in files:
        if config.file_format(path) == "parquet":
            names = scan_source_file(path, "parquet").collect_schema().names()
        else:
            header = read_csv_header(path, config.delimiter, config.encoding, source)
            if header is None:
                continue
            check_header(header, source_columns(config), path, source)
            names = polars_names(header, config.delimiter)
        if order is None:
            order = [name for name in names if name not in BOOKKEEPING]
    return order


def polars_names(header: list[str], delimiter: str) -> list[str]:
    """The column names polars gives a CSV header (a repeated name gets a suffix).

    Args:
        header: The header's names, as the CSV reader split them.
        delimiter: The source's delimiter.

    Returns:
        The names in the header's order.
    """
    line = io.StringIO()
    csv.writer(line, delimiter=delimiter, lineterminator="\n").writerow(header)
    return pl.read_csv(
        io.BytesIO(line.getvalue().encode()), separator=delimiter, infer_schema=False
    ).columns


def parsed_schema(
    source: SourceName, config: AnySource, now: datetime, custom: Mapping[str, str] | None
) -> pa.Schema:
    """The Arrow schema of the records a task returns: the staged columns (typed values,
    ``file_seq``, ``source_row``, ``row_hash`` as a signed 64-bit number, ``reason``), then
    ``source_file``, ``raw_values`` and ``masked_values``."""
    staged = staged_schema(source, config, now, custom)
    return _with_text(pl.DataFrame(schema=staged).lazy(), "").collect().to_arrow().schema


def _with_text(staged: pl.LazyFrame, source_file: str) -> pl.LazyFrame:
    """The staged rows with the file's name and placeholders for the text (filled by a join)."""
    return staged.with_columns(
        pl.col(ROW_HASH).reinterpret(signed=True),
        pl.lit(source_file, dtype=pl.Utf8).alias(SOURCE_FILE),
        pl.lit(None, dtype=pl.Utf8).alias(RAW_VALUES),
        pl.lit(None, dtype=pl.Utf8).alias(MASKED_VALUES),
    )


@dataclass(frozen=True)
class ParseFiles:
    """The ``mapInArrow`` function: batches of file numbers in, every record of those files
    out (:func:`parsed_schema`, cast to ``schema``, the Arrow form of the declared Spark
    schema), and a row per note of the staging about a file (reason :data:`NOTE`).

    Attributes:
        source: Which source.
        config: Its configuration.
        files: The source's files, in ``config.files()`` order (a file's number is its place).
        order: :func:`column_order`.
        now: The landing's start (UTC, naive), for the future-timestamp checks.
        custom: Custom customer attributes and their types (as ``land_source`` takes them).
        masked: The source's columns holding personal data (as ``land_source`` takes them).
        schema: The Arrow schema of the declared output.
    """

    source: SourceName
    config: AnySource
    files: tuple[str, ...]
    order: tuple[str, ...] | None
    now: datetime
    custom: Mapping[str, str] | None
    masked: frozenset[str] | None
    schema: pa.Schema

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for file_seq in batch.column(FILE_SEQ).to_pylist():
                yield from self.parse_file(int(file_seq))

    def _notes(self, file_seq: int, notes: list[str]) -> Iterator[pa.RecordBatch]:
        """The file's notes as rows: reason :data:`NOTE`, the note in ``raw_values``, its
        place among the file's notes in ``source_row``, every other column null."""
        if not notes:
            return
        columns = {field.name: pa.nulls(len(notes), field.type) for field in self.schema}
        columns[FILE_SEQ] = pa.array([file_seq] * len(notes), self.schema.field(FILE_SEQ).type)
        columns[SOURCE_ROW] = pa.array(range(len(notes)), self.schema.field(SOURCE_ROW).type)
        columns["reason"] = pa.array([NOTE] * len(notes), self.schema.field("reason").type)
        columns[RAW_VALUES] = pa.array(notes, self.schema.field(RAW_VALUES).type)
        yield from pa.Table.from_pydict(columns, schema=self.schema).to_batches()

    def parse_file(
        self, file_seq: int, content: pa.BinaryScalar | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Every record of file ``file_seq``: staged by the library in a scratch folder of the
        task (deleted afterwards), joined with its original text.

        Args:
            file_seq: The file's number.
            content: The file's bytes, for a file the task cannot open by its name (a URI
                source's, which Spark read): written into the scratch folder under the file's
                own name and staged from there; an error names the source file, not the copy.
        """
        with tempfile.TemporaryDirectory(prefix="landing-") as scratch:
            files = [Path(name) for name in self.files]
            if content is not None:
                # the name's suffixes tell the format; polars would take [ or * for a pattern
                name = Path(urlparse(self.files[file_seq]).path).name
                local = Path(scratch) / "source" / re.sub(r"[^\w.\-]", "_", name)
                local.parent.mkdir()
                with open(local, "wb") as copy:
                    copy.write(content.as_buffer())
                files[file_seq] = local
                with named_as(local, self.files[file_seq]):
                    yield from self._staged_file(
                        file_seq, Staging(files, order=self._order), scratch
                    )
            else:
                yield from self._staged_file(file_seq, Staging(files, order=self._order), scratch)

    @property
    def _order(self) -> list[str] | None:
        """The column order as the library's staging takes it."""
        return list(self.order) if self.order is not None else None

    def _staged_file(
        self, file_seq: int, staging: Staging, scratch: str
    ) -> Iterator[pa.RecordBatch]:
        """The records of file ``file_seq`` of ``staging`` (readable at its name there)."""
        mask = MASK if self.masked else None
        stage_file(
            self.source,
            self.config,
            self.now,
            Path(scratch),
            file_seq,
            staging,
            self.custom,
            mask,
        )
        yield from self._notes(file_seq, staging.notes.get(str(staging.files[file_seq]), []))
        if file_seq not in staging.readable or not staging.staged:
            # an empty file (0 bytes, no header line, or a header only): no records
            return
        text = file_raw_values(self.source, self.config, staging, file_seq, self.masked)
        rows = (
            _with_text(pl.scan_parquet(staging.staged), self.files[file_seq])
            .drop(RAW_VALUES, MASKED_VALUES)
            .join(text, on=SOURCE_ROW, how="left")
            .select(self.schema.names)
        )
        try:
            for part in rows.collect_batches(chunk_size=BATCH_ROWS):
                yield from part.to_arrow().cast(self.schema).to_batches()
        except (pl.exceptions.PolarsError, OSError) as error:
            # the reader's message may quote the file's text: only its kind is named
            raise SourceError(
                f"cannot re-read {self.source} file {self.files[file_seq]}: {type(error).__name__}"
            ) from None


@dataclass(frozen=True)
class ParseFileContents:
    """The ``mapInArrow`` function of a URI source: ``binaryFile`` rows (``path``,
    ``content``) in, every record of those files out, as :class:`ParseFiles` gives them: each
    file's bytes are written into the task's scratch folder and staged from there by the same
    library code.

    Attributes:
        parse: The source's :class:`ParseFiles` (``files`` holds the files' names).
        numbers: Each file's number by its path as ``binaryFile`` gives it.
    """

    parse: ParseFiles
    numbers: Mapping[str, int]

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            paths = batch.column("path")
            contents = batch.column("content")
            for index in range(batch.num_rows):
                file_seq = self.numbers[paths[index].as_py()]
                yield from self.parse.parse_file(file_seq, contents[index])
