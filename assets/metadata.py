"""Metadata a person wants on an asset: row counts, the column schema, a preview, count tables."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

import dagster as dg
import pandera.polars as pa
import polars as pl
from dagster_pandera import pandera_schema_to_dagster_type

from assets.serving.publish import pseudonym

# the column that identifies a customer in every table below raw
CUSTOMER_ID = "customer_id"
# what a personal value is shown as: a fixed token, not a hash a dictionary attack could reverse
MASK = "***"


def contract_type(contract: type[pa.DataFrameModel]) -> dg.DagsterType:
    """The Dagster type of a pandera contract (it validates outputs and shows the schema)."""
    return pandera_schema_to_dagster_type(contract)


def column_schema(contract: type[pa.DataFrameModel]) -> dg.TableSchema:
    """The contract's columns, types, constraints and descriptions as a Dagster table schema."""
    schema = contract_type(contract).metadata["schema"]
    columns = contract.to_schema().columns
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=column.name,
                type=column.type,
                description=columns[column.name].description,
                constraints=column.constraints,
            )
            for column in schema.schema.columns
        ]
    )


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


def preview(
    frame: pl.DataFrame,
    rows: int = 10,
    secret: bytes | None = None,
    hidden: Collection[str] = (),
) -> dg.MarkdownMetadataValue:
    """The first rows as a markdown table.

    Args:
        frame: The rows to show.
        rows: How many of its first rows.
        secret: The pseudonym secret when ``pseudonymize: true``: customer ids are then shown
            as the pseudonyms the serving copy uses, never in clear.
        hidden: Columns holding personal data (PII custom attributes): left out.
    """
    head = pseudonymized(frame.head(rows).drop(hidden, strict=False), secret)
    if head.is_empty():
        return dg.MetadataValue.md("_(no rows)_")
    header = "| " + " | ".join(head.columns) + " |"
    rule = "| " + " | ".join("---" for _ in head.columns) + " |"
    body = [
        "| " + " | ".join("" if value is None else str(value) for value in row) + " |"
        for row in head.iter_rows()
    ]
    return dg.MetadataValue.md("\n".join([header, rule, *body]))


def counts_table(counts: Mapping[str, int], label: str, total: int | None = None) -> Any:
    """A two-column table (label, rows[, share]) for counts such as rejected rows by reason."""
    columns = [dg.TableColumn(label, "string"), dg.TableColumn("rows", "int")]
    if total:
        columns.append(dg.TableColumn("share", "float"))
    records = [
        dg.TableRecord(
            {label: key, "rows": int(value)} | ({"share": round(value / total, 6)} if total else {})
        )
        for key, value in counts.items()
    ]
    return dg.MetadataValue.table(records=records, schema=dg.TableSchema(columns=columns))


def value_counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    """How many rows hold each value of ``column``."""
    return dict(frame.get_column(column).value_counts().iter_rows())


def column_counts_table(frame: pl.DataFrame, column: str) -> Any:
    """Rows per value of ``column`` with their share, as a metadata table."""
    return counts_table(value_counts(frame, column), column, total=frame.height)


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
    return "; ".join(f"{column}: {check} failed {n}x" for column, check, n in counts)
