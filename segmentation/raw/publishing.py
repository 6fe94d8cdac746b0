"""Publish a landing: swap in the landed table and the source's quarantine rows in one
transaction, so that a failure leaves both as they were."""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl

from segmentation.raw.reasons import REASONS
from segmentation.raw.settings import SourceName
from segmentation.raw.staging import drop_staging
from segmentation.sql_files import read_sql
from segmentation.warehouse import registered, transaction


def publish(con: duckdb.DuckDBPyConnection, source: SourceName, now: datetime) -> None:
    """Replace ``raw.<source>`` with the good rows of ``landing_stage`` and the source's rows in
    ``quality.rejected_rows`` with its rejected rows (each with its check in words), atomically.

    ``now`` is the landing's start, recorded as each quarantined row's ``rejected_at``.
    """
    reasons = REASONS[source]
    checks = pl.DataFrame(
        {"reason": list(reasons), "check": list(reasons.values())},
        schema={"reason": pl.Utf8, "check": pl.Utf8},
    )
    with registered(con, "landing_reasons", checks), transaction(con):
        con.execute(read_sql("quality/create_rejected_rows.sql"))
        con.execute(read_sql(f"raw/publish_{source}.sql"))
        con.execute(read_sql("raw/delete_rejected_rows.sql"), {"source": source})
        con.execute(
            read_sql("raw/insert_rejected_rows.sql"), {"source": source, "rejected_at": now}
        )


def empty_customers_table(con: duckdb.DuckDBPyConnection) -> None:
    """Without a customers source, ``raw.customers`` exists empty so downstream SQL still runs."""
    empty_source_table(con, "customers")


def empty_source_table(con: duckdb.DuckDBPyConnection, source: SourceName) -> None:
    """Without an optional source (customers, events, feedback, customer_attributes, products),
    ``raw.<source>`` exists empty with its columns so downstream SQL still runs, and the
    source's quarantine rows of an earlier landing are gone with its rows."""
    if source == "transactions":
        raise ValueError("the transactions source is required: it has no empty table")
    try:
        with transaction(con):
            con.execute(read_sql("quality/create_rejected_rows.sql"))
            con.execute(read_sql(f"raw/create_empty_{source}_stage.sql"))
            con.execute(read_sql(f"raw/publish_{source}.sql"))
            con.execute(read_sql("raw/delete_rejected_rows.sql"), {"source": source})
    finally:
        drop_staging(con)
