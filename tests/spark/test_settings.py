"""The `engine` and `spark` keys: the default engine is unchanged, and every wrong Spark setting
stops the config load with a message naming the key."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from segmentation.config import load_config
from segmentation.engines.spark.session import ENGINE_CONF, spark_conf
from segmentation.settings_base import ConfigError
from tests.conftest import PROJECT_ROOT, config_mapping, write_config_file

pytestmark = pytest.mark.spark


def _load(folder: Path, **overrides: Any):
    return load_config(write_config_file(folder, config_mapping(**overrides)))


def _error(folder: Path, **overrides: Any) -> str:
    with pytest.raises(ConfigError) as raised:
        _load(folder, **overrides)
    return str(raised.value)


def test_the_default_engine_is_duckdb_with_spark_keys_at_their_defaults(tmp_path: Path) -> None:
    config = _load(tmp_path)
    assert config.engine == "duckdb"
    assert (config.spark.master, config.spark.conf, config.spark.lake) == ("local[*]", {}, None)


def test_a_relative_lake_is_relative_to_the_config_folder(tmp_path: Path) -> None:
    config = _load(tmp_path, engine="spark", spark={"lake": "lake", "master": "local[2]"})
    assert config.spark.lake == str(tmp_path / "lake")
    uri = _load(tmp_path, engine="spark", spark={"lake": "s3a://bucket/segmentation"})
    assert uri.spark.lake == "s3a://bucket/segmentation"


def test_the_spark_engine_needs_a_lake(tmp_path: Path) -> None:
    message = _error(tmp_path, engine="spark")
    assert message.splitlines()[1] == (
        "  spark.lake: required with engine: spark: the folder or URI where Spark writes the "
        "tables (e.g. lake, or s3a://bucket/segmentation)"
    )


@pytest.mark.parametrize(
    ("spark", "expected"),
    [
        (
            {"master": "mesos://host:5050"},
            "  spark.master: 'mesos://host:5050' is not a Spark master URL: use local[*], "
            "local[N], spark://host:port, k8s://https://host:port, yarn or sc://host:port "
            "(Spark 4.0 no longer runs on Mesos)",
        ),
        ({"master": "spark://host:99999"}, "port 99999 is not a TCP port"),
        ({"conf": {"executor.memory": "2g"}}, "'executor.memory' is not a Spark setting"),
        ({"conf": {"spark.master": "local"}}, "'spark.master' is set by the engine"),
        (
            {"conf": {"spark.sql.session.timeZone": "Europe/Paris"}},
            "'spark.sql.session.timeZone' must be UTC",
        ),
        ({"lake": " "}, "spark.lake: an empty lake location"),
        ({"colour": "blue"}, "  spark.colour: unknown key"),
    ],
)
def test_a_wrong_spark_setting_names_its_key(
    tmp_path: Path, spark: dict[str, Any], expected: str
) -> None:
    # the spark keys are checked whichever engine is chosen
    assert expected in _error(tmp_path, spark=spark)


def test_an_unknown_engine_is_refused(tmp_path: Path) -> None:
    assert "  engine: Input should be 'duckdb' or 'spark'" in _error(tmp_path, engine="polars")


def test_a_lake_inside_a_source_glob_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "data" / "tx.csv"
    source.parent.mkdir()
    source.write_bytes((PROJECT_ROOT / "tests/data/online_retail_sample.csv.gz").read_bytes()[:0])
    transactions = {
        "path": str(tmp_path / "data" / "**" / "*.parquet"),
        "columns": {"customer_id": "c", "order_ts": "t", "amount": "a"},
    }
    (tmp_path / "data" / "x.parquet").write_bytes(b"")
    message = _error(
        tmp_path, transactions=transactions, engine="spark", spark={"lake": "data/lake"}
    )
    assert f"spark.lake: {tmp_path}/data/lake is matched by sources.transactions.path" in message


def test_the_session_conf_puts_the_master_and_the_users_settings_over_the_engines(
    tmp_path: Path,
) -> None:
    config = _load(
        tmp_path,
        engine="spark",
        spark={
            "master": "spark://h:7077",
            "lake": "lake",
            "conf": {"spark.executor.memory": "8g", "spark.ui.showConsoleProgress": True},
        },
    )
    conf = spark_conf(config.spark)
    assert conf["spark.master"] == "spark://h:7077"
    assert conf["spark.executor.memory"] == "8g"
    assert conf["spark.ui.showConsoleProgress"] == "true"
    assert conf["spark.sql.session.timeZone"] == ENGINE_CONF["spark.sql.session.timeZone"] == "UTC"
    connect = _load(tmp_path, engine="spark", spark={"master": "sc://h", "lake": "lake"})
    assert spark_conf(connect.spark)["spark.remote"] == "sc://h"
    # a static setting of the server's, which a Connect client cannot set
    assert "spark.ui.showConsoleProgress" not in spark_conf(connect.spark)
    assert "spark.master" not in spark_conf(connect.spark)


def test_the_pipeline_loads_with_engine_spark_without_starting_java(tmp_path: Path) -> None:
    """The definitions load as the UI and the CLI load them: the same assets, checks and job
    as the default engine's (tests/spark/test_pipeline.py compares them), each asset of kind
    spark, the session resource set up only when a run starts."""
    config = write_config_file(
        tmp_path, config_mapping(engine="spark", spark={"lake": "lake", "master": "local[2]"})
    )
    code = (
        "import sys, pipelines.definitions as d\n"
        "graph = d.defs.resolve_asset_graph()\n"
        "kinds = {'spark' in graph.get(key).kinds for key in graph.get_all_asset_keys()}\n"
        "context = sys.modules.get('pyspark.core.context')\n"
        "gateway = context and context.SparkContext._gateway\n"
        "print(len(graph.get_all_asset_keys()), len(graph.asset_check_keys), kinds, "
        "sorted(d.defs.resources), gateway)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=os.environ | {"SEGMENTATION_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == (
        "22 9 {True} ['io_manager', 'settings', 'spark', 'warehouse'] None"
    )


def test_the_default_engine_loads_nothing_of_the_spark_engine_and_starts_no_java(
    tmp_path: Path,
) -> None:
    # pandera imports pyspark.pandas whenever PySpark is installed (pandera/external_config.py):
    # PySpark's Python modules are loaded, but no session, no gateway, no Java
    config = write_config_file(tmp_path, config_mapping())
    code = (
        "import sys, pipelines.definitions, segmentation.notebook, segmentation.engines.spark."
        "preflight, segmentation.engines.spark.session\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'dagster_pyspark' or m in "
        "('assets.spark', 'segmentation.engines.spark.buckets', "
        "'segmentation.engines.spark.behaviour', 'segmentation.engines.spark.lake'))\n"
        "context = sys.modules.get('pyspark.core.context')\n"
        "gateway = context and context.SparkContext._gateway\n"
        "print(loaded, gateway)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=os.environ | {"SEGMENTATION_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == "[] None"
