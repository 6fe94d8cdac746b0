"""Checks of the raw layer: each landed table satisfies its contract (blocking)."""

from assets.checks import contract_check
from segmentation.raw.contracts import (
    CustomersContract,
    EventsContract,
    FeedbackContract,
    TransactionsContract,
)

raw_checks = [
    contract_check(["raw", "transactions"], TransactionsContract),
    contract_check(["raw", "customers"], CustomersContract),
    contract_check(["raw", "events"], EventsContract),
    contract_check(["raw", "feedback"], FeedbackContract),
]
