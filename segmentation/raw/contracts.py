"""Contracts of the raw layer: the canonical transactions, customers, events, feedback, customer
attribute history and product catalogue tables.

Each contract is a ``pandera.polars.DataFrameModel``. It is the single source of the column list,
the types, the checks, the Dagster type and the column schema (with descriptions) the UI shows.
"""

from __future__ import annotations

from datetime import date, datetime

import pandera.polars as pa
import polars as pl

from segmentation.raw.settings import EVENT_KINDS, FEEDBACK_KINDS, NPS_SCALE

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


class EventsContract(pa.DataFrameModel):
    """One row per landed event: what a customer did besides buying."""

    customer_id: str = pa.Field(str_length={"min_value": 1}, description="Customer id, as text.")
    event_ts: pl.Datetime = pa.Field(ge=EPOCH, description="When it happened (UTC).")
    event_type: str = pa.Field(
        isin=list(EVENT_KINDS),
        description="The canonical kind: " + ", ".join(EVENT_KINDS) + ".",
    )
    channel: str = pa.Field(nullable=True, description="Where it happened, lower case.")
    product_id: str = pa.Field(nullable=True, description="The product viewed or carted.")
    campaign_id: str = pa.Field(nullable=True, description="The campaign it belongs to.")
    source_file: str = pa.Field(description="The file the row came from.")
    source_row: pl.Int64 = pa.Field(ge=1, description="1-based data row number in that file.")

    class Config:
        strict = True


class FeedbackContract(pa.DataFrameModel):
    """One row per landed survey answer, rating or complaint."""

    customer_id: str = pa.Field(str_length={"min_value": 1}, description="Customer id, as text.")
    feedback_ts: pl.Datetime = pa.Field(ge=EPOCH, description="When it was given (UTC).")
    kind: str = pa.Field(
        isin=list(FEEDBACK_KINDS),
        description="The canonical kind: " + ", ".join(FEEDBACK_KINDS) + ".",
    )
    score: pl.Float64 = pa.Field(
        nullable=True,
        description=(
            "NPS: an integer 0-10; CSAT and review: within the configured scale; a complaint "
            "may have none."
        ),
    )
    topic: str = pa.Field(nullable=True, description="What it is about.")
    source_file: str = pa.Field(description="The file the row came from.")
    source_row: pl.Int64 = pa.Field(ge=1, description="1-based data row number in that file.")

    class Config:
        strict = True

    @pa.check("score", name="finite")
    def _finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _finite_or_null(data)

    @pa.dataframe_check(name="nps_and_csat_scored")
    def _scored(cls, data: pa.PolarsData) -> pl.LazyFrame:
        # the scale of a CSAT or review score is the config's, checked when parsing
        score, kind = pl.col("score"), pl.col("kind")
        lowest, highest = NPS_SCALE
        nps_ok = score.is_not_null() & score.is_between(lowest, highest) & (score == score.floor())
        return data.lazyframe.select(
            pl.when(kind == "nps")
            .then(nps_ok)
            .when(kind == "csat")
            .then(score.is_not_null())
            .otherwise(pl.lit(True))
            .alias("nps_and_csat_scored")
        )


def _optional(description: str, **kwargs: object) -> object:
    """A column an attribute history has only when its source maps it."""
    return pa.Field(nullable=True, required=False, description=description, **kwargs)


class CustomerAttributesContract(pa.DataFrameModel):
    """One row per customer and change: the customer's attribute values from ``valid_from`` on
    (until the customer's next row). The attributes the source maps follow ``valid_from``:
    standard customer columns with the types of ``raw.customers``, custom attributes with their
    declared types (a ``list`` as a list of text). Personal data stays in this layer."""

    customer_id: str = pa.Field(str_length={"min_value": 1}, description="Customer id, as text.")
    valid_from: pl.Datetime = pa.Field(
        ge=EPOCH, description="From when the row's values hold (UTC); one row per instant."
    )
    signup_date: date = _optional("When the customer became known.")
    birth_date: date = _optional("Date of birth.")
    income: pl.Float64 = _optional("Yearly income.", ge=0)
    gender: str = _optional("Gender as given by the source.")
    region: str = _optional("Region.")
    country: str = _optional("Country.")
    industry: str = _optional("Industry (business customers).")
    acquisition_channel: str = _optional("How the customer was won.")
    email: str = _optional("PII: e-mail address (raw layer only).")
    phone: str = _optional("PII: phone number (raw layer only).")
    name: str = _optional("PII: full name (raw layer only).")
    source_file: str = pa.Field(description="The file the row came from.")
    source_row: pl.Int64 = pa.Field(ge=1, description="1-based data row number in that file.")

    class Config:
        # custom attributes declared in the config (segments.extra_columns) come too
        strict = False
        unique = ["customer_id", "valid_from"]

    @pa.check("income", name="finite")
    def _finite(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _finite_or_null(data)


class ProductsContract(pa.DataFrameModel):
    """The product catalogue: one row per product id."""

    product_id: str = pa.Field(
        str_length={"min_value": 1},
        unique=True,
        description="Product id, as text: as transactions' product_id holds it.",
    )
    category: str = pa.Field(str_length={"min_value": 1}, description="The product's category.")
    subcategory: str = pa.Field(nullable=True, description="Its subcategory.")
    price_level: str = pa.Field(nullable=True, description="Its price level, as the source has it.")
    need_level: str = pa.Field(
        nullable=True, description="The need it serves, as the source has it."
    )
    risk_level: str = pa.Field(nullable=True, description="Its risk level, as the source has it.")
    source_file: str = pa.Field(description="The file the row came from.")
    source_row: pl.Int64 = pa.Field(ge=1, description="1-based data row number in that file.")

    class Config:
        strict = True


class RejectedRowsContract(pa.DataFrameModel):
    """One row per quarantined source row, with the reason it was not landed.

    ``source_row`` numbers the file's records (a quoted field may span lines; blank lines are
    not records): landed and quarantined rows of a file share one numbering, so together they
    hold each number once. A record that is not well-formed CSV (reasons ``malformed_record``,
    ``unbalanced_quote``, ``nul_byte``, ``truncated_file``) has no columns: its ``raw_values``
    are ``{"line": <physical line, the header is line 1>, "text": <the line as written>}``,
    plus ``"byte"`` (the offset in the decompressed data) for the broken tail of a truncated
    file. Values of personal-data columns (of the customers and attributes sources, and each
    source's ``pii_columns``) are stored as ``***``, and so is the whole text of a malformed
    record of a source holding personal data.
    """

    source: str = pa.Field(
        isin=["transactions", "customers", "events", "feedback", "customer_attributes", "products"],
        description="Which source.",
    )
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
