"""Contract of the strategy assignments table."""

from __future__ import annotations

from datetime import date

import pandera.polars as pa
import polars as pl


class StrategyAssignmentsContract(pa.DataFrameModel):
    """One row per snapshot and customer: the single playbook strategy chosen for the customer."""

    snapshot_date: date = pa.Field(description="As-of date of the snapshot (month end).")
    customer_id: str = pa.Field(description="Customer id.")
    strategy: str = pa.Field(
        str_length={"min_value": 1}, description="The action of the playbook rule that matched."
    )
    channel: str = pa.Field(
        str_length={"min_value": 1}, description="Where the action is delivered."
    )
    priority: pl.Int64 = pa.Field(
        ge=1, description="Urgency of the action for the executing team (1 = most urgent)."
    )
    budget: pl.Float64 = pa.Field(
        ge=0,
        description="Planned spend on this customer: the rule's budget per customer, 0 for "
        "control customers.",
    )
    matched_rule: str = pa.Field(
        str_length={"min_value": 1},
        description="Name of the first playbook rule that matched the customer (within capacity).",
    )
    is_control: bool = pa.Field(
        description="Held out (no action): stable hash of salt and customer id below the "
        "control share; the same customer stays in control across snapshots.",
    )

    class Config:
        strict = True
        unique = ["snapshot_date", "customer_id"]
