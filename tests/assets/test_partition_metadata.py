"""Each month of a single-run backfill carries its own metadata in the Dagster instance."""

from collections import Counter
from datetime import date

import dagster as dg
import duckdb
import pandera.polars as pa
import polars as pl
import pytest

from assets.metadata import preview
from assets.monthly import ContractViolation, Privacy, check_month
from pipelines.build_definitions import build_definitions
from pipelines.jobs import SNAPSHOT_JOB_NAME
from segmentation.config import SegmentationConfig, load_config
from segmentation.privacy import MASK
from segmentation.serving.publish import pseudonym
from tests.conftest import config_mapping, write_config_file

MONTHS = ("2011-01", "2011-02", "2011-03")
SECRET_ENV = "PARTITION_METADATA_TEST_SECRET"
SECRET = "partition-metadata-secret"
# asset -> (table, the count tables each month's event carries, the column they count)
MONTHLY_ASSETS = {
    "features/customer_behaviour": ("features.customer_behaviour", {}),
    "features/customer_clv": ("features.customer_clv", {}),
    "marts/clv_model_params": ("marts.clv_model_params", {}),
    "features/customer_features": (
        "features.customer_features",
        {"lifecycle_stages": "lifecycle_stage", "value_tiers": "value_tier"},
    ),
    "marts/customer_segments": (
        "marts.customer_segments",
        {"rfm_segments": "rfm_segment", "clusters": "cluster"},
    ),
    "marts/segment_summary": ("marts.segment_summary", {}),
    "marts/strategy_assignments": ("marts.strategy_assignments", {}),
}


@pytest.fixture(scope="module")
def backfill(tmp_path_factory) -> tuple[SegmentationConfig, dg.DagsterInstance, str]:
    """Three months as one run, with pseudonymized ids, into an instance of its own."""
    folder = tmp_path_factory.mktemp("partition_metadata")
    raw = config_mapping(
        snapshots={"start": "2010-12", "end": MONTHS[-1]},
        pseudonymize=True,
        pseudonymize_secret_env=SECRET_ENV,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SECRET_ENV, SECRET)
        config = load_config(write_config_file(folder, raw))
        instance = dg.DagsterInstance.ephemeral()
        job = build_definitions(config).resolve_job_def(SNAPSHOT_JOB_NAME)
        result = job.execute_in_process(
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": MONTHS[0],
                "dagster/asset_partition_range_end": MONTHS[-1],
            },
        )
        assert result.success
        yield config, instance, result.run_id


def _events(instance: dg.DagsterInstance, asset: str) -> list[dg.AssetMaterialization]:
    records = instance.fetch_materializations(dg.AssetKey(asset.split("/")), limit=100).records
    return [record.asset_materialization for record in records]


def _rows_per_month(config: SegmentationConfig, table: str) -> dict[str, int]:
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        return dict(
            con.execute(
                f"SELECT strftime(snapshot_date, '%Y-%m'), count(*) FROM {table} GROUP BY ALL"
            ).fetchall()
        )


@pytest.mark.parametrize("asset", MONTHLY_ASSETS)
def test_every_month_has_one_event_with_its_own_row_count(backfill, asset: str) -> None:
    config, instance, _ = backfill
    table, _ = MONTHLY_ASSETS[asset]
    events = _events(instance, asset)
    assert Counter(event.partition for event in events) == Counter(MONTHS)
    rows = _rows_per_month(config, table)
    if table.split(".")[0] != "marts" or table == "marts.customer_segments":
        # one row per customer: the months differ, so a run total would be caught
        assert len(set(rows.values())) == len(MONTHS), rows
    for event in events:
        metadata = event.metadata
        assert metadata["dagster/row_count"].value == rows[event.partition], event.partition
        assert metadata["snapshot_date"].value.startswith(event.partition)
        assert metadata["table"].value == table
        # the run's months stay visible on every event
        per_month = {
            record.data["snapshot_date"][:7]: record.data["rows"]
            for record in metadata["rows_per_snapshot"].value.records
        }
        assert per_month == rows


@pytest.mark.parametrize("asset", MONTHLY_ASSETS)
def test_each_preview_shows_its_own_month(backfill, asset: str) -> None:
    _, instance, _ = backfill
    for event in _events(instance, asset):
        preview = event.metadata["preview"].value
        if "snapshot_date" in preview.splitlines()[0]:
            snapshot = event.metadata["snapshot_date"].value
            assert snapshot in preview.splitlines()[2], event.partition
            assert all(snapshot in line for line in preview.splitlines()[2:])


def test_count_tables_count_their_own_month(backfill) -> None:
    config, instance, _ = backfill
    for asset, (table, counted) in MONTHLY_ASSETS.items():
        rows = _rows_per_month(config, table)
        for event in _events(instance, asset):
            for key in counted:
                records = event.metadata[key].value.records
                assert sum(r.data["rows"] for r in records) == rows[event.partition], (asset, key)


def test_previews_show_pseudonyms_not_customer_ids(backfill) -> None:
    config, instance, _ = backfill
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        ids = {
            row[0]
            for row in con.execute("SELECT DISTINCT customer_id FROM raw.transactions").fetchall()
        }
    pseudonyms = {pseudonym(SECRET.encode(), customer) for customer in ids}
    shown = 0
    for asset in MONTHLY_ASSETS:
        for event in _events(instance, asset):
            preview = event.metadata["preview"].value
            lines = preview.splitlines()
            header = [cell.strip() for cell in lines[0].strip("|").split("|")]
            if "customer_id" not in header:
                continue
            column = header.index("customer_id")
            for line in lines[2:]:
                value = line.strip("|").split("|")[column].strip()
                assert value not in ids, (asset, event.partition)
                assert value in pseudonyms, (asset, event.partition)
                shown += 1
    assert shown >= 10 * 3 * 5  # ten rows, three months, five tables with customers


class _Customers(pa.DataFrameModel):
    """A monthly table with a customer id and a personal custom attribute."""

    customer_id: str = pa.Field(unique=True)
    nickname: str = pa.Field(str_length={"min_value": 3})
    value: pl.Int64 = pa.Field(ge=0)


def test_a_contract_violation_names_checks_never_values() -> None:
    frame = pl.DataFrame(
        {
            "customer_id": ["alice@example.com", "alice@example.com", "bob"],
            "nickname": ["Al", "Alice", "Bobby"],
            "value": [1, -2, 3],
        }
    )
    privacy = Privacy(secret=SECRET.encode(), hidden=frozenset({"nickname"}))
    with pytest.raises(ContractViolation) as failure:
        check_month("marts.t", date(2011, 3, 31), frame, _Customers, privacy)
    description = failure.value.description or ""
    assert "breaks _Customers" in description
    assert "customer_id" in description and "value" in description  # what failed
    cases = failure.value.metadata["failure_cases"].value
    for text in (description, cases):
        assert "alice" not in text and "Al |" not in text and "-2" not in description
    assert pseudonym(SECRET.encode(), "alice@example.com") in cases
    assert MASK in cases  # the nickname that failed, masked
    assert "-2" in cases  # a value that is no personal data stays, to find the fault


def test_preview_pseudonymizes_ids_and_leaves_out_hidden_columns() -> None:
    frame = pl.DataFrame({"customer_id": ["c1", "c2"], "nickname": ["Al", "Bo"], "n": [1, 2]})
    shown = preview(frame, secret=SECRET.encode(), hidden={"nickname"}).value
    assert "c1" not in shown and "nickname" not in shown and "Al" not in shown
    assert pseudonym(SECRET.encode(), "c1") in shown and "| 2 |" in shown
    assert "c1" in preview(frame).value  # no secret: ids as they are (pseudonymize: false)
