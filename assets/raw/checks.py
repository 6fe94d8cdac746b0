"""Checks of the raw layer: each landed table satisfies its contract (blocking)."""

import dagster as dg

from assets.checks import contract_check
from segmentation.raw.contracts import (
    CustomerAttributesContract,
    CustomersContract,
    EventsContract,
    FeedbackContract,
    ProductsContract,
    TransactionsContract,
)

RAW_CONTRACTS = {
    "transactions": TransactionsContract,
    "customers": CustomersContract,
    "events": EventsContract,
    "feedback": FeedbackContract,
    "customer_attributes": CustomerAttributesContract,
    "products": ProductsContract,
}


def build_raw_checks(engine: str = "duckdb") -> list[dg.AssetChecksDefinition]:
    """The contract check of every raw table, on the tables ``engine`` writes."""
    return [
        contract_check(["raw", source], contract, engine)
        for source, contract in RAW_CONTRACTS.items()
    ]


raw_checks = build_raw_checks()
