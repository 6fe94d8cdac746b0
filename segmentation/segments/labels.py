"""Label dimensions: value tier, ABC class and lifecycle stage (from the features layer), loyalty
and churn risk (defined here). Every customer gets exactly one label per dimension."""

from __future__ import annotations

import polars as pl

from segmentation.features.contracts import ABC_CLASSES, LIFECYCLE_STAGES, VALUE_TIERS
from segmentation.segments.settings import ChurnRiskSettings, LoyaltySettings

__all__ = [
    "ABC_CLASSES",
    "CHURN_RISK_LABELS",
    "LABEL_COLUMNS",
    "LIFECYCLE_STAGES",
    "LOYALTY_LABELS",
    "VALUE_TIERS",
    "churn_risk_label",
    "label_customers",
    "loyalty_label",
]

LOYALTY_LABELS = ("loyal", "hesitant", "lost")
CHURN_RISK_LABELS = ("high", "medium", "low", "no_purchase")

PASSTHROUGH_LABELS = ("value_tier", "abc_class", "lifecycle_stage")
LABEL_COLUMNS = (*PASSTHROUGH_LABELS, "loyalty", "churn_risk")


def loyalty_label(settings: LoyaltySettings | None = None) -> pl.Expr:
    """``lost`` (lifecycle lost), else ``loyal`` (repeat buyer still alive), else ``hesitant``.

    Still alive means ``p_alive >= min_p_alive``, or ``recency_days <= max_recency_days`` where
    ``p_alive`` is null. Customers who never purchased are ``hesitant``.
    """
    settings = settings or LoyaltySettings()
    alive = (
        pl.when(pl.col("p_alive").is_not_null())
        .then(pl.col("p_alive") >= settings.min_p_alive)
        .otherwise(pl.col("recency_days") <= settings.max_recency_days)
        .fill_null(False)
    )
    repeat_buyer = pl.col("frequency").fill_null(0) >= settings.min_repeat_purchases
    return (
        pl.when(pl.col("lifecycle_stage") == "lost")
        .then(pl.lit("lost"))
        .when(repeat_buyer & alive)
        .then(pl.lit("loyal"))
        .otherwise(pl.lit("hesitant"))
        .alias("loyalty")
    )


def churn_risk_label(settings: ChurnRiskSettings | None = None) -> pl.Expr:
    """``no_purchase`` without a purchase; else ``high`` / ``medium`` / ``low``.

    A threshold on either signal is enough: ``high`` when ``p_alive < high_p_alive`` or
    ``recency_days > high_recency_days``, ``medium`` likewise with the medium thresholds. A null
    ``p_alive`` never triggers a threshold, so recency alone decides.
    """
    settings = settings or ChurnRiskSettings()
    p_alive = pl.col("p_alive")
    recency = pl.col("recency_days")
    high = (p_alive < settings.high_p_alive).fill_null(False) | (
        recency > settings.high_recency_days
    )
    medium = (p_alive < settings.medium_p_alive).fill_null(False) | (
        recency > settings.medium_recency_days
    )
    return (
        pl.when(recency.is_null())
        .then(pl.lit("no_purchase"))
        .when(high)
        .then(pl.lit("high"))
        .when(medium)
        .then(pl.lit("medium"))
        .otherwise(pl.lit("low"))
        .alias("churn_risk")
    )


def label_customers(
    features: pl.DataFrame,
    loyalty: LoyaltySettings | None = None,
    churn_risk: ChurnRiskSettings | None = None,
) -> pl.DataFrame:
    """The label dimensions of every customer of every snapshot.

    Args:
        features: ``features.customer_features`` rows.
        loyalty: Loyalty thresholds (defaults apply when omitted).
        churn_risk: Churn-risk thresholds (defaults apply when omitted).

    Returns:
        snapshot_date, customer_id, value_tier, abc_class, lifecycle_stage, loyalty, churn_risk,
        in the input's row order.
    """
    return features.select(
        "snapshot_date",
        "customer_id",
        *PASSTHROUGH_LABELS,
        loyalty_label(loyalty),
        churn_risk_label(churn_risk),
    )
