"""Land a polars frame as the pipeline lands a source file: for frames handed in by code (the
``segmentation.notebook`` API) rather than read from a configured source.

The frame is written as one Parquet file, a source whose columns map to themselves, and landed
by :func:`segmentation.raw.landing.land_source` into an in-memory DuckDB: the same parsing and
normalisation (ids and text trimmed, channels lower-cased, ``is_return`` derived), the same
checks and quarantine reasons, duplicate flags and contract as a configured source, with no
reject-rate limit. The frame's columns are the source's columns: the canonical ones are read as
such, the others count only when rows are compared for duplicates, as a file's unmapped columns
do.

A frame landed before (``raw.transactions`` read back) lands again unchanged: its ``is_return``
and ``row_hash`` are not source values and are left out (``is_return`` is derived again), and its
own ``source_file`` and ``source_row`` stay the rows' provenance. They are compared with the
rest of the row when duplicates are looked for: the source columns that told two such rows apart
(a description, say) are gone, and two different source rows are never duplicates.
"""

from __future__ import annotations

import glob
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from segmentation.raw.columns import ROW_HASH, SOURCE_FILE, SOURCE_ROW
from segmentation.raw.landing import land_source
from segmentation.raw.settings import (
    EVENT_KINDS,
    FEEDBACK_KINDS,
    AttributeColumns,
    CustomerAttributesSource,
    CustomerColumns,
    CustomersSource,
    EventColumns,
    EventsSource,
    FeedbackColumns,
    FeedbackSource,
    ProductColumns,
    ProductsSource,
    SourceName,
    TransactionColumns,
    TransactionsSource,
)
from segmentation.sql_files import render_sql
from segmentation.warehouse import frame_of

# the file of the rows of a frame that has no provenance of its own
FRAME_SOURCE = "(polars frame)"
# columns of a landed frame that are not source values: derived again, or a landing's own
DERIVED_COLUMNS = ("is_return", ROW_HASH)
# a frame's own provenance travels through the landing under these names, as source columns
_PROVENANCE = {SOURCE_FILE: "__frame_source_file__", SOURCE_ROW: "__frame_source_row__"}
_CANONICAL: dict[SourceName, frozenset[str]] = {
    "transactions": frozenset(TransactionColumns.model_fields),
    "customers": frozenset(CustomerColumns.model_fields),
    "events": frozenset(EventColumns.model_fields),
    "feedback": frozenset(FeedbackColumns.model_fields),
    "customer_attributes": frozenset({*AttributeColumns.model_fields, "valid_from"}),
    "products": frozenset(ProductColumns.model_fields),
}
# the column of an attribute-history frame holding the instant its values start to hold
VALID_FROM = "valid_from"
# a frame's event types and feedback kinds are the canonical ones: each maps to itself
_IDENTITY_VALUES = {
    "events": {"event_types": {kind: [kind] for kind in EVENT_KINDS}},
    "feedback": {"kinds": {kind: [kind] for kind in FEEDBACK_KINDS}},
}


@dataclass(frozen=True)
class LandedFrame:
    """A frame landed as a source.

    Attributes:
        rows: The rows as ``raw.<source>`` holds them, in the frame's order.
        rejected: The rows left out as ``quality.rejected_rows`` holds them (personal values
            masked), in the frame's order.
        own_provenance: Whether ``source_file`` or ``source_row`` came from the frame (else
            :data:`FRAME_SOURCE` and the row's number in the frame).
        returns_differ: Landed rows whose derived ``is_return`` differs from the frame's own
            ``is_return`` (0 without one).
    """

    rows: pl.DataFrame
    rejected: pl.DataFrame
    own_provenance: bool
    returns_differ: int


def land_frame(
    source: SourceName,
    frame: pl.DataFrame,
    now: datetime,
    custom: Mapping[str, str] | None = None,
    masked: frozenset[str] = frozenset(),
) -> LandedFrame:
    """Land ``frame`` as the only file of ``source``, as the raw asset lands a configured one.

    Args:
        source: Which source the frame is.
        frame: Its columns are the source's columns: the canonical names of
            :class:`TransactionColumns`, :class:`CustomerColumns` (and the ``custom``
            attributes), :class:`EventColumns`, :class:`FeedbackColumns`,
            :class:`AttributeColumns` (with ``valid_from`` and the ``custom`` attributes) or
            :class:`ProductColumns` are read as those (event types and feedback kinds by their
            canonical names), any other column is part of the row. Columns must hold one flat
            value per row (Parquet-writable, castable to text), or a list of text for a custom
            attribute of type ``list``.
        now: The landing's start (UTC, naive) for the future-timestamp checks.
        custom: Custom customer attributes and their types (customers and attribute history).
        masked: Columns holding personal data, masked in the quarantined rows' ``raw_values``.

    Raises:
        SourceError: A column's values cannot be read (e.g. text that is not UTF-8).
    """
    values = frame.drop(DERIVED_COLUMNS, strict=False).rename(_PROVENANCE, strict=False)
    known = _CANONICAL[source] | set(custom or {})
    mapping = {name: name for name in values.columns if name in known}
    with tempfile.TemporaryDirectory(prefix="segmentation-frame-") as folder:
        path = Path(folder) / f"{source}.parquet"
        values.write_parquet(path)
        # a glob pattern: a temporary folder's name may hold a bracket
        settings = {"path": glob.escape(str(path)), "format": "parquet", "max_reject_rate": 1.0}
        with duckdb.connect() as con:
            if source == "transactions":
                config = TransactionsSource.model_validate({**settings, "columns": mapping})
                land_source(con, source, config, now)
            elif source in ("events", "feedback"):
                model = EventsSource if source == "events" else FeedbackSource
                config = model.model_validate(
                    {**settings, "columns": mapping, **_IDENTITY_VALUES[source]}
                )
                land_source(con, source, config, now)
            elif source == "customer_attributes":
                history = CustomerAttributesSource.model_validate(
                    {
                        **settings,
                        "valid_from": VALID_FROM,
                        "columns": {k: v for k, v in mapping.items() if k != VALID_FROM},
                    }
                )
                land_source(con, source, history, now, custom, masked & set(values.columns))
            elif source == "products":
                catalogue = ProductsSource.model_validate({**settings, "columns": mapping})
                land_source(con, source, catalogue, now, masked=masked & set(values.columns))
            else:
                customers = CustomersSource.model_validate({**settings, "columns": mapping})
                land_source(con, source, customers, now, custom, masked & set(values.columns))
            rows, rejected = (
                frame_of(con.execute(render_sql("raw/landed_in_source_order.sql", table=table)))
                for table in (f"raw.{source}", "quality.rejected_rows")
            )
    returns_differ = 0
    if "is_return" in frame.columns and "is_return" in rows.columns:
        given = frame.get_column("is_return").gather(rows.get_column(SOURCE_ROW) - 1)
        returns_differ = int((given != rows.get_column("is_return")).sum())
    own = [name for name in _PROVENANCE.values() if name in values.columns]
    return LandedFrame(
        rows=_with_provenance(rows, values),
        rejected=_with_provenance(rejected, values),
        own_provenance=bool(own),
        returns_differ=returns_differ,
    )


def _with_provenance(landed: pl.DataFrame, values: pl.DataFrame) -> pl.DataFrame:
    """Rows landed from the frame's file (whose ``source_row`` is the row's number in the
    frame) with the frame's provenance; a quarantined row's ``raw_values`` without the frame's
    own provenance columns, which its ``source_file`` and ``source_row`` already give."""
    index = landed.get_column(SOURCE_ROW) - 1
    columns = []
    for name, default in ((SOURCE_FILE, pl.lit(FRAME_SOURCE)), (SOURCE_ROW, pl.lit(index + 1))):
        own = _PROVENANCE[name]
        value = pl.lit(values.get_column(own).gather(index)) if own in values.columns else default
        columns.append(value.cast(landed.schema[name]).alias(name))
    own = [name for name in _PROVENANCE.values() if name in values.columns]
    if "raw_values" in landed.columns and own:
        # the text is the JSON object of every source column as text (a list column as a
        # list), in the file's order
        originals = pl.Struct(
            {
                name: dtype if dtype.is_nested() else pl.String
                for name, dtype in values.schema.items()
            }
        )
        kept = [name for name in values.columns if name not in own]
        decoded = pl.col("raw_values").str.json_decode(originals).struct
        columns.append(pl.struct(decoded.field(*kept)).struct.json_encode().alias("raw_values"))
    return landed.with_columns(columns)
