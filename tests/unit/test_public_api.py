"""``import segmentation`` gives the pipeline's own answers: each public function, on the committed
real sample, equals the table the assets write for the same month; a user's own frame lands as
the same rows in a source file land (normalised, rows failing a check left out and listed with
their reasons); a missing or ill-typed column is refused by name; the README's notebook example
runs."""

from __future__ import annotations

import re
import warnings
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
from segmentation.config import (
    SegmentationConfig,
    custom_attributes,
    load_config,
    pii_source_columns,
)
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
from segmentation.notebook import InputWarning
from segmentation.raw.landing import land_source
from segmentation.settings_base import ConfigError
from synthetic.generate import write
from tests.conftest import PROJECT_ROOT, SAMPLE_CSV, config_mapping, write_config_file
from tests.generated import TRANSACTION_COLUMNS, identity

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
    # drawn without events, feedback or a catalogue
    raw["sources"] = {
        k: v for k, v in raw["sources"].items() if k not in ("events", "feedback", "products")
    }
    # no lifestyle survey in this data, and the notebook's default settings declare no extra
    # column
    raw["sources"]["customers"]["columns"].pop("lifestyle")
    raw["segments"]["extra_columns"].pop("lifestyle")
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


def test_the_source_file_as_a_frame_gives_the_same_answer(
    config: SegmentationConfig, pipeline_month: dict
) -> None:
    """The committed CSV read by hand (canonical names, typed columns, an extra column, no
    provenance, ns timestamps, categorical ids): the month's tables, the landed rows and the
    quarantine (duplicates, missing ids) are the pipeline's."""
    source = pl.read_csv(SAMPLE_CSV, infer_schema=False)
    by_hand = source.select(
        pl.col("Invoice").alias("order_id"),
        pl.col("StockCode").alias("product_id"),
        pl.col("Description").alias("description"),
        pl.col("Quantity").cast(pl.Int32).alias("quantity"),
        pl.col("InvoiceDate")
        .str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="ns")
        .alias("order_ts"),
        pl.col("Price").cast(pl.Float64).alias("unit_price"),
        pl.col("Customer ID").cast(pl.Categorical).alias("customer_id"),
        pl.col("Country").alias("country"),
    )
    with pytest.warns(InputWarning, match="duplicate_row: 4,113, missing_customer_id: 2,053"):
        month = seg.snapshot(by_hand, datetime(2011, 6, 30, 23, 59, 59, 999999))
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        landed = con.execute("SELECT * FROM raw.transactions ORDER BY source_row").pl()
        quarantined = con.execute(
            "SELECT * EXCLUDE (source_file, rejected_at) FROM quality.rejected_rows "
            "ORDER BY source_row"
        ).pl()
    assert_frame_equal(month.transactions.drop("source_file"), landed.drop("source_file"))
    assert set(month.transactions.get_column("source_file")) == {"(polars frame)"}
    rejected = month.rejected.select(quarantined.columns)
    assert_frame_equal(
        rejected.select("source", "source_row", "reason", "check"),
        quarantined.select("source", "source_row", "reason", "check"),
    )
    assert_frame_equal(month.behaviour, pipeline_month[BEHAVIOUR_TABLE], check_exact=True)
    assert_frame_equal(month.segments, pipeline_month[SEGMENTS_TABLE], check_exact=True)


def test_settings_change_the_answer_as_they_do_in_the_pipeline(
    transactions: pl.DataFrame,
) -> None:
    default = seg.customer_features(transactions, AS_OF)
    stricter = seg.FeatureSettings.model_validate({"value": {"high_tier_quantile": 0.95}})
    changed = seg.customer_features(transactions, AS_OF, feature_settings=stricter)
    high = pl.col("value_tier") == "high"
    assert changed.filter(high).height < default.filter(high).height


# --- a user's own frame is a source ---

# a transactions source whose columns are named as the canonical ones
IDENTITY = identity(TRANSACTION_COLUMNS)


def _spoilt(transactions: pl.DataFrame) -> pl.DataFrame:
    """The landed sample as a frame from elsewhere: no provenance, every row claimed not to be
    a return, channels in any case and padded, every 97th id padded; then rows that must not
    land: 500 exact copies, 3 rows dated in 2100, 2 amounts of 1e300 and a blank customer id."""
    row = pl.int_range(pl.len())
    frame = transactions.drop("source_file", "source_row").with_columns(
        pl.when(row % 3 == 0)
        .then(pl.lit(" Online"))
        .when(row % 3 == 1)
        .then(pl.lit("STORE"))
        .otherwise(pl.lit("agent "))
        .alias("channel"),
        pl.when(row % 97 == 0)
        .then(pl.lit(" ") + pl.col("customer_id") + pl.lit("  "))
        .otherwise(pl.col("customer_id"))
        .alias("customer_id"),
        pl.lit(False).alias("is_return"),
    )
    return pl.concat(
        [
            frame,
            frame.head(500),
            frame.slice(1000, 3).with_columns(pl.col("order_ts").dt.offset_by("89y")),
            frame.slice(2000, 2).with_columns(pl.lit(1e300).alias("amount")),
            frame.slice(3000, 1).with_columns(pl.lit("  ").alias("customer_id")),
        ]
    )


@pytest.fixture(scope="module")
def spoilt(
    transactions: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> tuple[pl.DataFrame, SegmentationConfig]:
    """The spoilt frame, and a configuration whose transactions source is the same rows as a
    Parquet file (without is_return: the landing derives it, no source holds it)."""
    folder = tmp_path_factory.mktemp("spoilt")
    frame = _spoilt(transactions)
    path = folder / "transactions.parquet"
    frame.drop("is_return").write_parquet(path)
    config = config_mapping({"path": str(path), "columns": IDENTITY})
    return frame, load_config(write_config_file(folder, config))


@pytest.fixture(scope="module")
def spoilt_pipeline(
    spoilt: tuple[pl.DataFrame, SegmentationConfig],
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame, pl.DataFrame]:
    """The pipeline's month of the spoilt file, its landed rows and its quarantine."""
    config = spoilt[1]
    tables = run_month(config)
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        landed = con.execute("SELECT * FROM raw.transactions ORDER BY source_row").pl()
        quarantined = con.execute("SELECT * FROM quality.rejected_rows ORDER BY source_row").pl()
    return tables, landed, quarantined


@pytest.fixture(scope="module")
def spoilt_month(
    spoilt: tuple[pl.DataFrame, SegmentationConfig],
) -> tuple[seg.Snapshot, list[warnings.WarningMessage]]:
    """The spoilt frame's snapshot, and the warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        month = seg.snapshot(spoilt[0], AS_OF)
    return month, caught


def test_a_users_frame_gives_the_pipelines_tables(
    spoilt_month: tuple, spoilt_pipeline: tuple
) -> None:
    month, pipeline = spoilt_month[0], spoilt_pipeline[0]
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
            assert_frame_equal(frame, pipeline[table], check_exact=True)
        except AssertionError as error:
            raise AssertionError(f"{table}: {error}") from None


def test_a_users_frame_lands_and_is_quarantined_as_the_pipelines_file(
    spoilt: tuple, spoilt_month: tuple, spoilt_pipeline: tuple
) -> None:
    frame, month, (_, landed, quarantined) = spoilt[0], spoilt_month[0], spoilt_pipeline
    assert_frame_equal(month.transactions.drop("source_file"), landed.drop("source_file"))
    # the same rows, reasons, checks and original values; only the file's name differs
    assert_frame_equal(
        month.rejected.drop("source_file", "rejected_at"),
        quarantined.drop("source_file", "rejected_at"),
    )
    assert set(month.rejected.get_column("source_file")) == {"(polars frame)"}
    added = frame.height - 506
    reasons = dict(
        month.rejected.filter(pl.col("source_row") > added).select("source_row", "reason").rows()
    )
    assert reasons == {
        **{added + row: "duplicate_row" for row in range(1, 501)},
        **{added + row: "timestamp_in_future" for row in range(501, 504)},
        **{added + row: "amount_out_of_range" for row in range(504, 506)},
        added + 506: "missing_customer_id",
    }


def test_a_users_frame_is_normalised_as_a_source_is(spoilt: tuple, spoilt_month: tuple) -> None:
    frame, month = spoilt[0], spoilt_month[0]
    landed = month.transactions
    assert set(landed.get_column("channel")) == {"online", "store", "agent"}
    # 'unknown' is left for customers without purchase orders, not for channels in capitals
    buyers = month.behaviour.filter(pl.col("orders") > 0)
    assert "unknown" not in set(buyers.get_column("dominant_channel"))
    ids = landed.get_column("customer_id")
    assert (ids == ids.str.strip_chars()).all()
    assert frame.get_column("customer_id")[0].startswith(" ")
    assert ids[0] == frame.get_column("customer_id")[0].strip()
    derived = (
        (pl.col("quantity") < 0) | (pl.col("amount") < 0) | pl.col("order_id").str.starts_with("C")
    )
    assert_frame_equal(
        landed.select(derived.fill_null(False).alias("is_return")), landed.select("is_return")
    )
    assert landed.get_column("is_return").sum() > 1_000


def test_rejected_rows_and_returns_are_counted_in_warnings(spoilt_month: tuple) -> None:
    month, caught = spoilt_month
    messages = [str(warning.message) for warning in caught]
    assert all(warning.category is InputWarning for warning in caught)
    # at the caller's line, not the library's
    assert {warning.filename for warning in caught} == {__file__}
    rejected = f"transactions: {month.rejected.height:,} of"
    assert [message for message in messages if message.startswith(rejected)]
    assert "timestamp_in_future: 3, amount_out_of_range: 2, missing_customer_id: 1" in messages[0]
    returns = month.transactions.get_column("is_return").sum()
    assert f"on {returns:,} rows it differs from the frame's is_return" in messages[1]


def test_a_landed_frame_twice_lands_once(
    config: SegmentationConfig, transactions: pl.DataFrame, pipeline_month: dict
) -> None:
    """Its own provenance tells rows apart: the copies are duplicates, the rows whose other
    source columns (a description) told them apart are not."""
    twice = pl.concat([transactions, transactions])
    with pytest.warns(InputWarning, match=f"duplicate_row: {transactions.height:,}\\)"):
        month = seg.snapshot(twice, AS_OF)
    assert_frame_equal(month.transactions, transactions)
    assert_frame_equal(
        month.rejected.select("source_file", "source_row"),
        transactions.select("source_file", "source_row"),
    )
    assert '"customer_id"' in month.rejected.get_column("raw_values")[0]
    assert "__frame_source" not in month.rejected.get_column("raw_values")[0]
    assert_frame_equal(month.behaviour, pipeline_month[BEHAVIOUR_TABLE], check_exact=True)


def test_a_frames_own_provenance_must_keep_the_contract(transactions: pl.DataFrame) -> None:
    numbered = transactions.head(5).with_columns(pl.col("source_row") - 1)
    with pytest.raises(seg.InputError, match="source_row: greater_than_or_equal_to"):
        seg.snapshot(numbered, AS_OF)


def test_customers_land_and_are_quarantined_as_the_pipelines_file(tmp_path: Path) -> None:
    """Ids trimmed, a repeated id kept once, an e-mail masked in the quarantine."""
    customers = pl.DataFrame(
        {
            "customer_id": ["c1", " c2 ", "c1"],
            "email": ["a@example.com", "b@example.com", "c@example.com"],
            "birth_date": [date(1980, 1, 1), None, date(1990, 5, 5)],
        }
    )
    with pytest.warns(InputWarning, match=r"customers: 1 of 3 rows .*duplicate_customer_id"):
        month = seg.snapshot(_tiny(), AS_OF, customers=customers)
    _tiny().drop("is_return").write_parquet(tmp_path / "tx.parquet")
    customers.write_parquet(tmp_path / "customers.parquet")
    identity = {name: name for name in customers.columns}
    sources = {
        "transactions": {"path": str(tmp_path / "tx.parquet"), "columns": IDENTITY},
        "customers": {
            "path": str(tmp_path / "customers.parquet"),
            "columns": identity,
            "max_reject_rate": 1.0,
        },
    }
    raw = config_mapping(sources={"transactions": sources["transactions"]})
    raw["sources"] = sources
    config = load_config(write_config_file(tmp_path, raw))
    with duckdb.connect() as con:
        land_source(
            con,
            "customers",
            config.sources.customers,
            datetime.now(),
            custom_attributes(config),
            masked=pii_source_columns(config),
        )
        landed = con.execute("SELECT * FROM raw.customers ORDER BY source_row").pl()
        quarantined = con.execute("SELECT * FROM quality.rejected_rows").pl()
    assert month.customers is not None
    assert_frame_equal(month.customers.drop("source_file"), landed.drop("source_file"))
    assert month.customers.get_column("customer_id").to_list() == ["c1", "c2"]
    assert_frame_equal(
        month.rejected.drop("source_file", "rejected_at"),
        quarantined.drop("source_file", "rejected_at"),
    )
    assert month.rejected.get_column("reason").to_list() == ["duplicate_customer_id"]
    assert '"email":"***"' in month.rejected.get_column("raw_values")[0]
    assert "c@example.com" not in month.rejected.get_column("raw_values")[0]


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
        lambda frame: frame.drop("customer_id", "amount"),
        ["missing column(s): customer_id, amount (or quantity and unit_price)"],
    ),
    "ill-typed columns": (
        lambda frame: frame.with_columns(
            pl.col("order_ts").dt.strftime("%Y-%m-%d"),
            pl.col("customer_id").str.len_bytes(),
            pl.col("is_return").cast(pl.String),
        ),
        [
            "customer_id is UInt32, expected String",
            "order_ts is String, expected Datetime",
            "is_return is String, expected Boolean",
        ],
    ),
    "zoned timestamps": (
        lambda frame: frame.with_columns(pl.col("order_ts").dt.replace_time_zone("UTC")),
        ["order_ts is Datetime(time_unit='us', time_zone='UTC')"],
    ),
    "nested values": (
        lambda frame: frame.with_columns(pl.Series("tags", [["a"], ["b", "c"]])),
        ["tags is List(String), expected a number, text, boolean or time"],
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
def test_values_failing_a_check_are_rejected_not_raised(entry_point: str) -> None:
    """An empty id, a non-finite or too large amount: left out with a warning, as the landing
    quarantines them, and the other rows give an answer."""
    spoilt = pl.concat([_tiny()] * 3).with_columns(
        pl.Series("customer_id", ["c1", "c2", "", "c3", "c4", "c5"]),
        pl.Series("amount", [12.5, 30.0, 1.0, float("inf"), float("nan"), 1e300]),
    )
    with pytest.warns(InputWarning, match="transactions: 4 of 6 rows rejected") as caught:
        ENTRY_POINTS[entry_point](spoilt, AS_OF)
    counts = ("missing_customer_id: 1", "non_finite_amount: 2", "amount_out_of_range: 1")
    assert all(count in str(caught[0].message) for count in counts)


def test_a_rejected_row_names_its_reason_and_a_negative_amount_is_a_return() -> None:
    frame = _tiny().with_columns(
        pl.Series("customer_id", ["c1", "   "]), pl.Series("amount", [-5.0, 30.0])
    )
    with pytest.warns(InputWarning) as caught:
        month = seg.snapshot(frame, AS_OF)
    assert month.rejected.select("source_file", "source_row", "reason", "check").rows() == [
        ("(polars frame)", 2, "missing_customer_id", "customer_id is present")
    ]
    assert month.transactions.select("customer_id", "amount", "is_return").rows() == [
        ("c1", -5.0, True)
    ]
    assert "on 1 rows it differs from the frame's is_return" in str(caught[-1].message)


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_bad_customers_are_refused_naming_the_columns(entry_point: str) -> None:
    customers = pl.DataFrame({"customer_id": ["c1", "c2"], "birth_date": ["1980-01-01"] * 2})
    with pytest.raises(seg.InputError, match="birth_date is String, expected Date"):
        ENTRY_POINTS[entry_point](_tiny(), AS_OF, customers=customers)
    with pytest.raises(seg.InputError, match="customers: missing column\\(s\\): customer_id"):
        ENTRY_POINTS[entry_point](_tiny(), AS_OF, customers=customers.drop("customer_id"))


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
