"""Contract checks: a blocking asset check that validates a warehouse table with its contract."""

import dagster as dg
import pandera.polars as pa
import polars as pl

from assets.metadata import preview
from assets.warehouse import quote_table
from pipelines.resources import Warehouse

BATCH_ROWS = 1_000_000


def validate_table(
    warehouse: Warehouse, table: str, contract: type[pa.DataFrameModel]
) -> tuple[int, pl.DataFrame | None]:
    """Validate a table batch by batch; returns (rows checked, failure cases or None)."""
    rows = 0
    with warehouse.connect(read_only=False) as con:
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
    def _check(warehouse: Warehouse) -> dg.AssetCheckResult:
        rows, failures = validate_table(warehouse, table, contract)
        if failures is None:
            return dg.AssetCheckResult(passed=True, metadata={"rows_checked": rows})
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "rows_checked": rows,
                "failures": failures.height,
                "failure_cases": preview(failures, rows=20),
            },
        )

    return _check
