"""features.customer_categories computed by Spark on local[2] (each customer bucket's
transactions with the whole catalogue, in a task running the library's own category SQL), and
the category columns of features.customer_features from it, equal the DuckDB engine's tables:
the same rows, columns and types, bit for bit."""

from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from segmentation.config import SegmentationConfig
from segmentation.engines.compare import frame_differences
from segmentation.engines.spark.behaviour import customer_behaviour
from segmentation.engines.spark.categories import customer_categories
from segmentation.engines.spark.clv import customer_clv
from segmentation.engines.spark.engagement import customer_engagement
from segmentation.engines.spark.features import customer_features
from segmentation.engines.spark.lake import export_raw, read_table, write_months
from segmentation.engines.spark.uncatalogued import (
    uncatalogued_transactions as spark_uncatalogued,
)
from segmentation.features.categories import CATEGORY_KEY_COLUMNS
from segmentation.features.categories import (
    uncatalogued_transactions as duckdb_uncatalogued,
)
from segmentation.keys import (
    BEHAVIOUR_TABLE,
    CATEGORIES_TABLE,
    CLV_TABLE,
    ENGAGEMENT_TABLE,
    KEY_COLUMNS,
)
from tests.spark.catalogue_lake import (
    BANK_SNAPSHOTS,
    CATEGORY_COLUMNS_IN_ORDER,
    GENERATED_PRODUCT_COLUMNS,
    duckdb_tables,
    with_catalogue,
)
from tests.spark.test_behaviour import GENERATED_SNAPSHOTS, RETAIL_SNAPSHOTS

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def generated_catalogue(generated, tmp_path_factory: pytest.TempPathFactory):
    """The generated data with the generator's catalogue (dirty rows quarantined by its
    landing), the demo's column mapping, and the needs read from the price level."""
    config, _ = generated
    data = Path(config.sources.transactions.path).parent.parent
    products = {
        "path": str(data / "products.csv"),
        "columns": GENERATED_PRODUCT_COLUMNS,
    }
    segments = config.model_dump(mode="json", exclude_none=True).get("segments", {})
    segments["needs"] = {"level_column": "price_level", "core_levels": ["premium"]}
    copied, con = with_catalogue(
        generated, tmp_path_factory.mktemp("generated-catalogue"), products, segments=segments
    )
    yield copied, con
    con.close()


def spark_tables(
    spark, con, lake: str, snapshots: list[date], config: SegmentationConfig
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The Spark engine's chain: raw export (the catalogue with it); behaviour, CLV,
    engagement and categories written into the lake; the features from the lake."""
    export_raw(con, lake, config)
    write_months(customer_behaviour(spark, lake, snapshots, config), lake, BEHAVIOUR_TABLE)
    write_months(customer_clv(spark, lake, snapshots, config).customers, lake, CLV_TABLE)
    if config.sources.events is not None or config.sources.feedback is not None:
        write_months(customer_engagement(spark, lake, snapshots, config), lake, ENGAGEMENT_TABLE)
    write_months(customer_categories(spark, lake, snapshots, config), lake, CATEGORIES_TABLE)
    written = read_table(spark, lake, CATEGORIES_TABLE)
    categories = pl.from_arrow(written.select(*CATEGORY_COLUMNS_IN_ORDER).toArrow())
    features = pl.from_arrow(customer_features(spark, lake, snapshots, config).toArrow())
    assert isinstance(categories, pl.DataFrame) and isinstance(features, pl.DataFrame)
    return categories, features


def assert_equal(actual: pl.DataFrame, expected: pl.DataFrame, keys: list[str]) -> None:
    assert frame_differences(actual, expected, keys) == []
    assert actual.sort(keys).equals(expected.sort(keys))


def test_spark_categories_and_features_equal_duckdb_on_the_real_sample_with_its_catalogue(
    spark, retail_catalogue, tmp_path: Path
) -> None:
    config, con = retail_catalogue
    categories, features = duckdb_tables(con, RETAIL_SNAPSHOTS, config)
    actual_categories, actual_features = spark_tables(
        spark, con, str(tmp_path / "lake"), RETAIL_SNAPSHOTS, config
    )
    # uncatalogued spend ('unknown'), several categories per customer, core and basic levels
    assert (categories.get_column("category") == "unknown").any()
    assert categories.get_column("category").n_unique() >= 8
    assert categories.height > 2 * features.filter(pl.col("orders") > 0).height // 2
    assert features.get_column("core_spend_share").drop_nulls().is_between(0.01, 0.99).any()
    assert features.get_column("category_breadth").max() >= 5
    assert_equal(actual_categories, categories, list(CATEGORY_KEY_COLUMNS))
    assert_equal(actual_features, features, list(KEY_COLUMNS))


def test_spark_categories_and_features_equal_duckdb_on_generated_data_with_its_catalogue(
    spark, generated_catalogue, tmp_path: Path
) -> None:
    config, con = generated_catalogue
    categories, features = duckdb_tables(con, GENERATED_SNAPSHOTS, config)
    actual_categories, actual_features = spark_tables(
        spark, con, str(tmp_path / "lake"), GENERATED_SNAPSHOTS, config
    )
    # engagement columns, custom attributes and the category columns reach the table
    assert features.get_column("visits_90d").drop_nulls().gt(0).any()
    assert features.get_column("top_category").drop_nulls().n_unique() >= 3
    assert features.get_column("core_spend_share").drop_nulls().len() > 0
    assert_equal(actual_categories, categories, list(CATEGORY_KEY_COLUMNS))
    assert_equal(actual_features, features, list(KEY_COLUMNS))


def test_a_catalogue_repeating_a_product_id_stops_before_any_task(
    spark, retail_catalogue, tmp_path: Path
) -> None:
    """A lake's raw.products with an id twice (written there by hand: the landing keeps ids
    unique) stops the job with the DuckDB engine's message, naming what to do."""
    config, con = retail_catalogue
    lake = str(tmp_path / "lake")
    export_raw(con, lake, config)
    folder = Path(lake) / "raw" / "products"
    with duckdb.connect() as scratch:
        scratch.execute(
            f"COPY (SELECT * FROM read_parquet('{folder}/*.parquet') "
            f"UNION ALL (SELECT * FROM read_parquet('{folder}/*.parquet') LIMIT 1)) "
            f"TO '{tmp_path}/products.parquet' (FORMAT parquet)"
        )
    for part in folder.glob("*.parquet"):
        part.unlink()
    (tmp_path / "products.parquet").rename(folder / "part-00000.parquet")
    with pytest.raises(ValueError, match="holds 1 product id.*more than once"):
        customer_categories(spark, lake, RETAIL_SNAPSHOTS[:2], config)


def test_spark_features_equal_duckdb_on_the_bank_with_its_attribute_history(
    spark, bank_landed, tmp_path: Path
) -> None:
    """Each snapshot's attributes are those the history held on it: the history's rows travel
    to their customer's bucket with the transactions and customers, and the task reads them
    with the DuckDB engine's own point-in-time SQL."""
    config, con = bank_landed
    assert config.sources.customer_attributes is not None
    categories, features = duckdb_tables(con, BANK_SNAPSHOTS, config)
    actual_categories, actual_features = spark_tables(
        spark, con, str(tmp_path / "lake"), BANK_SNAPSHOTS, config
    )
    # the history's attributes change between the snapshots for some customers
    held = features.select("customer_id", "snapshot_date", "products_held", "assets_total")
    moves = held.group_by("customer_id").agg(
        pl.col("products_held").n_unique().alias("held"),
        pl.col("assets_total").n_unique().alias("assets"),
    )
    assert moves.filter(pl.col("held") > 1).height > 10
    assert moves.filter(pl.col("assets") > 1).height > 100
    assert_equal(actual_categories, categories, list(CATEGORY_KEY_COLUMNS))
    assert_equal(actual_features, features, list(KEY_COLUMNS))


def test_the_uncatalogued_transactions_equal_duckdb_on_the_real_sample(
    spark, retail_catalogue, tmp_path: Path
) -> None:
    """The metadata's uncatalogued transactions per snapshot: each task's per-day rows of its
    own transactions, finished on the driver by the DuckDB engine's query, are its numbers."""
    config, con = retail_catalogue
    lake = str(tmp_path / "lake")
    export_raw(con, lake, config)
    expected = duckdb_uncatalogued(
        con, RETAIL_SNAPSHOTS, config.features.categories, products_configured=True
    )
    actual = spark_uncatalogued(spark, lake, RETAIL_SNAPSHOTS, config)
    assert expected.get_column("rows").gt(0).sum() > len(RETAIL_SNAPSHOTS) // 2
    assert expected.get_column("product_ids").max() > 1
    assert actual.schema == expected.schema
    assert actual.equals(expected)
