"""Value features: net revenue tiers (high / mid / low) and ABC classes by Pareto share."""

import polars as pl

from segmentation.features.settings import ValueSettings
from segmentation.keys import sorted_by_keys

# cumulative shares are float sums: 0.5 + 0.3 must count as having reached 0.8
_EPSILON = 1e-9

# the columns value_features adds, in order
VALUE_COLUMNS = (
    "value_tier",
    "abc_class",
    "revenue_share",
    "cumulative_revenue_share",
    "is_pareto_top",
)
_ROW = "value_row_index"


def _by_revenue(behaviour: pl.DataFrame) -> pl.DataFrame:
    """The rows by snapshot, net revenue (descending) and customer id."""
    if not sorted_by_keys(behaviour):
        return behaviour.sort(
            ["snapshot_date", "net_revenue", "customer_id"], descending=[False, True, False]
        )
    # Already in customer id order within each snapshot (as the behaviour query returns it):
    # a stable sort on revenue breaks ties the same way without comparing the ids.
    dates = behaviour.get_column("snapshot_date")
    if dates.is_empty() or dates[0] == dates[-1]:
        # One snapshot. The snapshot column is flagged sorted, as the first key of a sort by
        # snapshot would be: the per-snapshot sums below then add in the same order, so the
        # shares come out the same to the last bit.
        return behaviour.sort("net_revenue", descending=True, maintain_order=True).with_columns(
            pl.col("snapshot_date").set_sorted()
        )
    return behaviour.sort(
        ["snapshot_date", "net_revenue"], descending=[False, True], maintain_order=True
    )


def _value_expressions(settings: ValueSettings) -> list[pl.Expr]:
    """The value columns but ``is_pareto_top``, over rows ranked by :func:`_by_revenue`."""
    revenue = pl.col("net_revenue")
    purchaser_revenue = pl.when(pl.col("purchase_days") > 0).then(revenue)
    by_snapshot = "snapshot_date"
    high_cut = purchaser_revenue.quantile(settings.high_tier_quantile, "linear").over(by_snapshot)
    mid_cut = purchaser_revenue.quantile(settings.mid_tier_quantile, "linear").over(by_snapshot)
    positive = revenue.clip(lower_bound=0.0)
    total = positive.sum().over(by_snapshot)
    share = pl.when(total > 0).then(positive / total).otherwise(0.0)
    cumulative = share.cum_sum().over(by_snapshot)
    before = cumulative - share
    return [
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
    ]


def value_features(behaviour: pl.DataFrame, settings: ValueSettings) -> pl.DataFrame:
    """Value tier, ABC class and revenue shares per customer, within each snapshot.

    Tiers: customers whose net revenue is at or above the ``high_tier_quantile`` of the
    snapshot's purchasing customers are 'high', at or above ``mid_tier_quantile`` 'mid', the rest
    (including customers who never bought) 'low'.

    ABC: customers sorted by net revenue (descending, ties by customer id) accumulate their share
    of the snapshot's positive net revenue; 'A' are the top customers that together make up
    ``abc_a_share`` of it (the customer crossing the line included), 'B' the next up to
    ``abc_b_share``, 'C' the rest and everyone with no positive revenue.

    Returns:
        ``behaviour`` with the :data:`VALUE_COLUMNS`, its rows in that ranking (snapshot, net
        revenue descending, customer id). :func:`value_columns` gives the same columns in the
        input's row order.
    """
    return (
        _by_revenue(behaviour)
        .with_columns(_value_expressions(settings))
        .with_columns((pl.col("abc_class") == "A").alias("is_pareto_top"))
    )


def value_columns(behaviour: pl.DataFrame, settings: ValueSettings) -> pl.DataFrame:
    """The :data:`VALUE_COLUMNS` of :func:`value_features`, one row per row of ``behaviour`` in
    its order, e.g. for ``behaviour.hstack(value_columns(behaviour, settings))``.

    Only the four columns the ranking needs are reordered, and back, instead of every column of
    ``behaviour``; a frame already in (snapshot_date, customer_id) order stays in it.
    """
    narrow = behaviour.select(
        "snapshot_date", "customer_id", "net_revenue", "purchase_days"
    ).with_row_index(_ROW)
    return (
        _by_revenue(narrow)
        .select(_ROW, *_value_expressions(settings))
        .with_columns((pl.col("abc_class") == "A").alias("is_pareto_top"))
        .sort(_ROW)
        .drop(_ROW)
    )
