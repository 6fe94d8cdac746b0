"""Value features: net revenue tiers (high / mid / low) and ABC classes by Pareto share."""

import polars as pl

from pipelines.config import ValueSettings

# cumulative shares are float sums: 0.5 + 0.3 must count as having reached 0.8
_EPSILON = 1e-9


def value_features(behaviour: pl.DataFrame, settings: ValueSettings) -> pl.DataFrame:
    """Value tier, ABC class and revenue shares per customer, within each snapshot.

    Tiers: customers whose net revenue is at or above the ``high_tier_quantile`` of the
    snapshot's purchasing customers are 'high', at or above ``mid_tier_quantile`` 'mid', the rest
    (including customers who never bought) 'low'.

    ABC: customers sorted by net revenue (descending, ties by customer id) accumulate their share
    of the snapshot's positive net revenue; 'A' are the top customers that together make up
    ``abc_a_share`` of it (the customer crossing the line included), 'B' the next up to
    ``abc_b_share``, 'C' the rest and everyone with no positive revenue.
    """
    revenue = pl.col("net_revenue")
    purchaser_revenue = pl.when(pl.col("purchase_days") > 0).then(revenue)
    by_snapshot = "snapshot_date"
    high_cut = purchaser_revenue.quantile(settings.high_tier_quantile, "linear").over(by_snapshot)
    mid_cut = purchaser_revenue.quantile(settings.mid_tier_quantile, "linear").over(by_snapshot)
    positive = revenue.clip(lower_bound=0.0)
    total = positive.sum().over(by_snapshot)

    ranked = behaviour.sort(
        [by_snapshot, "net_revenue", "customer_id"], descending=[False, True, False]
    )
    share = pl.when(total > 0).then(positive / total).otherwise(0.0)
    cumulative = share.cum_sum().over(by_snapshot)
    before = cumulative - share
    return ranked.with_columns(
        pl.when((pl.col("purchase_days") > 0) & (revenue >= high_cut))
        .then(pl.lit("high"))
        .when((pl.col("purchase_days") > 0) & (revenue >= mid_cut))
        .then(pl.lit("mid"))
        .otherwise(pl.lit("low"))
        .alias("value_tier"),
        pl.when((positive > 0) & (before < settings.abc_a_share - _EPSILON))
        .then(pl.lit("A"))
        .when((positive > 0) & (before < settings.abc_b_share - _EPSILON))
        .then(pl.lit("B"))
        .otherwise(pl.lit("C"))
        .alias("abc_class"),
        share.alias("revenue_share"),
        cumulative.alias("cumulative_revenue_share"),
    ).with_columns((pl.col("abc_class") == "A").alias("is_pareto_top"))
