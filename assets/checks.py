"""Contract checks: a blocking asset check that validates a warehouse table with its contract."""

import dagster as dg
import duckdb
import pandera.polars as pa
import polars as pl

from assets.metadata import preview
from assets.resources import Warehouse
from segmentation.config import (
    PII_CUSTOMER_COLUMNS,
    SegmentationConfig,
    pii_attributes,
    pseudonym_secret,
)
from segmentation.privacy import safe_failure_cases
from segmentation.warehouse import quote_table

BATCH_ROWS = 1_000_000


def _unique_keys(contract: type[pa.DataFrameModel]) -> list[list[str]]:
    schema = contract.to_schema()
    keys = [[name] for name, column in schema.columns.items() if column.unique]
    if schema.unique:
        keys.append(list(schema.unique))
    return keys


def _duplicate_keys(con: duckdb.DuckDBPyConnection, table: str, keys: list[str]) -> pl.DataFrame:
    columns = ", ".join(f'"{key}"' for key in keys)
    return con.execute(
        f"SELECT {columns}, count(*) AS copies FROM {quote_table(table)} "
        f"GROUP BY ALL HAVING count(*) > 1 ORDER BY copies DESC LIMIT 20"
    ).pl()


def validate_table(
    warehouse: Warehouse, table: str, contract: type[pa.DataFrameModel]
) -> tuple[int, pl.DataFrame | None]:
    """Validate a table batch by batch; returns (rows checked, failure cases or None).

    Uniqueness is checked over the whole table in SQL: a batch alone cannot see duplicates
    that fall into different batches.
    """
    rows = 0
    with warehouse.connect(read_only=False) as con:
        for keys in _unique_keys(contract):
            duplicates = _duplicate_keys(con, table, keys)
            if duplicates.height:
                return 0, duplicates
        reader = con.execute(f"SELECT * FROM {quote_table(table)}").to_arrow_reader(BATCH_ROWS)
        for batch in reader:
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            rows += frame.height
            try:
                contract.validate(frame, lazy=True)
            except pa.errors.SchemaErrors as error:
                return rows, error.failure_cases
    return rows, None


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
        rows, failures = validate_table(warehouse, table, contract)
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
