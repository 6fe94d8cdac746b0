"""Hand-made ``features.customer_features`` frames for the segment, playbook and evaluation tests.

``feature_rows`` fills every feature column with a consistent default, so a test states only
the columns it is about; ``random_features`` makes a larger, reproducible frame.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import polars as pl

from segmentation.segments.columns import FEATURE_COLUMN_TYPES, segment_columns_with

SNAPSHOT = date(2024, 1, 31)
NEXT_SNAPSHOT = date(2024, 2, 29)

_PURCHASER_DEFAULTS: dict[str, Any] = {
    "snapshot_date": SNAPSHOT,
    "signup_date": date(2022, 1, 1),
    "age": 40,
    "gender": "f",
    "region": "north",
    "country": "NL",
    "industry": None,
    "acquisition_channel": "online",
    "income": 50_000.0,
    "first_purchase_date": date(2023, 1, 1),
    "last_purchase_date": date(2024, 1, 1),
    "recency_days": 30,
    "tenure_days": 395,
    "purchase_days": 3,
    "orders": 3,
    "return_orders": 0,
    "gross_revenue": 300.0,
    "net_revenue": 300.0,
    "avg_order_value": 100.0,
    "orders_30d": 0,
    "orders_90d": 1,
    "orders_365d": 3,
    "revenue_30d": 0.0,
    "revenue_90d": 100.0,
    "revenue_365d": 300.0,
    "revenue_prev_90d": 100.0,
    "trend": 0.0,
    "mean_days_between": 180.0,
    "std_days_between": 10.0,
    "return_rate": 0.0,
    "share_online": 1.0,
    "share_store": 0.0,
    "share_agent": 0.0,
    "dominant_channel": "online",
    "product_breadth": 3,
    "active_months": 3,
    "frequency": 2,
    "recency": 365,
    "age_days": 395,
    "repeat_spend_mean": 100.0,
    "ever_lost_then_returned_days": None,
    "p_alive": 0.8,
    "expected_purchases_30d": 0.2,
    "expected_purchases_90d": 0.6,
    "expected_purchases_365d": 2.0,
    "expected_spend": 100.0,
    "clv_12m": 60.0,
    "clv_method": "bgnbd_gamma_gamma",
    "value_tier": "mid",
    "abc_class": "B",
    "revenue_share": 0.1,
    "cumulative_revenue_share": 0.5,
    "is_pareto_top": False,
    "lifecycle_stage": "mature",
}

# A known customer who never purchased ("potential").
POTENTIAL: dict[str, Any] = {
    "first_purchase_date": None,
    "last_purchase_date": None,
    "recency_days": None,
    "tenure_days": None,
    "purchase_days": 0,
    "orders": 0,
    "gross_revenue": 0.0,
    "net_revenue": 0.0,
    "avg_order_value": None,
    "orders_90d": 0,
    "orders_365d": 0,
    "revenue_90d": 0.0,
    "revenue_365d": 0.0,
    "revenue_prev_90d": 0.0,
    "mean_days_between": None,
    "std_days_between": None,
    "product_breadth": 0,
    "active_months": 0,
    "frequency": 0,
    "recency": None,
    "age_days": None,
    "repeat_spend_mean": None,
    "p_alive": None,
    "expected_purchases_30d": 0.0,
    "expected_purchases_90d": 0.0,
    "expected_purchases_365d": 0.0,
    "expected_spend": 0.0,
    "clv_12m": 0.0,
    "clv_method": "none",
    "value_tier": "low",
    "abc_class": "C",
    "revenue_share": 0.0,
    "dominant_channel": "unknown",
    "share_online": 0.0,
    "lifecycle_stage": "potential",
}


def feature_rows(
    rows: list[dict[str, Any]], extra_schema: dict[str, pl.DataType] | None = None
) -> pl.DataFrame:
    """A features frame: each row is the purchaser defaults updated with the given values.

    Args:
        rows: One dict per row; must hold ``customer_id``. Use ``{**POTENTIAL, ...}`` for a
            customer who never purchased.
        extra_schema: Types of extra customer attribute columns used in ``rows``.
    """
    schema = {**FEATURE_COLUMN_TYPES, **(extra_schema or {})}
    filled = [{**_PURCHASER_DEFAULTS, **row} for row in rows]
    return pl.DataFrame(filled, schema=schema, orient="row")


def random_features(
    customers: int, seed: int = 0, snapshots: tuple[date, ...] = (SNAPSHOT,)
) -> pl.DataFrame:
    """A reproducible frame of ``customers`` customers (about 10% never purchased) per snapshot."""
    rng = np.random.default_rng(seed)
    ids = [f"c{i:05d}" for i in range(customers)]
    recency = rng.integers(0, 720, customers)
    orders = rng.geometric(0.35, customers)
    net = np.round(orders * rng.lognormal(4.0, 0.8, customers), 2)
    p_alive = np.round(rng.uniform(0.0, 1.0, customers), 3)
    clv = np.round(net * p_alive * 0.3, 2)
    potential = rng.uniform(0, 1, customers) < 0.1
    tiers = np.where(net > 300, "high", np.where(net > 100, "mid", "low"))
    stages = np.where(
        recency > 365,
        "lost",
        np.where(recency > 180, "at_risk", np.where(orders > 3, "mature", "new")),
    )
    rows: list[dict[str, Any]] = []
    for snapshot in snapshots:
        for index, customer_id in enumerate(ids):
            if potential[index]:
                rows.append({**POTENTIAL, "snapshot_date": snapshot, "customer_id": customer_id})
                continue
            rows.append(
                {
                    "snapshot_date": snapshot,
                    "customer_id": customer_id,
                    "recency_days": int(recency[index]),
                    "orders": int(orders[index]),
                    "purchase_days": int(orders[index]),
                    "frequency": int(orders[index]) - 1,
                    "net_revenue": float(net[index]),
                    "gross_revenue": float(net[index]),
                    "p_alive": float(p_alive[index]),
                    "clv_12m": float(clv[index]),
                    "value_tier": str(tiers[index]),
                    "abc_class": {"high": "A", "mid": "B", "low": "C"}[str(tiers[index])],
                    "lifecycle_stage": str(stages[index]),
                    "age": int(rng.integers(18, 90)),
                    "income": float(rng.integers(10, 200) * 1000),
                }
            )
    return feature_rows(rows)


_SEGMENT_DEFAULTS: dict[str, Any] = {
    "snapshot_date": SNAPSHOT,
    "r_score": 3,
    "f_score": 3,
    "m_score": 3,
    "rfm_cell": "333",
    "rfm_segment": "Need Attention",
    "value_tier": "mid",
    "abc_class": "B",
    "lifecycle_stage": "mature",
    "loyalty": "hesitant",
    "churn_risk": "low",
    "cluster": "Mid value, recent",
    "recency_days": 30,
    "frequency": 2,
    "orders": 3,
    "net_revenue": 300.0,
    "clv_12m": 60.0,
    "p_alive": 0.8,
}


def segment_rows(
    rows: list[dict[str, Any]], attribute_dimensions: tuple[str, ...] = ()
) -> pl.DataFrame:
    """A segments-table frame: each row is the defaults updated with the given values."""
    schema = segment_columns_with(list(attribute_dimensions))
    defaults = {**_SEGMENT_DEFAULTS, **{f"attr_{name}": "unknown" for name in attribute_dimensions}}
    return pl.DataFrame([{**defaults, **row} for row in rows], schema=schema, orient="row")
