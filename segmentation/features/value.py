"""Value features: net revenue tiers (high / mid / low) and ABC classes by Pareto share."""

from dataclasses import dataclass

import numpy as np
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


def _tier(purchased: pl.Expr, revenue: pl.Expr, high_cut: pl.Expr, mid_cut: pl.Expr) -> pl.Expr:
    """The value tier of a customer from the snapshot's two cut points."""
    return (
        pl.when(purchased & (revenue >= high_cut))
        .then(pl.lit("high"))
        .when(purchased & (revenue >= mid_cut))
        .then(pl.lit("mid"))
        .otherwise(pl.lit("low"))
        .alias("value_tier")
    )


def _abc(positive: pl.Expr, before: pl.Expr, settings: ValueSettings) -> pl.Expr:
    """The ABC class of a customer from the cumulative share of the customers ranked before."""
    return (
        pl.when((positive > 0) & (before < settings.abc_a_share - _EPSILON))
        .then(pl.lit("A"))
        .when((positive > 0) & (before < settings.abc_b_share - _EPSILON))
        .then(pl.lit("B"))
        .otherwise(pl.lit("C"))
        .alias("abc_class")
    )


def _share(positive: pl.Expr, total: pl.Expr) -> pl.Expr:
    """A customer's share of the snapshot's positive net revenue (0 when there is none)."""
    return pl.when(total > 0).then(positive / total).otherwise(0.0)


def _population_expressions(settings: ValueSettings) -> dict[str, pl.Expr]:
    """What the value columns need of the whole snapshot, over rows ranked by
    :func:`_by_revenue`: the two cut points, the total positive revenue, each row's share and
    its cumulative share."""
    revenue = pl.col("net_revenue")
    purchaser_revenue = pl.when(pl.col("purchase_days") > 0).then(revenue)
    by_snapshot = "snapshot_date"
    total = revenue.clip(lower_bound=0.0).sum().over(by_snapshot)
    share = _share(revenue.clip(lower_bound=0.0), total)
    return {
        "high_cut": purchaser_revenue.quantile(settings.high_tier_quantile, "linear").over(
            by_snapshot
        ),
        "mid_cut": purchaser_revenue.quantile(settings.mid_tier_quantile, "linear").over(
            by_snapshot
        ),
        "total": total,
        "share": share,
        "cumulative": share.cum_sum().over(by_snapshot),
    }


def _value_expressions(settings: ValueSettings) -> list[pl.Expr]:
    """The value columns but ``is_pareto_top``, over rows ranked by :func:`_by_revenue`."""
    population = _population_expressions(settings)
    return _label_expressions(
        population["high_cut"],
        population["mid_cut"],
        population["share"],
        population["cumulative"],
        settings,
    )


def _label_expressions(
    high_cut: pl.Expr,
    mid_cut: pl.Expr,
    share: pl.Expr,
    cumulative: pl.Expr,
    settings: ValueSettings,
) -> list[pl.Expr]:
    """The value columns but ``is_pareto_top`` of a row from its snapshot's cut points and its
    share and cumulative share."""
    revenue = pl.col("net_revenue")
    return [
        _tier(pl.col("purchase_days") > 0, revenue, high_cut, mid_cut),
        _abc(revenue.clip(lower_bound=0.0), cumulative - share, settings),
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


# Value counts: the part of the ranking's input that does not name customers, and that any
# split of the customers adds up to. Two engines that merge the same counts get the same cut
# points, total and cumulative shares (see revenue_ranking).
REVENUE_COUNT_SCHEMA = {
    "snapshot_date": pl.Date,
    "net_revenue": pl.Float64,
    "purchaser": pl.Boolean,
    "customers": pl.Int64,
}


def revenue_counts(behaviour: pl.DataFrame) -> pl.DataFrame:
    """How many customers of each snapshot have each net revenue, split by whether they
    purchased (``purchase_days > 0``): one row per distinct (snapshot_date, net_revenue,
    purchaser) with its count in ``customers``, in no particular order."""
    return behaviour.group_by(
        pl.col("snapshot_date"),
        pl.col("net_revenue").cast(pl.Float64),
        (pl.col("purchase_days") > 0).alias("purchaser"),
    ).agg(pl.len().cast(pl.Int64).alias("customers"))


@dataclass(frozen=True)
class RevenueRanking:
    """What the value columns need of the whole population, per snapshot.

    Attributes:
        snapshots: One row per snapshot: ``high_cut`` and ``mid_cut`` (the tiers' cut points;
            null without a purchaser), ``total`` (positive net revenue) and
            ``last_cumulative`` (the cumulative share after every customer: that of every
            customer without positive revenue) and ``last_share`` (their share, 0).
        values: One row per snapshot and distinct positive net revenue: ``customers`` (how many
            have it), their ``share`` each and ``cumulatives``, the cumulative share of each of
            them in ranking order (ties: by customer id).

    Both come from here rather than from arithmetic in the labelling: polars divides a column
    by the windowed total as by a scalar (which need not round as a division by a column of
    totals does), and its windowed cumulative sum is not a plain running sum (tried: one step
    in a few hundred rounds differently from adding the share to the previous sum).
    """

    snapshots: pl.DataFrame
    values: pl.DataFrame


def revenue_ranking(counts: pl.DataFrame, settings: ValueSettings) -> RevenueRanking:
    """The :class:`RevenueRanking` of value counts (:func:`revenue_counts` of any split of the
    customers, concatenated): the counts are merged and each snapshot's revenue list is laid
    out in ranking order, one entry per customer, and put through the same polars expressions
    :func:`value_columns` evaluates. Customers with the same revenue are interchangeable
    there, so the cut points, the total and the cumulative share at each position come out
    the same to the last bit as over the named customers.

    One snapshot is laid out at a time: eight bytes per customer and a byte for the flag.
    """
    merged = counts.group_by("snapshot_date", "net_revenue", "purchaser").agg(
        pl.col("customers").sum()
    )
    snapshot_rows, value_rows = [], []
    population = _population_expressions(settings)
    for (snapshot,), rows in sorted(
        merged.partition_by("snapshot_date", as_dict=True).items(), key=lambda item: item[0]
    ):
        ranked = rows.sort(["net_revenue", "purchaser"], descending=[True, False])
        customers = ranked.get_column("customers").to_numpy()
        laid_out = pl.DataFrame(
            {
                "net_revenue": np.repeat(ranked.get_column("net_revenue").to_numpy(), customers),
                "purchase_days": np.repeat(
                    ranked.get_column("purchaser").cast(pl.Int64).to_numpy(), customers
                ),
            }
        ).with_columns(pl.lit(snapshot, pl.Date).alias("snapshot_date").set_sorted())
        evaluated = laid_out.select(
            *(population[name].alias(name) for name in ("high_cut", "mid_cut", "total")),
            population["share"].alias("share"),
            population["cumulative"].alias("cumulative"),
        )
        cumulative, share = evaluated.get_column("cumulative"), evaluated.get_column("share")
        snapshot_rows.append(
            evaluated.head(1)
            .select("high_cut", "mid_cut", "total")
            .with_columns(
                pl.lit(snapshot, pl.Date).alias("snapshot_date"),
                pl.lit(cumulative[-1], pl.Float64).alias("last_cumulative"),
                pl.lit(share[-1] if laid_out.get_column("net_revenue")[-1] <= 0 else 0.0)
                .cast(pl.Float64)
                .alias("last_share"),
            )
        )
        runs = ranked.group_by("net_revenue", maintain_order=True).agg(pl.col("customers").sum())
        run_of_position = np.repeat(np.arange(runs.height), runs.get_column("customers").to_numpy())
        value_rows.append(
            pl.DataFrame({"run": run_of_position, "share": share, "cumulatives": cumulative})
            .group_by("run", maintain_order=True)
            .agg(pl.col("share").first(), pl.col("cumulatives"))
            .hstack(runs)
            .with_columns(pl.lit(snapshot, pl.Date).alias("snapshot_date"))
            .filter(pl.col("net_revenue") > 0)
        )
    snapshot_schema = {
        "snapshot_date": pl.Date,
        "high_cut": pl.Float64,
        "mid_cut": pl.Float64,
        "total": pl.Float64,
        "last_cumulative": pl.Float64,
        "last_share": pl.Float64,
    }
    value_schema = {
        "snapshot_date": pl.Date,
        "net_revenue": pl.Float64,
        "customers": pl.Int64,
        "share": pl.Float64,
        "cumulatives": pl.List(pl.Float64),
    }
    return RevenueRanking(
        snapshots=pl.concat(snapshot_rows).select(list(snapshot_schema))
        if snapshot_rows
        else pl.DataFrame(schema=snapshot_schema),
        values=pl.concat(value_rows).select(list(value_schema))
        if value_rows
        else pl.DataFrame(schema=value_schema),
    )


def value_labels(rows: pl.DataFrame, settings: ValueSettings) -> pl.DataFrame:
    """The :data:`VALUE_COLUMNS` of customers whose snapshot's ranking is known: ``rows``
    hold snapshot_date, customer_id, net_revenue and purchase_days, the snapshot's
    ``high_cut`` and ``mid_cut`` and the customer's ``share`` and ``cumulative`` share
    (:class:`RevenueRanking`). The labels are :func:`value_columns`' expressions on those
    inputs.

    Returns:
        snapshot_date, customer_id and the :data:`VALUE_COLUMNS`, in the rows' order.
    """
    return rows.select(
        "snapshot_date",
        "customer_id",
        *_label_expressions(
            pl.col("high_cut"), pl.col("mid_cut"), pl.col("share"), pl.col("cumulative"), settings
        ),
    ).with_columns((pl.col("abc_class") == "A").alias("is_pareto_top"))
