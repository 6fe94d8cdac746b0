"""Fixtures of the Spark engine's tests: one local[2] session for all of them, and warehouses
landed by the DuckDB engine (the committed real sample; generated data with customers)."""

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
import yaml

from segmentation.config import (
    SegmentationConfig,
    custom_attributes,
    load_config,
    pii_source_columns,
)
from segmentation.engines.settings import SparkSettings
from segmentation.raw.landing import land_source
from segmentation.raw.publishing import empty_customers_table
from synthetic.generate import main as generate
from tests.conftest import PROJECT_ROOT, config_mapping, write_config_file

LANDED_AT = datetime(2026, 1, 1)
# The tests' JVM runs many small jobs on two shared cores: the optimizing JIT compiler and a
# parallel collector cost more CPU than they win back on small data (test_landing.py: about a
# third less CPU with the quick compiler only and the serial collector). The results do not
# depend on either.
TEST_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
# the tests' session: two cores as in CI, no UI, a few shuffle partitions for small data
TEST_CONF = {
    "spark.ui.enabled": False,
    "spark.sql.shuffle.partitions": 4,
    "spark.driver.extraJavaOptions": TEST_JAVA_OPTIONS,
}


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A local[2] Spark session, started once (after the engine's preflight)."""
    from segmentation.engines.spark.session import start_session

    lake = tmp_path_factory.mktemp("session-lake")
    session = start_session(SparkSettings(master="local[2]", conf=TEST_CONF, lake=str(lake)))
    yield session
    session.stop()


@pytest.fixture(scope="session")
def chain_lakes(spark, tmp_path_factory: pytest.TempPathFactory):
    """The Spark engine's features chain of a landed warehouse, one lake per warehouse,
    snapshots and configuration, each table computed once per process
    (``chain_lake.ChainLakes``); the tests only read these lakes."""
    from tests.spark.chain_lake import ChainLakes

    return ChainLakes(spark, lambda: tmp_path_factory.mktemp("chain"))


@pytest.fixture(scope="session")
def marts_lakes(spark, tmp_path_factory: pytest.TempPathFactory):
    """A landed warehouse's raw export and the DuckDB engine's segments and assignments, one
    lake per warehouse, snapshots and configuration, written once per process
    (``marts_lake.MartsLakes``); the tests only read these lakes."""
    from tests.spark.marts_lake import MartsLakes

    return MartsLakes(spark, lambda: tmp_path_factory.mktemp("marts"))


def _landed(config: SegmentationConfig) -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse with the config's transactions and customers landed, and its
    events and feedback when it has them."""
    con = duckdb.connect()
    land_source(con, "transactions", config.sources.transactions, LANDED_AT)
    for source in ("events", "feedback"):
        settings = getattr(config.sources, source)
        if settings is not None:
            land_source(con, source, settings, LANDED_AT)
    if config.sources.customers is None:
        empty_customers_table(con)
    else:
        land_source(
            con,
            "customers",
            config.sources.customers,
            LANDED_AT,
            custom_attributes(config),
            pii_source_columns(config),
        )
    return con


@pytest.fixture(scope="session")
def retail(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SegmentationConfig, duckdb.DuckDBPyConnection]]:
    """The committed real sample (no customers source), landed."""
    folder = tmp_path_factory.mktemp("retail")
    config = load_config(write_config_file(folder, config_mapping()))
    con = _landed(config)
    yield config, con
    con.close()


@pytest.fixture(scope="session")
def generated(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SegmentationConfig, duckdb.DuckDBPyConnection]]:
    """Generated data as the demo's (customers with attributes and personal data, channels,
    customers who never buy, events and feedback), landed with the demo's column mapping; the
    feedback's topic declared personal data."""
    folder = tmp_path_factory.mktemp("generated")
    data = folder / "data"
    generate(
        [
            *("--customers", "1500", "--out", str(data), "--seed", "7"),
            *("--start", "2010-01-01", "--end", "2011-12-31"),
            "-q",
        ]
    )
    raw = yaml.safe_load((PROJECT_ROOT / "config" / "demo.yaml").read_text())
    sources = {key: raw["sources"][key] for key in ("transactions", "customers", "events")}
    sources["transactions"]["path"] = str(data / "transactions" / "*.parquet")
    sources["customers"]["path"] = str(data / "customers.parquet")
    sources["events"]["path"] = str(data / "events" / "*.parquet")
    sources["feedback"] = raw["sources"]["feedback"] | {
        "path": str(data / "feedback.csv"),
        "pii_columns": ["topic"],
    }
    mapping = config_mapping(
        sources["transactions"], snapshots={"start": "2010-01", "end": "2011-12"}
    )
    for source in ("customers", "events", "feedback"):
        mapping["sources"][source] = sources[source]
    # the demo's customers carry custom attributes (the lifestyle survey): declared as there
    extra = raw.get("segments", {}).get("extra_columns", {})
    mapping.setdefault("segments", {})["extra_columns"] = extra
    config = load_config(write_config_file(folder, mapping))
    con = _landed(config)
    yield config, con
    con.close()


@pytest.fixture(scope="session")
def retail_catalogue(
    retail, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SegmentationConfig, duckdb.DuckDBPyConnection]]:
    """The real sample with its catalogue (tests/data/online_retail_products.csv), landed in a
    copy of ``retail``'s warehouse: the category and catalogue tests share it."""
    from tests.spark.catalogue_lake import CATALOGUE, PRODUCT_COLUMNS, with_catalogue

    products = {"path": str(CATALOGUE), "columns": {name: name for name in PRODUCT_COLUMNS}}
    config, con = with_catalogue(retail, tmp_path_factory.mktemp("retail-catalogue"), products)
    yield config, con
    con.close()


@pytest.fixture(scope="session")
def bank_landed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SegmentationConfig, duckdb.DuckDBPyConnection]]:
    """config/bank.yaml over a small generated bank (``catalogue_lake.land_bank``): an
    attribute history beside the customers source, and a catalogue."""
    from tests.spark.catalogue_lake import land_bank

    config, con = land_bank(tmp_path_factory.mktemp("bank"))
    yield config, con
    con.close()


@pytest.fixture(scope="session")
def dirty_generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of generated files with 2% dirty rows (duplicates, missing ids, bad
    timestamps and quantities, timestamps in the future and before 1970): 400 customers with
    names, e-mails and phones, their transactions as the demo's Parquet files. The landing
    tests read them and write what they change elsewhere."""
    data = tmp_path_factory.mktemp("dirty") / "data"
    generate(
        [
            *("--customers", "400", "--out", str(data), "--seed", "11"),
            *("--start", "2010-01-01", "--end", "2011-06-30", "--dirty-rate", "0.02"),
            *("--no-events", "--no-feedback", "--no-categories", "-q"),
        ]
    )
    return data


def lake_folder(tmp_path: Path) -> str:
    """A lake for one test."""
    return str(tmp_path / "lake")
