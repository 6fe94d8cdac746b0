"""The transactions source landed by Spark (the library's parse of each file inside a Spark
task, duplicates found by a Spark window) writes the lake's raw.transactions and quarantine
rows equal to what the DuckDB landing writes into the warehouse: same rows, columns and types,
same reasons, same original text with personal values masked."""

import gzip
from pathlib import Path

import duckdb
import polars as pl
import pytest

from segmentation.config import SegmentationConfig, load_config, pii_source_columns
from segmentation.engines.spark.lake import read_table
from segmentation.engines.spark.landing import QUARANTINE, land_source
from segmentation.raw import landing as duckdb_landing
from segmentation.raw.landing import RejectRateExceeded
from segmentation.raw.removed_files import RemovedFilesError
from segmentation.raw.source_files import SourceError
from tests.conftest import config_mapping, sample_transactions, write_config_file
from tests.generated import transactions_source
from tests.spark.conftest import LANDED_AT

pytestmark = pytest.mark.spark

ORDER = ["source_file", "source_row"]


def _warehouse_tables(con: duckdb.DuckDBPyConnection) -> tuple[pl.DataFrame, pl.DataFrame]:
    landed = con.execute("SELECT * FROM raw.transactions").pl().sort(ORDER)
    rejected = (
        con.execute("SELECT * FROM quality.rejected_rows WHERE source = 'transactions'")
        .pl()
        .sort(ORDER)
    )
    return landed, rejected


def _lake_tables(spark, lake: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    landed = pl.from_arrow(read_table(spark, lake, "raw.transactions").toArrow())
    quarantine = read_table(spark, lake, QUARANTINE)
    rejected = pl.from_arrow(quarantine.where(quarantine["source"] == "transactions").toArrow())
    assert isinstance(landed, pl.DataFrame) and isinstance(rejected, pl.DataFrame)
    return landed.sort(ORDER), rejected.sort(ORDER)


def _assert_lake_equals_warehouse(spark, lake: str, con: duckdb.DuckDBPyConnection) -> None:
    expected_landed, expected_rejected = _warehouse_tables(con)
    landed, rejected = _lake_tables(spark, lake)
    assert landed.schema == expected_landed.schema
    assert landed.equals(expected_landed)
    # the lake's quarantine is a folder per source: its column comes last there
    rejected = rejected.select(expected_rejected.columns)
    assert rejected.schema == expected_rejected.schema
    assert rejected.equals(expected_rejected)
    assert _per_reason(rejected) == _per_reason(expected_rejected)


def _per_reason(rejected: pl.DataFrame) -> dict[str, int]:
    return dict(rejected.group_by("reason").len().iter_rows())


def _land_in_duckdb(config: SegmentationConfig) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    duckdb_landing.land_source(
        con,
        "transactions",
        config.sources.transactions,
        LANDED_AT,
        masked=pii_source_columns(config, "transactions"),
    )
    return con


def test_spark_landing_equals_duckdb_on_the_real_sample(spark, retail, tmp_path: Path) -> None:
    config, con = retail
    lake = str(tmp_path / "lake")
    report = land_source(spark, lake, "transactions", config.sources.transactions, LANDED_AT)
    _assert_lake_equals_warehouse(spark, lake, con)
    landed, rejected = _warehouse_tables(con)
    assert report.landed_rows == landed.height > 280_000
    assert report.rejected_by_reason == _per_reason(rejected)
    assert report.source_rows == 290_325


@pytest.fixture(scope="module")
def dirty(dirty_generated: Path) -> tuple[Path, dict]:
    """Generated transactions with 2% dirty rows (duplicates, missing ids, bad timestamps and
    quantities, timestamps in the future and before 1970), as the demo's Parquet files."""
    return dirty_generated, transactions_source(dirty_generated)


def _config(folder: Path, transactions: dict) -> SegmentationConfig:
    return load_config(write_config_file(folder, config_mapping(transactions)))


def test_spark_landing_equals_duckdb_on_generated_parquet_with_dirty_rows(
    spark, dirty, tmp_path: Path
) -> None:
    _, source = dirty
    config = _config(tmp_path, source)
    con = _land_in_duckdb(config)
    lake = str(tmp_path / "lake")
    land_source(spark, lake, "transactions", config.sources.transactions, LANDED_AT)
    _assert_lake_equals_warehouse(spark, lake, con)
    reasons = _per_reason(_warehouse_tables(con)[1])
    # every kind of dirty row the generator writes is there
    for reason in (
        "duplicate_row",
        "missing_customer_id",
        "unparseable_timestamp",
        "unparseable_number",
        "timestamp_in_future",
        "timestamp_before_1970",
    ):
        assert reasons.get(reason, 0) > 0, reason


def _damaged_csv_files(data: Path, folder: Path) -> None:
    """The generated rows as CSV in three files: the first as written, the second with its
    columns reversed (and the first file's last 50 rows again: duplicates across files), the
    third gzip-compressed and cut off mid-line; plus malformed records in the first."""
    frame = pl.read_parquet(data / "transactions" / "*.parquet")
    first, second, third = frame[:1500], frame[1500:3000], frame[3000:]
    lines = first.write_csv().splitlines(keepends=True)
    lines.insert(10, "C1,not,enough,fields\n")
    lines.insert(20, 'C2,"an open quote,1,2,3,4,5,6,7\n')
    lines.insert(30, "C3,a,b,\x00,d,e,f,g,h\n")
    lines.insert(40, "\n")
    (folder / "a.csv").write_text("".join(lines))
    reversed_columns = list(reversed(frame.columns))
    pl.concat([second, first[-50:]]).select(reversed_columns).write_csv(folder / "b.csv")
    text = third.write_csv().encode()
    with gzip.open(folder / "c.csv.gz", "wb") as handle:
        handle.write(text)
    whole = (folder / "c.csv.gz").read_bytes()
    (folder / "c.csv.gz").write_bytes(whole[: len(whole) * 2 // 3])


def test_spark_landing_equals_duckdb_on_damaged_csv_with_personal_values_masked(
    spark, dirty, tmp_path: Path
) -> None:
    data, source = dirty
    files = tmp_path / "csv"
    files.mkdir()
    _damaged_csv_files(data, files)
    source = source | {
        "path": str(files / "*.csv*"),
        "timestamp_format": "%Y-%m-%d %H:%M:%S",
        "pii_columns": ["customer_id", "country"],
        "max_reject_rate": 0.5,
    }
    config = _config(tmp_path, source)
    con = _land_in_duckdb(config)
    lake = str(tmp_path / "lake")
    report = land_source(
        spark,
        lake,
        "transactions",
        config.sources.transactions,
        LANDED_AT,
        masked=pii_source_columns(config, "transactions"),
    )
    _assert_lake_equals_warehouse(spark, lake, con)
    _, rejected = _lake_tables(spark, lake)
    reasons = _per_reason(rejected)
    for reason in ("malformed_record", "unbalanced_quote", "nul_byte", "truncated_file"):
        assert reasons.get(reason, 0) > 0, reason
    # the 50 rows repeated in the file with reversed columns, and the generator's duplicates
    assert reasons["duplicate_row"] >= 50
    # personal values are masked in every row's text, malformed records' whole text too
    texts = rejected.get_column("raw_values")
    assert not texts.str.contains('"customer_id":"[0-9]').any()
    assert texts.str.contains('"customer_id":"\\*\\*\\*"').any()
    assert report.rejected_by_reason == reasons


def test_over_the_reject_rate_nothing_is_written(spark, dirty, tmp_path: Path) -> None:
    _, source = dirty
    config = _config(tmp_path, source | {"max_reject_rate": 0.001})
    lake = tmp_path / "lake"
    with pytest.raises(RejectRateExceeded, match=r"transactions: .* rows rejected .*duplicate_row"):
        land_source(spark, str(lake), "transactions", config.sources.transactions, LANDED_AT)
    assert not lake.exists()


def test_a_file_landed_before_and_removed_is_refused(spark, dirty, tmp_path: Path) -> None:
    data, source = dirty
    folder = tmp_path / "tx"
    folder.mkdir()
    frame = pl.read_parquet(data / "transactions" / "*.parquet")
    frame[:1000].write_parquet(folder / "2010.parquet")
    frame[1000:2000].write_parquet(folder / "2011.parquet")
    config = _config(tmp_path, source | {"path": str(folder / "*.parquet"), "max_reject_rate": 1})
    lake = str(tmp_path / "lake")
    land_source(spark, lake, "transactions", config.sources.transactions, LANDED_AT)
    (folder / "2010.parquet").rename(tmp_path / "2010.parquet")
    with pytest.raises(RemovedFilesError, match=r"2010\.parquet \(1,000 rows before\)"):
        land_source(spark, lake, "transactions", config.sources.transactions, LANDED_AT)
    (tmp_path / "2010.parquet").rename(folder / "2010.parquet")
    frame[1000:1500].write_parquet(folder / "2011.parquet")
    with pytest.raises(RemovedFilesError, match=r"2011\.parquet \(1,000 rows before, 500 now\)"):
        land_source(spark, lake, "transactions", config.sources.transactions, LANDED_AT)
    landed, rejected = _lake_tables(spark, lake)
    # nothing was written: both files' rows are still there
    assert landed.height + rejected.height == 2000
    assert landed.get_column("source_file").n_unique() == 2


def test_a_missing_column_fails_naming_it_and_the_file_before_any_task(
    spark, tmp_path: Path
) -> None:
    (tmp_path / "tx.csv").write_text("Invoice,Customer ID\n1,2\n")
    config = _config(tmp_path, sample_transactions() | {"path": str(tmp_path / "tx.csv")})
    with pytest.raises(
        SourceError, match=r"tx\.csv has no column 'InvoiceDate' \(mapped to order_ts\)"
    ):
        land_source(
            spark, str(tmp_path / "lake"), "transactions", config.sources.transactions, LANDED_AT
        )
    assert not (tmp_path / "lake").exists()


def test_a_file_a_task_cannot_read_fails_with_the_librarys_message(spark, tmp_path: Path) -> None:
    # the header is fine (the driver reads it); line 3 is cp1252, which only the task reads
    lines = [
        "Invoice,StockCode,Quantity,InvoiceDate,Price,Customer ID",
        "1,A,1,2011-01-01 10:00:00,1,7",
    ]
    text = "\n".join([*lines, "2,Caf\xe9,1,2011-01-01 10:00:00,1,7", ""])
    (tmp_path / "tx.csv").write_bytes(text.encode("cp1252"))
    config = _config(tmp_path, sample_transactions() | {"path": str(tmp_path / "tx.csv")})
    with pytest.raises(SourceError, match=r"tx\.csv is not valid utf-8 text: line 3") as raised:
        land_source(
            spark, str(tmp_path / "lake"), "transactions", config.sources.transactions, LANDED_AT
        )
    assert "Caf" not in str(raised.value)
    assert not (tmp_path / "lake").exists()
