"""Holdout test of the next best category on the real sample, by product group
(tests/data/online_retail_products.csv, derived by ``python -m synthetic.sample_catalogue``).

At five quarterly snapshots (2010-08 .. 2011-08, each with 90 days of data after it), every
customer with a recommendation gets two: ``next_best_category`` (pairwise association rules,
default settings) and the baseline, the category most customers of the snapshot bought in the
window that the customer has not bought (ties: by name). A recommendation hits when the customer
buys the category in the 90 days after the snapshot. The comparison is paired (the same
customers and snapshots): McNemar's exact test on the discordant pairs, and a 95% bootstrap
interval of the difference of the hit rates that resamples customers (a customer's snapshots go
together, as they are not independent).

Measured (see docs/needs-and-recommendations.md): the lift-ranked next best category does NOT
beat the most popular category on this data (hit rates 5.6% and 13.9%, 94 against 600
discordant pairs). Product groups are few and broad (13, a customer's
median basket holds 9 of them), so the highest lift goes to the rarest groups a basket
co-occurs with, which are rarely bought next. The test that asserts the issue's claim is
therefore expected to fail (strict: it is reported when it starts to pass); the comparison
itself is checked to be paired and reproducible.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import polars as pl
import pytest
from scipy.stats import binomtest

from pipelines.build_definitions import build_definitions
from segmentation.config import load_config
from segmentation.features.categories import categories_by_snapshot
from segmentation.features.settings import CategorySettings
from segmentation.segments.category_settings import NeedsSettings, RecommendationSettings
from segmentation.segments.recommendations import category_baskets, pick_recommendations
from tests.conftest import PROJECT_ROOT, config_mapping, write_config_file

pytestmark = pytest.mark.slow

CATALOGUE = PROJECT_ROOT / "tests" / "data" / "online_retail_products.csv"
SNAPSHOTS = [date(2010, 8, 31), date(2010, 11, 30), date(2011, 2, 28), date(2011, 5, 31)]
SNAPSHOTS.append(date(2011, 8, 31))
HORIZON_DAYS = 90
BOOTSTRAP_DRAWS = 2_000


def _warehouse(folder: Path) -> Path:
    """The real sample landed by the pipeline, with the catalogue in raw.products."""
    config = load_config(write_config_file(folder, config_mapping()))
    defs = build_definitions(config)
    raw = [dg.AssetKey(["raw", name]) for name in ("transactions", "customers")]
    result = dg.materialize(
        list(defs.assets), resources=defs.resources, selection=dg.AssetSelection.assets(*raw)
    )
    assert result.success
    with duckdb.connect(str(config.warehouse)) as con:
        con.execute(
            "CREATE OR REPLACE TABLE raw.products AS SELECT product_id, category, subcategory, "
            "price_level, need_level, NULL::VARCHAR AS risk_level FROM read_csv(?, all_varchar "
            "= true)",
            [str(CATALOGUE)],
        )
    return config.warehouse


def _holdout(warehouse: Path) -> pl.DataFrame:
    """One row per snapshot and customer with a recommendation: the recommendation, the
    baseline and whether each was bought in the next 90 days."""
    with duckdb.connect(str(warehouse)) as con:
        months = list(
            categories_by_snapshot(
                con, SNAPSHOTS, CategorySettings(), NeedsSettings(), products_configured=True
            )
        )
        bought = con.execute(
            "SELECT t.customer_id, t.order_ts::DATE AS day, p.category FROM raw.transactions t "
            "JOIN raw.products p USING (product_id) WHERE NOT t.is_return"
        ).pl()
    baskets = category_baskets(pl.concat(months))
    picks = pick_recommendations(baskets, RecommendationSettings())
    rows = []
    for snapshot in SNAPSHOTS:
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
        for customer, item in (
            picks.filter(pl.col("snapshot_date") == snapshot)
            .select("customer_id", "item")
            .iter_rows()
        ):
            baseline = next(c for c in popularity if c not in held[customer])
            categories = set(next_period.get(customer, []))
            rows.append(
                (snapshot, customer, item, baseline, item in categories, baseline in categories)
            )
    return pl.DataFrame(
        rows,
        schema=["snapshot_date", "customer_id", "item", "baseline", "hit", "baseline_hit"],
        orient="row",
    )


def _difference_interval(holdout: pl.DataFrame, seed: int = 0) -> tuple[float, float]:
    """The 95% bootstrap interval of hit rate - baseline hit rate, resampling customers."""
    per_customer = (
        holdout.group_by("customer_id")
        .agg(
            pl.col("hit").sum().alias("hits"),
            pl.col("baseline_hit").sum().alias("baseline_hits"),
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


@pytest.fixture(scope="module")
def holdout(tmp_path_factory) -> pl.DataFrame:
    return _holdout(_warehouse(tmp_path_factory.mktemp("next_best")))


def test_the_comparison_is_paired_and_reproducible(holdout: pl.DataFrame) -> None:
    assert holdout.height > 5_000
    assert holdout.select("snapshot_date", "customer_id").is_unique().all()
    assert holdout.get_column("customer_id").n_unique() > 1_000
    assert _difference_interval(holdout) == _difference_interval(holdout)


@pytest.mark.xfail(
    strict=True,
    reason="on the real sample by product group, the lift-ranked next best category hits "
    "less often than the most popular category (see the module docstring)",
)
def test_next_best_category_beats_the_most_popular_category(holdout: pl.DataFrame) -> None:
    hits, baseline_hits = holdout.get_column("hit"), holdout.get_column("baseline_hit")
    better = int((hits & ~baseline_hits).sum())
    worse = int((~hits & baseline_hits).sum())
    mcnemar = binomtest(better, better + worse, 0.5, alternative="greater")
    low, _ = _difference_interval(holdout)
    assert mcnemar.pvalue < 0.01
    assert low > 0.0
