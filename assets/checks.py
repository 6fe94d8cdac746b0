"""Contract checks: a blocking asset check that validates a warehouse table with its contract."""

from typing import Any

import dagster as dg
import pandera.polars as pa

from assets.engine import on_engine
from assets.metadata import preview
from assets.resources import Warehouse
from segmentation.config import (
    PII_CUSTOMER_COLUMNS,
    SegmentationConfig,
    pii_attributes,
    pseudonym_secret,
)
from segmentation.privacy import safe_failure_cases
from segmentation.quality.validation import validate_table


def contract_check(
    asset_key: dg.AssetKey | list[str], contract: type[pa.DataFrameModel], engine: str = "duckdb"
) -> dg.AssetChecksDefinition:
    """A blocking check: the asset's table satisfies its pandera contract, every row.

    On Spark the lake's table is checked in Spark's tasks (a key's uniqueness within each
    task's rows), and the failures are counted per column and check: no failing value is shown.
    """
    key = dg.AssetKey(asset_key) if isinstance(asset_key, list) else asset_key
    table = ".".join(key.path)

    @dg.asset_check(
        asset=key,
        name="contract",
        blocking=True,
        description=f"Every row of {table} satisfies {contract.__name__} (types, nulls, ranges).",
    )
    @on_engine(engine)
    def _check(
        warehouse: Warehouse, settings: dg.ResourceParam[SegmentationConfig], spark: Any = None
    ) -> dg.AssetCheckResult:
        hidden = {*PII_CUSTOMER_COLUMNS, *pii_attributes(settings)}
        if spark is not None:
            return _check_on_spark(spark, settings, table, contract, frozenset(hidden))
        with warehouse.connect(read_only=False) as con:
            rows, failures = validate_table(con, table, contract)
        if failures is None:
            return dg.AssetCheckResult(passed=True, metadata={"rows_checked": rows})
        # the failing values go to the event log: no personal value, pseudonyms for ids
        secret = pseudonym_secret(settings)
        cases = safe_failure_cases(failures, secret, hidden)
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "rows_checked": rows,
                "failures": failures.height,
                "failure_cases": preview(cases, rows=20, secret=secret, hidden=hidden),
            },
        )

    return _check


def _check_on_spark(
    spark: Any,
    settings: SegmentationConfig,
    table: str,
    contract: type[pa.DataFrameModel],
    hidden: frozenset[str],
) -> dg.AssetCheckResult:
    from assets import spark_stages  # imports PySpark: the Spark path only

    rows, failures = spark_stages.contract_failures(spark, settings, table, contract, hidden)
    if failures.is_empty():
        return dg.AssetCheckResult(passed=True, metadata={"rows_checked": rows})
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "rows_checked": rows,
            "failures": int(failures.get_column("failures").sum()),
            "failures_by_check": preview(failures, rows=20),
        },
    )
