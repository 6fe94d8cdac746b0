"""The customers source landed by Spark (the library's parse of each file inside a Spark task,
exact duplicates and repeated customer ids found by Spark windows) writes the lake's
raw.customers and quarantine rows equal to what the DuckDB landing writes into the warehouse:
same rows, columns and types (custom attributes included), same reasons, same original text
with personal values masked."""

from pathlib import Path

import polars as pl
import pytest

from segmentation.config import (
    SegmentationConfig,
    load_config,
)
from segmentation.engines.spark.lake import read_table
from segmentation.engines.spark.landing import QUARANTINE
from tests.conftest import config_mapping, write_config_file
from tests.generated import CUSTOMER_COLUMNS, identity
from tests.spark.landing_both import assert_lake_equals_warehouse, land_both

pytestmark = pytest.mark.spark

# the lifestyle survey's answer, a custom attribute declared personal data here so that its
# values are masked in the quarantine beside names, e-mails, phones and pii_columns
LIFESTYLES = ("urban", "outdoor", "homebody")


@pytest.fixture(scope="module")
def customers(dirty_generated: Path) -> pl.DataFrame:
    """The generator's customers (400, with names, e-mails and phones) and a custom attribute."""
    frame = pl.read_parquet(dirty_generated / "customers.parquet")
    lifestyle = pl.Series("lifestyle", [LIFESTYLES[i % 3] for i in range(frame.height)])
    return frame.with_columns(lifestyle)


def _config(folder: Path, path: Path, **extra: object) -> SegmentationConfig:
    source = {"path": str(path), "columns": identity(CUSTOMER_COLUMNS)}
    source["columns"]["lifestyle"] = "lifestyle"
    mapping = config_mapping()
    mapping["sources"]["customers"] = source | extra
    mapping["segments"] = {"extra_columns": {"lifestyle": {"type": "text", "pii": True}}}
    return load_config(write_config_file(folder, mapping))


def _per_reason(spark, lake: str) -> dict[str, int]:
    quarantine = read_table(spark, lake, QUARANTINE)
    rows = quarantine.where(quarantine["source"] == "customers").groupBy("reason").count()
    return {reason: count for reason, count in rows.collect()}


def test_spark_landing_equals_duckdb_on_generated_customers_in_parquet(
    spark, customers: pl.DataFrame, tmp_path: Path
) -> None:
    # a second export repeating 30 rows exactly and 20 customer ids with another income
    folder = tmp_path / "customers"
    folder.mkdir()
    customers.write_parquet(folder / "a.parquet")
    changed = customers[100:120].with_columns(pl.col("income") + 1.0)
    pl.concat([customers[:30], changed]).write_parquet(folder / "b.parquet")
    config = _config(tmp_path, folder / "*.parquet", max_reject_rate=0.5)
    lake = str(tmp_path / "lake")
    con, _ = land_both(spark, config, "customers", lake)
    assert_lake_equals_warehouse(spark, lake, con, "customers")
    assert _per_reason(spark, lake) == {"duplicate_row": 30, "duplicate_customer_id": 20}
    landed = read_table(spark, lake, "raw.customers")
    # the first file's rows land: every customer once, with the first income
    assert landed.count() == customers.height
    assert landed.where(landed["source_file"].endswith("b.parquet")).count() == 0


def _dirty_csv(customers: pl.DataFrame, folder: Path) -> None:
    """The customers as CSV in two files with one dirty row of each kind in the first (right
    after its source row) and, in the second (columns reversed), exact repeats of the first's
    last rows and repeated customer ids with other values."""
    text = customers.with_columns(pl.col("signup_date", "birth_date").cast(pl.Utf8))
    text = text.with_columns(pl.col("income").cast(pl.Utf8))
    first, second = text[:250], text[250:]

    def dirty(row: int, **values: str) -> pl.DataFrame:
        return first[row].with_columns(*(pl.lit(value).alias(k) for k, value in values.items()))

    rows = [
        first[:10],
        first[5],  # an exact duplicate
        dirty(7, email="other@example.com"),  # the same customer id, another e-mail
        dirty(8, customer_id=""),
        dirty(9, signup_date="not a date"),
        first[10:20],
        dirty(11, income="abc"),
        dirty(12, income="-5"),
        dirty(13, birth_date="2099-01-01"),
        first[20:],
    ]
    lines = pl.concat(rows).write_csv().splitlines(keepends=True)
    lines.insert(30, "C9,too,few,fields\n")
    (folder / "a.csv").write_text("".join(lines))
    reversed_columns = list(reversed(text.columns))
    again = dirty(200, name="Someone Else", lifestyle="outdoor")
    pl.concat([second, first[-15:], again]).select(reversed_columns).write_csv(folder / "b.csv")


def test_spark_landing_equals_duckdb_on_dirty_customers_csv_with_personal_values_masked(
    spark, customers: pl.DataFrame, tmp_path: Path
) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    _dirty_csv(customers, folder)
    config = _config(tmp_path, folder / "*.csv", pii_columns=["country"], max_reject_rate=0.5)
    lake = str(tmp_path / "lake")
    con, _ = land_both(spark, config, "customers", lake)
    assert_lake_equals_warehouse(spark, lake, con, "customers")
    reasons = _per_reason(spark, lake)
    for reason in (
        "malformed_record",
        "missing_customer_id",
        "unparseable_date",
        "unparseable_number",
        "non_finite_number",
        "date_in_future",
    ):
        assert reasons.get(reason, 0) == 1, reason
    # the repeat in a.csv and the 15 rows repeated in the file with reversed columns
    assert reasons["duplicate_row"] == 16
    # other e-mail in a.csv, another name and lifestyle in b.csv
    assert reasons["duplicate_customer_id"] == 2
    quarantine = read_table(spark, lake, QUARANTINE)
    texts = [row[0] for row in quarantine.select("raw_values").collect()]
    for column in ("email", "name", "phone", "lifestyle", "country"):
        assert all(f'"{column}":"***"' in text for text in texts if f'"{column}"' in text)
    assert not any("@example.com" in text for text in texts)
    assert not any("Someone Else" in text for text in texts)
