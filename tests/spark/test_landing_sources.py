"""The events, feedback, attribute-history and catalogue sources landed by Spark (the library's
parse of each file inside a Spark task; exact duplicates, and for the history and the catalogue
the rows repeating a key, found by Spark windows) write the lake's raw.<source> and quarantine
rows equal to what the DuckDB landing writes into the warehouse for the same files: same rows,
columns and types, same reasons and checks, same original text with personal values masked,
and the same report."""

import re
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from segmentation.config import (
    SegmentationConfig,
    custom_attributes,
    load_config,
)
from segmentation.engines.spark.lake import read_table
from segmentation.engines.spark.landing import QUARANTINE, land_source, staged_records
from segmentation.engines.spark.raw_counts import attribute_history_counts
from segmentation.raw import landing as duckdb_landing
from segmentation.raw.landing import RejectRateExceeded
from segmentation.raw.removed_files import RemovedFilesError
from tests.conftest import PROJECT_ROOT, config_mapping, write_config_file
from tests.spark.conftest import LANDED_AT
from tests.spark.landing_both import assert_lake_equals_warehouse, land_both

pytestmark = pytest.mark.spark

STRUCTURAL = ("malformed_record", "unbalanced_quote", "nul_byte")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Generated events (Parquet, a file per month) and feedback (CSV) of 300 customers over
    three months with 1% dirty rows (each kind at least once), and the demo's mapping of both."""
    from synthetic.generate import main as generate

    data = tmp_path_factory.mktemp("demo") / "data"
    generate(
        [
            *("--customers", "300", "--out", str(data), "--seed", "5"),
            *("--start", "2011-01-01", "--end", "2011-03-31", "--dirty-rate", "0.01"),
            *("--no-categories", "-q"),
        ]
    )
    raw = yaml.safe_load((PROJECT_ROOT / "config" / "demo.yaml").read_text())
    return data, {source: raw["sources"][source] for source in ("events", "feedback")}


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A generated bank of 200 customers with 1% dirty rows: the attribute history (Parquet, a
    file per year, text AUM and instants) and the catalogue (CSV), each kind of dirty row at
    least once, and config/bank.yaml's sources and attribute declarations."""
    from synthetic import bank as bank_generator

    data = tmp_path_factory.mktemp("bank") / "data"
    bank_generator.write(data, 200, seed=7, dirty_rate=0.01)
    raw = yaml.safe_load((PROJECT_ROOT / "config" / "bank.yaml").read_text())
    return data, raw


def _config(folder: Path, sources: dict, extra_columns: dict | None = None) -> SegmentationConfig:
    mapping = config_mapping()
    mapping["sources"] |= sources
    if extra_columns:
        mapping["segments"] = {"extra_columns": extra_columns}
    return load_config(write_config_file(folder, mapping))


def _per_reason(rejected: pl.DataFrame) -> dict[str, int]:
    return dict(rejected.group_by("reason").len().iter_rows())


def _damaged_csv(frame: pl.DataFrame, path: Path) -> None:
    """``frame`` as CSV with a record of too few fields, one with an open quote and one with a
    NUL byte among its rows."""
    lines = frame.write_csv().splitlines(keepends=True)
    lines.insert(3, "X1,too,few\n")
    lines.insert(6, 'X2,"an open quote' + "," * (frame.width - 2) + "\n")
    lines.insert(9, "X3,\x00" + "," * (frame.width - 2) + "\n")
    path.write_text("".join(lines))


def test_events_in_parquet_and_damaged_csv_equal_duckdb(spark, demo, tmp_path: Path) -> None:
    data, sources = demo
    folder = tmp_path / "events"
    folder.mkdir()
    months = sorted((data / "events").glob("*.parquet"))
    for path in months[:-1]:
        (folder / path.name).write_bytes(path.read_bytes())
    # the last month as CSV with its columns reversed, damaged records, a timestamp that does
    # not parse and its first 40 rows again at its end
    last = pl.read_parquet(months[-1]).with_columns(pl.col("ts").cast(pl.Utf8))
    broken = last[:1].with_columns(pl.lit("31/02/2011 25:61").alias("ts"))
    text = pl.concat([last, broken, last[:40]]).select(list(reversed(last.columns)))
    _damaged_csv(text, folder / "events-z.csv")
    events = sources["events"] | {
        "path": str(folder / "events-*"),
        "pii_columns": ["user_id"],
        "max_reject_rate": 0.2,
    }
    config = _config(tmp_path, {"events": events})
    lake = str(tmp_path / "lake")
    con, _ = land_both(spark, config, "events", lake)
    rejected = assert_lake_equals_warehouse(spark, lake, con, "events")
    reasons = _per_reason(rejected)
    for reason in (
        *STRUCTURAL,
        "missing_customer_id",
        "missing_timestamp",
        "unparseable_timestamp",
        "unknown_event_type",
        "timestamp_before_1970",
        "timestamp_in_future",
    ):
        assert reasons.get(reason, 0) > 0, reason
    assert reasons["duplicate_row"] >= 40
    # the customer id is personal here: masked in every row's text, the malformed records' too
    texts = rejected.get_column("raw_values")
    assert not texts.str.contains('"user_id":"C').any()
    assert not texts.str.contains("X1|X2|X3").any()


def test_feedback_csv_equals_duckdb_with_personal_topics_masked(
    spark, demo, tmp_path: Path
) -> None:
    data, sources = demo
    folder = tmp_path / "feedback"
    folder.mkdir()
    text = (data / "feedback.csv").read_text()
    # an export of 0 bytes and one with its header alone and blank lines beside the data
    (folder / "feedback-0.csv").write_bytes(b"")
    (folder / "feedback-1.csv").write_text(text.splitlines(keepends=True)[0] + "\n\n")
    (folder / "feedback.csv").write_text(text)
    feedback = sources["feedback"] | {
        "path": str(folder / "*.csv"),
        "pii_columns": ["topic"],
        "max_reject_rate": 0.5,
    }
    config = _config(tmp_path, {"feedback": feedback})
    lake = str(tmp_path / "lake")
    con, report = land_both(spark, config, "feedback", lake)
    assert len(report.files) == 3
    assert report.notes[str(folder / "feedback-0.csv")] == ["empty file (0 bytes): no rows"]
    assert str(folder / "feedback-1.csv") in report.notes
    rejected = assert_lake_equals_warehouse(spark, lake, con, "feedback")
    reasons = _per_reason(rejected)
    for reason in (
        "duplicate_row",
        "missing_customer_id",
        "unknown_feedback_kind",
        "missing_score",
        "unparseable_number",
        "score_out_of_range",
        "unparseable_timestamp",
    ):
        assert reasons.get(reason, 0) > 0, reason
    texts = rejected.get_column("raw_values")
    assert texts.str.contains('"topic":"\\*\\*\\*"').any()
    assert not texts.str.contains('"topic":"[a-z]').any()


def _attributes(bank: tuple[Path, dict], folder: Path) -> tuple[dict, dict]:
    """The bank's attribute-history source over its first two years' files copied into
    ``folder``, the risk declared personal data; and the declared attributes."""
    data, raw = bank
    for path in sorted((data / "attributes").glob("*.parquet"))[:2]:
        (folder / path.name).write_bytes(path.read_bytes())
    source = raw["sources"]["customer_attributes"] | {
        "path": str(folder / "*"),
        "pii_columns": ["risk"],
        "max_reject_rate": 0.5,
    }
    return source, raw["segments"]["extra_columns"]


def test_attribute_history_equals_duckdb_with_key_conflicts_across_files(
    spark, bank, tmp_path: Path
) -> None:
    folder = tmp_path / "attributes"
    folder.mkdir()
    source, extra = _attributes(bank, folder)
    history = pl.read_parquet(folder / "attributes-2010.parquet")
    # clean rows (an AUM with two decimals, products held, a change) far apart in the file
    clean = history.filter(
        pl.col("aum").str.contains(r"^\d+\.\d\d$")
        & (pl.col("products").list.len() > 0)
        & pl.col("aum_change_3m").is_not_null()
    )
    first, second, third = clean[10], clean[20], clean[30]
    rows = [
        # the same customer and instant, the same AUM written differently: lands once
        first.with_columns(pl.col("aum") + "0"),
        # the same customer and instant, another risk: both rows are conflicts
        second.with_columns(pl.lit("something_else").alias("risk")),
        # the same customer and instant, another AUM: both rows are conflicts
        third.with_columns(pl.col("aum") + "1"),
    ]
    # a later file, as CSV with its columns reversed and damaged records
    later = pl.concat(rows).with_columns(pl.col("products").list.join("|"))
    _damaged_csv(later.select(list(reversed(later.columns))), folder / "attributes-z.csv")
    config = _config(tmp_path, {"customer_attributes": source}, extra)
    lake = str(tmp_path / "lake")
    con, _ = land_both(spark, config, "customer_attributes", lake)
    rejected = assert_lake_equals_warehouse(spark, lake, con, "customer_attributes")
    # the raw asset's counts (customers, rows per customer, valid_from's span), from Spark
    counts = attribute_history_counts(spark, lake)
    assert counts == duckdb_landing.attribute_history_counts(con)
    assert counts.customers > 100 and counts.rows_per_customer_max > 1
    reasons = _per_reason(rejected)
    for reason in (
        *STRUCTURAL,
        "duplicate_row",
        "missing_customer_id",
        "missing_timestamp",
        "unparseable_timestamp",
        "timestamp_before_1970",
        "timestamp_in_future",
        "unparseable_number",
        "conflicting_attribute_rows",
    ):
        assert reasons.get(reason, 0) > 0, reason
    in_z = rejected.filter(pl.col("source_file").str.ends_with("attributes-z.csv"))
    assert dict(in_z.group_by("reason").len().iter_rows()) == {
        "duplicate_row": 1,
        "conflicting_attribute_rows": 2,
        **dict.fromkeys(STRUCTURAL, 1),
    }
    # the earlier rows of the two conflicting keys are rejected as well
    earlier = rejected.filter(
        pl.col("source_file").str.ends_with("attributes-2010.parquet")
        & (pl.col("reason") == "conflicting_attribute_rows")
    )
    assert earlier.height >= 2
    texts = rejected.get_column("raw_values")
    assert not texts.str.contains("something_else|conservative|balanced|aggressive").any()


def test_catalogue_equals_duckdb_with_rows_repeating_a_product(spark, bank, tmp_path: Path) -> None:
    data, raw = bank
    folder = tmp_path / "products"
    folder.mkdir()
    # the generator's catalogue with a column the mapping does not read: two rows differing in
    # it alone are the same product (one lands), and a malformed record
    catalogue = pl.read_csv(data / "products.csv", infer_schema=False)
    noted = catalogue.with_columns(pl.lit("a").alias("note"))
    again = noted.filter(pl.col("product_code") == "deposit").with_columns(
        pl.lit("b").alias("note")
    )
    _damaged_csv(pl.concat([noted, again]), folder / "products.csv")
    products = raw["sources"]["products"] | {"path": str(folder / "*.csv"), "max_reject_rate": 1}
    config = _config(tmp_path, {"products": products})
    lake = str(tmp_path / "lake")
    con, _ = land_both(spark, config, "products", lake)
    rejected = assert_lake_equals_warehouse(spark, lake, con, "products")
    assert _per_reason(rejected) == {
        # the generator's exact copy, and the row differing in the unread column only
        "duplicate_row": 2,
        "missing_product_id": 1,
        "missing_category": 1,
        "conflicting_product_rows": 2,
        **dict.fromkeys(STRUCTURAL, 1),
    }
    landed = read_table(spark, lake, "raw.products")
    ids = [row[0] for row in landed.select("product_id").collect()]
    assert len(ids) == len(set(ids)) and "structured_note" not in ids and "deposit" in ids


def test_the_key_windows_run_on_the_executors(spark, bank, tmp_path: Path) -> None:
    data, raw = bank
    source = raw["sources"]["products"] | {"path": str(data / "products.csv")}
    settings = _config(tmp_path, {"products": source}).sources.products
    assert settings is not None
    stage = staged_records(spark, "products", settings, settings.files(), LANDED_AT)
    plan = stage._jdf.queryExecution().executedPlan().toString()
    # the rows stay in Spark: the values' smallest and largest and the position, each a window
    # partitioned by whether the row is still good and its product id
    by_key = r"windowspecdefinition\(\w+#\d+, product_id#\d+"
    assert re.search(rf"Window \[min\(\w+#\d+\) {by_key}", plan), plan
    assert re.search(rf"Window \[row_number\(\) {by_key}", plan), plan


def test_over_the_reject_rate_nothing_is_written(spark, bank, tmp_path: Path) -> None:
    data, raw = bank
    source = raw["sources"]["products"] | {"path": str(data / "products.csv")}
    config = _config(tmp_path, {"products": source | {"max_reject_rate": 0.1}})
    lake = tmp_path / "lake"
    with pytest.raises(
        RejectRateExceeded, match=r"products: 5 of 11 rows rejected .*conflicting_product_rows: 2"
    ):
        land_source(spark, str(lake), "products", config.sources.products, LANDED_AT)
    assert not lake.exists()


def test_a_history_file_landed_before_and_removed_is_refused(spark, bank, tmp_path: Path) -> None:
    folder = tmp_path / "attributes"
    folder.mkdir()
    source, extra = _attributes(bank, folder)
    config = _config(tmp_path, {"customer_attributes": source}, extra)
    settings = config.sources.customer_attributes
    custom = custom_attributes(config, "customer_attributes")
    lake = str(tmp_path / "lake")
    first = land_source(spark, lake, "customer_attributes", settings, LANDED_AT, custom)
    (folder / "attributes-2009.parquet").unlink()
    with pytest.raises(
        RemovedFilesError, match=r"attributes-2009\.parquet \([0-9,]+ rows before\)"
    ):
        land_source(spark, lake, "customer_attributes", settings, LANDED_AT, custom)
    landed = read_table(spark, lake, "raw.customer_attributes")
    quarantine = read_table(spark, lake, QUARANTINE)
    # nothing was written: every row of the first landing is still there
    assert landed.count() + quarantine.count() == first.source_rows
    allowed = settings.model_copy(update={"allow_removed_files": True})
    report = land_source(spark, lake, "customer_attributes", allowed, LANDED_AT, custom)
    assert list(report.removed_files) == [str(folder / "attributes-2009.parquet")]
    assert report.source_rows < first.source_rows
    assert read_table(spark, lake, "raw.customer_attributes").count() == report.landed_rows


def test_a_name_that_is_no_source_or_another_sources_settings_is_refused(
    spark, demo, tmp_path: Path
) -> None:
    data, sources = demo
    events = sources["events"] | {"path": str(data / "events" / "*.parquet")}
    config = _config(tmp_path, {"events": events})
    lake = str(tmp_path / "lake")
    with pytest.raises(ValueError, match="takes transactions, .*products, not orders"):
        land_source(spark, lake, "orders", config.sources.events, LANDED_AT)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="feedback: the configuration given is a EventsSource"):
        land_source(spark, lake, "feedback", config.sources.events, LANDED_AT)
    assert not Path(lake).exists()


def _catalogue_versions(bank: tuple[Path, dict]) -> list[str]:
    """Three versions of a catalogue file: the generator's (dirty rows included), the same
    with a new product and a new row without a category, and the clean products alone."""
    data, _ = bank
    first = (data / "products.csv").read_text()
    second = first + "pension,savings,retirement,standard,core,R2\nannuity,,life,standard,core,R1\n"
    catalogue = pl.read_csv(data / "products.csv", infer_schema=False)
    clean = catalogue.filter(pl.all_horizontal(pl.all().is_not_null())).unique(
        "product_code", keep="none"
    )
    return [first, second, clean.write_csv()]


def test_a_landing_writes_its_table_and_quarantine_together(
    spark, bank, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from segmentation.engines.spark import lake_commit
    from segmentation.engines.spark.lake import table_location
    from segmentation.engines.spark.lake_commit import LakeFiles, LakeWriteError, recover_table

    _, raw = bank
    folder = tmp_path / "products"
    folder.mkdir()
    versions = _catalogue_versions(bank)
    path = folder / "products.csv"
    path.write_text(versions[0])
    source = raw["sources"]["products"] | {"path": str(folder / "*.csv"), "max_reject_rate": 1}
    config = _config(tmp_path, {"products": source})
    settings = config.sources.products
    assert settings is not None
    lake = str(tmp_path / "lake")

    def duckdb_landing_of(version: int) -> duckdb.DuckDBPyConnection:
        path.write_text(versions[version])
        con = duckdb.connect()
        duckdb_landing.land_source(con, "products", settings, LANDED_AT)
        return con

    first = duckdb_landing_of(0)
    land_source(spark, lake, "products", settings, LANDED_AT)
    # stopped before the commit: both tables stay the first landing's
    second = duckdb_landing_of(1)

    def stop(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(lake_commit, "_commit", stop)
    with pytest.raises(KeyboardInterrupt):
        land_source(spark, lake, "products", settings, LANDED_AT)
    monkeypatch.undo()
    assert_lake_equals_warehouse(spark, lake, first, "products")
    # stopped after the commit, the new raw.products in place, the quarantine not yet
    rename = LakeFiles.rename

    def stop_before_the_quarantine(self: LakeFiles, source: str, target: str) -> None:
        if source.endswith("source=products") and "_staging-" in source:
            raise LakeWriteError("the driver stopped")
        rename(self, source, target)

    monkeypatch.setattr(LakeFiles, "rename", stop_before_the_quarantine)
    with pytest.raises(LakeWriteError, match="the driver stopped"):
        land_source(spark, lake, "products", settings, LANDED_AT)
    monkeypatch.undo()
    # the write was decided: finishing it puts the second landing's quarantine beside its table
    assert recover_table(spark, table_location(lake, QUARANTINE))
    assert_lake_equals_warehouse(spark, lake, second, "products")
    # a landing without rejected rows (the file shorter: allowed) removes the source's
    # earlier quarantine rows
    third = duckdb_landing_of(2)
    shorter = settings.model_copy(update={"allow_removed_files": True})
    report = land_source(spark, lake, "products", shorter, LANDED_AT)
    assert report.rejected_rows == 0
    assert_lake_equals_warehouse(spark, lake, third, "products")
