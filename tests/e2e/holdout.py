"""The holdout comparison of next best category recommendations, shared by the holdout tests on
the real sample (``test_next_best.py``) and on generated data (``test_next_best_generated.py``).

At each snapshot, every customer with a ``next_best_category`` (pairwise association rules,
default settings: ranked by confidence) gets four recommendations: that one, the baseline (the
category most customers of the snapshot have in their basket that the customer has not; ties:
by name), the pick of the same rules ranked by lift (``rank_by: lift``) and the
confidence-ranked pick computed here from the candidates' lifts (a check of the shipped one:
the consequent with the highest confidence P(c | a); ties: the higher support, the higher lift,
then by name). A recommendation hits when the
customer buys the category in the ``HORIZON_DAYS`` days after the snapshot. The comparisons
are paired (the same customers and snapshots): McNemar's exact test on the discordant pairs,
and a 95% bootstrap interval of the difference of the hit rates that resamples customers (a
customer's snapshots go together, as they are not independent).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
from scipy.stats import binomtest

from segmentation.features.categories import categories_by_snapshot
from segmentation.features.settings import CategorySettings
from segmentation.segments.category_settings import NeedsSettings, RecommendationSettings
from segmentation.segments.recommendations import (
    association_candidates,
    category_baskets,
    pick_recommendations,
)

HORIZON_DAYS = 90
BOOTSTRAP_DRAWS = 2_000


def confidence_picks(baskets: pl.DataFrame, settings: RecommendationSettings) -> pl.DataFrame:
    """Per snapshot and customer, the candidate of the qualifying rules with the highest
    confidence P(c | a) = lift(a -> c) * n(c) / n.

    For one consequent c, n(c) / n is fixed, so the rule with the highest lift into c is also
    the one with the highest confidence: the best candidate rows of
    :func:`association_candidates` are enough.
    """
    counts = baskets.unique().group_by("snapshot_date", "item").len("holders")
    customers = baskets.group_by("snapshot_date").agg(
        pl.col("customer_id").n_unique().alias("customers")
    )
    return (
        association_candidates(baskets, settings)
        .join(counts, on=["snapshot_date", "item"])
        .join(customers, on="snapshot_date")
        .with_columns(
            # rounded: equal confidences computed from different lifts differ in the last bits
            (pl.col("lift") * pl.col("holders") / pl.col("customers"))
            .round_sig_figs(12)
            .alias("confidence")
        )
        .sort(
            ["snapshot_date", "customer_id", "confidence", "support", "lift", "item"],
            descending=[False, False, True, True, True, False],
        )
        .group_by("snapshot_date", "customer_id", maintain_order=True)
        .first()
        .select("snapshot_date", "customer_id", "item", "confidence")
    )


def holdout(warehouse: Path, snapshots: Sequence[date]) -> pl.DataFrame:
    """One row per snapshot and customer with a recommendation: the customer's basket, the
    recommendation (``item``), the baseline, the lift-ranked pick (``lifted``), the
    confidence-ranked pick computed here (``confident``) and whether each was bought in the
    next ``HORIZON_DAYS`` days (``hit``, ``baseline_hit``, ``lift_hit``, ``confident_hit``);
    ``bought_next``: the catalogued categories the customer bought then.

    Args:
        warehouse: A warehouse holding ``raw.transactions`` and ``raw.products``.
        snapshots: The snapshot dates, each with ``HORIZON_DAYS`` days of data after it.
    """
    settings = RecommendationSettings()
    with duckdb.connect(str(warehouse)) as con:
        months = list(
            categories_by_snapshot(
                con, snapshots, CategorySettings(), NeedsSettings(), products_configured=True
            )
        )
        bought = con.execute(
            "SELECT t.customer_id, t.order_ts::DATE AS day, p.category FROM raw.transactions t "
            "JOIN raw.products p USING (product_id) WHERE NOT t.is_return"
        ).pl()
    baskets = category_baskets(pl.concat(months))
    picks = pick_recommendations(baskets, settings)
    lift_ranked = pick_recommendations(baskets, settings.model_copy(update={"rank_by": "lift"}))
    confident = confidence_picks(baskets, settings)
    rows = []
    for snapshot in snapshots:
        basket = baskets.filter(pl.col("snapshot_date") == snapshot)
        popularity = (
            basket.group_by("item")
            .len()
            .sort(["len", "item"], descending=[True, False])
            .get_column("item")
            .to_list()
        )
        held = dict(basket.group_by("customer_id").agg(pl.col("item")).iter_rows())
        later = bought.filter(
            (pl.col("day") > snapshot) & (pl.col("day") <= snapshot + timedelta(days=HORIZON_DAYS))
        )
        next_period = dict(later.group_by("customer_id").agg(pl.col("category")).iter_rows())
        most_confident = dict(
            confident.filter(pl.col("snapshot_date") == snapshot)
            .select("customer_id", "item")
            .iter_rows()
        )
        highest_lift = dict(
            lift_ranked.filter(pl.col("snapshot_date") == snapshot)
            .select("customer_id", "item")
            .iter_rows()
        )
        for customer, item in (
            picks.filter(pl.col("snapshot_date") == snapshot)
            .select("customer_id", "item")
            .iter_rows()
        ):
            baseline = next(c for c in popularity if c not in held[customer])
            categories = set(next_period.get(customer, []))
            rows.append(
                (
                    snapshot,
                    customer,
                    sorted(set(held[customer])),
                    item,
                    baseline,
                    highest_lift[customer],
                    most_confident[customer],
                    item in categories,
                    baseline in categories,
                    highest_lift[customer] in categories,
                    most_confident[customer] in categories,
                    sorted(categories),
                )
            )
    return pl.DataFrame(
        rows,
        schema={
            "snapshot_date": pl.Date,
            "customer_id": pl.String,
            "basket": pl.List(pl.String),
            "item": pl.String,
            "baseline": pl.String,
            "lifted": pl.String,
            "confident": pl.String,
            "hit": pl.Boolean,
            "baseline_hit": pl.Boolean,
            "lift_hit": pl.Boolean,
            "confident_hit": pl.Boolean,
            "bought_next": pl.List(pl.String),
        },
        orient="row",
    )


def discordant_pairs(
    holdout: pl.DataFrame, hit: str = "hit", baseline: str = "baseline_hit"
) -> tuple[int, int, float]:
    """The rows where only ``hit`` hits, those where only ``baseline`` hits, and McNemar's
    exact one-sided p-value that ``hit`` hits more often."""
    hits, baseline_hits = holdout.get_column(hit), holdout.get_column(baseline)
    better = int((hits & ~baseline_hits).sum())
    worse = int((~hits & baseline_hits).sum())
    if better + worse == 0:
        return better, worse, 1.0
    return better, worse, binomtest(better, better + worse, 0.5, alternative="greater").pvalue


def difference_interval(
    holdout: pl.DataFrame, hit: str = "hit", baseline: str = "baseline_hit", seed: int = 0
) -> tuple[float, float]:
    """The 95% bootstrap interval of the hit rate of ``hit`` - that of ``baseline``,
    resampling customers."""
    per_customer = (
        holdout.group_by("customer_id")
        .agg(
            pl.col(hit).sum().alias("hits"),
            pl.col(baseline).sum().alias("baseline_hits"),
            pl.len().alias("rows"),
        )
        .sort("customer_id")
    )
    counts = per_customer.select("hits", "baseline_hits", "rows").to_numpy().astype(float)
    rng = np.random.default_rng(seed)
    customers = counts.shape[0]
    weights = rng.multinomial(customers, np.full(customers, 1 / customers), BOOTSTRAP_DRAWS)
    totals = weights @ counts
    differences = (totals[:, 0] - totals[:, 1]) / totals[:, 2]
    low, high = np.quantile(differences, [0.025, 0.975])
    return float(low), float(high)


def assert_beats_baseline(holdout: pl.DataFrame, hit: str = "hit", alpha: float = 0.01) -> None:
    """That the recommendation whose hits are ``hit`` hits more often than the baseline: the
    one-sided McNemar p-value below ``alpha`` and the bootstrap interval of the difference
    above 0."""
    _, _, pvalue = discordant_pairs(holdout, hit)
    low, _ = difference_interval(holdout, hit)
    assert pvalue < alpha
    assert low > 0.0
