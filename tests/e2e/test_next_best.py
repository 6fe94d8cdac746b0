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

from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from pipelines.build_definitions import build_definitions
from segmentation.config import load_config
from tests.conftest import PROJECT_ROOT, config_mapping, write_config_file
from tests.e2e.holdout import difference_interval, discordant_pairs
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


@pytest.mark.xfail(
    strict=True,
    reason="on the real sample by product group, the lift-ranked next best category hits "
    "less often than the most popular category (see the module docstring)",
)
def test_next_best_category_beats_the_most_popular_category(holdout: pl.DataFrame) -> None:
    _, _, pvalue = discordant_pairs(holdout)
    low, _ = difference_interval(holdout)
    assert pvalue < 0.01
    assert low > 0.0
