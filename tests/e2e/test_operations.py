"""The production job on the real sample: every asset, the checks and the report in one run."""

import base64
import re
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.build_definitions import build_definitions
from pipelines.jobs import SNAPSHOT_JOB_NAME, WAREHOUSE_TAG
from segmentation.config import SegmentationConfig, load_config
from segmentation.reports.segment_report import report_path
from tests.conftest import config_mapping, write_config_file
from tests.e2e.test_pipeline import SNAPSHOT_TABLES
from tests.unit.test_report import png_size

RANGE = ("2011-02", "2011-03")
CHART_KEYS = ("segment_sizes", "rfm_grid", "migration_matrix", "clv_distribution")


@pytest.fixture(scope="module")
def job_run(tmp_path_factory) -> tuple[SegmentationConfig, dg.ExecuteInProcessResult]:
    folder = tmp_path_factory.mktemp("job_run")
    raw = config_mapping(
        serving="serving/serving.duckdb", snapshots={"start": "2010-12", "end": RANGE[-1]}
    )
    config = load_config(write_config_file(folder, raw))
    job = build_definitions(config).resolve_job_def(SNAPSHOT_JOB_NAME)
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": RANGE[0],
            "dagster/asset_partition_range_end": RANGE[-1],
        },
    )
    return config, result


def _materializations(result: dg.ExecuteInProcessResult) -> dict[str, list]:
    found: dict[str, list] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        found.setdefault(materialization.asset_key.to_user_string(), []).append(materialization)
    return found


def test_job_materializes_partitioned_and_unpartitioned_assets(job_run) -> None:
    config, result = job_run
    assert result.success
    assert result.dagster_run.tags.items() >= WAREHOUSE_TAG.items()
    found = _materializations(result)
    assert {m.partition for m in found["features/customer_features"]} == set(RANGE)
    assert [m.partition for m in found["raw/transactions"]] == [None]
    assert [m.partition for m in found["marts/segment_migration"]] == [None]
    assert [m.partition for m in found["reports/segment_report"]] == [None]


def test_monthly_assets_count_every_month_and_describe_each(job_run) -> None:
    config, result = job_run
    found = _materializations(result)
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        for table in SNAPSHOT_TABLES:
            rows = dict(
                con.execute(
                    f"SELECT snapshot_date::VARCHAR, count(*) FROM {table} GROUP BY ALL"
                ).fetchall()
            )
            materializations = found[table.replace(".", "/")]
            assert sorted(m.partition for m in materializations) == sorted(RANGE), table
            for metadata in (m.metadata for m in materializations):
                snapshot = metadata["snapshot_date"].value
                assert metadata["table"].value == table
                assert metadata["dagster/row_count"].value == rows[snapshot], table
                assert metadata["snapshots"].value == len(RANGE)
                per_month = {
                    record.data["snapshot_date"]: record.data["rows"]
                    for record in metadata["rows_per_snapshot"].value.records
                }
                assert per_month == rows, table
                assert metadata["dagster/column_schema"].value.columns, table
    # the count tables describe their own month
    for materialization in found["marts/customer_segments"]:
        metadata = materialization.metadata
        month = metadata["rfm_segments"].value.records
        assert sum(r.data["rows"] for r in month) == metadata["dagster/row_count"].value


def test_job_runs_every_check(job_run) -> None:
    _, result = job_run
    evaluations = {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.get_asset_check_evaluations()
    }
    assert evaluations.keys() >= {
        ("raw/transactions", "contract"),
        ("features/customer_features", "customer_count_drift"),
        ("marts/customer_segments", "segment_share_drift"),
        ("marts/customer_segments", "latest_snapshot_fresh"),
    }
    fresh = evaluations[("marts/customer_segments", "latest_snapshot_fresh")]
    assert fresh.passed and fresh.metadata["latest_snapshot"].value == "2011-03-31"
    drift = evaluations[("features/customer_features", "customer_count_drift")]
    assert drift.metadata["previous_snapshot"].value == "2011-02-28"


def test_report_metadata_holds_png_images(job_run) -> None:
    _, result = job_run
    [materialization] = _materializations(result)["reports/segment_report"]
    for key in CHART_KEYS:
        markdown = materialization.metadata[key].value
        [encoded] = re.findall(r"\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown)
        width, height = png_size(base64.b64decode(encoded))
        assert width > 300 and height > 150, key


def test_html_report_sits_next_to_the_serving_copy(job_run) -> None:
    config, result = job_run
    path = report_path(config)
    assert path == config.serving.parent / "segment_report.html"
    html = path.read_text()
    assert len(re.findall(r'<img src="data:image/png;base64,', html)) == len(CHART_KEYS)
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        segments = [
            row[0]
            for row in con.execute(
                "SELECT DISTINCT rfm_segment FROM marts.customer_segments "
                "WHERE snapshot_date = DATE '2011-03-31'"
            ).fetchall()
        ]
    assert len(segments) >= 8
    unescaped = html.replace("&#39;", "'")
    for segment in segments:
        assert f"<td>{segment}</td>" in unescaped, segment
    [materialization] = _materializations(result)["reports/segment_report"]
    assert materialization.metadata["report_path"].value == str(path)
    assert Path(path).stat().st_size == materialization.metadata["report_bytes"].value
