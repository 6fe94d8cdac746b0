"""The whole pipeline through ``dg.materialize`` on the committed real sample."""

from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from pipelines.build_definitions import build_definitions
from segmentation.config import SegmentationConfig, load_config
from tests.conftest import (
    SAMPLE_CSV,
    config_mapping,
    sample_transactions,
    write_config_file,
)

PARTITION = "2011-03"
SNAPSHOT = "2011-03-31"
SNAPSHOT_TABLES = [
    "features.customer_behaviour",
    "features.customer_clv",
    "features.customer_features",
    "marts.clv_model_params",
    "marts.customer_segments",
    "marts.segment_summary",
    "marts.strategy_assignments",
]


def materialize(config: SegmentationConfig, partition_key: str) -> dg.ExecuteInProcessResult:
    defs = build_definitions(config)
    return dg.materialize(
        [*defs.assets, *defs.asset_checks],
        resources=defs.resources,
        partition_key=partition_key,
        raise_on_error=True,
    )


def snapshot_rows(config: SegmentationConfig, table: str) -> pl.DataFrame:
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        frame = con.execute(f"SELECT * FROM {table} WHERE snapshot_date = DATE '{SNAPSHOT}'").pl()
    keys = [c for c in ("customer_id", "model", "parameter", "dimension", "segment") if c in frame]
    return frame.sort(keys)


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> SegmentationConfig:
    folder = tmp_path_factory.mktemp("sample_run")
    config = load_config(write_config_file(folder, config_mapping()))
    result = materialize(config, PARTITION)
    assert result.success
    return config


def test_snapshot_holds_every_customer_known_by_then(sample_run: SegmentationConfig) -> None:
    with duckdb.connect() as con:
        expected = con.execute(
            f'SELECT count(DISTINCT "Customer ID") '
            f"FROM read_csv('{SAMPLE_CSV}', all_varchar=true) "
            f"WHERE \"Customer ID\" IS NOT NULL AND InvoiceDate <= '{SNAPSHOT} 23:59:59'"
        ).fetchone()[0]
    for table in ("features.customer_features", "marts.customer_segments"):
        frame = snapshot_rows(sample_run, table)
        assert frame.height == expected, table
        assert frame.get_column("customer_id").n_unique() == expected, table
    assignments = snapshot_rows(sample_run, "marts.strategy_assignments")
    assert assignments.height == expected
    assert assignments.get_column("strategy").null_count() == 0


def test_clv_params_recorded_for_the_snapshot(sample_run: SegmentationConfig) -> None:
    params = snapshot_rows(sample_run, "marts.clv_model_params")
    bgnbd = dict(params.filter(model="bgnbd").select("parameter", "value").iter_rows())
    assert set(bgnbd) == {
        "r",
        "alpha",
        "a",
        "b",
        "log_likelihood",
        "n_customers",
        "converged",
        "time_unit_days",
    }
    assert bgnbd["time_unit_days"] == 1.0
    assert bgnbd["converged"] in (0.0, 1.0)


def test_run_only_writes_its_own_partition(sample_run: SegmentationConfig) -> None:
    with duckdb.connect(str(sample_run.warehouse), read_only=True) as con:
        for table in SNAPSHOT_TABLES:
            dates = con.execute(f"SELECT DISTINCT snapshot_date::VARCHAR FROM {table}").fetchall()
            assert dates == [(SNAPSHOT,)], table


def test_rerun_of_a_partition_replaces_it_without_duplicates(
    sample_run: SegmentationConfig,
) -> None:
    before = {table: snapshot_rows(sample_run, table) for table in SNAPSHOT_TABLES}
    materialize(sample_run, PARTITION)
    for table in SNAPSHOT_TABLES:
        assert snapshot_rows(sample_run, table).equals(before[table]), table


def test_backfilled_snapshot_equals_live_snapshot(tmp_path: Path, write_config) -> None:
    """Land data up to the month, materialize it; land later data, re-materialize: identical."""
    source = tmp_path / "landing" / "transactions.csv"
    source.parent.mkdir()
    with duckdb.connect() as con:
        rows = con.execute(f"SELECT * FROM read_csv('{SAMPLE_CSV}', all_varchar=true)").pl()
    live_rows = rows.filter(pl.col("InvoiceDate") <= f"{SNAPSHOT} 23:59:59")
    assert 0 < live_rows.height < rows.height
    live_rows.write_csv(source)

    config = write_config(
        sample_transactions() | {"path": str(source)},
        snapshots={"start": "2010-01", "end": "2011-11"},
    )
    materialize(config, PARTITION)
    live = {table: snapshot_rows(config, table) for table in SNAPSHOT_TABLES}

    rows.write_csv(source)
    materialize(config, PARTITION)
    for table in SNAPSHOT_TABLES:
        assert snapshot_rows(config, table).equals(live[table]), table
