"""Settings of the sources (the ``sources:`` key of the pipeline configuration): where each
source's files are, how to read them and how their columns map to the canonical ones."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Annotated, Any, Literal

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
    pii_columns: list[str] = Field(
        default_factory=list,
        description=(
            "The source's own column names (as in the file) that hold personal data, e.g. a "
            "free-text comment or an e-mail address: their values are masked as *** in the "
            "quarantine (quality.rejected_rows.raw_values). Columns the pipeline does not "
            "land (unmapped ones) reach the quarantine only there."
        ),
    )

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
    list_separator: str = Field(
        default="|",
        min_length=1,
        description="How a CSV cell holds a value of a custom attribute of type `list` "
        "(e.g. `fund|loan`): items are split on it and trimmed, empty items dropped; an "
        "empty cell is null. Parquet list columns are read as they are.",
    )
    columns: CustomerColumns


# the customer columns an attribute history cannot map: its key and the landing's bookkeeping
_NOT_ATTRIBUTES = frozenset({"customer_id", "valid_from", "source_file", "source_row"})


def _attribute(what: str) -> Any:
    return Field(default=None, description=f"{what}, from the row's `valid_from` on.")


class AttributeColumns(BaseModel):
    """Canonical column -> the source's column name for an attribute history.

    ``customer_id`` is required; every other key is a standard customer column (``income``,
    ``region``, ``country``, ``industry``, ``gender``, ...) or a custom attribute declared with
    its type under ``segments.extra_columns`` (checked when the config loads).
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    customer_id: str = Field(description="The customer id (text): many rows per customer.")
    signup_date: str | None = _attribute("When the customer signed up")
    birth_date: str | None = _attribute("Date of birth")
    gender: str | None = _attribute("Gender")
    income: str | None = _attribute("Income (a finite number, not negative)")
    region: str | None = _attribute("Region")
    country: str | None = _attribute("Country")
    industry: str | None = _attribute("Industry")
    acquisition_channel: str | None = _attribute("How the customer was acquired")
    email: str | None = _attribute("E-mail (personal data; stays in the raw layer)")
    phone: str | None = _attribute("Phone (personal data; stays in the raw layer)")
    name: str | None = _attribute("Name (personal data; stays in the raw layer)")

    def mapped(self) -> dict[str, str]:
        """Attribute -> its source column, for the attributes mapped (not ``customer_id``)."""
        return {
            name: source
            for name, source in self.model_dump().items()
            if source is not None and name != "customer_id"
        }


class CustomerAttributesSource(_Source):
    """Attribute history: one row per customer and change, each holding from its
    ``valid_from`` on (until the customer's next row)."""

    valid_from: str = Field(
        description="The source column with the instant the row's values start to hold "
        "(a timestamp or a date; naive values are local times of `timezone`)."
    )
    timestamp_format: str | None = Field(
        default=None,
        description="A strptime format for `valid_from` (may contain `%z`); ISO timestamps "
        "and dates parse without it.",
    )
    date_format: str | None = Field(
        default=None,
        description="A strptime format for date attributes (`signup_date`, `birth_date`, "
        "date custom attributes); ISO dates parse without it.",
    )
    list_separator: str = Field(
        default="|",
        min_length=1,
        description="How a CSV cell holds a `list` attribute (e.g. `deposit|fund`): items "
        "are split on it and trimmed, empty items dropped; an empty cell is null (not known), "
        "while a cell holding only separators is an empty list. Parquet list columns are read "
        "as they are.",
    )
    columns: AttributeColumns = Field(
        description="Canonical column -> the source's column name: `customer_id` and at least "
        "one attribute (a standard customer column or one declared under "
        "`segments.extra_columns`)."
    )

    @model_validator(mode="after")
    def _attributes_mapped(self) -> CustomerAttributesSource:
        mapped = self.columns.mapped()
        reserved = sorted(set(mapped) & _NOT_ATTRIBUTES)
        if reserved:
            raise ValueError(
                f"columns.{reserved[0]}: not an attribute (`valid_from` is the source's own key; "
                f"source_file and source_row are the landing's)"
            )
        if not mapped:
            raise ValueError("map at least one attribute besides customer_id under columns")
        return self

    def source_columns(self) -> dict[str, str | None]:
        """Every canonical column -> its source column, ``valid_from`` included."""
        return {**self.columns.model_dump(), "valid_from": self.valid_from}


class ProductColumns(Strict):
    """Canonical product column -> the source's column name (``null``: not in the source)."""

    product_id: str = Field(
        description="The product id, as transactions' `product_id` holds it (text)."
    )
    category: str = Field(description="The product's category (text).")
    subcategory: str | None = Field(default=None, description="Its subcategory (text).")
    price_level: str | None = Field(
        default=None, description="Its price level (e.g. budget, standard, premium)."
    )
    need_level: str | None = Field(
        default=None, description="The need it serves (e.g. basic, core)."
    )
    risk_level: str | None = Field(
        default=None, description="Its risk level (e.g. a bank product's risk class)."
    )


class ProductsSource(_Source):
    """The product catalogue: one row per product."""

    columns: ProductColumns = Field(
        description="Canonical column -> the source's column name (`null`: not in the source)."
    )


# the canonical kinds of an event and of a piece of feedback: the keys of ``event_types`` and
# ``kinds``, and the values of ``raw.events.event_type`` and ``raw.feedback.kind``
EVENT_KINDS = (
    "visit",
    "product_view",
    "add_to_cart",
    "email_send",
    "email_open",
    "email_click",
    "unsubscribe",
)
FEEDBACK_KINDS = ("nps", "csat", "complaint", "review")
# an NPS answer: an integer from 0 to 10
NPS_SCALE = (0.0, 10.0)


class EventColumns(Strict):
    """Canonical event column -> the source's column name (``null``: not in the source)."""

    customer_id: str = Field(description="The customer id (text).")
    event_ts: str = Field(description="When the event happened.")
    event_type: str = Field(
        description="What happened: the source's value, mapped to a kind by `event_types`."
    )
    channel: str | None = Field(
        default=None, description="Where it happened (`web`, `app`, `email`...; lower-cased)."
    )
    product_id: str | None = Field(
        default=None, description="The product viewed or put in the cart."
    )
    campaign_id: str | None = Field(
        default=None, description="The campaign (e-mail) the event belongs to."
    )


class FeedbackColumns(Strict):
    """Canonical feedback column -> the source's column name (``null``: not in the source)."""

    customer_id: str = Field(description="The customer id (text).")
    feedback_ts: str = Field(description="When the answer, rating or complaint was given.")
    kind: str = Field(description="What it is: the source's value, mapped to a kind by `kinds`.")
    score: str | None = Field(
        default=None,
        description="The score: NPS 0-10, CSAT and review ratings on their scales. Required "
        "when `nps` or `csat` is mapped.",
    )
    topic: str | None = Field(default=None, description="What it is about (text).")


def _source_values(value: Any) -> Any:
    """YAML reads ``[1, 2]`` as numbers; a source's values are matched as text."""
    if isinstance(value, list):
        return [
            str(item) if isinstance(item, int | float) and not isinstance(item, bool) else item
            for item in value
        ]
    return value


def _mapped_values(kinds: BaseModel) -> dict[str, list[str]]:
    """Kind -> its source values, for the kinds that are mapped."""
    return {kind: values for kind, values in kinds.model_dump().items() if values is not None}


def _check_mapping(kinds: BaseModel, what: str) -> None:
    """At least one kind mapped, and no source value mapped to two kinds."""
    mapped = _mapped_values(kinds)
    if not mapped:
        raise ValueError(f"map at least one {what} to the source's values")
    owner: dict[str, str] = {}
    for kind, values in mapped.items():
        for value in values:
            if owner.get(value, kind) != kind:
                raise ValueError(
                    f"{value!r} is mapped to both {owner[value]} and {kind}: a source value "
                    f"must mean one {what}"
                )
            owner[value] = kind


def _listed_values(value: list[str] | None) -> list[str] | None:
    """A kind's source values: a list that is not empty, of values that are not blank."""
    if value is None:
        return value
    if not value:
        raise ValueError("an empty list maps nothing: leave the kind out instead")
    for item in value:
        if not item.strip() or item != item.strip():
            raise ValueError(
                f"{item!r}: source values are compared with spaces stripped and a blank value "
                f"is missing; write it without surrounding spaces"
            )
    return value


class EventTypes(Strict):
    """Canonical event kind -> the source's values that mean it (matched exactly, after
    stripping spaces). A kind left out does not occur in the source; a value mapped to no kind
    is quarantined as ``unknown_event_type``."""

    visit: list[str] | None = Field(
        default=None, description="A visit or session start (web, app or store)."
    )
    product_view: list[str] | None = Field(default=None, description="A product page viewed.")
    add_to_cart: list[str] | None = Field(default=None, description="A product put in the cart.")
    email_send: list[str] | None = Field(
        default=None,
        description="An e-mail delivered to the customer: the denominator of the open rate "
        "(without it the open rate is null).",
    )
    email_open: list[str] | None = Field(default=None, description="An e-mail opened.")
    email_click: list[str] | None = Field(default=None, description="A link in an e-mail clicked.")
    unsubscribe: list[str] | None = Field(
        default=None, description="The customer unsubscribed from e-mails."
    )

    _as_text = field_validator("*", mode="before")(_source_values)
    _listed = field_validator("*")(_listed_values)

    @model_validator(mode="after")
    def _one_kind_per_value(self) -> EventTypes:
        _check_mapping(self, "event kind")
        return self

    def lookup(self) -> dict[str, str]:
        """Source value -> canonical kind."""
        return {v: kind for kind, values in _mapped_values(self).items() for v in values}


class FeedbackKinds(Strict):
    """Canonical feedback kind -> the source's values that mean it (matched exactly, after
    stripping spaces). A value mapped to no kind is quarantined as ``unknown_feedback_kind``."""

    nps: list[str] | None = Field(
        default=None, description="A Net Promoter Score answer: an integer score from 0 to 10."
    )
    csat: list[str] | None = Field(
        default=None, description="A customer satisfaction rating: a score within `csat_scale`."
    )
    complaint: list[str] | None = Field(
        default=None, description="A complaint; its score, if any, is kept as given."
    )
    review: list[str] | None = Field(
        default=None,
        description="A product or service review; its rating, if any, within `review_scale`.",
    )

    _as_text = field_validator("*", mode="before")(_source_values)
    _listed = field_validator("*")(_listed_values)

    @model_validator(mode="after")
    def _one_kind_per_value(self) -> FeedbackKinds:
        _check_mapping(self, "feedback kind")
        return self

    def lookup(self) -> dict[str, str]:
        """Source value -> canonical kind."""
        return {v: kind for kind, values in _mapped_values(self).items() for v in values}


Scale = Annotated[list[float], Field(min_length=2, max_length=2)]


class EventsSource(_Source):
    """What customers do besides buying (web, app, e-mail, store visits), one row per event."""

    timestamp_format: str | None = Field(
        default=None,
        description="A strptime format for `event_ts` (may contain `%z`); ISO timestamps "
        "parse without it.",
    )
    columns: EventColumns = Field(
        description="Canonical column -> the source's column name (`null`: not in the source)."
    )
    event_types: EventTypes = Field(
        description="Canonical kind -> the list of the source's values meaning it."
    )


class FeedbackSource(_Source):
    """Surveys, ratings and complaints, one row per answer."""

    timestamp_format: str | None = Field(
        default=None,
        description="A strptime format for `feedback_ts` (may contain `%z`); ISO timestamps "
        "parse without it.",
    )
    columns: FeedbackColumns = Field(
        description="Canonical column -> the source's column name (`null`: not in the source)."
    )
    kinds: FeedbackKinds = Field(
        description="Canonical kind -> the list of the source's values meaning it."
    )
    csat_scale: Scale = Field(
        default=[1.0, 5.0],
        description="`[lowest, highest]`: the inclusive range of a CSAT score (lowest below "
        "highest).",
    )
    review_scale: Scale = Field(
        default=[1.0, 5.0],
        description="`[lowest, highest]`: the inclusive range of a review rating (lowest "
        "below highest).",
    )

    @field_validator("csat_scale", "review_scale")
    @classmethod
    def _ascending(cls, value: list[float]) -> list[float]:
        if not value[0] < value[1]:
            raise ValueError(f"expected [lowest, highest] with lowest < highest, got {value}")
        return value

    @model_validator(mode="after")
    def _scores_are_mapped(self) -> FeedbackSource:
        needing = [kind for kind in ("nps", "csat") if getattr(self.kinds, kind) is not None]
        if needing and self.columns.score is None:
            raise ValueError(
                f"columns.score is not mapped, but {' and '.join(needing)} "
                f"need{'s' if len(needing) == 1 else ''} a score: map the score column, or leave "
                f"{'that kind' if len(needing) == 1 else 'those kinds'} out"
            )
        return self

    def scales(self) -> dict[str, tuple[float, float]]:
        """Kind -> the inclusive range of its score (the kinds whose score has one)."""
        return {
            "nps": NPS_SCALE,
            "csat": (self.csat_scale[0], self.csat_scale[1]),
            "review": (self.review_scale[0], self.review_scale[1]),
        }


class Sources(Strict):
    transactions: TransactionsSource
    customers: CustomersSource | None = None
    events: EventsSource | None = Field(
        default=None,
        description="Optional: what customers do besides buying (see [Events and feedback]"
        "(landing.md#events-and-feedback)); without it `raw.events` is empty.",
    )
    feedback: FeedbackSource | None = Field(
        default=None,
        description="Optional: surveys, ratings and complaints (see [Events and feedback]"
        "(landing.md#events-and-feedback)); without it `raw.feedback` is empty.",
    )
    customer_attributes: CustomerAttributesSource | None = Field(
        default=None,
        description="Optional: an attribute history, one row per customer and change (see "
        "[Attribute history and products](landing.md#attribute-history-and-products)); "
        "without it `raw.customer_attributes` is empty and attributes come from `customers`.",
    )
    products: ProductsSource | None = Field(
        default=None,
        description="Optional: the product catalogue (see [Attribute history and products]"
        "(landing.md#attribute-history-and-products)); without it `raw.products` is empty.",
    )

    def configured(self) -> dict[SourceName, AnySource]:
        """The configured sources by name, in landing order."""
        named: dict[SourceName, AnySource | None] = {
            "transactions": self.transactions,
            "customers": self.customers,
            "events": self.events,
            "feedback": self.feedback,
            "customer_attributes": self.customer_attributes,
            "products": self.products,
        }
        return {name: source for name, source in named.items() if source is not None}


# the name of a configured source: a key of ``sources`` in the config
SourceName = Literal[
    "transactions", "customers", "events", "feedback", "customer_attributes", "products"
]
# any source's settings
AnySource = (
    TransactionsSource
    | CustomersSource
    | EventsSource
    | FeedbackSource
    | CustomerAttributesSource
    | ProductsSource
)
