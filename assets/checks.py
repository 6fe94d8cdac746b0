"""Contract checks: a blocking asset check that validates a warehouse table with its contract."""

import dagster as dg
import pandera.polars as pa

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
    asset_key: dg.AssetKey | list[str], contract: type[pa.DataFrameModel]
) -> dg.AssetChecksDefinition:
    """A blocking check: the asset's table satisfies its pandera contract, every row."""
    key = dg.AssetKey(asset_key) if isinstance(asset_key, list) else asset_key
    table = ".".join(key.path)

    @dg.asset_check(
        asset=key,
        name="contract",
        blocking=True,
        description=f"Every row of {table} satisfies {contract.__name__} (types, nulls, ranges).",
    )
    def _check(
        warehouse: Warehouse, settings: dg.ResourceParam[SegmentationConfig]
    ) -> dg.AssetCheckResult:
        with warehouse.connect(read_only=False) as con:
            rows, failures = validate_table(con, table, contract)
        if failures is None:
            return dg.AssetCheckResult(passed=True, metadata={"rows_checked": rows})
        # the failing values go to the event log: no personal value, pseudonyms for ids
        secret = pseudonym_secret(settings)
        hidden = {*PII_CUSTOMER_COLUMNS, *pii_attributes(settings)}
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
