"""``import segmentation`` gives the pipeline's own answers: each public function, on the committed
real sample, equals the table the assets write for the same month; bad input is refused with the
offending columns named; the README's notebook example runs."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

import segmentation as seg
from pipelines.build_definitions import build_definitions
from segmentation.config import SegmentationConfig, load_config
from segmentation.keys import (
    ASSIGNMENTS_TABLE,
    BEHAVIOUR_TABLE,
    CLV_PARAMS_TABLE,
    CLV_TABLE,
    FEATURES_TABLE,
    SEGMENTS_TABLE,
    SUMMARY_TABLE,
)
from segmentation.monthly import read_month
from segmentation.settings_base import ConfigError
from synthetic.generate import write
from tests.conftest import PROJECT_ROOT, config_mapping, write_config_file

PARTITION = "2011-06"
AS_OF = date(2011, 6, 30)
TABLES = (
    BEHAVIOUR_TABLE,
    CLV_TABLE,
    CLV_PARAMS_TABLE,
    FEATURES_TABLE,
    SEGMENTS_TABLE,
    SUMMARY_TABLE,
    ASSIGNMENTS_TABLE,
)
NOTEBOOK_SECTION = "## Use it in a notebook"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> SegmentationConfig:
    """The committed real sample with the default settings, its warehouse in a temp folder."""
    return load_config(write_config_file(tmp_path_factory.mktemp("sample"), config_mapping()))


def run_month(config: SegmentationConfig) -> dict[str, pl.DataFrame]:
    """Every monthly table of one partition, as the Dagster assets write it."""
    defs = build_definitions(config)
    keys = [dg.AssetKey(["raw", "transactions"]), dg.AssetKey(["raw", "customers"])]
    keys += [dg.AssetKey(table.split(".")) for table in TABLES]
    result = dg.materialize(
        list(defs.assets),
        resources=defs.resources,
        partition_key=PARTITION,
        selection=dg.AssetSelection.assets(*keys),
    )
    assert result.success
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        return {table: read_month(con, table, AS_OF) for table in TABLES}


@pytest.fixture(scope="module")
def pipeline_month(config: SegmentationConfig) -> dict[str, pl.DataFrame]:
    return run_month(config)


@pytest.fixture(scope="module")
def transactions(config: SegmentationConfig) -> pl.DataFrame:
    return seg.load_transactions(config)


@pytest.fixture(scope="module")
def demo_config(tmp_path_factory: pytest.TempPathFactory) -> SegmentationConfig:
    """The bundled demo configuration (customers with attributes) over a small generated data
    set, its warehouse in a temp folder."""
    folder = tmp_path_factory.mktemp("demo")
    write(folder / "data", 1_500, seed=5)
    raw = yaml.safe_load((PROJECT_ROOT / "config" / "demo.yaml").read_text())
    raw["sources"]["transactions"]["path"] = str(folder / "data" / "transactions" / "*.parquet")
    raw["sources"]["customers"]["path"] = str(folder / "data" / "customers.parquet")
    raw["sources"] = {k: v for k, v in raw["sources"].items() if k not in ("events", "feedback")}
    raw |= {"warehouse": "warehouse/segmentation.duckdb", "serving": "warehouse/serving.duckdb"}
    return load_config(write_config_file(folder, raw))


def test_transactions_load_as_the_pipeline_lands_them(
    config: SegmentationConfig, transactions: pl.DataFrame, pipeline_month: dict
) -> None:
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        landed = con.execute("SELECT * FROM raw.transactions").pl()
    order = ["source_file", "source_row"]
    assert transactions.height > 250_000
    assert_frame_equal(transactions, landed.sort(order))


def test_behaviour_is_the_pipelines(transactions: pl.DataFrame, pipeline_month: dict) -> None:
    behaviour = seg.customer_behaviour(transactions, AS_OF)
    assert behaviour.height > 1_000
    assert_frame_equal(behaviour, pipeline_month[BEHAVIOUR_TABLE], check_exact=True)


def test_clv_and_its_parameters_are_the_pipelines(
    transactions: pl.DataFrame, pipeline_month: dict
) -> None:
    clv = seg.predict_clv(transactions, AS_OF)
    assert clv.degenerate_reason is None
    assert clv.customers.get_column("p_alive").drop_nulls().is_between(0, 1).all()
    assert_frame_equal(clv.customers, pipeline_month[CLV_TABLE], check_exact=True)
    assert_frame_equal(clv.params, pipeline_month[CLV_PARAMS_TABLE], check_exact=True)


def test_lifecycle_and_value_tiers_are_the_pipelines(
    transactions: pl.DataFrame, pipeline_month: dict
) -> None:
    features = seg.customer_features(transactions, AS_OF)
    assert features.get_column("lifecycle_stage").n_unique() >= 5
    assert set(features.get_column("value_tier")) == {"high", "mid", "low"}
    assert_frame_equal(features, pipeline_month[FEATURES_TABLE], check_exact=True)


def test_rfm_segments_are_the_pipelines(transactions: pl.DataFrame, pipeline_month: dict) -> None:
    segments = seg.customer_segments(transactions, AS_OF)
    assert segments.get_column("rfm_segment").n_unique() >= 8
    assert_frame_equal(segments, pipeline_month[SEGMENTS_TABLE], check_exact=True)


def test_playbook_assignments_are_the_pipelines(
    transactions: pl.DataFrame, pipeline_month: dict
) -> None:
    strategies = seg.assign_playbook(transactions, AS_OF)
    assert strategies.get_column("is_control").any()
    assert_frame_equal(strategies, pipeline_month[ASSIGNMENTS_TABLE], check_exact=True)


def test_a_snapshot_holds_every_table_of_the_month(
    transactions: pl.DataFrame, pipeline_month: dict
) -> None:
    month = seg.snapshot(transactions, AS_OF)
    computed = {
        BEHAVIOUR_TABLE: month.behaviour,
        CLV_TABLE: month.clv.customers,
        CLV_PARAMS_TABLE: month.clv.params,
        FEATURES_TABLE: month.features,
        SEGMENTS_TABLE: month.segments,
        SUMMARY_TABLE: month.segment_summary,
        ASSIGNMENTS_TABLE: month.strategies,
    }
    for table, frame in computed.items():
        try:
            assert_frame_equal(frame, pipeline_month[table], check_exact=True)
        except AssertionError as error:
            raise AssertionError(f"{table}: {error}") from None


def test_customer_attributes_give_the_pipelines_answers(demo_config: SegmentationConfig) -> None:
    pipeline = run_month(demo_config)
    customers = seg.load_customers(demo_config)
    with duckdb.connect(str(demo_config.warehouse), read_only=True) as con:
        landed = con.execute("SELECT * FROM raw.customers ORDER BY customer_id").pl()
    assert_frame_equal(customers, landed)
    month = seg.snapshot(seg.load_transactions(demo_config), AS_OF, customers=customers)
    assert month.segments.get_column("attr_age_band").n_unique() >= 5
    for table, frame in {
        BEHAVIOUR_TABLE: month.behaviour,
        SEGMENTS_TABLE: month.segments,
        ASSIGNMENTS_TABLE: month.strategies,
    }.items():
        try:
            assert_frame_equal(frame, pipeline[table], check_exact=True)
        except AssertionError as error:
            raise AssertionError(f"{table}: {error}") from None


def test_a_frame_built_by_hand_gives_the_same_answer(
    transactions: pl.DataFrame, pipeline_month: dict
) -> None:
    """No provenance columns, a nullable column left out, an extra column, narrower types."""
    by_hand = transactions.drop("source_file", "source_row", "channel").with_columns(
        pl.col("customer_id").cast(pl.Categorical),
        pl.col("order_ts").dt.cast_time_unit("ns"),
        pl.lit("a description").alias("description"),
    )
    behaviour = seg.customer_behaviour(by_hand, datetime(2011, 6, 30, 23, 59, 59, 999999))
    assert_frame_equal(behaviour, pipeline_month[BEHAVIOUR_TABLE], check_exact=True)


def test_settings_change_the_answer_as_they_do_in_the_pipeline(
    transactions: pl.DataFrame,
) -> None:
    default = seg.customer_features(transactions, AS_OF)
    stricter = seg.FeatureSettings.model_validate({"value": {"high_tier_quantile": 0.95}})
    changed = seg.customer_features(transactions, AS_OF, feature_settings=stricter)
    high = pl.col("value_tier") == "high"
    assert changed.filter(high).height < default.filter(high).height


# --- bad input ---

ENTRY_POINTS: dict[str, Callable[..., Any]] = {
    "customer_behaviour": seg.customer_behaviour,
    "predict_clv": seg.predict_clv,
    "customer_features": seg.customer_features,
    "customer_segments": seg.customer_segments,
    "assign_playbook": seg.assign_playbook,
    "snapshot": seg.snapshot,
}


def _tiny() -> pl.DataFrame:
    """Two valid transactions."""
    return pl.DataFrame(
        {
            "customer_id": ["c1", "c2"],
            "order_ts": [datetime(2011, 1, 5, 10), datetime(2011, 2, 7, 12)],
            "amount": [12.5, 30.0],
            "is_return": [False, False],
        }
    )


BAD_TRANSACTIONS: dict[str, tuple[Callable[[pl.DataFrame], pl.DataFrame], list[str]]] = {
    "missing columns": (
        lambda frame: frame.drop("amount", "is_return"),
        ["missing column(s): amount, is_return"],
    ),
    "ill-typed columns": (
        lambda frame: frame.with_columns(
            pl.col("order_ts").dt.strftime("%Y-%m-%d"), pl.col("customer_id").str.len_bytes()
        ),
        ["customer_id is UInt32, expected String", "order_ts is String, expected Datetime"],
    ),
    "zoned timestamps": (
        lambda frame: frame.with_columns(pl.col("order_ts").dt.replace_time_zone("UTC")),
        ["order_ts is Datetime(time_unit='us', time_zone='UTC')"],
    ),
    "broken checks": (
        lambda frame: frame.with_columns(
            pl.Series("customer_id", ["", "c2"]), pl.Series("amount", [1.0, float("inf")])
        ),
        ["TransactionsContract", "customer_id: str_length", "amount: finite"],
    ),
}


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
@pytest.mark.parametrize("defect", BAD_TRANSACTIONS)
def test_bad_transactions_are_refused_naming_the_columns(entry_point: str, defect: str) -> None:
    spoil, named = BAD_TRANSACTIONS[defect]
    with pytest.raises(seg.InputError) as refused:
        ENTRY_POINTS[entry_point](spoil(_tiny()), AS_OF)
    for words in named:
        assert words in str(refused.value)


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_bad_customers_are_refused_naming_the_columns(entry_point: str) -> None:
    customers = pl.DataFrame({"customer_id": ["c1", "c1"], "birth_date": ["1980-01-01"] * 2})
    with pytest.raises(seg.InputError, match="birth_date is String, expected Date"):
        ENTRY_POINTS[entry_point](_tiny(), AS_OF, customers=customers)
    duplicated = customers.with_columns(pl.col("birth_date").str.to_date())
    with pytest.raises(seg.InputError, match="CustomersContract: customer_id: field_uniqueness"):
        ENTRY_POINTS[entry_point](_tiny(), AS_OF, customers=duplicated)


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        ("2011-06-30", "as_of: expected a date, got str"),
        (datetime(2011, 6, 30, 12), "as_of: snapshots are whole days"),
    ],
)
def test_a_bad_as_of_is_refused(entry_point: str, as_of: Any, message: str) -> None:
    with pytest.raises(seg.InputError, match=message):
        ENTRY_POINTS[entry_point](_tiny(), as_of)


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_a_lazy_frame_is_refused(entry_point: str) -> None:
    with pytest.raises(seg.InputError, match="expected a polars DataFrame, got LazyFrame"):
        ENTRY_POINTS[entry_point](_tiny().lazy(), AS_OF)


@pytest.mark.parametrize("loader", [seg.load_transactions, seg.load_customers])
def test_loading_a_missing_config_names_it(loader: Callable[..., Any], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nowhere.yaml"):
        loader(tmp_path / "nowhere.yaml")


def test_a_config_without_customers_loads_none(config: SegmentationConfig) -> None:
    assert seg.load_customers(config) is None


def test_the_package_lists_what_it_exports() -> None:
    for name in seg.__all__:
        assert getattr(seg, name) is not None, name
    with pytest.raises(AttributeError):
        _ = seg.no_such_name


# --- the README's notebook example ---


def notebook_example(readme: Path) -> str:
    """The python block under the README's notebook section."""
    text = readme.read_text()
    section = text.partition(f"\n{NOTEBOOK_SECTION}\n")[2]
    assert section, f"{readme} has no '{NOTEBOOK_SECTION}' section"
    section = re.split(r"\n## ", section, maxsplit=1)[0]
    block = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert block, f"the '{NOTEBOOK_SECTION}' section of {readme} has no python block"
    return block.group(1)


def test_the_readme_notebook_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    code = notebook_example(PROJECT_ROOT / "README.md")
    assert len(code.strip().splitlines()) <= 12
    monkeypatch.chdir(PROJECT_ROOT)
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(code, "README.md", "exec"), namespace)
