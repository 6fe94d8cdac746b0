"""Contract of marts.clv_backtest."""

from datetime import date

import pandera.polars as pa
import polars as pl


class ClvBacktestContract(pa.DataFrameModel):
    """Predicted vs actual purchase days in the 90 days after each snapshot."""

    snapshot_date: date = pa.Field(
        unique=True, description="Snapshot whose predictions are tested."
    )
    clv_method: str = pa.Field(description="How that snapshot predicted (model or fallback).")
    customers: pl.Int64 = pa.Field(ge=0, description="Customers who had bought by the snapshot.")
    predicted_purchases: pl.Float64 = pa.Field(description="Sum of expected_purchases_90d.")
    actual_purchases: pl.Float64 = pa.Field(description="Purchase days in the next 90 days.")
    mae: pl.Float64 = pa.Field(ge=0, description="Mean absolute error per customer.")
    correlation: pl.Float64 = pa.Field(
        nullable=True, description="Pearson correlation of predicted and actual per customer."
    )
    aggregate_error: pl.Float64 = pa.Field(
        nullable=True, description="(predicted - actual) / actual over all customers."
    )

    class Config:
        strict = True
