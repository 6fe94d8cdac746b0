"""Parse attribute-history and product-catalogue rows into canonical, typed columns with a reason
for each row that must not land (see ``segmentation.raw.parsing`` for the shape every parse
shares).

An attribute row holds a customer's values from its ``valid_from`` on; the standard customer
columns it maps land with the types ``raw.customers`` gives them, custom attributes with their
declared types. A catalogue row describes one product. Rows that repeat a key (a customer and
instant, a product id) are decided after parsing, across files (see
``segmentation.raw.staging.flag_duplicates``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from segmentation.raw.coercion import (
    as_custom_attribute,
    as_customer_id,
    as_date,
    as_number,
    as_text,
    as_timestamp,
    is_present,
    is_unparsed,
)
from segmentation.raw.columns import SOURCE_FILE, SOURCE_ROW
from segmentation.raw.contracts import EPOCH
from segmentation.raw.parsing import _reason, _row_hash
from segmentation.raw.reasons import ATTRIBUTE_REASONS, PRODUCT_REASONS

# the standard customer columns an attribute history may map, in raw.customers' order, by kind
STANDARD_ATTRIBUTE_KINDS: dict[str, str] = {
    "signup_date": "date",
    "birth_date": "date",
    "income": "float",
    "gender": "text",
    "region": "text",
    "country": "text",
    "industry": "text",
    "acquisition_channel": "text",
    "email": "text",
    "phone": "text",
    "name": "text",
}
# the catalogue's descriptive columns, after product_id
PRODUCT_VALUES = ("category", "subcategory", "price_level", "need_level", "risk_level")


@dataclass(frozen=True)
class RowKey:
    """Rows of a source that must be unique on ``key``: rows with the same key whose ``values``
    differ are all rejected as ``conflict``; rows with equal values past the first are
    ``duplicate_row`` (one kept)."""

    key: tuple[str, ...]
    values: tuple[str, ...]
    conflict: str


def attribute_kinds(columns: Mapping[str, str | None], custom: Mapping[str, str]) -> dict[str, str]:
    """The attributes an attribute source maps, in landing order, with their kinds: the standard
    ones in ``raw.customers``' order, then the custom ones in ``custom``'s (declaration) order.
    """
    standard = {name: kind for name, kind in STANDARD_ATTRIBUTE_KINDS.items() if columns.get(name)}
    return standard | {name: kind for name, kind in custom.items() if columns.get(name)}


def attribute_key(columns: Mapping[str, str | None], custom: Mapping[str, str]) -> RowKey:
    """An attribute history is unique per customer and instant."""
    return RowKey(
        ("customer_id", "valid_from"),
        tuple(attribute_kinds(columns, custom)),
        "conflicting_attribute_rows",
    )


PRODUCT_KEY = RowKey(("product_id",), PRODUCT_VALUES, "conflicting_product_rows")


def parse_customer_attributes(
    frame: pl.LazyFrame,
    columns: Mapping[str, str | None],
    valid_from: str,
    now: datetime,
    custom: Mapping[str, str] | None = None,
    *,
    timestamp_format: str | None = None,
    date_format: str | None = None,
    timezone: str = "UTC",
    decimal_comma: bool = False,
    list_separator: str = "|",
    column_order: Sequence[str] | None = None,
) -> pl.LazyFrame:
    """Canonical attribute-history columns plus ``reason``/``check`` for rows that must not land.

    Args:
        frame: A source file's rows.
        columns: Canonical column -> source column (``customer_id`` and the attributes).
        valid_from: The source column holding the instant the row's values start to hold; naive
            values are local times of ``timezone``, stored as naive UTC.
        now: The landing's start (UTC, naive): a later ``valid_from`` is rejected.
        custom: Custom attribute -> its declared type (those not in ``columns`` are ignored).
        timestamp_format: A strptime format for ``valid_from``.
        date_format: A strptime format for date attributes.
        timezone: What naive ``valid_from`` values mean.
        decimal_comma: Numbers written ``1.234,56``.
        list_separator: What separates the items of a ``list`` attribute in a text cell.
        column_order: The source's column order for the row hash.
    """
    schema = frame.collect_schema()
    kinds = attribute_kinds(columns, custom or {})

    def value(name: str, kind: str) -> pl.Expr:
        source: str = columns[name]  # type: ignore[assignment]
        if name in STANDARD_ATTRIBUTE_KINDS:
            if kind == "date":
                return as_date(schema, source, date_format)
            if kind == "float":
                return as_number(schema, source, decimal_comma)
            return as_text(schema, source)
        return as_custom_attribute(schema, source, kind, date_format, decimal_comma, list_separator)

    values = {name: value(name, kind) for name, kind in kinds.items()}

    def unparsed(wanted: tuple[str, ...]) -> pl.Expr:
        flags = [
            is_unparsed(schema, columns[name], values[name])
            for name, kind in kinds.items()
            if kind in wanted
        ]
        return pl.any_horizontal(pl.lit(False), *flags)

    parsed = frame.select(
        as_customer_id(schema, columns["customer_id"]).alias("customer_id"),  # type: ignore[arg-type]
        as_timestamp(schema, valid_from, timestamp_format, timezone).alias("valid_from"),
        *(expr.alias(name) for name, expr in values.items()),
        pl.col(SOURCE_FILE),
        pl.col(SOURCE_ROW),
        _row_hash(schema, column_order),
        (~is_present(schema, valid_from)).alias("_ts_missing"),
        unparsed(("date",)).alias("_date_unparsed"),
        unparsed(("integer", "float")).alias("_number_unparsed"),
        unparsed(("boolean",)).alias("_value_unparsed"),
    )
    income = pl.col("income") if "income" in kinds else pl.lit(None, dtype=pl.Float64)
    today = now.date()
    future_dates = [
        (pl.col(name) > today).fill_null(False)
        for name in ("signup_date", "birth_date")
        if name in kinds
    ]
    checks = [
        ("missing_customer_id", pl.col("customer_id").is_null()),
        ("missing_timestamp", pl.col("_ts_missing")),
        ("unparseable_timestamp", pl.col("valid_from").is_null()),
        ("timestamp_before_1970", pl.col("valid_from") < EPOCH),
        ("timestamp_in_future", pl.col("valid_from") > now),
        ("unparseable_date", pl.col("_date_unparsed")),
        ("unparseable_number", pl.col("_number_unparsed")),
        ("unparseable_value", pl.col("_value_unparsed")),
        ("non_finite_number", income.is_not_null() & (~income.is_finite() | (income < 0))),
        ("date_in_future", pl.any_horizontal(pl.lit(False), *future_dates)),
    ]
    return parsed.with_columns(*_reason(checks, ATTRIBUTE_REASONS)).drop(
        "_ts_missing", "_date_unparsed", "_number_unparsed", "_value_unparsed"
    )


def parse_products(
    frame: pl.LazyFrame,
    columns: Mapping[str, str | None],
    *,
    column_order: Sequence[str] | None = None,
) -> pl.LazyFrame:
    """Canonical catalogue columns plus ``reason``/``check`` for rows that must not land.

    Every value is text, stripped (a blank value is missing) and kept as written otherwise:
    ``product_id`` as transactions' ``product_id`` holds it, so the two match.
    """
    schema = frame.collect_schema()
    parsed = frame.select(
        as_text(schema, columns["product_id"]).alias("product_id"),
        *(as_text(schema, columns.get(name)).alias(name) for name in PRODUCT_VALUES),
        pl.col(SOURCE_FILE),
        pl.col(SOURCE_ROW),
        _row_hash(schema, column_order),
    )
    checks = [
        ("missing_product_id", pl.col("product_id").is_null()),
        ("missing_category", pl.col("category").is_null()),
    ]
    return parsed.with_columns(*_reason(checks, PRODUCT_REASONS))
