"""Raw layer assets: land the configured sources into ``raw.*`` and quarantine bad rows."""

from datetime import UTC, datetime
from typing import Any

import dagster as dg
import duckdb
import pandera.polars as pa

from assets.engine import engine_kinds, on_engine
from assets.metadata import column_schema, counts_table, preview
from assets.resources import Warehouse
from segmentation.config import (
    PII_CUSTOMER_COLUMNS,
    SegmentationConfig,
    custom_attributes,
    pii_attributes,
    pii_source_columns,
    pseudonym_secret,
)
from segmentation.raw.contracts import (
    CustomerAttributesContract,
    CustomersContract,
    EventsContract,
    FeedbackContract,
    ProductsContract,
    TransactionsContract,
)
from segmentation.raw.landing import (
    HistoryCounts,
    LandingReport,
    attribute_history_counts,
    land_source,
    landed_sample,
    products_per_category,
)
from segmentation.raw.publishing import empty_source_table
from segmentation.raw.settings import SourceName

RAW_KINDS = {"duckdb", "polars", "pandera"}


def _run_started() -> datetime:
    """'Now' for the future-timestamp check: the landing's start, UTC, naive like the data."""
    return datetime.now(UTC).replace(tzinfo=None)


def _file_notes(report: LandingReport) -> dg.TableMetadataValue:
    return dg.MetadataValue.table(
        records=[
            dg.TableRecord({"source_file": name, "note": note})
            for name, notes in report.notes.items()
            for note in notes
        ],
        schema=dg.TableSchema(
            columns=[dg.TableColumn("source_file", "string"), dg.TableColumn("note", "string")]
        ),
    )


def _removed_files(report: LandingReport) -> dg.TableMetadataValue:
    return dg.MetadataValue.table(
        records=[
            dg.TableRecord({"source_file": name, "rows_before": before, "rows_now": now})
            for name, (before, now) in report.removed_files.items()
        ],
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("source_file", "string"),
                dg.TableColumn("rows_before", "int"),
                dg.TableColumn("rows_now", "int"),
            ]
        ),
    )


def _log_landing(context: dg.AssetExecutionContext, report: LandingReport) -> None:
    """One line of counts, and a warning for each file note, removed file or stale directory."""
    context.log.info(
        f"{report.source}: {report.landed_rows:,} landed, {report.rejected_rows:,} rejected "
        f"of {report.source_rows:,} source rows in {len(report.files)} file(s)"
    )
    for name, notes in report.notes.items():
        for note in notes:
            context.log.warning(f"{report.source} file {name}: {note}")
    for name, (before, now) in report.removed_files.items():
        context.log.warning(
            f"{report.source} file {name}: {before:,} rows before, {now:,} now "
            f"(allow_removed_files: true)"
        )
    if report.stale_staging_removed:
        context.log.info(
            f"removed {report.stale_staging_removed} staging folder(s) left by killed landings"
        )


def _metadata(report: LandingReport, sample: dg.MetadataValue, schema: dg.TableSchema) -> dict:
    extra: dict = {}
    if report.notes:
        extra["file_notes"] = _file_notes(report)
    if report.allow_removed_files:
        extra["allow_removed_files"] = True
    if report.removed_files:
        extra["removed_files"] = _removed_files(report)
    if report.stale_staging_removed:
        extra["stale_staging_removed"] = report.stale_staging_removed
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
        **extra,
    }


def _raw_transactions(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    settings: dg.ResourceParam[SegmentationConfig],
    spark: Any = None,
) -> dg.MaterializeResult:
    """Transactions landed from the configured source with canonical names and types.

    Every source row lands here or in ``quality.rejected_rows`` with a reason: records that are
    not well-formed CSV (wrong number of fields, unbalanced quotes, NUL bytes, the broken tail
    of a truncated file), unparseable timestamps or numbers, missing customer ids, exact
    duplicates of an earlier row, non-finite amounts, timestamps before 1970 or after the run.
    Returns and cancellations land, flagged ``is_return``. Above the source's
    ``max_reject_rate`` nothing is written; nor when a file landed before is gone or shorter,
    unless the source says ``allow_removed_files: true`` (recorded in the metadata).
    """
    if spark is not None:
        return _land_on_spark(context, spark, settings, "transactions", TransactionsContract)
    secret = pseudonym_secret(settings)
    with warehouse.connect() as con:
        report = land_source(
            con,
            "transactions",
            settings.sources.transactions,
            _run_started(),
            masked=pii_source_columns(settings, "transactions"),
        )
        sample = preview(landed_sample(con, "transactions"), secret=secret)
    _log_landing(context, report)
    return dg.MaterializeResult(
        metadata=_metadata(report, sample, column_schema(TransactionsContract))
    )


def _not_configured(
    context: dg.AssetExecutionContext,
    con: duckdb.DuckDBPyConnection,
    source: SourceName,
    contract: type[pa.DataFrameModel],
) -> dg.MaterializeResult:
    """An optional source that is not configured: its table exists empty (its quarantine rows
    of an earlier landing gone), and the materialization says why."""
    empty_source_table(con, source)
    context.log.info(f"no {source} source configured: raw.{source} is empty")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": 0,
            "dagster/column_schema": column_schema(contract),
            "note": f"no {source} source configured",
        }
    )


def _raw_customers(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    settings: dg.ResourceParam[SegmentationConfig],
    spark: Any = None,
) -> dg.MaterializeResult:
    """Customer attributes landed from the optional customers source, one row per customer.

    Rows whose dates or income do not parse, without a customer id, or repeating an earlier
    customer id are quarantined in ``quality.rejected_rows``, their personal values (name,
    e-mail, phone, custom attributes declared ``pii: true``) masked there. Names, e-mails and
    phones stay in this layer. Without a customers source the table exists and is empty.
    """
    if spark is not None:
        hidden = [*PII_CUSTOMER_COLUMNS, *pii_attributes(settings)]
        return _land_on_spark(context, spark, settings, "customers", CustomersContract, hidden)
    source = settings.sources.customers
    with warehouse.connect() as con:
        if source is None:
            return _not_configured(context, con, "customers", CustomersContract)
        report = land_source(
            con,
            "customers",
            source,
            _run_started(),
            custom_attributes(settings, "customers"),
            masked=pii_source_columns(settings),
        )
        sample = preview(
            landed_sample(con, "customers"),
            secret=pseudonym_secret(settings),
            hidden=[*PII_CUSTOMER_COLUMNS, *pii_attributes(settings)],
        )
    _log_landing(context, report)
    return dg.MaterializeResult(
        metadata=_metadata(report, sample, column_schema(CustomersContract))
    )


def _land_optional(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    settings: SegmentationConfig,
    source: SourceName,
    contract: type[pa.DataFrameModel],
) -> dg.MaterializeResult:
    """Land an optional source like transactions; without it, an empty table and a note."""
    config = getattr(settings.sources, source)
    with warehouse.connect() as con:
        if config is None:
            return _not_configured(context, con, source, contract)
        report = land_source(
            con, source, config, _run_started(), masked=pii_source_columns(settings, source)
        )
        sample = preview(landed_sample(con, source), secret=pseudonym_secret(settings))
    _log_landing(context, report)
    return dg.MaterializeResult(metadata=_metadata(report, sample, column_schema(contract)))


def _raw_events(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    settings: dg.ResourceParam[SegmentationConfig],
    spark: Any = None,
) -> dg.MaterializeResult:
    """Events (visits, product views, cart adds, e-mails, unsubscribes) landed from the optional
    events source, each source value mapped to its canonical kind by ``event_types``.

    Every source row lands here or in ``quality.rejected_rows`` with a reason: records that are
    not well-formed CSV, missing customer ids, missing or unparseable timestamps, event types
    mapped to no kind, timestamps before 1970 or after the run, exact duplicates of an earlier
    row. The same guards as transactions apply (``max_reject_rate``, removed or shrunk files).
    Without an events source the table exists and is empty.
    """
    if spark is not None:
        return _land_on_spark(context, spark, settings, "events", EventsContract)
    return _land_optional(context, warehouse, settings, "events", EventsContract)


def _raw_feedback(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    settings: dg.ResourceParam[SegmentationConfig],
    spark: Any = None,
) -> dg.MaterializeResult:
    """Survey answers, ratings and complaints landed from the optional feedback source, each
    source value mapped to its canonical kind (nps, csat, complaint, review) by ``kinds``.

    Every source row lands here or in ``quality.rejected_rows`` with a reason: besides the
    reasons events have, kinds mapped to no kind, scores that do not parse, NPS and CSAT rows
    without a score, and scores out of range (NPS an integer 0-10, CSAT and reviews within
    their configured scales). Without a feedback source the table exists and is empty.
    """
    if spark is not None:
        return _land_on_spark(context, spark, settings, "feedback", FeedbackContract)
    return _land_optional(context, warehouse, settings, "feedback", FeedbackContract)


def _raw_customer_attributes(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    settings: dg.ResourceParam[SegmentationConfig],
    spark: Any = None,
) -> dg.MaterializeResult:
    """The customers' attribute history landed from the optional customer_attributes source:
    one row per customer and change, each holding from its ``valid_from`` on. Snapshots use,
    per customer, the latest row on or before their as-of instant.

    Every source row lands here or in ``quality.rejected_rows`` with a reason: besides the
    reasons every source has, a missing, unparseable, pre-1970 or future ``valid_from``,
    attribute values that do not parse as their type, and rows for one customer and instant
    that disagree (all of them; rows that agree land once). Personal values (names, e-mails,
    phones, attributes declared ``pii: true``, ``pii_columns``) are masked in the quarantine
    and left out of the preview. Without the source the table exists with its key columns
    and no rows.
    """
    if spark is not None:
        hidden = [*PII_CUSTOMER_COLUMNS, *pii_attributes(settings)]
        return _land_on_spark(
            context, spark, settings, "customer_attributes", CustomerAttributesContract, hidden
        )
    source = settings.sources.customer_attributes
    with warehouse.connect() as con:
        if source is None:
            return _not_configured(context, con, "customer_attributes", CustomerAttributesContract)
        report = land_source(
            con,
            "customer_attributes",
            source,
            _run_started(),
            custom_attributes(settings, "customer_attributes"),
            masked=pii_source_columns(settings, "customer_attributes"),
        )
        counts = attribute_history_counts(con)
        sample = preview(
            landed_sample(con, "customer_attributes"),
            secret=pseudonym_secret(settings),
            hidden=[*PII_CUSTOMER_COLUMNS, *pii_attributes(settings)],
        )
    _log_landing(context, report)
    metadata = _metadata(report, sample, column_schema(CustomerAttributesContract))
    return dg.MaterializeResult(metadata=metadata | _history_metadata(context, counts))


def _history_metadata(context: dg.AssetExecutionContext, counts: HistoryCounts) -> dict:
    """The attribute history's customers and rows per customer: a log line and metadata."""
    context.log.info(
        f"customer_attributes: {counts.customers:,} customers, "
        f"{counts.rows_per_customer_mean:.2f} rows per customer on average"
    )
    metadata: dict = {
        "customers": counts.customers,
        "rows_per_customer_mean": round(counts.rows_per_customer_mean, 3),
        "rows_per_customer_median": counts.rows_per_customer_median,
        "rows_per_customer_max": counts.rows_per_customer_max,
    }
    if counts.first_valid_from is not None:
        metadata["valid_from_range"] = f"{counts.first_valid_from} .. {counts.last_valid_from}"
    return metadata


def _raw_products(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    settings: dg.ResourceParam[SegmentationConfig],
    spark: Any = None,
) -> dg.MaterializeResult:
    """The product catalogue landed from the optional products source: one row per product id
    with its category and, where the source has them, subcategory, price, need and risk level.

    Every source row lands here or in ``quality.rejected_rows`` with a reason: besides the
    reasons every source has, a missing product id or category, and rows for one product id
    that disagree (all of them; rows that agree land once). Transactions of products missing
    from the catalogue are not rejected: the features count them. Without the source the table
    exists and is empty.
    """
    if spark is not None:
        return _land_on_spark(context, spark, settings, "products", ProductsContract)
    source = settings.sources.products
    with warehouse.connect() as con:
        if source is None:
            return _not_configured(context, con, "products", ProductsContract)
        report = land_source(
            con,
            "products",
            source,
            _run_started(),
            masked=pii_source_columns(settings, "products"),
        )
        categories = products_per_category(con)
        sample = preview(landed_sample(con, "products"))
    _log_landing(context, report)
    context.log.info(f"products: {report.landed_rows:,} products in {len(categories):,} categories")
    metadata = _metadata(report, sample, column_schema(ProductsContract))
    metadata |= {
        "products": report.landed_rows,
        "categories": len(categories),
        "products_per_category": counts_table(categories, "category", total=report.landed_rows),
    }
    return dg.MaterializeResult(metadata=metadata)


def _land_on_spark(
    context: dg.AssetExecutionContext,
    spark: Any,
    settings: SegmentationConfig,
    source: SourceName,
    contract: type[pa.DataFrameModel],
    hidden: list[str] | None = None,
) -> dg.MaterializeResult:
    """A source landed on Spark into the lake, with the DuckDB path's metadata; without the
    source (an optional one), its empty table in the lake and a note."""
    from assets import spark_stages  # imports PySpark: the Spark path only

    if getattr(settings.sources, source) is None:
        spark_stages.write_empty_source(spark, settings, source)
        context.log.info(f"no {source} source configured: raw.{source} is empty")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": 0,
                "dagster/column_schema": column_schema(contract),
                "note": f"no {source} source configured",
            }
        )
    report, landed = spark_stages.land(spark, settings, source)
    secret = None if source == "products" else pseudonym_secret(settings)
    sample = preview(landed, secret=secret, hidden=hidden or [])
    _log_landing(context, report)
    metadata = _metadata(report, sample, column_schema(contract))
    if source == "customer_attributes":
        metadata |= _history_metadata(context, spark_stages.history_counts(spark, settings))
    if source == "products":
        categories = spark_stages.per_category(spark, settings)
        metadata |= {
            "products": report.landed_rows,
            "categories": len(categories),
            "products_per_category": counts_table(categories, "category", total=report.landed_rows),
        }
    return dg.MaterializeResult(metadata=metadata)


def build_raw_assets(engine: str = "duckdb") -> list[dg.AssetsDefinition]:
    """The raw assets, one per source, landed by ``engine`` (on Spark into the lake)."""

    def raw_asset(source: SourceName, land: Any) -> dg.AssetsDefinition:
        return dg.asset(
            key=["raw", source],
            group_name="raw",
            kinds=engine_kinds(RAW_KINDS, engine),
            # lets `dagster asset materialize --partition-range` take raw and snapshots in one run
            backfill_policy=dg.BackfillPolicy.single_run(),
        )(on_engine(engine)(land))

    return [
        raw_asset("transactions", _raw_transactions),
        raw_asset("customers", _raw_customers),
        raw_asset("events", _raw_events),
        raw_asset("feedback", _raw_feedback),
        raw_asset("customer_attributes", _raw_customer_attributes),
        raw_asset("products", _raw_products),
    ]


(
    raw_transactions,
    raw_customers,
    raw_events,
    raw_feedback,
    raw_customer_attributes,
    raw_products,
) = build_raw_assets()
