"""Settings of the sources (the ``sources:`` key of the pipeline configuration): where each
source's files are, how to read them and how their columns map to the canonical ones."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from segmentation.settings_base import ConfigError, Strict


class TransactionColumns(Strict):
    """Canonical transaction column -> the source's column name (``null``: not in the source)."""

    customer_id: str
    order_ts: str
    order_id: str | None = None
    quantity: str | None = None
    unit_price: str | None = None
    amount: str | None = None
    product_id: str | None = None
    channel: str | None = None
    country: str | None = None

    @model_validator(mode="after")
    def _amount_is_derivable(self) -> TransactionColumns:
        if self.amount is None and (self.quantity is None or self.unit_price is None):
            raise ValueError("map `amount`, or both `quantity` and `unit_price` (amount = q * p)")
        return self


class CustomerColumns(BaseModel):
    """Canonical customer column -> the source's column name (``null``: not in the source).

    Further keys map custom attributes (e.g. ``assets_total: Total Assets``); each must be
    declared with its type under ``segments.extra_columns`` (checked when the config loads).
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    customer_id: str
    signup_date: str | None = None
    birth_date: str | None = None
    gender: str | None = None
    income: str | None = None
    region: str | None = None
    country: str | None = None
    industry: str | None = None
    acquisition_channel: str | None = None
    email: str | None = None
    phone: str | None = None
    name: str | None = None


class _Source(Strict):
    """Keys every source has. ``encoding``, ``decimal_comma`` and ``timezone`` say how to read
    the values of an export; ``allow_removed_files`` lets a landing go on when files landed
    before are gone from the glob or hold fewer rows (otherwise it refuses before any write)."""

    path: str
    format: Literal["csv", "parquet"] | None = None
    max_reject_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.05
    delimiter: str = ","
    encoding: str = "utf-8"
    decimal_comma: bool = False
    timezone: str = "UTC"
    allow_removed_files: bool = False

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        # polars splits on one byte; a quote or a line break cannot separate fields
        if len(value) != 1 or not value.isascii() or value in {'"', "\n", "\r"}:
            raise ValueError(
                f"expected one ASCII character other than a quote or a line break "
                f"(e.g. ',', ';', '|' or a tab), got {value!r}"
            )
        return value

    @field_validator("encoding")
    @classmethod
    def _text_codec(cls, value: str) -> str:
        import codecs

        try:
            known = codecs.lookup(value)._is_text_encoding
        except LookupError:
            known = False
        if not known:
            raise ValueError(
                f"unknown text encoding {value!r}: use a Python codec name such as utf-8, "
                f"utf-8-sig, cp1252, latin-1 or utf-16"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as UTC or Europe/Berlin"
            ) from None
        return value

    def files(self) -> list[Path]:
        """The source's files, sorted, so row order and duplicate detection are deterministic."""
        return [Path(p) for p in sorted(glob.glob(self.path, recursive=True)) if Path(p).is_file()]

    def file_format(self, path: Path) -> Literal["csv", "parquet"]:
        if self.format is not None:
            return self.format
        name = path.name.lower()
        if name.endswith(".parquet") or name.endswith(".pq"):
            return "parquet"
        if name.endswith((".csv", ".csv.gz", ".tsv", ".txt", ".csv.zst")):
            return "csv"
        raise ConfigError(f"cannot infer the format of {path}: set `format: csv|parquet`")


class TransactionsSource(_Source):
    """Where transactions come from and how their columns map to the canonical ones."""

    timestamp_format: str | None = None
    columns: TransactionColumns


class CustomersSource(_Source):
    """Optional customer attributes, one row per customer."""

    date_format: str | None = None
    columns: CustomerColumns


class Sources(Strict):
    transactions: TransactionsSource
    customers: CustomersSource | None = None


# the name of a configured source: a key of ``sources`` in the config
SourceName = Literal["transactions", "customers"]
