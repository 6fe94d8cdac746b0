"""The code location loads and holds the real asset keys, checks and partitions."""

from pathlib import Path

import dagster as dg
import pytest

from pipelines.build_definitions import build_definitions
from pipelines.jobs import SNAPSHOT_JOB_NAME, WAREHOUSE_TAG
from pipelines.schedules import SCHEDULE_NAME
from pipelines.sensors import SENSOR_NAME

EXPECTED_ASSETS = {
    "raw/transactions",
    "raw/customers",
    "features/customer_behaviour",
    "features/customer_clv",
    "features/customer_features",
    "marts/clv_model_params",
    "serving/marts",
    "reports/segment_report",
}


@pytest.fixture
def defs(write_config, retail_transactions) -> dg.Definitions:
    return build_definitions(write_config(retail_transactions))


def test_definitions_hold_the_real_asset_keys(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys >= EXPECTED_ASSETS


def test_raw_tables_have_blocking_contract_checks(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    checks = {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys}
    assert {("raw/transactions", "contract"), ("raw/customers", "contract")} <= checks
    for check_def in defs.asset_checks or []:
        for spec in check_def.check_specs:
            if spec.name == "contract":
                assert spec.blocking, spec.key


def test_monitoring_checks_warn_without_blocking(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    checks = {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys}
    assert {
        ("features/customer_features", "customer_count_drift"),
        ("marts/customer_segments", "segment_share_drift"),
        ("marts/customer_segments", "latest_snapshot_fresh"),
    } <= checks
    for check_def in defs.asset_checks or []:
        for spec in check_def.check_specs:
            if spec.name != "contract":
                assert not spec.blocking, spec.key


def test_job_schedule_and_sensor_run_the_whole_pipeline(defs: dg.Definitions) -> None:
    job = defs.resolve_job_def(SNAPSHOT_JOB_NAME)
    assert job.tags.items() >= WAREHOUSE_TAG.items()
    assert job.tags["dagster/max_retries"] == "2"
    assert job.partitions_def is not None
    graph = defs.resolve_asset_graph()
    assert set(job.asset_layer.selected_asset_keys) == set(graph.get_all_asset_keys())
    nodes = {node.name for node in job.graph.nodes}
    assert {check_def.node_def.name for check_def in defs.asset_checks or []} <= nodes
    schedule = defs.resolve_schedule_def(SCHEDULE_NAME)
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    assert schedule.job_name == sensor.job_name == SNAPSHOT_JOB_NAME


def test_every_asset_is_described_grouped_and_kinded(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and len(node.description) > 40, key
        assert node.group_name in {
            "raw",
            "features",
            "segments",
            "strategies",
            "marts",
            "evaluation",
            "serving",
            "reports",
        }
        assert node.kinds, key
        assert node.key.path[0] == node.group_name or node.key.path[0] in {"marts", "quality"}


def test_snapshot_partitions_follow_the_config(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    node = graph.get(dg.AssetKey(["features", "customer_features"]))
    keys = node.partitions_def.get_partition_keys()
    assert keys[0] == "2010-12" and keys[-1] == "2011-12" and len(keys) == 13
    assert node.backfill_policy == dg.BackfillPolicy.single_run()
    assert graph.get(dg.AssetKey(["raw", "transactions"])).partitions_def is None


def test_module_level_definitions_load_from_the_environment(
    monkeypatch, write_config, retail_transactions, tmp_path: Path
) -> None:
    write_config(retail_transactions)
    monkeypatch.setenv("SEGMENTATION_CONFIG", str(tmp_path / "config.yaml"))
    import importlib

    import pipelines.definitions as module

    reloaded = importlib.reload(module)
    resources = reloaded.defs.resources
    assert resources["warehouse"].path == str(tmp_path / "warehouse" / "segmentation.duckdb")
