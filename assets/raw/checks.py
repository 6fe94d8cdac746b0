"""Checks of the raw layer: each landed table satisfies its contract (blocking)."""

from assets.checks import contract_check
from segmentation.raw.contracts import (
    CustomerAttributesContract,
    CustomersContract,
    EventsContract,
    FeedbackContract,
    ProductsContract,
    TransactionsContract,
)

raw_checks = [
    contract_check(["raw", "transactions"], TransactionsContract),
    contract_check(["raw", "customers"], CustomersContract),
    contract_check(["raw", "events"], EventsContract),
    contract_check(["raw", "feedback"], FeedbackContract),
    contract_check(["raw", "customer_attributes"], CustomerAttributesContract),
    contract_check(["raw", "products"], ProductsContract),
]
