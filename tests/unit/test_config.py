"""The config contract: unknown keys, missing mappings and empty paths stop before any write."""

from pathlib import Path

import pytest
import yaml

from assets.resources import warehouse_for
from segmentation.config import SegmentationConfig, load_config, month_as_of, month_end
from segmentation.settings_base import ConfigError
from tests.conftest import PROJECT_ROOT


def _config(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def valid(tmp_path: Path) -> dict:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("id,ts,amt\n1,2011-01-01,2\n")
    return {
        "warehouse": "wh/segmentation.duckdb",
        "serving": "wh/serving.duckdb",
        "snapshots": {"start": "2011-01", "end": "2011-03"},
        "sources": {
            "transactions": {
                "path": "data/*.csv",
                "columns": {"customer_id": "id", "order_ts": "ts", "amount": "amt"},
            }
        },
    }


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path, valid: dict) -> None:
    config = load_config(_config(tmp_path, valid))
    assert config.warehouse == tmp_path / "wh" / "segmentation.duckdb"
    assert config.serving == tmp_path / "wh" / "serving.duckdb"
    assert config.sources.transactions.files() == [tmp_path / "data" / "a.csv"]
    assert config.sources.customers is None
    assert config.features.clv.margin == 0.3


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c.update(warehose="x.duckdb"), "warehose: unknown key"),
        (
            lambda c: c["sources"]["transactions"]["columns"].update(colour="x"),
            "sources.transactions.columns.colour: unknown key",
        ),
        (
            lambda c: c["sources"]["transactions"]["columns"].pop("customer_id"),
            "sources.transactions.columns.customer_id: required key is missing",
        ),
        (
            lambda c: c["sources"]["transactions"]["columns"].pop("amount"),
            "map `amount`, or both `quantity` and `unit_price`",
        ),
        (lambda c: c["snapshots"].update(start="2011-13"), "snapshots.start"),
        (lambda c: c["snapshots"].update(end="2010-01"), "is before start"),
        (
            lambda c: c["sources"]["transactions"].update(max_reject_rate=2),
            "sources.transactions.max_reject_rate",
        ),
        (
            lambda c: c["sources"]["transactions"].update(path="data/*.parquet"),
            "sources.transactions.path",
        ),
        (
            lambda c: c.update(features={"lifecycle": {"lost_recency_days": 10}}),
            "at_risk_recency_days must be below lost_recency_days",
        ),
        (lambda c: c.update(duckdb={"memory_limit": "lots"}), "duckdb.memory_limit"),
        (lambda c: c.update(duckdb={"threads": 0}), "duckdb.threads"),
    ],
    ids=[
        "unknown-top-level-key",
        "unknown-column-key",
        "missing-customer-id",
        "no-amount-mapping",
        "bad-month",
        "end-before-start",
        "reject-rate-out-of-range",
        "path-matches-no-file",
        "inconsistent-thresholds",
        "bad-memory-limit",
        "zero-threads",
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, valid: dict, mutate, expected: str) -> None:
    mutate(valid)
    with pytest.raises(ConfigError) as error:
        load_config(_config(tmp_path, valid))
    assert expected in str(error.value)
    assert str(tmp_path / "config.yaml") in str(error.value)


def test_duckdb_settings_reach_the_warehouse_connection(tmp_path: Path, valid: dict) -> None:
    valid["duckdb"] = {"memory_limit": "512MB", "temp_directory": "spill", "threads": 1}
    warehouse = warehouse_for(load_config(_config(tmp_path, valid)))
    assert warehouse.temp_directory == str(tmp_path / "spill")
    with warehouse.connect() as con:
        settings = dict(
            con.execute(
                "SELECT name, value FROM duckdb_settings() "
                "WHERE name IN ('memory_limit', 'temp_directory', 'threads')"
            ).fetchall()
        )
    assert settings["memory_limit"] in {"488.2 MiB", "512.0 MB"}
    assert settings["temp_directory"] == str(tmp_path / "spill")
    assert settings["threads"] == "1"


def test_missing_config_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("key", "last_day"),
    [("2011-02", "2011-02-28"), ("2012-02", "2012-02-29"), ("2011-12", "2011-12-31")],
)
def test_partition_as_of_is_the_months_last_instant(key: str, last_day: str) -> None:
    assert str(month_end(key)) == last_day
    as_of = month_as_of(key)
    assert (as_of.hour, as_of.minute, as_of.second, as_of.microsecond) == (23, 59, 59, 999999)


def test_the_spark_demo_config_is_the_demo_on_the_spark_engine() -> None:
    """config/demo_spark.yaml (make spark-demo) keeps the demo's data and settings: only the
    engine, its lake and the output files differ, so both demos give the same answers."""
    folder = PROJECT_ROOT / "config"
    demo = yaml.safe_load((folder / "demo.yaml").read_text())
    spark = yaml.safe_load((folder / "demo_spark.yaml").read_text())
    outputs = {"warehouse", "serving"}
    assert {
        key: value for key, value in spark.items() if key not in {*outputs, "engine", "spark"}
    } == {key: value for key, value in demo.items() if key not in outputs}
    # the keys themselves (a fresh clone has no demo data for the sources' paths to match)
    config = SegmentationConfig.model_validate(spark)
    assert config.engine == "spark"
    assert config.spark.lake == "../warehouse/spark/lake"
    assert {spark[key] for key in outputs}.isdisjoint({demo[key] for key in outputs})
