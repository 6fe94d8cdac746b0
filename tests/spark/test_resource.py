"""The Spark session resource (dagster-pyspark's PySparkResource with the engine's preflight):
a run whose steps need it checks Java, the master and the lake before its first step writes
anything, and uses (without stopping) a session already active in the process."""

import socket
import time
from pathlib import Path

import dagster as dg
import pytest

from assets.spark import SparkEngine, spark_engine_for
from segmentation.config import load_config
from tests.conftest import config_mapping, write_config_file

pytestmark = pytest.mark.spark


def _assets(marker: Path) -> list[dg.AssetsDefinition]:
    @dg.asset
    def written_first() -> None:
        """Stands for a step writing before the Spark step (landing, say)."""
        marker.write_text("written")

    @dg.asset(deps=[written_first])
    def computed_on_spark(spark: SparkEngine) -> dg.MaterializeResult:
        rows = spark.spark_session.range(1000).selectExpr("sum(id) AS total").collect()
        return dg.MaterializeResult(metadata={"total": rows[0]["total"]})

    return [written_first, computed_on_spark]


def _run(tmp_path: Path, engine: SparkEngine) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        _assets(tmp_path / "marker"), resources={"spark": engine}, raise_on_error=False
    )


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _failure(result: dg.ExecuteInProcessResult) -> str:
    failures = [
        event
        for event in result.all_events
        if event.event_type in (dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.ENGINE_EVENT)
        and event.event_specific_data is not None
        and getattr(event.event_specific_data, "error", None) is not None
    ]
    return "\n".join(event.event_specific_data.error.to_string() for event in failures)


def test_a_lake_that_cannot_be_written_stops_the_run_before_any_write(tmp_path: Path) -> None:
    engine = SparkEngine(spark_config={"spark.master": "local[2]"}, lake="/proc/lake")
    result = _run(tmp_path, engine)
    assert not result.success
    assert not (tmp_path / "marker").exists()
    assert "spark.lake: /proc/lake cannot be written" in _failure(result)


@pytest.mark.parametrize(("key", "scheme"), [("spark.master", "spark"), ("spark.remote", "sc")])
def test_an_unreachable_master_stops_the_run_within_seconds(
    key: str, scheme: str, tmp_path: Path
) -> None:
    """A standalone master, or a Spark Connect server, that does not answer."""
    port = _closed_port()
    engine = SparkEngine(
        spark_config={key: f"{scheme}://127.0.0.1:{port}"}, lake=str(tmp_path / "lake")
    )
    started = time.monotonic()
    result = _run(tmp_path, engine)
    assert time.monotonic() - started < 30
    assert not result.success
    assert not (tmp_path / "marker").exists()
    assert f"nothing answers at {scheme}://127.0.0.1:{port}" in _failure(result)


def test_a_run_computes_on_the_active_session_and_leaves_it_running(spark, tmp_path: Path) -> None:
    config = load_config(
        write_config_file(
            tmp_path,
            config_mapping(engine="spark", spark={"master": "local[2]", "lake": "lake"}),
        )
    )
    engine = spark_engine_for(config)
    assert engine.spark_config["spark.master"] == "local[2]"
    assert engine.lake == str(tmp_path / "lake")
    result = _run(tmp_path, engine)
    assert result.success
    assert (tmp_path / "marker").read_text() == "written"
    [materialization] = [
        event.materialization
        for event in result.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey("computed_on_spark")
    ]
    assert materialization.metadata["total"].value == sum(range(1000))
    # the fixture's session was used, not stopped
    assert spark.range(3).count() == 3
