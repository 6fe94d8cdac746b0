"""Raw layer assets: land the configured sources into ``raw.*`` and quarantine bad rows."""

from datetime import UTC, datetime

import dagster as dg

from assets.metadata import column_schema, counts_table, preview
from assets.raw.contracts import CustomersContract, TransactionsContract
from assets.raw.landing import LandingReport, empty_customers_table, land_source
from pipelines.config import SegmentationConfig, custom_attributes
from pipelines.resources import Warehouse

RAW_KINDS = {"duckdb", "polars", "pandera"}


def _run_started() -> datetime:
    """'Now' for the future-timestamp check: the landing's start, UTC, naive like the data."""
    return datetime.now(UTC).replace(tzinfo=None)


def _metadata(report: LandingReport, sample: dg.MetadataValue, schema: dg.TableSchema) -> dict:
    return {
        "dagster/row_count": report.landed_rows,
        "dagster/column_schema": schema,
        "source_rows": report.source_rows,
        "landed_rows": report.landed_rows,
        "rejected_rows": report.rejected_rows,
        "reject_rate": round(report.reject_rate, 6),
        "rejected_by_reason": counts_table(
            report.rejected_by_reason, "reason", total=report.source_rows
        ),
        "rejected_by_file": counts_table(report.rejected_by_file, "source_file"),
        "files": len(report.files),
        "preview": sample,
    }


@dg.asset(
    key=["raw", "transactions"],
    group_name="raw",
    kinds=RAW_KINDS,
    # lets `dagster asset materialize --partition-range` take raw and snapshots in one run
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def raw_transactions(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    settings: dg.ResourceParam[SegmentationConfig],
) -> dg.MaterializeResult:
    """Transactions landed from the configured source with canonical names and types.

    Every source row lands here or in ``quality.rejected_rows`` with a reason: unparseable
    timestamps or numbers, missing customer ids, exact duplicates of an earlier row, non-finite
    amounts, timestamps before 1970 or after the run. Returns and cancellations land, flagged
    ``is_return``. Above the source's ``max_reject_rate`` nothing is written.
    """
    with warehouse.connect() as con:
        report = land_source(con, "transactions", settings.sources.transactions, _run_started())
        sample = preview(con.execute("SELECT * FROM raw.transactions LIMIT 10").pl())
    context.log.info(
        f"transactions: {report.landed_rows:,} landed, {report.rejected_rows:,} rejected "
        f"of {report.source_rows:,} source rows in {len(report.files)} file(s)"
    )
    return dg.MaterializeResult(
        metadata=_metadata(report, sample, column_schema(TransactionsContract))
    )


@dg.asset(
    key=["raw", "customers"],
    group_name="raw",
    kinds=RAW_KINDS,
    # lets `dagster asset materialize --partition-range` take raw and snapshots in one run
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def raw_customers(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    settings: dg.ResourceParam[SegmentationConfig],
) -> dg.MaterializeResult:
    """Customer attributes landed from the optional customers source, one row per customer.

    Rows whose dates or income do not parse, without a customer id, or repeating an earlier
    customer id are quarantined in ``quality.rejected_rows``. Names, e-mails and phones stay in
    this layer. Without a customers source the table exists and is empty.
    """
    source = settings.sources.customers
    with warehouse.connect() as con:
        if source is None:
            empty_customers_table(con)
            context.log.info("no customers source configured: raw.customers is empty")
            return dg.MaterializeResult(
                metadata={
                    "dagster/row_count": 0,
                    "dagster/column_schema": column_schema(CustomersContract),
                    "note": "no customers source configured",
                }
            )
        report = land_source(con, "customers", source, _run_started(), custom_attributes(settings))
        sample = preview(
            con.execute("SELECT * EXCLUDE (name, email, phone) FROM raw.customers LIMIT 10").pl()
        )
    context.log.info(f"customers: {report.landed_rows:,} landed, {report.rejected_rows:,} rejected")
    return dg.MaterializeResult(
        metadata=_metadata(report, sample, column_schema(CustomersContract))
    )
