"""Contracts of the raw layer: the canonical transactions and customers tables.

Each contract is a ``pandera.polars.DataFrameModel``. It is the single source of the column list,
the types, the checks, the Dagster type and the column schema (with descriptions) the UI shows.
"""

from __future__ import annotations

from datetime import date, datetime

import pandera.polars as pa
import polars as pl

EPOCH = datetime(1970, 1, 1)


def _finite_or_null(data: pa.PolarsData) -> pl.LazyFrame:
    column = pl.col(data.key)
    return data.lazyframe.select(column.is_null() | column.is_finite())


class TransactionsContract(pa.DataFrameModel):
    """One row per landed source row of a transaction (an order line or a whole order)."""

    customer_id: str = pa.Field(str_length={"min_value": 1}, description="Customer id, as text.")
    order_id: str = pa.Field(nullable=True, description="Order or invoice id, as text.")
    order_ts: pl.Datetime = pa.Field(ge=EPOCH, description="When the order was placed.")
    quantity: pl.Float64 = pa.Field(nullable=True, description="Units; negative on returns.")
    unit_price: pl.Float64 = pa.Field(nullable=True, description="Price per unit.")
    amount: pl.Float64 = pa.Field(
        description="Net amount of the row: quantity * unit_price unless the source has one."
    )
    product_id: str = pa.Field(nullable=True, description="Product or stock code.")
    channel: str = pa.Field(nullable=True, description="Sales channel, lower case.")
    country: str = pa.Field(nullable=True, description="Country of the order.")
    is_return: bool = pa.Field(
        description="Cancellation or return: negative quantity or amount, or a 'C' order id."
    )
    source_file: str = pa.Field(description="The file the row came from.")
    source_row: pl.Int64 = pa.Field(ge=1, description="1-based data row number in that file.")

    class Config:
        strict = True

    @pa.check("quantity", "unit_price", "amount", name="finite")
    def _finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _finite_or_null(data)


class CustomersContract(pa.DataFrameModel):
    """One row per customer with the attributes the source provides (PII stays in this layer)."""

    customer_id: str = pa.Field(
        str_length={"min_value": 1}, unique=True, description="Customer id, as text."
    )
    signup_date: date = pa.Field(nullable=True, description="When the customer became known.")
    birth_date: date = pa.Field(nullable=True, description="Date of birth.")
    gender: str = pa.Field(nullable=True, description="Gender as given by the source.")
    income: pl.Float64 = pa.Field(nullable=True, ge=0, description="Yearly income.")
    region: str = pa.Field(nullable=True, description="Region.")
    country: str = pa.Field(nullable=True, description="Country.")
    industry: str = pa.Field(nullable=True, description="Industry (business customers).")
    acquisition_channel: str = pa.Field(nullable=True, description="How the customer was won.")
    email: str = pa.Field(nullable=True, description="PII: e-mail address (raw layer only).")
    phone: str = pa.Field(nullable=True, description="PII: phone number (raw layer only).")
    name: str = pa.Field(nullable=True, description="PII: full name (raw layer only).")
    source_file: str = pa.Field(description="The file the row came from.")
    source_row: pl.Int64 = pa.Field(ge=1, description="1-based data row number in that file.")

    class Config:
        # custom attributes declared in the config (segments.extra_columns) follow these
        strict = False

    @pa.check("income", name="finite")
    def _finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _finite_or_null(data)


class RejectedRowsContract(pa.DataFrameModel):
    """One row per quarantined source row, with the reason it was not landed.

    ``source_row`` numbers the file's records (a quoted field may span lines; blank lines are
    not records): landed and quarantined rows of a file share one numbering, so together they
    hold each number once. A record that is not well-formed CSV (reasons ``malformed_record``,
    ``unbalanced_quote``, ``nul_byte``, ``truncated_file``) has no columns: its ``raw_values``
    are ``{"line": <physical line, the header is line 1>, "text": <the line as written>}``,
    plus ``"byte"`` (the offset in the decompressed data) for the broken tail of a truncated
    file. Values of personal-data columns of the customers source are stored as ``***``, and so
    is the whole text of a malformed customers record.
    """

    source: str = pa.Field(isin=["transactions", "customers"], description="Which source.")
    source_file: str = pa.Field(description="The file the row came from.")
    source_row: pl.Int64 = pa.Field(
        ge=1, description="1-based record number in that file (records, not lines)."
    )
    reason: str = pa.Field(description="Why the row was rejected (a stable code).")
    check: str = pa.Field(description="The check that failed, in words.")
    raw_values: str = pa.Field(
        description=(
            "The original row, all columns, as JSON text (personal values masked); for a "
            "record that is not well-formed CSV its line number and text."
        )
    )
    rejected_at: pl.Datetime = pa.Field(description="When the landing run rejected it.")

    class Config:
        strict = True
