"""features/customer_categories, the category columns of features/customer_features and the
catalogue columns of marts/customer_segments, materialized by Dagster from small files, with a
products source (the catalogue in raw.products) and without one.

Transactions (snapshots 2024-01 .. 2024-03, a 60-day category window):

* ``c1``: home items on 01-10 (one core, one basic), garden on 02-01, a home return on 02-05, an
  uncatalogued product on 01-15;
* ``c2``: home on 01-20, garden on 03-01;
* ``c3``: toys on 03-31 at 23:59:59 (counts for March), toys on 04-01 (does not).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
import pytest

from pipelines.build_definitions import build_definitions
from segmentation.config import SegmentationConfig, load_config
from segmentation.features.contracts import CustomerCategoriesContract, CustomerFeaturesContract
from segmentation.raw.settings import Sources
from segmentation.segments.catalogue_labels import CATALOGUE_COLUMNS
from tests.conftest import config_mapping, write_config_file, write_csv

MARCH = date(2024, 3, 31)
TRANSACTIONS = [
    ["c1", "2024-01-10 10:00:00", "O1", "100.0", "p1"],
    ["c1", "2024-01-10 10:00:00", "O1", "20.0", "p2"],
    ["c1", "2024-02-01 09:00:00", "O2", "50.0", "p3"],
    ["c1", "2024-02-05 09:00:00", "C3", "-30.0", "p1"],
    ["c1", "2024-01-15 09:00:00", "O4", "5.0", "zzz"],
    ["c2", "2024-01-20 09:00:00", "O5", "40.0", "p1"],
    ["c2", "2024-03-01 09:00:00", "O6", "60.0", "p3"],
    ["c3", "2024-03-31 23:59:59", "O7", "10.0", "p4"],
    ["c3", "2024-04-01 00:00:00", "O8", "99.0", "p4"],
]
PRODUCTS = [
    ["p1", "home", "lamps", "premium", "core"],
    ["p2", "home", "mats", "budget", "basic"],
    ["p3", "garden", "tools", "standard", "core"],
    ["p4", "toys", "games", "budget", "basic"],
]
FEATURES = dg.AssetKey(["features", "customer_features"])
CATEGORIES = dg.AssetKey(["features", "customer_categories"])
SEGMENTS = dg.AssetKey(["marts", "customer_segments"])
MONTH_ASSETS = [
    dg.AssetKey(["features", "customer_behaviour"]),
    CATEGORIES,
    dg.AssetKey(["features", "customer_engagement"]),
    dg.AssetKey(["features", "customer_clv"]),
    dg.AssetKey(["marts", "clv_model_params"]),
    FEATURES,
    SEGMENTS,
    dg.AssetKey(["marts", "segment_summary"]),
]


def _with_products(config: SegmentationConfig, path: Path) -> SegmentationConfig:
    """``config`` with a products source over ``path`` (the catalogue is put in raw.products by
    the test: its landing is the products source's own)."""
    block = {
        "path": str(path),
        "columns": {"product_id": "sku", "category": "category"}
        | {"subcategory": "sub", "price_level": "tier", "need_level": "need"},
    }
    if "products" in Sources.model_fields:
        sources = Sources.model_validate({**config.sources.model_dump(), "products": block})
    else:
        sources = config.sources.model_copy(update={"products": block})
    return config.model_copy(update={"sources": sources})


def _config(folder: Path, with_products: bool) -> SegmentationConfig:
    write_csv(folder / "tx.csv", ["cust", "ts", "order", "amount", "sku"], TRANSACTIONS)
    products = write_csv(
        folder / "products.csv", ["sku", "category", "sub", "tier", "need"], PRODUCTS
    )
    raw = config_mapping(
        sources={
            "transactions": {
                "path": str(folder / "tx.csv"),
                "columns": {"customer_id": "cust", "order_ts": "ts", "order_id": "order"}
                | {"amount": "amount", "product_id": "sku"},
            }
        },
        snapshots={"start": "2024-01", "end": "2024-03"},
        features={"categories": {"window_days": 60}},
        segments={"clusters": {"enabled": False}, "recommendations": {"min_support": 1}},
    )
    config = load_config(write_config_file(folder, raw))
    return _with_products(config, products) if with_products else config


def _materialize(
    config: SegmentationConfig, selection: list[dg.AssetKey], **partitions: Any
) -> dg.ExecuteInProcessResult:
    defs = build_definitions(config)
    return dg.materialize(
        list(defs.assets),
        resources=defs.resources,
        selection=dg.AssetSelection.assets(*selection),
        raise_on_error=False,
        **partitions,
    )


def _land(config: SegmentationConfig) -> None:
    raw = [dg.AssetKey(["raw", name]) for name in ("transactions", "customers", "events")]
    assert _materialize(config, [*raw, dg.AssetKey(["raw", "feedback"])]).success
    if getattr(config.sources, "products", None) is None:
        return
    catalogue = pl.DataFrame(  # noqa: F841 (read by DuckDB by name)
        PRODUCTS,
        schema=["product_id", "category", "subcategory", "price_level", "need_level"],
        orient="row",
    ).with_columns(pl.lit(None, dtype=pl.String).alias("risk_level"))
    with duckdb.connect(str(config.warehouse)) as con:
        con.execute("CREATE OR REPLACE TABLE raw.products AS SELECT * FROM catalogue")


def _table(config: SegmentationConfig, table: str) -> pl.DataFrame:
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        return con.execute(f"SELECT * FROM {table} ORDER BY ALL").pl()


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory) -> tuple[SegmentationConfig, dg.ExecuteInProcessResult]:
    config = _config(tmp_path_factory.mktemp("categories"), with_products=True)
    _land(config)
    result = _materialize(
        config,
        MONTH_ASSETS,
        tags={
            "dagster/asset_partition_range_start": "2024-01",
            "dagster/asset_partition_range_end": "2024-03",
        },
    )
    return config, result


def test_the_category_months_hold_each_window(backfilled) -> None:
    config, result = backfilled
    assert result.success
    table = _table(config, "features.customer_categories")
    CustomerCategoriesContract.to_schema().validate(table)
    march = table.filter(pl.col("snapshot_date") == MARCH).drop("snapshot_date")
    # the window of March: 02-01 .. 03-31
    assert march.rows() == [
        ("c1", "garden", 50.0, 1, 1.0, 50.0, 0.0),
        ("c1", "home", -30.0, 0, 0.0, -30.0, 0.0),
        ("c2", "garden", 60.0, 1, 1.0, 60.0, 0.0),
        ("c3", "toys", 10.0, 1, 1.0, 0.0, 10.0),
    ]
    january = table.filter(pl.col("snapshot_date") == date(2024, 1, 31))
    assert january.select("customer_id", "category", "spend").rows() == [
        ("c1", "home", 120.0),
        ("c1", "unknown", 5.0),
        ("c2", "home", 40.0),
    ]


def test_the_partition_events_count_the_uncatalogued_transactions(backfilled) -> None:
    _, result = backfilled
    events = {
        event.partition: event.metadata
        for event in result.asset_materializations_for_node("features__customer_categories")
    }
    assert events["2024-01"]["uncatalogued_rows"].value == 1
    assert events["2024-01"]["uncatalogued_product_ids"].value == 1
    assert events["2024-01"]["uncatalogued_amount_share"].value == pytest.approx(5 / 165)
    assert events["2024-03"]["uncatalogued_rows"].value == 0
    assert events["2024-03"]["customers"].value == 3
    assert events["2024-03"]["categories"].value == 3


def test_features_and_segments_carry_the_category_mix(backfilled) -> None:
    config, _ = backfilled
    features = _table(config, "features.customer_features").filter(pl.col("snapshot_date") == MARCH)
    CustomerFeaturesContract.to_schema().validate(features)
    assert features.select(
        "customer_id", "top_category", "top_category_share", "category_breadth", "core_spend_share"
    ).rows() == [
        ("c1", "garden", 1.0, 1, 1.0),
        ("c2", "garden", 1.0, 1, 1.0),
        ("c3", "toys", 1.0, 1, 0.0),
    ]
    segments = _table(config, "marts.customer_segments").filter(pl.col("snapshot_date") == MARCH)
    assert segments.columns[-len(CATALOGUE_COLUMNS) :] == list(CATALOGUE_COLUMNS)
    assert segments.get_column("needs_class").to_list() == ["core", "core", "basic"]
    summary = _table(config, "marts.segment_summary")
    assert {"needs_class", "psychographic_class"} <= set(summary.get_column("dimension"))


def test_a_month_alone_equals_the_backfilled_month(backfilled, tmp_path: Path) -> None:
    config, _ = backfilled
    alone = _config(tmp_path, with_products=True)
    _land(alone)
    assert _materialize(alone, MONTH_ASSETS, partition_key="2024-03").success
    for table in ("features.customer_categories", "features.customer_features"):
        backfill = _table(config, table).filter(pl.col("snapshot_date") == MARCH)
        assert _table(alone, table).equals(backfill), table


def test_without_a_products_source_the_table_is_empty_and_the_columns_null(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, with_products=False)
    _land(config)
    assert _materialize(config, MONTH_ASSETS, partition_key="2024-03").success
    assert _table(config, "features.customer_categories").is_empty()
    features = _table(config, "features.customer_features")
    assert features.select(
        "top_category", "top_category_share", "category_breadth", "core_spend_share"
    ).null_count().row(0) == (3, 3, 3, 3)
    segments = _table(config, "marts.customer_segments")
    assert set(segments.get_column("needs_class")) == {"unknown"}
    summary = _table(config, "marts.segment_summary")
    assert not {"needs_class", "psychographic_class"} & set(summary.get_column("dimension"))


def test_features_without_their_category_month_fail_naming_the_asset(tmp_path: Path) -> None:
    config = _config(tmp_path, with_products=True)
    _land(config)
    without = [key for key in MONTH_ASSETS if key != CATEGORIES]
    result = _materialize(config, without, partition_key="2024-03")
    assert not result.success
    [failure] = [event for event in result.all_events if event.is_step_failure]
    assert "materialize features/customer_categories" in str(failure.step_failure_data.error)
