"""Parse events and feedback rows into canonical, typed columns with a reason for each row that
must not land (see ``segmentation.raw.parsing`` for the shape every parse shares).

A source's own values for the kind of an event or a piece of feedback are mapped to the
canonical kinds by the source's ``event_types`` / ``kinds``; a value mapped to no kind, or a
missing one, is the row's reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import polars as pl

from segmentation.raw.coercion import (
    as_customer_id,
    as_number,
    as_text,
    as_timestamp,
    is_present,
    is_unparsed,
    with_text,
)
from segmentation.raw.columns import SOURCE_FILE, SOURCE_ROW
from segmentation.raw.contracts import EPOCH
from segmentation.raw.parsing import _reason, _row_hash, named
from segmentation.raw.reasons import EVENT_REASONS, FEEDBACK_REASONS


def _kind(schema: pl.Schema, column: str, lookup: Mapping[str, str]) -> pl.Expr:
    """The canonical kind of each row: its stripped source value looked up; null if unmapped.

    The value is cast to an enum of the mapped values (an unmapped one becomes null) whose
    position names the kind: this streams, where ``replace_strict`` holds the whole column in
    memory (see :func:`segmentation.raw.parsing.named`).
    """
    values = list(lookup)
    position = as_text(schema, column).cast(pl.Enum(values), strict=False).to_physical()
    return named(position, [lookup[value] for value in values])


def _timestamp_checks(name: str, now: datetime) -> list[tuple[str, pl.Expr]]:
    return [
        ("timestamp_before_1970", pl.col(name) < EPOCH),
        ("timestamp_in_future", pl.col(name) > now),
    ]


def parse_events(
    frame: pl.LazyFrame,
    columns: Mapping[str, str | None],
    event_types: Mapping[str, str],
    timestamp_format: str | None,
    now: datetime,
    *,
    timezone: str = "UTC",
    column_order: Sequence[str] | None = None,
) -> pl.LazyFrame:
    """Canonical event columns plus ``reason``/``check`` for rows that must not land.

    ``event_types`` maps each source value to its canonical kind (see
    ``EventTypes.lookup``); ``timezone`` says what naive timestamps mean; ``column_order``
    is the source's column order for the row hash.
    """
    source_schema = frame.collect_schema()
    frame = with_text(frame, columns.values())
    schema = frame.collect_schema()
    ts_column: str = columns["event_ts"]  # type: ignore[assignment]
    parsed = frame.select(
        as_customer_id(schema, columns["customer_id"]).alias("customer_id"),  # type: ignore[arg-type]
        as_timestamp(schema, ts_column, timestamp_format, timezone).alias("event_ts"),
        _kind(schema, columns["event_type"], event_types).alias("event_type"),  # type: ignore[arg-type]
        as_text(schema, columns.get("channel")).str.to_lowercase().alias("channel"),
        as_text(schema, columns.get("product_id")).alias("product_id"),
        as_text(schema, columns.get("campaign_id")).alias("campaign_id"),
        pl.col(SOURCE_FILE),
        pl.col(SOURCE_ROW),
        _row_hash(source_schema, column_order),
        (~is_present(schema, ts_column)).alias("_ts_missing"),
    )
    checks = [
        ("missing_customer_id", pl.col("customer_id").is_null()),
        ("missing_timestamp", pl.col("_ts_missing")),
        ("unparseable_timestamp", pl.col("event_ts").is_null()),
        ("unknown_event_type", pl.col("event_type").is_null()),
        *_timestamp_checks("event_ts", now),
    ]
    return parsed.with_columns(*_reason(checks, EVENT_REASONS)).drop("_ts_missing")


def parse_feedback(
    frame: pl.LazyFrame,
    columns: Mapping[str, str | None],
    kinds: Mapping[str, str],
    scales: Mapping[str, tuple[float, float]],
    timestamp_format: str | None,
    now: datetime,
    *,
    timezone: str = "UTC",
    decimal_comma: bool = False,
    column_order: Sequence[str] | None = None,
) -> pl.LazyFrame:
    """Canonical feedback columns plus ``reason``/``check`` for rows that must not land.

    ``kinds`` maps each source value to its canonical kind (see ``FeedbackKinds.lookup``);
    ``scales`` gives the inclusive range of a score per kind (``nps``, ``csat``, ``review``):
    an NPS score must also be an integer. ``nps`` and ``csat`` rows need a score; a complaint's
    or a review's may be missing. A score that is not finite is out of every range.
    """
    source_schema = frame.collect_schema()
    frame = with_text(frame, columns.values())
    schema = frame.collect_schema()
    ts_column: str = columns["feedback_ts"]  # type: ignore[assignment]
    score = as_number(schema, columns.get("score"), decimal_comma)
    parsed = frame.select(
        as_customer_id(schema, columns["customer_id"]).alias("customer_id"),  # type: ignore[arg-type]
        as_timestamp(schema, ts_column, timestamp_format, timezone).alias("feedback_ts"),
        _kind(schema, columns["kind"], kinds).alias("kind"),  # type: ignore[arg-type]
        score.alias("score"),
        as_text(schema, columns.get("topic")).alias("topic"),
        pl.col(SOURCE_FILE),
        pl.col(SOURCE_ROW),
        _row_hash(source_schema, column_order),
        (~is_present(schema, ts_column)).alias("_ts_missing"),
        is_unparsed(schema, columns.get("score"), score).alias("_score_unparsed"),
    )
    kind, value = pl.col("kind"), pl.col("score")
    outside = pl.lit(False)
    for name, (lowest, highest) in scales.items():
        off_scale = (value < lowest) | (value > highest)
        if name == "nps":
            off_scale = off_scale | (value != value.floor())
        outside = outside | ((kind == name) & off_scale)
    checks = [
        ("missing_customer_id", pl.col("customer_id").is_null()),
        ("missing_timestamp", pl.col("_ts_missing")),
        ("unparseable_timestamp", pl.col("feedback_ts").is_null()),
        ("unknown_feedback_kind", kind.is_null()),
        ("unparseable_number", pl.col("_score_unparsed")),
        ("missing_score", kind.is_in(["nps", "csat"]) & value.is_null()),
        ("score_out_of_range", value.is_not_null() & (~value.is_finite() | outside)),
        *_timestamp_checks("feedback_ts", now),
    ]
    return parsed.with_columns(*_reason(checks, FEEDBACK_REASONS)).drop(
        "_ts_missing", "_score_unparsed"
    )
