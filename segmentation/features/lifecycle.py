"""Lifecycle stage per customer and snapshot: exactly one of eight stages.

Rules apply in this order; the first that holds gives the stage:

1. ``potential``: known (a customer record) but no purchase yet.
2. ``lost``: recency past ``lost_recency_days`` or P(alive) below ``lost_p_alive``
   (customers whose only rows are returns are lost too: nothing bought in the window).
3. ``won_back``: the latest purchase after having been lost at an earlier month end lies within
   ``won_back_window_days``.
4. ``new``: first purchase within ``new_window_days``, or a one-time buyer who has not lapsed to
   at-risk yet (still being onboarded).
5. ``at_risk``: recency past ``at_risk_recency_days`` or P(alive) below ``at_risk_p_alive``.
6. ``declining``: revenue trend at or below ``-trend_threshold``.
7. ``growing``: trend at or above ``trend_threshold``, or tenure below ``mature_tenure_days``.
8. ``mature``: everyone else (long tenure, stable).

P(alive) may be null (no model fitted): the rules then use recency alone.
"""

import polars as pl

from segmentation.features.settings import LifecycleSettings


def lifecycle_stage(features: pl.DataFrame, settings: LifecycleSettings) -> pl.Series:
    """The stage of every row of ``features`` (behaviour columns plus ``p_alive``)."""
    recency = pl.col("recency_days")
    p_alive = pl.col("p_alive")
    below = lambda threshold: (p_alive < threshold).fill_null(False)  # noqa: E731
    stage = (
        pl.when(
            (pl.col("purchase_days") == 0)
            & (pl.col("orders") == 0)
            & (pl.col("return_orders") == 0)
        )
        .then(pl.lit("potential"))
        .when(
            (pl.col("purchase_days") == 0)
            | (recency > settings.lost_recency_days)
            | below(settings.lost_p_alive)
        )
        .then(pl.lit("lost"))
        .when((pl.col("days_since_won_back") <= settings.won_back_window_days).fill_null(False))
        .then(pl.lit("won_back"))
        .when(
            (pl.col("tenure_days") <= settings.new_window_days)
            | ((pl.col("purchase_days") == 1) & (recency <= settings.at_risk_recency_days))
        )
        .then(pl.lit("new"))
        .when((recency > settings.at_risk_recency_days) | below(settings.at_risk_p_alive))
        .then(pl.lit("at_risk"))
        .when(pl.col("trend") <= -settings.trend_threshold)
        .then(pl.lit("declining"))
        .when(
            (pl.col("trend") >= settings.trend_threshold)
            | (pl.col("tenure_days") < settings.mature_tenure_days)
        )
        .then(pl.lit("growing"))
        .otherwise(pl.lit("mature"))
    )
    return features.select(stage.alias("lifecycle_stage")).to_series()
