"""Point-in-time attributes through the pipeline: 24 monthly snapshots (2010-01 to 2011-12)
materialized by Dagster as one backfill, from small transactions, customers and attribute-history
files landed by the raw assets.

* ``c1`` buys every other month; its assets (AUM) are 40k from 2010-01-01, 700k from 2010-06-15,
  7M from 2010-08-31 23:30 (counts for August: the end of the day is the as-of instant), 30k
  from 2010-10-01 00:00 (not in September). It holds a deposit, and a fund from 2010-06-15.
  Its customers row says region West; its history rows leave region blank.
* ``c2`` has neither a transaction nor a customers row: known from its first history row
  (2010-05-10), lifecycle ``potential``.
* ``c3`` buys in 2010-02; its customers row says region North, its history South from
  2010-09-01 (the history maps region too).
* ``c4`` buys in 2010-03; its only history row is valid from 2010-12-01 00:30 +02:00, which is
  2010-11-30 22:30 UTC: it counts for November.
"""

from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

import segmentation as seg
from pipelines.build_definitions import build_definitions
from segmentation.config import SegmentationConfig, load_config
from tests.conftest import config_mapping, write_config_file, write_csv

FIRST, LAST = "2010-01", "2011-12"
SEPTEMBER = date(2010, 9, 30)
ASSETS = [
    dg.AssetKey(["raw", "transactions"]),
    dg.AssetKey(["raw", "customers"]),
    dg.AssetKey(["raw", "customer_attributes"]),
    dg.AssetKey(["features", "customer_behaviour"]),
    dg.AssetKey(["features", "customer_clv"]),
    dg.AssetKey(["marts", "clv_model_params"]),
    dg.AssetKey(["features", "customer_features"]),
    dg.AssetKey(["marts", "customer_segments"]),
    dg.AssetKey(["marts", "segment_summary"]),
]
MONTH_TABLES = ("features.customer_features", "marts.customer_segments", "marts.segment_summary")
HISTORY = [
    ["c1", "2010-01-01", "40000", "deposit", ""],
    ["c1", "2010-06-15 12:00", "700000", "deposit|fund", ""],
    ["c1", "2010-08-31 23:30", "7000000", "deposit|fund", ""],
    ["c1", "2010-10-01 00:00", "30000", "deposit|fund", ""],
    ["c2", "2010-05-10", "60000", "", ""],
    ["c3", "2010-09-01", "", "", "South"],
    ["c4", "2010-12-01 00:30+02:00", "1", "|", ""],
]
SEGMENTS = {
    "extra_columns": {"assets_total": "float", "products_held": "list"},
    "attributes": [
        {
            "dimension": "tier",
            "rules": [
                {"name": "private", "when": "assets_total >= 6000000"},
                {"name": "wealth", "when": "assets_total >= 600000"},
                {"name": "premier", "when": "assets_total >= 50000"},
            ],
            "default": "mass",
        },
        {
            "dimension": "funds",
            "rules": [{"name": "holds_fund", "when": "list_contains(products_held, 'fund')"}],
            "default": "no_fund",
        },
        {"dimension": "region", "column": "region"},
    ],
    "clusters": {"enabled": False},
}


def _transactions() -> list[list[str]]:
    rows = [
        ["c1", f"2010-{month:02d}-05 10:00:00", f"O1-{month}", "50.0"] for month in range(1, 13, 2)
    ]
    rows += [["c1", f"2011-{month:02d}-05 10:00:00", f"O2-{month}", "50.0"] for month in (2, 6)]
    return [
        *rows,
        ["c3", "2010-02-10 10:00:00", "O3", "20.0"],
        ["c4", "2010-03-01 09:00", "O4", "5"],
    ]


def _config(folder: Path) -> SegmentationConfig:
    transactions = write_csv(folder / "tx.csv", ["cust", "ts", "order", "amount"], _transactions())
    customers = write_csv(
        folder / "customers.csv", ["id", "region"], [["c1", "West"], ["c3", "North"]]
    )
    write_csv(
        folder / "history" / "aum.csv", ["id", "changed", "aum", "products", "region"], HISTORY
    )
    sources = {
        "transactions": {
            "path": str(transactions),
            "columns": {"customer_id": "cust", "order_ts": "ts", "order_id": "order"}
            | {"amount": "amount"},
        },
        "customers": {"path": str(customers), "columns": {"customer_id": "id", "region": "region"}},
        "customer_attributes": {
            "path": str(folder / "history" / "*.csv"),
            "valid_from": "changed",
            "columns": {"customer_id": "id", "assets_total": "aum", "products_held": "products"}
            | {"region": "region"},
        },
    }
    raw = config_mapping(
        sources=sources, snapshots={"start": FIRST, "end": LAST}, segments=SEGMENTS
    )
    return load_config(write_config_file(folder, raw))


def _materialize(config: SegmentationConfig, first: str, last: str) -> None:
    defs = build_definitions(config)
    result = dg.materialize(
        list(defs.assets),
        resources=defs.resources,
        selection=dg.AssetSelection.assets(*ASSETS),
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        },
    )
    assert result.success


def _table(config: SegmentationConfig, table: str, where: str = "true") -> pl.DataFrame:
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        return con.execute(f"SELECT * FROM {table} WHERE {where} ORDER BY ALL").pl()


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory) -> SegmentationConfig:
    config = _config(tmp_path_factory.mktemp("backfill"))
    _materialize(config, FIRST, LAST)
    return config


def _by_month(config: SegmentationConfig, customer: str, column: str) -> dict[str, object]:
    frame = _table(config, "marts.customer_segments", f"customer_id = '{customer}'")
    return {str(row["snapshot_date"])[:7]: row[column] for row in frame.iter_rows(named=True)}


def test_a_tier_changes_exactly_in_the_month_its_assets_cross_the_threshold(backfilled) -> None:
    tiers = _by_month(backfilled, "c1", "attr_tier")
    assert len(tiers) == 24
    expected = {"2010-01": "mass", "2010-05": "mass", "2010-06": "wealth", "2010-07": "wealth"}
    expected |= {"2010-08": "private", "2010-09": "private", "2010-10": "mass", "2011-12": "mass"}
    assert {month: tiers[month] for month in expected} == expected
    funds = _by_month(backfilled, "c1", "attr_funds")
    assert (funds["2010-05"], funds["2010-06"]) == ("no_fund", "holds_fund")


def test_features_carry_the_values_that_held_on_the_snapshot_date(backfilled) -> None:
    features = _table(
        backfilled,
        "features.customer_features",
        f"snapshot_date = DATE '{SEPTEMBER}'",
    ).select("customer_id", "assets_total", "products_held", "region", "lifecycle_stage")
    assert features.rows() == [
        # the history maps region and c1's rows leave it blank: from its first row on, the
        # history says the region is not known, over the customers source's West
        ("c1", 7_000_000.0, ["deposit", "fund"], None, "growing"),
        ("c2", 60_000.0, None, None, "potential"),
        # the history's region from its first row on, over the customers source's North
        ("c3", None, None, "South", "at_risk"),
        ("c4", None, None, None, "at_risk"),
    ]
    regions = _by_month(backfilled, "c3", "attr_region")
    assert (regions["2010-01"], regions["2010-08"], regions["2010-09"]) == ("North",) * 2 + (
        "South",
    )
    # a null region is the passthrough dimension's default
    assert set(_by_month(backfilled, "c1", "attr_region").values()) == {"unknown"}


def test_a_customer_known_only_from_the_history_is_known_from_its_first_row(backfilled) -> None:
    stages = _by_month(backfilled, "c2", "lifecycle_stage")
    assert min(stages) == "2010-05"
    assert set(stages.values()) == {"potential"}
    assert _by_month(backfilled, "c2", "attr_tier")["2010-05"] == "premier"


def test_an_instant_with_an_offset_counts_in_its_utc_month(backfilled) -> None:
    features = _table(backfilled, "features.customer_features", "customer_id = 'c4'")
    held = {
        str(row["snapshot_date"])[:7]: (row["assets_total"], row["products_held"])
        for row in features.iter_rows(named=True)
    }
    # 2010-12-01 00:30 +02:00 is 2010-11-30 22:30 UTC; a cell of separators is an empty list
    assert (held["2010-10"], held["2010-11"], held["2010-12"]) == (
        (None, None),
        (1.0, []),
        (1.0, []),
    )


def test_a_backfilled_month_equals_the_month_materialized_alone(backfilled, tmp_path: Path) -> None:
    alone = _config(tmp_path)
    _materialize(alone, "2010-09", "2010-09")
    where = f"snapshot_date = DATE '{SEPTEMBER}'"
    for table in MONTH_TABLES:
        assert _table(alone, table, where).equals(_table(backfilled, table, where)), table


def test_the_notebook_gives_the_pipelines_month_from_the_landed_frames(backfilled) -> None:
    with duckdb.connect(str(backfilled.warehouse), read_only=True) as con:
        landed = {
            table: con.execute(f"SELECT * FROM raw.{table}").pl()
            for table in ("transactions", "customers", "customer_attributes")
        }
    features = seg.customer_features(
        landed["transactions"],
        SEPTEMBER,
        customers=landed["customers"],
        attributes=landed["customer_attributes"],
        segment_settings=backfilled.segments,
    )
    pipeline = _table(
        backfilled, "features.customer_features", f"snapshot_date = DATE '{SEPTEMBER}'"
    )
    assert features.sort("customer_id").equals(pipeline.sort("customer_id"))
