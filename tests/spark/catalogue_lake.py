"""The real sample and generated data with a product catalogue, landed; the DuckDB engine's
``features.customer_categories`` and ``features.customer_features`` of them: the input and the
expected tables of the Spark engine's category and catalogue tests."""

from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import yaml

from segmentation.config import (
    SegmentationConfig,
    custom_attributes,
    load_config,
    pii_source_columns,
)
from segmentation.contracts import contract_dtypes
from segmentation.features.contracts import CustomerCategoriesContract
from segmentation.raw.landing import land_source
from synthetic import bank
from tests.conftest import PROJECT_ROOT, write_config_file
from tests.spark.conftest import LANDED_AT
from tests.spark.reference import categories_months, features_months

# features.customer_categories' columns in the contract's order (the lake's partition column
# comes last when a table is read back)
CATEGORY_COLUMNS_IN_ORDER = list(contract_dtypes(CustomerCategoriesContract))
CATALOGUE = PROJECT_ROOT / "tests" / "data" / "online_retail_products.csv"
PRODUCT_COLUMNS = ("product_id", "category", "subcategory", "price_level", "need_level")
BANK_SNAPSHOTS = [date(2010, 6, 30), date(2010, 12, 31), date(2011, 6, 30)]
# the generator's catalogue under the demo's column names
GENERATED_PRODUCT_COLUMNS = {
    "product_id": "sku",
    "category": "category",
    "subcategory": "sub",
    "price_level": "tier",
    "need_level": "need",
}


def with_catalogue(
    landed: tuple[SegmentationConfig, duckdb.DuckDBPyConnection],
    folder: Path,
    products: dict,
    **settings: dict,
) -> tuple[SegmentationConfig, duckdb.DuckDBPyConnection]:
    """A copy of a landed warehouse (the session's fixture stays as it is) with ``products``
    as its products source, landed, and the config saying so (``settings``: top keys
    replaced)."""
    config, con = landed
    raw = config.model_dump(mode="json", exclude_none=True)
    raw["sources"]["products"] = products
    raw.update(settings)
    copied = load_config(write_config_file(folder, raw))
    copy = duckdb.connect()
    copy.execute("CREATE SCHEMA raw")
    for (table,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw'"
    ).fetchall():
        copy.register("_copied", con.execute(f"SELECT * FROM raw.{table}").to_arrow_table())
        copy.execute(f"CREATE TABLE raw.{table} AS SELECT * FROM _copied")
        copy.unregister("_copied")
    assert copied.sources.products is not None
    land_source(copy, "products", copied.sources.products, LANDED_AT)
    return copied, copy


def duckdb_tables(
    con: duckdb.DuckDBPyConnection, snapshots: list[date], config: SegmentationConfig
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The DuckDB engine's ``features.customer_categories`` and ``features.customer_features``,
    month by month (the engagement read from a behaviour table, as the asset's is); computed
    once per process (``reference``)."""
    categories = categories_months(con, snapshots, config)
    features = features_months(con, snapshots, config, with_categories=True)
    return pl.concat(categories), pl.concat(features.values())


def land_bank(folder: Path) -> tuple[SegmentationConfig, duckdb.DuckDBPyConnection]:
    """config/bank.yaml over a small generated bank in ``folder`` (held products from the
    attribute history, a catalogue with the generator's dirty rows, an eligibility rule over
    the product's risk level, psychographic rules), landed in an in-memory warehouse."""
    bank.write(folder / "bank", 600, seed=3, dirty_rate=0.003)
    raw = yaml.safe_load((PROJECT_ROOT / "config" / "bank.yaml").read_text())
    for source in raw["sources"].values():
        source["path"] = source["path"].replace("../data/bank", str(folder / "bank"))
    raw["strategies"]["playbook"] = str(PROJECT_ROOT / "config" / "bank_playbook.yaml")
    config = load_config(write_config_file(folder, raw))
    con = duckdb.connect()
    sources = config.sources
    land_source(con, "transactions", sources.transactions, LANDED_AT)
    # as the raw assets land them: each source with its own custom attributes
    for name in ("customers", "customer_attributes", "products"):
        settings = getattr(sources, name)
        assert settings is not None
        custom = None if name == "products" else custom_attributes(config, name)
        land_source(con, name, settings, LANDED_AT, custom, masked=pii_source_columns(config, name))
    return config, con
