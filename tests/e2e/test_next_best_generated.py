"""Holdout test of the next best category on generated data with known category affinities.

30,000 customers are drawn by ``synthetic.generate.write`` with the catalogue
(``with_categories``: 10 categories, five lifestyles whose category profiles make the pairs a
lifestyle focuses on go together; the true lifts are in ``true_params.json``), 2010-01-01 ..
2011-12-31, seed 42 (the demo's), no dirty rows; the pipeline lands the transactions and the
catalogue. At four quarterly snapshots (2010-12-31 .. 2011-09-30, each with a full 365-day
category window before it and 90 days of data after it), the comparison of
``tests/e2e/holdout.py``: ``next_best_category`` (default settings: ranked by confidence)
against the most popular category the customer has not bought, and the same rules ranked by
lift.

Measured at this seed (see docs/needs-and-recommendations.md): 66,794 recommendations to
23,520 customers. The next best category hits 5.94%, the most popular category 4.99% (1,534
against 898 discordant pairs, p < 10^-37, interval +0.82 to +1.10 points). Ranked by lift it
hits 5.03% (2,626 against 2,594, p = 0.33): the lift P(c | a) / P(c) divides by how many
customers buy c, so it favours the categories few customers buy and one lifestyle focuses on,
while what a customer buys next follows P(c | a). The customer's own most likely category not
yet bought (the latent profile, ``latent.parquet``) hits 12.95%: the affinities show within 90
days (only 37% of the customers buy anything in those 90 days, which bounds every hit rate).

Seed to seed (30,000 customers, seeds 1-5, 16 and 42), lift - popularity is -0.08 to +0.33
points: it passes the lift test below at one of the seven seeds (16), and at 300,000 customers
(seed 7) the difference is +0.07 points (p = 0.02). The size was fixed before any result was
seen, the seed (the demo's) before its own result was. The lift assertion is expected to fail
at the fixed seed (strict: it is reported when it starts to pass); if the seed, the size or the
generator changes, look at the seed-to-seed spread first.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from pipelines.build_definitions import build_definitions
from segmentation.config import load_config
from synthetic.category_settings import CATEGORIES
from synthetic.generate import write
from tests.conftest import config_mapping, write_config_file
from tests.e2e.holdout import assert_beats_baseline, difference_interval, discordant_pairs
from tests.e2e.holdout import holdout as holdout_rows
from tests.generated import GENERATED_SNAPSHOTS, products_source, transactions_source

pytestmark = pytest.mark.slow

SEED = 42
CUSTOMERS = 30_000
SNAPSHOTS = [date(2010, 12, 31), date(2011, 3, 31), date(2011, 6, 30), date(2011, 9, 30)]


def _warehouse(folder: Path) -> Path:
    """The generated transactions and catalogue, landed by the pipeline."""
    data = folder / "data"
    write(
        data,
        CUSTOMERS,
        seed=SEED,
        start="2010-01-01",
        end="2011-12-31",
        write_latent=True,
        with_categories=True,
    )
    raw = config_mapping(transactions_source(data), snapshots=GENERATED_SNAPSHOTS)
    raw["sources"]["products"] = products_source(data)
    config = load_config(write_config_file(folder, raw))
    defs = build_definitions(config)
    keys = [dg.AssetKey(["raw", name]) for name in ("transactions", "customers", "products")]
    result = dg.materialize(
        list(defs.assets), resources=defs.resources, selection=dg.AssetSelection.assets(*keys)
    )
    assert result.success
    return config.warehouse


def _with_profile_pick(holdout: pl.DataFrame, latent: pl.DataFrame) -> pl.DataFrame:
    """The holdout with ``profile_hit``: whether the category the customer's latent profile
    weighs most, of those not in the basket, was bought in the 90 days (what a recommender
    that knew the generator's truth would offer)."""
    weights = {
        row[0]: dict(zip(CATEGORIES, row[1:], strict=True))
        for row in latent.select("customer_id", *(f"profile_{c}" for c in CATEGORIES)).iter_rows()
    }
    hits = [
        max((c for c in CATEGORIES if c not in basket), key=weights[customer].__getitem__) in bought
        for customer, basket, bought in holdout.select(
            "customer_id", "basket", "bought_next"
        ).iter_rows()
    ]
    return holdout.with_columns(pl.Series("profile_hit", hits, dtype=pl.Boolean))


@pytest.fixture(scope="module")
def holdout(tmp_path_factory) -> pl.DataFrame:
    folder = tmp_path_factory.mktemp("next_best_generated")
    rows = holdout_rows(_warehouse(folder), SNAPSHOTS)
    return _with_profile_pick(rows, pl.read_parquet(folder / "data" / "latent.parquet"))


def test_the_comparison_is_paired_and_reproducible(holdout: pl.DataFrame) -> None:
    assert holdout.height > 50_000
    assert holdout.select("snapshot_date", "customer_id").is_unique().all()
    assert holdout.get_column("customer_id").n_unique() > 20_000
    assert set(holdout.get_column("item")) == set(CATEGORIES)
    # every recommendation is a category the customer has not bought in the window
    for column in ("item", "baseline", "lifted", "confident"):
        assert not holdout.select(pl.col("basket").list.contains(pl.col(column)).any()).item()
    # a hit is a purchase of the recommended category in the 90 days
    assert holdout.select(
        (pl.col("bought_next").list.contains(pl.col("item")) == pl.col("hit")).all()
    ).item()
    assert difference_interval(holdout) == difference_interval(holdout)
    # the shipped pick is the confidence-ranked one computed here from the candidates' lifts
    assert (holdout.get_column("item") == holdout.get_column("confident")).all()


def test_the_affinities_show_in_the_next_90_days(holdout: pl.DataFrame) -> None:
    """The customer's own most likely category not yet bought (from the generator's latent
    profile) hits more than twice as often as the most popular one: what a customer buys next
    is predictable from who they are within the horizon."""
    _, _, pvalue = discordant_pairs(holdout, "profile_hit")
    low, _ = difference_interval(holdout, "profile_hit")
    assert pvalue < 0.01
    assert low > 0.0
    assert holdout["profile_hit"].mean() > 2 * holdout["baseline_hit"].mean()


def test_next_best_category_beats_the_most_popular_category(holdout: pl.DataFrame) -> None:
    assert_beats_baseline(holdout, alpha=0.01)


@pytest.mark.xfail(
    strict=True,
    reason="ranked by lift (rank_by: lift), the next best category does not hit more often than "
    "the most popular category (see the module docstring)",
)
def test_lift_ranked_rules_beat_the_most_popular_category(holdout: pl.DataFrame) -> None:
    assert_beats_baseline(holdout, "lift_hit", alpha=0.01)
