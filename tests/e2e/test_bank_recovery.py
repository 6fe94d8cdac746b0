"""The marts of a bank run recover the generator's truth: tiers, tier moves, holdings and the
product affinities; the next best products keep to the risk preference; the run summary shows
the tiers, their moves and the cross-sell counts of the marts.

10,000 customers are drawn by ``synthetic.bank.write`` (seed 7, the command line's dirt rate
0.002), and ``config/bank.yaml`` (its sources pointed at them, k-means off: not under test)
is materialised through the pipeline's own assets for the 24 month ends, up to the segment
migration and the strategy assignments. Everything below is read from the pipeline's output:
``marts.customer_segments`` (``attr_wealth_tier``, ``next_best_product``),
``marts.segment_migration``, ``marts.strategy_assignments`` and ``features.customer_features``
(``assets_total``, ``risk_preference``, ``products_held`` as of each month end), never from
the files.

Exactly equal to ``true_params.json``: the quarantined rows by source and reason; the tier
counts at every month end (``tiers.customers_by_month``, a closed account counted as mass, as
the generator records it); the 23 month-to-month tier-move matrices and their total
(``tiers.moves_by_month``, ``moves_total``: the migration counts the customers present at both
month ends, as the generator does) and the new accounts per month and tier
(``entries_by_month``); the holders of each product at every month end
(``holdings.holders_by_month``) and the account closures per month (``closures.by_month``).

The affinities. From the month-to-month changes of ``products_held`` (open accounts), the
Mantel-Haenszel risk ratio of adding b between holding a and not, over strata of the
pipeline's tier and the other products held (the estimator of
``tests/unit/test_generate_bank.py``, shared in ``tests/unit/bank_history.py``), must lie
within 4 standard errors of each of the 30 true lifts on the log scale. The marts have no
state before the first month end, so the trials are those of months 2 to 24 (the unit test
also has month 1, from the initial load of 2009-12-31). With a third of the unit test's
customers the standard errors are larger, so only the strongest affinities (lift 1.8 and
above) must be told apart from 1 here. The estimates, their deviations and the test's time
are in docs/bank-demo.md ("Checking the pipeline against the truth").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
import pytest
import yaml
from rich.console import Console

from pipelines.build_definitions import build_definitions
from pipelines.summary import print_summary
from segmentation.config import SegmentationConfig, load_config
from segmentation.reports.run_summary import summary_sections
from segmentation.strategies.settings import rules_using
from synthetic import bank
from synthetic.bank_params import PRODUCTS, RISK_LEVELS, TIERS
from tests.conftest import PROJECT_ROOT
from tests.unit.bank_history import RANK, affinity_estimates, open_months, transitions

pytestmark = [pytest.mark.slow, pytest.mark.long]

SEED = 7
CUSTOMERS = 10_000
# each lift within this many standard errors on the log scale (30 lifts: a false alarm has a
# chance of about 30 * 6e-5 = 0.2%)
Z_TOLERANCE = 4.0
# the lifts that must also be told apart from 1 at this size (see the module docstring)
STRONG_LIFT = 1.8
SELECTED = (
    dg.AssetKey(["marts", "segment_migration"]),
    dg.AssetKey(["marts", "strategy_assignments"]),
)
TIER_DIMENSION = "attr_wealth_tier"


@dataclass(frozen=True)
class Run:
    config: SegmentationConfig
    truth: dict[str, Any]
    month_ends: list[date]
    # per snapshot and customer: the pipeline's tier, next best product and the attributes
    # as of the snapshot
    customers: pl.DataFrame
    migration: pl.DataFrame
    rejected: dict[tuple[str, str], int]


def _config(root: Path, data: Path) -> Path:
    """config/bank.yaml over the generated files, its warehouse in ``root``."""
    raw = yaml.safe_load((PROJECT_ROOT / "config" / "bank.yaml").read_text())
    raw["warehouse"] = "warehouse/bank.duckdb"
    raw["serving"] = "warehouse/bank_serving.duckdb"
    for source in raw["sources"].values():
        source["path"] = source["path"].replace("../data/bank", str(data))
    raw["strategies"]["playbook"] = str(PROJECT_ROOT / "config" / "bank_playbook.yaml")
    raw["segments"]["clusters"] = {"enabled": False}
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("bank_recovery")
    data = root / "data"
    truth = bank.write(data, CUSTOMERS, seed=SEED, dirty_rate=0.002)
    config = load_config(_config(root, data))
    defs = build_definitions(config)
    result = dg.materialize(
        defs.assets,
        resources=defs.resources,
        selection=dg.AssetSelection.assets(*SELECTED).upstream().required_multi_asset_neighbors(),
        tags={
            "dagster/asset_partition_range_start": "2010-01",
            "dagster/asset_partition_range_end": "2011-12",
        },
        raise_on_error=True,
    )
    assert result.success
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        customers = con.execute(
            "SELECT s.snapshot_date, s.customer_id, s.attr_wealth_tier, s.next_best_product, "
            "f.assets_total, f.risk_preference, f.products_held "
            "FROM marts.customer_segments AS s "
            "JOIN features.customer_features AS f USING (snapshot_date, customer_id)"
        ).pl()
        migration = con.execute(
            "SELECT * FROM marts.segment_migration WHERE dimension = ?", [TIER_DIMENSION]
        ).pl()
        rejected = con.execute(
            "SELECT source, reason, count(*) FROM quality.rejected_rows GROUP BY ALL"
        ).fetchall()
    month_ends = [date.fromisoformat(day) for day in truth["window"]["month_ends"]]
    return Run(
        config,
        truth,
        month_ends,
        customers,
        migration,
        {(source, reason): n for source, reason, n in rejected},
    )


def _month(day: date) -> str:
    return day.strftime("%Y-%m")


def _state(run: Run) -> pl.DataFrame:
    """The customers of every snapshot as :func:`tests.unit.bank_history.transitions` takes
    them: month index k (1: the first month end), AUM, the pipeline's tier, the risk rank and
    the products held as a mask over :data:`PRODUCTS`."""
    mask = pl.lit(0, dtype=pl.Int64)
    for j, product in enumerate(PRODUCTS):
        mask = mask + pl.col("products_held").list.contains(product).cast(pl.Int64) * (1 << j)
    return run.customers.select(
        pl.col("customer_id").alias("client_id"),
        pl.col("snapshot_date")
        .replace_strict(
            run.month_ends, list(range(1, len(run.month_ends) + 1)), return_dtype=pl.Int64
        )
        .alias("k"),
        pl.col("assets_total").alias("aum"),
        pl.lit(None, dtype=pl.Float64).alias("aum_change_3m"),
        pl.col(TIER_DIMENSION)
        .replace_strict(list(TIERS), list(range(len(TIERS))), return_dtype=pl.Int64)
        .alias("tier"),
        pl.col("risk_preference")
        .replace_strict(list(RISK_LEVELS), [1, 2, 3], return_dtype=pl.Int64)
        .alias("risk"),
        mask.alias("mask"),
    )


def test_the_quarantine_holds_exactly_the_generated_dirty_rows(run: Run) -> None:
    expected = {
        (source, reason): n
        for source, reasons in run.truth["dirty_rows"].items()
        for reason, n in reasons.items()
    }
    assert run.rejected == expected


def test_tier_counts_at_every_month_end_equal_the_truth(run: Run) -> None:
    counts = run.customers.group_by("snapshot_date", TIER_DIMENSION).len()
    assert sorted(counts["snapshot_date"].unique()) == run.month_ends
    for day in run.month_ends:
        got = dict.fromkeys(TIERS, 0)
        for row in counts.filter(pl.col("snapshot_date") == day).iter_rows(named=True):
            got[row[TIER_DIMENSION]] = row["len"]
        assert got == run.truth["tiers"]["customers_by_month"][_month(day)], day
    # every customer was known by the last month end, none dropped out of the marts
    assert sum(got.values()) == CUSTOMERS


def test_tier_moves_and_new_accounts_per_month_equal_the_truth(run: Run) -> None:
    truth = run.truth["tiers"]
    total = {a: dict.fromkeys(TIERS, 0) for a in TIERS}
    for earlier, later in zip(run.month_ends, run.month_ends[1:], strict=False):
        matrix = {a: dict.fromkeys(TIERS, 0) for a in TIERS}
        pair = run.migration.filter(
            (pl.col("from_snapshot") == earlier) & (pl.col("to_snapshot") == later)
        )
        for row in pair.iter_rows(named=True):
            matrix[row["from_segment"]][row["to_segment"]] = row["customers"]
            total[row["from_segment"]][row["to_segment"]] += row["customers"]
        assert matrix == truth["moves_by_month"][_month(later)], later
    assert total == truth["moves_total"]
    assert sum(total[a][b] for a in TIERS for b in TIERS if a != b) > 1_500  # the tiers move
    # the accounts first seen at a month end, by tier: what the migration leaves out
    state = _state(run)
    first = state.group_by("client_id").agg(pl.col("k").min()).join(state, on=["client_id", "k"])
    for k, day in enumerate(run.month_ends[1:], start=2):
        entries = dict.fromkeys(TIERS, 0)
        for tier, n in first.filter(pl.col("k") == k).group_by("tier").len().iter_rows():
            entries[TIERS[tier]] = n
        assert entries == truth["entries_by_month"][_month(day)], day


def test_holdings_and_closures_at_every_month_end_equal_the_truth(run: Run) -> None:
    holders = run.customers.explode("products_held").group_by("snapshot_date", "products_held")
    counts = holders.len().drop_nulls("products_held")
    for day in run.month_ends:
        got = dict.fromkeys(PRODUCTS, 0)
        for _, product, n in counts.filter(pl.col("snapshot_date") == day).iter_rows():
            got[product] = n
        assert got == run.truth["holdings"]["holders_by_month"][_month(day)], day
    # a closed account has AUM 0 from its closure on: its first such month end is the closure
    closed = (
        run.customers.filter(pl.col("assets_total") == 0)
        .group_by("customer_id")
        .agg(pl.col("snapshot_date").min())
        .group_by("snapshot_date")
        .len()
    )
    by_month = dict.fromkeys(run.truth["closures"]["by_month"], 0)
    for day, n in closed.iter_rows():
        by_month[_month(day)] = n
    assert by_month == run.truth["closures"]["by_month"]
    assert sum(by_month.values()) > 300


def test_product_affinity_lifts_are_recovered_from_the_features(run: Run) -> None:
    lifts = run.truth["settings"]["affinity"]
    months = open_months(transitions(_state(run)))
    # months 2 to 24: the first month end has no snapshot before it
    assert months["k"].min() == 2 and months.height > 150_000
    estimates = affinity_estimates(months)
    assert len(estimates) == 30
    for (a, b), (estimate, se) in estimates.items():
        true = lifts[a][b]
        z = (math.log(estimate) - math.log(true)) / se
        assert abs(z) < Z_TOLERANCE, (a, b, estimate, true, se)
        if true >= STRONG_LIFT:
            # the strong affinities are seen: 1 lies outside the same interval
            assert math.log(estimate) - Z_TOLERANCE * se > 0, (a, b, estimate, se)
    assert sum(lifts[a][b] >= STRONG_LIFT for a, b in estimates) == 4


def test_next_best_products_never_exceed_the_risk_preference(run: Run) -> None:
    offers = run.customers.filter(pl.col("next_best_product").is_not_null()).with_columns(
        product_rank=pl.col("next_best_product").replace_strict(RANK, return_dtype=pl.Int64),
        risk_rank=pl.col("risk_preference").replace_strict(
            list(RISK_LEVELS), [1, 2, 3], return_dtype=pl.Int64
        ),
    )
    assert offers.height > 50_000
    unsuitable = offers.filter(pl.col("product_rank") > pl.col("risk_rank"))
    assert unsuitable.is_empty(), unsuitable.head()
    # never a product the customer holds already
    assert not offers.select(pl.col("products_held").list.contains(pl.col("next_best_product")))[
        "products_held"
    ].any()
    # the rule is not vacuous: customers hold products above their preference (after a later,
    # more careful assessment), and each preference is offered products up to its own rank
    held = run.customers.explode("products_held").drop_nulls("products_held")
    above = held.filter(
        pl.col("products_held").replace_strict(RANK, return_dtype=pl.Int64)
        > pl.col("risk_preference").replace_strict(
            list(RISK_LEVELS), [1, 2, 3], return_dtype=pl.Int64
        )
    )
    assert above.height > 0
    highest = dict(offers.group_by("risk_rank").agg(pl.col("product_rank").max()).iter_rows())
    assert highest == {1: 1, 2: 2, 3: 3}


def test_the_run_summary_shows_tiers_moves_and_cross_sell_counts_of_the_marts(
    run: Run,
) -> None:
    rules = rules_using(run.config.playbook, "next_best_product", run.config.segments)
    assert rules == ("cross_sell_next_best_product",)
    with duckdb.connect(str(run.config.warehouse), read_only=True) as con:
        sections = {s.title: s for s in summary_sections(con, rules)}
        assignments = con.execute(
            "SELECT customer_id, matched_rule, is_control FROM marts.strategy_assignments "
            "WHERE snapshot_date = (SELECT max(snapshot_date) FROM marts.strategy_assignments)"
        ).pl()
    last, before = run.month_ends[-1], run.month_ends[-2]
    latest = run.customers.filter(pl.col("snapshot_date") == last)
    tiers = sections["Latest snapshot: customers per wealth_tier"]
    assert dict(tiers.rows) == run.truth["tiers"]["customers_by_month"][_month(last)]
    assert tiers.rows == sorted(tiers.rows, key=lambda row: -row[1])
    moves = sections[f"Moves between wealth_tier values, {before} to {last}"]
    matrix = run.truth["tiers"]["moves_by_month"][_month(last)]
    expected = {(a, b): n for a in TIERS for b in TIERS if a != b and (n := matrix[a][b])}
    assert {(a, b): n for a, b, n in moves.rows} == expected
    kept = sum(matrix[a][a] for a in TIERS)
    assert (
        moves.note == f"{sum(expected.values()):,} customers moved, {kept:,} kept their wealth_tier"
    )
    # the other attribute dimensions have theirs too
    for dimension in ("risk_profile", "aum_trend"):
        assert f"Latest snapshot: customers per {dimension}" in sections
    # cross-sell: per next best product, the customers and those the cross-sell rule assigned
    offers = sections["Latest snapshot: customers per next best product"]
    joined = latest.join(assignments, on="customer_id").filter(
        pl.col("next_best_product").is_not_null()
    )
    cross_sell = pl.col("matched_rule").is_in(list(rules))
    expected_offers = (
        joined.group_by("next_best_product")
        .agg(
            pl.len(),
            cross_sell.sum().alias("assigned"),
            (cross_sell & pl.col("is_control")).sum().alias("control"),
        )
        .sort("len", "next_best_product", descending=[True, False])
    )
    assert offers.rows == [tuple(row) for row in expected_offers.iter_rows()]
    assert sum(row[2] for row in offers.rows) > 1_000
    assert "cross_sell_next_best_product" in offers.note
    # and `python -m pipelines.summary` prints them
    console = Console(record=True, width=160)
    print_summary(run.config, console)
    # rich wraps a title to its table's width
    printed = " ".join(console.export_text().split())
    for text in (tiers.title, moves.title, moves.note, offers.title, offers.note):
        assert " ".join(text.split()) in printed, text
