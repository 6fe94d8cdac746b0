"""Helpers shared by the pandera contracts of every layer."""

import pandera.polars as pa
import polars as pl


def contract_dtypes(contract: type[pa.DataFrameModel]) -> dict[str, pl.DataType]:
    """Column name -> polars dtype, in the contract's column order."""
    schema = contract.to_schema()
    return {name: column.dtype.type for name, column in schema.columns.items()}
