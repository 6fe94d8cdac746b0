"""Source values as typed columns: polars expressions that read text (or typed columns of a
Parquet source) as the canonical types, and tell a missing value from one that does not parse.

Timestamps become naive UTC (an offset in the data wins over the configured time zone); dates
are days in the calendar (an offset is dropped, not applied); numbers may use a decimal comma;
text is stripped and blank text is missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import polars as pl

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


# the name of the column :func:`with_text` adds for a source column's stripped text
_TEXT_OF = "\x00text:{}"


def with_text(frame: pl.LazyFrame, columns: Iterable[str | None]) -> pl.LazyFrame:
    """``frame`` with the stripped text (:func:`as_text`) of each of ``columns`` that holds
    text computed once, in columns of its own that :func:`as_text` then reads.

    The streaming engine does not share a subexpression between the expressions of one
    projection: without this, each use of a column's text strips it again (a text timestamp
    once per format tried), and even :func:`as_text` alone strips twice (10M rows of 5 text
    columns: ~3.7 s of CPU, ~2.2 s with the text computed once). The added columns are not
    source columns: a parse reads the row hash's columns from the schema before this.
    """
    schema = frame.collect_schema()
    texts = sorted({name for name in columns if name is not None and schema.get(name) == pl.String})
    stripped = {_TEXT_OF.format(name): pl.col(name).str.strip_chars() for name in texts}
    # in a step of its own, so that the blank test reads the stripped column, not the strip
    return frame.with_columns(**stripped).with_columns(
        _blank_as_null(pl.col(name)).alias(name) for name in stripped
    )


def _blank_as_null(stripped: pl.Expr) -> pl.Expr:
    """Stripped text, null where it is empty."""
    return pl.when(stripped.str.len_bytes() > 0).then(stripped)


def as_text(schema: pl.Schema, column: str | None) -> pl.Expr:
    """Values as stripped text; blank text is null, and so is an unmapped column (``None``).
    Reads the column's text from :func:`with_text` where the frame has it."""
    if column is None:
        return pl.lit(None, dtype=pl.Utf8)
    if _TEXT_OF.format(column) in schema:
        return pl.col(_TEXT_OF.format(column))
    return _blank_as_null(pl.col(column).cast(pl.Utf8).str.strip_chars())


def as_number(schema: pl.Schema, column: str | None, decimal_comma: bool = False) -> pl.Expr:
    """Values as floats; text that is not a number is null. With ``decimal_comma``, text is
    read as ``1.234,56``."""
    if column is None:
        return pl.lit(None, dtype=pl.Float64)
    if schema[column].is_numeric():
        return pl.col(column).cast(pl.Float64)
    text = as_text(schema, column)
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


def as_timestamp(schema: pl.Schema, column: str, fmt: str | None, timezone: str = "UTC") -> pl.Expr:
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
    text = as_text(schema, column)
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


def as_date(schema: pl.Schema, column: str | None, fmt: str | None) -> pl.Expr:
    """Dates as written. A date-time with an offset gives its date as written, the offset
    dropped: a birth or signup date is a day in the calendar, not an instant."""
    if column is None:
        return pl.lit(None, dtype=pl.Date)
    dtype = schema[column]
    if dtype == pl.Date:
        return pl.col(column)
    if isinstance(dtype, pl.Datetime):
        return pl.col(column).dt.date()
    text = as_text(schema, column).str.replace(_TRAILING_OFFSET, "${1}")
    if fmt:
        fmt = _OFFSET_DIRECTIVE.sub("", fmt).rstrip()
        fmt = fmt.removesuffix("Z").rstrip() if fmt.endswith("%SZ") or fmt.endswith("%MZ") else fmt
    formats = (fmt,) if fmt else ISO_DATE_FORMATS + ISO_TIMESTAMP_FORMATS
    return pl.coalesce(
        [text.str.strptime(pl.Datetime("us"), f, strict=False, exact=True) for f in formats]
    ).dt.date()


def is_present(schema: pl.Schema, column: str) -> pl.Expr:
    """True where the source has a value: not null and, for text, not blank."""
    if isinstance(schema[column], (pl.String, pl.Categorical, pl.Enum)):
        return as_text(schema, column).is_not_null()
    # a typed value is never blank: formatting numbers or timestamps as text to ask would cost
    # more than the whole parse
    return pl.col(column).is_not_null()


def is_unparsed(schema: pl.Schema, column: str | None, parsed: pl.Expr) -> pl.Expr:
    """True where the source has a value that did not parse."""
    if column is None:
        return pl.lit(False)
    return is_present(schema, column) & parsed.is_null()


def as_customer_id(schema: pl.Schema, column: str) -> pl.Expr:
    """Customer ids as text; integral floats (``13085.0`` from a float column) lose the ``.0``."""
    if schema[column].is_float():
        value = pl.col(column)
        integral = value.is_finite() & (value == value.round(0))
        return (
            pl.when(integral)
            .then(value.cast(pl.Int64, strict=False).cast(pl.Utf8))
            .otherwise(as_text(schema, column))
        )
    return as_text(schema, column)


_BOOLEANS = {"true": True, "t": True, "yes": True, "y": True, "1": True}
_BOOLEANS |= {"false": False, "f": False, "no": False, "n": False, "0": False}


def as_text_list(schema: pl.Schema, column: str, separator: str = "|") -> pl.Expr:
    """Values as lists of text. A list column (Parquet) is read as it is, a text cell is split
    on ``separator``; either way items are stripped and blank items dropped. A missing value
    (null, a blank cell) is null; a cell of separators only is an empty list."""
    dtype = schema[column]
    if isinstance(dtype, pl.List | pl.Array):
        items = pl.col(column).cast(pl.List(pl.Utf8))
    else:
        items = as_text(schema, column).str.split(separator, literal=True)
    stripped = items.list.eval(pl.element().str.strip_chars())
    return stripped.list.eval(pl.element().filter(pl.element().str.len_chars() > 0))


def as_custom_attribute(
    schema: pl.Schema,
    column: str,
    kind: str,
    date_format: str | None,
    decimal_comma: bool,
    list_separator: str = "|",
) -> pl.Expr:
    """A custom customer attribute as its declared ``kind``: text, integer, float, boolean
    (``true``/``yes``/``1``... and their opposites), date or list (of text, see
    :func:`as_text_list`); a value that does not parse is null."""
    if kind == "list":
        return as_text_list(schema, column, list_separator)
    if kind == "text":
        return as_text(schema, column)
    if kind == "date":
        return as_date(schema, column, date_format)
    if kind == "boolean":
        if schema[column] == pl.Boolean:
            return pl.col(column)
        return (
            as_text(schema, column)
            .str.to_lowercase()
            .replace_strict(_BOOLEANS, default=None, return_dtype=pl.Boolean)
        )
    number = as_number(schema, column, decimal_comma)
    if kind == "integer":
        return pl.when(number == number.round(0)).then(number).cast(pl.Int64, strict=False)
    return number
