"""The catalogue columns of marts.customer_segments computed by Spark on local[2] equal the
DuckDB engine's: the next best category and product from association counts summed over
groups of customers (both rankings, the eligibility rule over the catalogue), and the
psychographic classes (clusters of category shares fitted on the driver and assigned on the
executors, or rules). The whole table is compared, bit for bit."""

from pathlib import Path

import duckdb
import polars as pl
import pytest

from segmentation.config import (
    SegmentationConfig,
)
from segmentation.engines.compare import frame_differences
from segmentation.engines.spark.lake import export_raw, write_months
from segmentation.engines.spark.segments import customer_segments
from segmentation.engines.spark.summary import segment_summary
from segmentation.features.categories import CATEGORY_KEY_COLUMNS
from segmentation.keys import CATEGORIES_TABLE, FEATURES_TABLE, KEY_COLUMNS, SEGMENTS_TABLE
from segmentation.monthly import customer_segments_month, read_products
from segmentation.segments.catalogue_labels import CataloguePopulation, catalogue_labels
from segmentation.segments.psychographics import fit_share_clusters
from segmentation.segments.recommendations import association_counts, category_baskets
from tests.spark.catalogue_lake import (
    BANK_SNAPSHOTS,
    GENERATED_PRODUCT_COLUMNS,
    duckdb_tables,
    with_catalogue,
)
from tests.spark.equality import assert_same_table
from tests.spark.test_behaviour import GENERATED_SNAPSHOTS, RETAIL_SNAPSHOTS

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def retail_tables(retail_catalogue):
    """The real sample with its catalogue: the config, the landed warehouse and the DuckDB
    engine's categories and features of every month."""
    config, con = retail_catalogue
    categories, features = duckdb_tables(con, RETAIL_SNAPSHOTS, config)
    return config, con, categories, features


@pytest.fixture(scope="module")
def generated_tables(generated, tmp_path_factory: pytest.TempPathFactory):
    """The generated data (as the demo's) with the generator's catalogue: the config, the
    landed warehouse and the DuckDB engine's categories and features."""
    config, _ = generated
    data = Path(config.sources.transactions.path).parent.parent
    products = {"path": str(data / "products.csv"), "columns": GENERATED_PRODUCT_COLUMNS}
    copied, con = with_catalogue(generated, tmp_path_factory.mktemp("generated"), products)
    categories, features = duckdb_tables(con, GENERATED_SNAPSHOTS, copied)
    yield copied, con, categories, features
    con.close()


@pytest.fixture(scope="module")
def bank_tables(bank_landed):
    """config/bank.yaml over a small generated bank (held products from the attribute history,
    a catalogue with the generator's dirty rows, an eligibility rule over the product's risk
    level, psychographic rules), landed, with the DuckDB engine's categories and features."""
    config, con = bank_landed
    categories, features = duckdb_tables(con, BANK_SNAPSHOTS, config)
    return config, con, categories, features


def _with_recommendations(config: SegmentationConfig, **changes: object) -> SegmentationConfig:
    segments = config.segments
    recommendations = segments.recommendations.model_copy(update=changes)
    return config.model_copy(
        update={"segments": segments.model_copy(update={"recommendations": recommendations})}
    )


def duckdb_segments(
    con: duckdb.DuckDBPyConnection,
    categories: pl.DataFrame,
    features: pl.DataFrame,
    config: SegmentationConfig,
) -> pl.DataFrame:
    """The DuckDB engine's segments asset, month by month, with each month's category rows
    (sorted as read back) and the catalogue for the eligibility rule."""
    products = read_products(con, config)
    months = []
    for (snapshot,), month in features.partition_by("snapshot_date", as_dict=True).items():
        rows = categories.filter(pl.col("snapshot_date") == snapshot).sort(CATEGORY_KEY_COLUMNS)
        months.append(customer_segments_month(month, config.segments, rows, products)[0])
    return pl.concat(months)


def spark_segments(
    spark,
    con: duckdb.DuckDBPyConnection,
    lake: str,
    categories: pl.DataFrame,
    features: pl.DataFrame,
    config: SegmentationConfig,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """The DuckDB engine's features and categories written into the lake (the catalogue
    exported with the raw tables), the Spark engine's segments of them, and the rows its
    reduce steps received."""
    export_raw(con, lake, config)
    write_months(spark.createDataFrame(features.to_arrow()), lake, FEATURES_TABLE)
    write_months(spark.createDataFrame(categories.to_arrow()), lake, CATEGORIES_TABLE)
    snapshots = features.get_column("snapshot_date").unique().to_list()
    result = customer_segments(spark, lake, snapshots, config)
    frame = pl.from_arrow(result.segments.toArrow())
    assert isinstance(frame, pl.DataFrame)
    return frame, result.reduce_rows


@pytest.mark.long
def test_spark_catalogue_columns_equal_duckdb_on_the_real_sample_for_every_month_both_rankings(
    spark, retail_tables, tmp_path: Path
) -> None:
    config, con, categories, features = retail_tables
    assert config.segments.psychographics.clusters.enabled
    assert not config.segments.psychographics.rules
    picks = {}
    for rank_by in ("confidence", "lift"):
        ranked = _with_recommendations(config, rank_by=rank_by)
        expected = duckdb_segments(con, categories, features, ranked)
        actual, received = spark_segments(
            spark, con, str(tmp_path / rank_by), categories, features, ranked
        )
        # every catalogue column is exercised: picks, clusters of category shares, needs
        assert expected.get_column("next_best_category").drop_nulls().len() > 10_000
        assert expected.get_column("psychographic_class").n_unique() >= 4
        assert expected.get_column("needs_class").n_unique() >= 3
        assert_same_table(actual, expected)
        picks[rank_by] = expected.select(*KEY_COLUMNS, "next_best_category")
        # the driver received the summed counts (at most 1 + items + items^2 per month) and
        # the share rows, not the baskets
        months = len(RETAIL_SNAPSHOTS)
        items = categories.get_column("category").n_unique()
        assert 0 < received["category_counts"] <= months * (1 + items + items * items)
        assert (
            received["share_rows"]
            == categories.filter((pl.col("category") != "unknown") & (pl.col("spend") > 0)).height
        )
    # the two rankings pick differently for some customers: both were compared
    assert not picks["confidence"].equals(picks["lift"])


def test_spark_catalogue_columns_equal_duckdb_on_generated_data_with_its_catalogue(
    spark, generated_tables, tmp_path: Path
) -> None:
    """The demo's generated customers (engagement, feedback, custom attributes) with the
    generator's catalogue: the whole segments table, bit for bit."""
    config, con, categories, features = generated_tables
    expected = duckdb_segments(con, categories, features, config)
    actual, _ = spark_segments(spark, con, str(tmp_path / "lake"), categories, features, config)
    assert expected.get_column("next_best_category").drop_nulls().len() > 100
    assert expected.get_column("psychographic_class").n_unique() >= 3
    assert_same_table(actual, expected)


@pytest.mark.parametrize("rank_by", ["confidence", "lift"])
def test_spark_next_best_product_equals_duckdb_on_the_bank(
    spark, bank_tables, tmp_path: Path, rank_by: str
) -> None:
    """Held products from the attribute history, the suitability rule over the catalogue's
    risk level, psychographic rules: the whole segments table, bit for bit."""
    config, con, categories, features = bank_tables
    ranked = _with_recommendations(config, rank_by=rank_by)
    expected = duckdb_segments(con, categories, features, ranked)
    actual, received = spark_segments(
        spark, con, str(tmp_path / "lake"), categories, features, ranked
    )
    assert expected.get_column("next_best_product").drop_nulls().n_unique() >= 3
    assert expected.get_column("psychographic_class").n_unique() >= 3
    assert received["product_counts"] > 0
    assert_same_table(actual, expected)


def test_a_part_of_the_customers_alone_gives_other_catalogue_columns(retail_tables) -> None:
    """Why the reduce steps exist: labelling a part of a month's customers with that part's
    own counts and clusters differs from the whole month's labels; with the whole month's
    counts and clusters (as the Spark tasks get them) it is the same."""
    config, _, categories, features = retail_tables
    snapshot = RETAIL_SNAPSHOTS[-1]
    month = features.filter(pl.col("snapshot_date") == snapshot)
    rows = categories.filter(pl.col("snapshot_date") == snapshot).sort(CATEGORY_KEY_COLUMNS)
    whole = catalogue_labels(month, config.segments, rows)
    part = month.filter(pl.col("customer_id").str.ends_with("1"))
    expected = whole.filter(month.get_column("customer_id").str.ends_with("1"))
    part_rows = rows.join(part, on=list(KEY_COLUMNS), how="semi")
    own = catalogue_labels(part, config.segments, part_rows)
    assert not own.equals(expected)
    population = CataloguePopulation(
        category_counts=association_counts(category_baskets(rows)),
        share_clusters={snapshot: fit_share_clusters(rows, config.segments.psychographics)},
    )
    assert catalogue_labels(part, config.segments, part_rows, population=population).equals(
        expected
    )


def test_spark_summary_equals_duckdb_with_the_catalogues_dimensions(
    spark, retail_tables, tmp_path: Path
) -> None:
    """With a products source, needs_class and psychographic_class are dimensions of
    marts.segment_summary: the Spark engine's summary of the segments equals the DuckDB
    engine's (customers and shares exactly, sums to 1e-9 relative)."""
    config, con, categories, features = retail_tables
    products = read_products(con, config)
    segments, summaries = [], []
    for (snapshot,), month in features.partition_by("snapshot_date", as_dict=True).items():
        rows = categories.filter(pl.col("snapshot_date") == snapshot).sort(CATEGORY_KEY_COLUMNS)
        segmented, summary = customer_segments_month(month, config.segments, rows, products)
        segments.append(segmented)
        summaries.append(summary)
    expected = pl.concat(summaries)
    assert {"needs_class", "psychographic_class"} <= set(expected.get_column("dimension"))
    lake = str(tmp_path / "lake")
    write_months(spark.createDataFrame(pl.concat(segments).to_arrow()), lake, SEGMENTS_TABLE)
    actual = segment_summary(spark, lake, RETAIL_SNAPSHOTS).summary
    keys = ["snapshot_date", "dimension", "segment"]
    assert frame_differences(actual, expected, keys=keys) == []
    exact = [*keys, "customers", "share"]
    assert actual.sort(keys).select(exact).equals(expected.sort(keys).select(exact))
