"""Metadata a person wants on an asset: row counts, the column schema, a preview, count tables."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import dagster as dg
import pandera.polars as pa
import polars as pl
from dagster_pandera import pandera_schema_to_dagster_type

from segmentation.privacy import pseudonymized


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
