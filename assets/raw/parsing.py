"""Parse source rows into canonical, typed columns and give every bad row a reason.

Pure polars, no I/O beyond scanning a file: a source file becomes a lazy frame of canonical
columns plus ``reason``/``check`` (null for a good row) and a 64-bit hash of the original row
(``row_hash``) that finds duplicate candidates without carrying the row's text,
so that every source row ends in exactly one of the landed table or the quarantine. The original
row as JSON text (``raw_values``) is built only for the rows that need it (``raw_values``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import polars as pl

from assets.raw.contracts import EPOCH

SOURCE_FILE = "source_file"
SOURCE_ROW = "source_row"
RAW_VALUES = "raw_values"
ROW_HASH = "row_hash"

# reason code -> the check that failed, in words; the order is the order checks apply.
TRANSACTION_REASONS: dict[str, str] = {
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


class SourceError(ValueError):
    """A source file that cannot be read as configured; the message names file and column."""


def scan_source_file(path: Path, file_format: str, delimiter: str = ",") -> pl.LazyFrame:
    """Scan one source file with its original columns, plus its name and 1-based row numbers.

    CSV is read as text so that nothing is coerced (or lost) before the checks see it.
    """
    try:
        if file_format == "csv":
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
        raise SourceError(f"cannot read {path} as {file_format}: {error}") from None
    return frame.with_columns(
        pl.col(SOURCE_ROW).cast(pl.Int64), pl.lit(str(path)).alias(SOURCE_FILE)
    )


def require_columns(
    frame: pl.LazyFrame, mapping: Mapping[str, str | None], path: Path, source: str
) -> None:
    """Fail with the column and the file named when a mapped source column is missing."""
    present = [name for name in frame.collect_schema().names() if name not in _BOOKKEEPING]
    missing = [
        f"{source_column!r} (mapped to {canonical})"
        for canonical, source_column in mapping.items()
        if source_column is not None and source_column not in present
    ]
    if missing:
        raise SourceError(
            f"{source} source file {path} has no column {', '.join(missing)}; "
            f"its columns are: {', '.join(repr(name) for name in present)}. "
            f"Fix sources.{source}.columns in the config."
        )


_BOOKKEEPING = {SOURCE_FILE, SOURCE_ROW}


def _text(schema: pl.Schema, column: str | None) -> pl.Expr:
    if column is None:
        return pl.lit(None, dtype=pl.Utf8)
    expr = pl.col(column).cast(pl.Utf8).str.strip_chars()
    return pl.when(expr.str.len_chars() > 0).then(expr)


def _number(schema: pl.Schema, column: str | None) -> pl.Expr:
    if column is None:
        return pl.lit(None, dtype=pl.Float64)
    if schema[column].is_numeric():
        return pl.col(column).cast(pl.Float64)
    return _text(schema, column).cast(pl.Float64, strict=False)


def _timestamp(schema: pl.Schema, column: str, fmt: str | None) -> pl.Expr:
    dtype = schema[column]
    if isinstance(dtype, pl.Datetime):
        expr = pl.col(column)
        if dtype.time_zone is not None:
            expr = expr.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return expr.dt.cast_time_unit("us")
    if dtype == pl.Date:
        return pl.col(column).cast(pl.Datetime("us"))
    text = _text(schema, column)
    formats = (fmt,) if fmt else ISO_TIMESTAMP_FORMATS
    return pl.coalesce(
        [text.str.strptime(pl.Datetime("us"), f, strict=False, exact=True) for f in formats]
    )


def _date(schema: pl.Schema, column: str | None, fmt: str | None) -> pl.Expr:
    if column is None:
        return pl.lit(None, dtype=pl.Date)
    dtype = schema[column]
    if dtype == pl.Date:
        return pl.col(column)
    if isinstance(dtype, pl.Datetime):
        return pl.col(column).dt.date()
    text = _text(schema, column)
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


def _originals(schema: pl.Schema) -> list[str]:
    return [name for name in schema.names() if name not in _BOOKKEEPING]


def raw_values(frame: pl.LazyFrame) -> pl.LazyFrame:
    """``source_row`` and the original row, every source column as text, as JSON."""
    originals = _originals(frame.collect_schema())
    return frame.select(
        pl.col(SOURCE_ROW),
        pl.struct([pl.col(name).cast(pl.Utf8) for name in originals])
        .struct.json_encode()
        .alias(RAW_VALUES),
    )


def _row_hash(schema: pl.Schema) -> pl.Expr:
    """A 64-bit hash of the original values: rows with equal ``raw_values`` hash equal, so rows
    with a unique hash cannot be duplicates and only the others are compared exactly (a
    collision costs one more row's text, never a row)."""
    return pl.struct([pl.col(name) for name in _originals(schema)]).hash().alias(ROW_HASH)


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
) -> pl.LazyFrame:
    """Canonical transaction columns plus ``reason``/``check`` for rows that must not land.

    Returns and cancellations (negative quantity or amount, or an order id starting with ``C``)
    are valid business events: they land with ``is_return`` set.
    """
    schema = frame.collect_schema()
    quantity = _number(schema, columns.get("quantity"))
    unit_price = _number(schema, columns.get("unit_price"))
    if columns.get("amount") is not None:
        amount = _number(schema, columns["amount"])
    else:
        amount = quantity * unit_price
    order_ts = _timestamp(schema, columns["order_ts"], timestamp_format)
    customer_id = _customer_id(schema, columns["customer_id"])
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
        _row_hash(schema),
        (~_present(schema, columns["order_ts"])).alias("_ts_missing"),
        pl.any_horizontal(
            _unparsed(schema, columns.get(name), _number(schema, columns.get(name)))
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
    schema: pl.Schema, column: str, kind: str, date_format: str | None
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
    number = _number(schema, column)
    if kind == "integer":
        return pl.when(number == number.round(0)).then(number).cast(pl.Int64, strict=False)
    return number


def parse_customers(
    frame: pl.LazyFrame,
    columns: Mapping[str, str | None],
    date_format: str | None,
    now: datetime,
    custom: Mapping[str, str] | None = None,
) -> pl.LazyFrame:
    """Canonical customer columns plus ``reason``/``check`` for rows that must not land.

    ``custom`` maps custom attributes (keys of ``columns`` beyond the canonical ones) to their
    type: text, integer, float, boolean or date. They land as typed columns after the
    canonical ones; a value that does not parse as its type rejects the row.
    """
    custom = dict(custom or {})
    schema = frame.collect_schema()
    customs = {
        name: _custom_attribute(schema, columns[name], kind, date_format)  # type: ignore[arg-type]
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
    income = _number(schema, columns.get("income"))
    parsed = frame.select(
        _customer_id(schema, columns["customer_id"]).alias("customer_id"),
        signup.alias("signup_date"),
        birth.alias("birth_date"),
        income.alias("income"),
        *(_text(schema, columns.get(name)).alias(name) for name in text_columns + pii_columns),
        pl.col(SOURCE_FILE),
        pl.col(SOURCE_ROW),
        _row_hash(schema),
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
