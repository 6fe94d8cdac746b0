"""Metadata of the feature assets that both engines report with the same names and types."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def category_counts(customers: int, categories: int, uncatalogued: Mapping[str, Any]) -> dict:
    """A month of ``features.customer_categories``: its customers and categories and, when it
    has rows, its uncatalogued transactions (``uncatalogued``: the month's row of
    ``uncatalogued_transactions``, empty when it has none)."""
    if not customers and not categories:
        return {"customers": 0, "categories": 0}
    return {
        "customers": customers,
        "categories": categories,
        "uncatalogued_rows": uncatalogued.get("rows", 0),
        "uncatalogued_product_ids": uncatalogued.get("product_ids", 0),
        "uncatalogued_amount_share": uncatalogued.get("amount_share"),
    }
