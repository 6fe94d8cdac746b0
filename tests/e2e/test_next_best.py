"""Holdout test of the next best category on the real sample, by product group
(tests/data/online_retail_products.csv, derived by ``python -m synthetic.sample_catalogue``).

At five quarterly snapshots (2010-08 .. 2011-08, each with 90 days of data after it), the
comparison of ``tests/e2e/holdout.py``: ``next_best_category`` (default settings: the rules
ranked by confidence) against the most popular category the customer has not bought, and the
same rules ranked by lift. A recommendation hits when the customer buys the category in the 90
days after the snapshot; the comparison is paired (McNemar's exact test, a customer bootstrap).

Measured (see docs/needs-and-recommendations.md): the next best category hits 14.11%, the most
popular category 13.87% (28 against 13 discordant pairs, one-sided p = 0.014, interval +0.05 to
+0.46 points): better at the 5% level, which the test asserts, not at the 1% level. Product
groups are few and broad (13, a customer's median basket holds 9 of them), so association adds
little to popularity here. Ranked by lift, the recommendation hits 5.6% (94 against 600): the
highest lift goes to the rarest groups a basket co-occurs with, which are rarely bought next;
the test asserting that it beats the baseline is expected to fail (strict: it is reported when
it starts to pass).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from pipelines.build_definitions import build_definitions
from segmentation.config import load_config
from tests.conftest import PROJECT_ROOT, config_mapping, write_config_file
from tests.e2e.holdout import assert_beats_baseline, difference_interval
from tests.e2e.holdout import holdout as holdout_rows

pytestmark = pytest.mark.slow

CATALOGUE = PROJECT_ROOT / "tests" / "data" / "online_retail_products.csv"
SNAPSHOTS = [date(2010, 8, 31), date(2010, 11, 30), date(2011, 2, 28), date(2011, 5, 31)]
SNAPSHOTS.append(date(2011, 8, 31))


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


@pytest.fixture(scope="module")
def holdout(tmp_path_factory) -> pl.DataFrame:
    return holdout_rows(_warehouse(tmp_path_factory.mktemp("next_best")), SNAPSHOTS)


def test_the_comparison_is_paired_and_reproducible(holdout: pl.DataFrame) -> None:
    assert holdout.height > 5_000
    assert holdout.select("snapshot_date", "customer_id").is_unique().all()
    assert holdout.get_column("customer_id").n_unique() > 1_000
    assert difference_interval(holdout) == difference_interval(holdout)
    # the shipped pick is the confidence-ranked one computed here from the candidates' lifts
    assert (holdout.get_column("item") == holdout.get_column("confident")).all()


def test_next_best_category_beats_the_most_popular_category(holdout: pl.DataFrame) -> None:
    assert_beats_baseline(holdout, alpha=0.05)


@pytest.mark.xfail(
    strict=True,
    reason="ranked by lift (rank_by: lift), the next best category does not hit more often than "
    "the most popular category (see the module docstring)",
)
def test_lift_ranked_rules_beat_the_most_popular_category(holdout: pl.DataFrame) -> None:
    assert_beats_baseline(holdout, "lift_hit", alpha=0.05)
