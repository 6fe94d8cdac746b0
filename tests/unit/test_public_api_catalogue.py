"""``import segmentation`` with a product catalogue gives the pipeline's catalogue answers: on the
committed real sample and its catalogue (tests/data/online_retail_products.csv), the category mix
(``features.customer_categories`` and the category columns of ``features.customer_features``),
``needs_class``, the next best category with its lift and support, ``psychographic_class``, the
summary and the playbook equal the tables the assets write for the same months; a catalogue
frame lands as a products file lands, its bad rows left out with their reasons."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

import segmentation as seg
from pipelines.build_definitions import build_definitions
from segmentation.config import SegmentationConfig, load_config
from segmentation.features.categories import CATEGORY_COLUMNS
from segmentation.keys import (
    ASSIGNMENTS_TABLE,
    BEHAVIOUR_TABLE,
    CATEGORIES_TABLE,
    CLV_PARAMS_TABLE,
    CLV_TABLE,
    FEATURES_TABLE,
    SEGMENTS_TABLE,
    SUMMARY_TABLE,
)
from segmentation.monthly import read_month
from segmentation.notebook import InputWarning
from segmentation.raw.landing import land_source
from segmentation.strategies.settings import load_playbook
from synthetic import bank
from tests.conftest import PROJECT_ROOT, config_mapping, write_config_file

CATALOGUE = PROJECT_ROOT / "tests" / "data" / "online_retail_products.csv"
PRODUCT_COLUMNS = ("product_id", "category", "subcategory", "price_level", "need_level")
# two months: one mid-year, and the sample's last full month
MONTHS = {"2011-06": date(2011, 6, 30), "2011-11": date(2011, 11, 30)}
TABLES = (
    BEHAVIOUR_TABLE,
    CLV_TABLE,
    CLV_PARAMS_TABLE,
    CATEGORIES_TABLE,
    FEATURES_TABLE,
    SEGMENTS_TABLE,
    SUMMARY_TABLE,
    ASSIGNMENTS_TABLE,
)


# the catalogue's settings away from their defaults, so that an answer equal to the pipeline's
# shows the notebook reads them
SETTINGS = {
    "features": {"categories": {"window_days": 180}},
    "segments": {
        "needs": {"level_column": "price_level", "core_levels": ["premium"]},
        "recommendations": {"min_support": 30},
        "psychographics": {"clusters": {"k_max": 4}},
    },
}


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> SegmentationConfig:
    """The real sample with its catalogue as the products source and the catalogue settings
    of ``SETTINGS``."""
    raw = config_mapping(**SETTINGS)
    raw["sources"]["products"] = {
        "path": str(CATALOGUE),
        "columns": {name: name for name in PRODUCT_COLUMNS},
    }
    return load_config(write_config_file(tmp_path_factory.mktemp("catalogue"), raw))


def _settings(config: SegmentationConfig) -> dict[str, Any]:
    return {"feature_settings": config.features, "segment_settings": config.segments}


def materialize(config: SegmentationConfig, partition: str, *, land: bool = True) -> None:
    """Every monthly table of ``TABLES`` for one partition, after landing the sources
    (``land``)."""
    defs = build_definitions(config)
    raw = ["transactions", "customers", "products"] if land else []
    if land and config.sources.customer_attributes is not None:
        raw.append("customer_attributes")
    keys = [*(dg.AssetKey(["raw", name]) for name in raw)]
    keys += [dg.AssetKey(table.split(".")) for table in TABLES]
    result = dg.materialize(
        list(defs.assets),
        resources=defs.resources,
        partition_key=partition,
        selection=dg.AssetSelection.assets(*keys),
    )
    assert result.success


def assert_tables_equal(
    computed: dict[str, pl.DataFrame], expected: dict[str, pl.DataFrame]
) -> None:
    for table, frame in computed.items():
        try:
            assert_frame_equal(frame, expected[table], check_exact=True)
        except AssertionError as error:
            raise AssertionError(f"{table}: {error}") from None


def tables_of(month: seg.Snapshot) -> dict[str, pl.DataFrame]:
    return {
        BEHAVIOUR_TABLE: month.behaviour,
        CLV_TABLE: month.clv.customers,
        CLV_PARAMS_TABLE: month.clv.params,
        CATEGORIES_TABLE: month.categories,
        FEATURES_TABLE: month.features,
        SEGMENTS_TABLE: month.segments,
        SUMMARY_TABLE: month.segment_summary,
        ASSIGNMENTS_TABLE: month.strategies,
    }


@pytest.fixture(scope="module")
def pipeline(config: SegmentationConfig) -> dict[str, Any]:
    """Each month's tables as the assets write them, and the landed catalogue."""
    for number, partition in enumerate(MONTHS):
        materialize(config, partition, land=number == 0)
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        months = {
            as_of: {table: read_month(con, table, as_of) for table in TABLES}
            for as_of in MONTHS.values()
        }
        products = con.execute("SELECT * FROM raw.products ORDER BY product_id").pl()
    return {"months": months, "products": products}


@pytest.fixture(scope="module")
def transactions(config: SegmentationConfig) -> pl.DataFrame:
    return seg.load_transactions(config)


@pytest.fixture(scope="module")
def catalogue() -> pl.DataFrame:
    """The catalogue file read by hand: text columns, its description column kept."""
    return pl.read_csv(CATALOGUE, infer_schema=False)


@pytest.mark.parametrize("as_of", MONTHS.values(), ids=MONTHS.keys())
def test_a_catalogue_gives_the_pipelines_category_mix_and_labels(
    config: SegmentationConfig,
    transactions: pl.DataFrame,
    catalogue: pl.DataFrame,
    pipeline: dict,
    as_of: date,
) -> None:
    month = seg.snapshot(transactions, as_of, products=catalogue, **_settings(config))
    assert month.rejected.is_empty()
    assert month.products is not None
    assert_frame_equal(
        month.products.sort("product_id").drop("source_file"),
        pipeline["products"].drop("source_file"),
    )
    assert_tables_equal(tables_of(month), pipeline["months"][as_of])
    # the equality is over real labels, not over columns that are null / unknown everywhere
    segments = month.segments
    assert segments.get_column("top_category").null_count() < segments.height // 2
    assert set(segments.get_column("needs_class")) >= {"core", "mixed", "basic"}
    assert segments.get_column("psychographic_class").n_unique() >= 4
    assert segments.get_column("next_best_category").drop_nulls().n_unique() >= 3
    assert segments.get_column("next_best_category_support").min() >= 30
    assert {"needs_class", "psychographic_class"} <= set(
        month.segment_summary.get_column("dimension")
    )


def test_without_a_catalogue_the_category_columns_are_null() -> None:
    """Leaving the catalogue out gives the answer of a pipeline without a products source
    (the real sample's is in test_public_api.py)."""
    month = seg.snapshot(_tiny(), date(2011, 3, 31))
    assert month.products is None
    assert month.categories.is_empty()
    nulls = month.features.select(CATEGORY_COLUMNS).null_count()
    assert set(nulls.row(0)) == {month.features.height}
    assert set(month.segments.get_column("needs_class")) == {"unknown"}
    assert set(month.segments.get_column("psychographic_class")) == {"unknown"}
    assert month.segments.get_column("next_best_category").null_count() == month.segments.height


# --- a bad catalogue row is left out with its reason ---


def _tiny() -> pl.DataFrame:
    """Four customers' purchases of products p1, p3 and p4."""
    return pl.DataFrame(
        {
            "customer_id": ["c1", "c1", "c2", "c3", "c4"],
            "order_id": ["o1", "o1", "o2", "o3", "o4"],
            "product_id": ["p1", "p3", "p3", "p1", "p4"],
            "order_ts": [datetime(2011, 1, 5, 10)] * 2 + [datetime(2011, 2, 7, 12)] * 3,
            "amount": [12.5, 30.0, 8.0, 4.0, 6.0],
        }
    )


def _bad_catalogue() -> pl.DataFrame:
    """A catalogue with a good row, a row without a category, one without an id, an exact
    repeat of the good row, and two rows of p3 that disagree on the category."""
    return pl.DataFrame(
        {
            "product_id": ["p1", "p2", " ", "p1", "p3", "p3", "p4"],
            "category": ["toys", None, "toys", "toys", "home", "garden", " kitchen "],
            "need_level": ["core", "basic", "basic", "core", "core", "core", "basic"],
        }
    )


REASONS = [
    (2, "missing_category"),
    (3, "missing_product_id"),
    (4, "duplicate_row"),
    (5, "conflicting_product_rows"),
    (6, "conflicting_product_rows"),
]


def test_a_bad_catalogue_row_is_rejected_with_its_reason(tmp_path: Path) -> None:
    catalogue = _bad_catalogue()
    with pytest.warns(InputWarning, match=r"products: 5 of 7 rows rejected") as caught:
        month = seg.snapshot(_tiny(), date(2011, 3, 31), products=catalogue)
    message = str(caught[0].message)
    for count in ("conflicting_product_rows: 2", "missing_category: 1", "duplicate_row: 1"):
        assert count in message
    rejected = month.rejected.filter(pl.col("source") == "products")
    assert rejected.select("source_row", "reason").rows() == REASONS
    assert month.products is not None
    assert month.products.select("product_id", "category").rows() == [
        ("p1", "toys"),
        ("p4", "kitchen"),
    ]
    # the same rows as a products file land and are quarantined the same way
    catalogue.write_parquet(tmp_path / "products.parquet")
    raw = config_mapping()
    raw["sources"]["products"] = {
        "path": str(tmp_path / "products.parquet"),
        "columns": {name: name for name in catalogue.columns},
        "max_reject_rate": 1.0,
    }
    config = load_config(write_config_file(tmp_path, raw))
    assert config.sources.products is not None
    with duckdb.connect() as con:
        land_source(con, "products", config.sources.products, datetime.now())
        landed = con.execute("SELECT * FROM raw.products ORDER BY source_row").pl()
        quarantined = con.execute("SELECT * FROM quality.rejected_rows ORDER BY source_row").pl()
    assert_frame_equal(month.products.drop("source_file"), landed.drop("source_file"))
    assert_frame_equal(
        rejected.drop("source_file", "rejected_at"),
        quarantined.drop("source_file", "rejected_at"),
    )
    # a product left out is not catalogued: c2's purchase of p3 counts as 'unknown'
    categories = month.categories.select("customer_id", "category", "spend").sort(
        "customer_id", "category"
    )
    assert categories.rows() == [
        ("c1", "toys", 12.5),
        ("c1", "unknown", 30.0),
        ("c2", "unknown", 8.0),
        ("c3", "toys", 4.0),
        ("c4", "kitchen", 6.0),
    ]
    top = dict(month.features.select("customer_id", "top_category").iter_rows())
    assert top == {"c1": "toys", "c2": None, "c3": "toys", "c4": "kitchen"}


ENTRY_POINTS: dict[str, Callable[..., Any]] = {
    "customer_features": seg.customer_features,
    "customer_segments": seg.customer_segments,
    "assign_playbook": seg.assign_playbook,
    "snapshot": seg.snapshot,
}


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_every_entry_point_gives_the_snapshots_catalogue_answer(entry_point: str) -> None:
    as_of = date(2011, 3, 31)
    with pytest.warns(InputWarning, match="products: 5 of 7 rows rejected"):
        answer = ENTRY_POINTS[entry_point](_tiny(), as_of, products=_bad_catalogue())
    with pytest.warns(InputWarning):
        month = seg.snapshot(_tiny(), as_of, products=_bad_catalogue())
    expected = {
        "customer_features": month.features,
        "customer_segments": month.segments,
        "assign_playbook": month.strategies,
    }
    if entry_point == "snapshot":
        assert_frame_equal(answer.categories, month.categories)
    else:
        assert_frame_equal(answer, expected[entry_point])
    assert month.features.get_column("top_category").to_list() == ["toys", None, "toys", "kitchen"]


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda frame: frame.drop("category"), "products: missing column(s): category"),
        (
            lambda frame: frame.with_columns(pl.col("need_level").str.len_bytes()),
            "products: ill-typed column(s): need_level is UInt32, expected String",
        ),
    ],
)
def test_a_catalogue_without_its_columns_is_refused_naming_them(
    spoil: Callable[[pl.DataFrame], pl.DataFrame], message: str
) -> None:
    with pytest.raises(seg.InputError) as refused:
        seg.snapshot(_tiny(), date(2011, 3, 31), products=spoil(_bad_catalogue()))
    assert message in str(refused.value)


# --- the bank: held products, an eligibility rule over the catalogue, a dirty catalogue ---


def test_the_banks_catalogue_gives_the_pipelines_next_best_product(tmp_path: Path) -> None:
    """config/bank.yaml over a small generated bank: the catalogue file (with the generator's
    dirty rows) read by hand, the customers and the attribute history (the products held) as
    the pipeline lands them; the next best product under the suitability rule over
    ``product_risk_level``, the rule-based psychographic classes and every table are the
    pipeline's, and the catalogue's rejected rows are the pipeline's quarantine."""
    bank.write(tmp_path / "bank", 600, seed=3, dirty_rate=0.003)
    raw = yaml.safe_load((PROJECT_ROOT / "config" / "bank.yaml").read_text())
    for source in raw["sources"].values():
        source["path"] = source["path"].replace("../data/bank", str(tmp_path / "bank"))
    raw["strategies"]["playbook"] = str(PROJECT_ROOT / "config" / "bank_playbook.yaml")
    raw |= {"warehouse": "warehouse/bank.duckdb", "serving": "warehouse/serving.duckdb"}
    config = load_config(write_config_file(tmp_path, raw))
    materialize(config, "2011-06")
    as_of = MONTHS["2011-06"]
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        expected = {table: read_month(con, table, as_of) for table in TABLES}
        history = con.execute(
            "SELECT * FROM raw.customer_attributes ORDER BY source_file, source_row"
        ).pl()
        quarantined = con.execute(
            'SELECT source_row, reason, "check" FROM quality.rejected_rows '
            "WHERE source = 'products' ORDER BY source_row"
        ).pl()
    names = {column: name for name, column in raw["sources"]["products"]["columns"].items()}
    catalogue = pl.read_csv(tmp_path / "bank" / "products.csv", infer_schema=False).rename(names)
    assert config.strategies.playbook is not None
    with pytest.warns(InputWarning, match=f"products: {quarantined.height} of"):
        month = seg.snapshot(
            seg.load_transactions(config),
            as_of,
            customers=seg.load_customers(config),
            attributes=history,
            products=catalogue,
            feature_settings=config.features,
            segment_settings=config.segments,
            playbook=load_playbook(config.strategies.playbook, config.segments),
        )
    assert set(quarantined.get_column("reason")) >= {"missing_category", "conflicting_product_rows"}
    rejected = month.rejected.filter(pl.col("source") == "products")
    assert_frame_equal(rejected.select(quarantined.columns), quarantined)
    assert_tables_equal(tables_of(month), expected)
    segments = month.segments
    assert segments.get_column("next_best_product").drop_nulls().n_unique() >= 3
    assert segments.get_column("psychographic_class").n_unique() >= 3
