"""What of a customer may be shown outside the warehouse: masks and pseudonyms for personal
values in metadata, logs and quarantine."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import Any

import polars as pl

from segmentation.serving.publish import pseudonym

# the column that identifies a customer in every table below raw
CUSTOMER_ID = "customer_id"
# what a personal value is shown as: a fixed token, not a hash a dictionary attack could reverse
MASK = "***"


def pseudonymized(frame: pl.DataFrame, secret: bytes | None) -> pl.DataFrame:
    """``frame`` with its ``customer_id`` column replaced by the serving copy's pseudonyms when a
    secret is given (``pseudonymize: true``); unchanged otherwise."""
    if secret is None or CUSTOMER_ID not in frame.columns:
        return frame
    return frame.with_columns(
        pl.col(CUSTOMER_ID).map_elements(
            lambda value: pseudonym(secret, str(value)), return_dtype=pl.String
        )
    )


def safe_failure_cases(
    failures: pl.DataFrame, secret: bytes | None = None, hidden: Collection[str] = ()
) -> pl.DataFrame:
    """Pandera's failure cases with no personal value in them, for metadata and logs.

    A failing value of a ``hidden`` column is masked; a failing customer id becomes its pseudonym
    when ``secret`` is given. A failure of a whole-row check (uniqueness) holds the row's key
    columns as JSON: the same rules apply to its fields.
    """
    if "failure_case" not in failures.columns or "column" not in failures.columns:
        return pseudonymized(failures.drop(hidden, strict=False), secret)

    def safe_value(column: str | None, value: Any) -> Any:
        if value is None:
            return None
        if column in hidden:
            return MASK
        if column == CUSTOMER_ID:
            return pseudonym(secret, str(value)) if secret is not None else value
        if isinstance(value, str) and value.startswith("{"):
            try:
                fields = json.loads(value)
            except ValueError:
                return value
            if isinstance(fields, dict):
                return json.dumps(
                    {key: safe_value(key, field) for key, field in fields.items()}, default=str
                )
        return value

    safe = [
        None if value is None else str(safe_value(column, value))
        for column, value in zip(
            failures.get_column("column").cast(pl.String).to_list(),
            failures.get_column("failure_case").cast(pl.String).to_list(),
            strict=True,
        )
    ]
    return failures.with_columns(pl.Series("failure_case", safe, dtype=pl.String))


def failure_summary(failures: pl.DataFrame) -> str:
    """Which checks failed on which columns and how often, without any failing value."""
    if not {"column", "check"} <= set(failures.columns):
        return f"{failures.height} failures"
    counts = failures.group_by("column", "check", maintain_order=True).len().iter_rows()
    return counts_summary(counts)


def counts_summary(counts: Iterable[tuple[Any, Any, int]]) -> str:
    """(column, check, failures) counted elsewhere (a Spark aggregate), worded as
    :func:`failure_summary` words them."""
    return "; ".join(f"{column}: {check} failed {n}x" for column, check, n in counts)
