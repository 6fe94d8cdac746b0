"""Landing against a temporary DuckDB: nothing lost, nothing duplicated, atomic, gated."""

from collections import Counter
from pathlib import Path

import duckdb
import polars as pl
import pytest

import segmentation.quality.validation as validation
import segmentation.raw.landing as landing
import segmentation.raw.publishing as publishing
import segmentation.raw.staging as staging
from assets.resources import Warehouse
from segmentation.raw.contracts import CustomersContract
from segmentation.raw.landing import RejectRateExceeded, land_source
from segmentation.raw.source_files import SourceError
from tests.conftest import (
    BROKEN_ROWS,
    LANDING_NOW,
    RETAIL_COLUMNS,
    RETAIL_HEADER,
    SAMPLE_CSV,
    write_csv,
)


def _land(config, con: duckdb.DuckDBPyConnection):
    return land_source(con, "transactions", config.sources.transactions, LANDING_NOW)


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return con.execute(sql).fetchone()[0]


@pytest.fixture
def con(tmp_path: Path):
    connection = duckdb.connect(str(tmp_path / "test.duckdb"))
    yield connection
    connection.close()


def test_every_source_row_lands_or_is_quarantined(write_config, broken_source, con) -> None:
    config = write_config(
        {"path": str(broken_source), "max_reject_rate": 1.0, "columns": RETAIL_COLUMNS}
    )
    report = _land(config, con)

    expected = Counter(reason for _, reason in BROKEN_ROWS if reason is not None)
    landed = _count(con, "SELECT count(*) FROM raw.transactions")
    rejected = _count(con, "SELECT count(*) FROM quality.rejected_rows")
    assert landed + rejected == len(BROKEN_ROWS)
    assert landed == sum(1 for _, reason in BROKEN_ROWS if reason is None)
    assert report.rejected_by_reason == dict(expected)
    by_reason = dict(
        con.execute("SELECT reason, count(*) FROM quality.rejected_rows GROUP BY 1").fetchall()
    )
    assert by_reason == dict(expected)
    # each source row once, in exactly one place
    rows = con.execute(
        "SELECT source_row FROM raw.transactions UNION ALL "
        "SELECT source_row FROM quality.rejected_rows ORDER BY 1"
    ).fetchall()
    assert [r[0] for r in rows] == list(range(1, len(BROKEN_ROWS) + 1))
    # the duplicate is the later copy; the original values are kept verbatim
    duplicate = con.execute(
        "SELECT source_row, raw_values FROM quality.rejected_rows WHERE reason = 'duplicate_row'"
    ).fetchone()
    assert duplicate[0] == 2
    assert '"InvoiceDate":"2010-12-01 07:45:00"' in duplicate[1]
    assert _count(con, "SELECT count(*) FROM raw.transactions WHERE is_return") == 2


def test_duplicates_are_found_across_files(write_config, tmp_path: Path, con) -> None:
    good = BROKEN_ROWS[0][0]
    write_csv(tmp_path / "tx" / "a.csv", RETAIL_HEADER, [good])
    write_csv(tmp_path / "tx" / "b.csv", RETAIL_HEADER, [good])
    config = write_config(
        {"path": str(tmp_path / "tx" / "*.csv"), "max_reject_rate": 1.0, "columns": RETAIL_COLUMNS}
    )
    _land(config, con)
    kept = con.execute("SELECT source_file FROM raw.transactions").fetchall()
    dropped = con.execute("SELECT source_file, reason FROM quality.rejected_rows").fetchall()
    assert [Path(f).name for (f,) in kept] == ["a.csv"]
    assert [(Path(f).name, r) for f, r in dropped] == [("b.csv", "duplicate_row")]


def test_over_the_reject_rate_nothing_is_written(write_config, broken_source, con) -> None:
    config = write_config({"path": str(broken_source), "columns": RETAIL_COLUMNS})
    with pytest.raises(RejectRateExceeded) as error:
        _land(config, con)
    message = str(error.value)
    assert "broken.csv" in message
    # parse rejects alone are over the limit: it fails before duplicates are compared
    assert "at least 10 of 15 rows rejected" in message
    assert "unparseable_number: 2" in message
    tables = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    assert ("transactions",) not in tables
    assert ("rejected_rows",) not in tables


def test_staged_files_live_under_the_temp_directory_only_while_landing(
    write_config, retail_transactions, broken_source, tmp_path: Path, monkeypatch
) -> None:
    spill = tmp_path / "spill"
    seen: list[tuple[int, int]] = []
    real_land_staged = landing._land_staged

    def land_staged(*args, **kwargs):
        staged = sorted(spill.glob("landing-*/*.parquet"))
        seen.append((len(staged), pl.scan_parquet(staged).select(pl.len()).collect().item()))
        return real_land_staged(*args, **kwargs)

    monkeypatch.setattr(landing, "_land_staged", land_staged)
    monkeypatch.setattr(staging, "BATCH_ROWS", 100_000)
    with duckdb.connect(str(tmp_path / "spill_test.duckdb")) as connection:
        connection.execute(f"SET temp_directory = '{spill}'")
        report = _land(write_config(retail_transactions), connection)
        assert report.landed_rows == 284_159
        # every source row is staged, in batches of at most about 100,000 rows
        files, rows = seen[0]
        assert rows == 290_325
        assert files >= 2
        # the temp directory stays (DuckDB may spill into it later), emptied of staged files
        assert list(spill.iterdir()) == []
        # another source in place of the sample: its file is meant to be gone
        broken = write_config(
            {"path": str(broken_source), "columns": RETAIL_COLUMNS, "allow_removed_files": True}
        )
        with pytest.raises(RejectRateExceeded):
            _land(broken, connection)
        assert seen[1] == (1, 15)
        assert list(spill.iterdir()) == []
        # the previous landing stays
        assert _count(connection, "SELECT count(*) FROM raw.transactions") == 284_159


def test_duplicates_count_towards_the_reject_rate(write_config, tmp_path: Path, con) -> None:
    good = BROKEN_ROWS[0][0]
    other = [*good[:3], "7", *good[4:]]
    path = write_csv(tmp_path / "dups.csv", RETAIL_HEADER, [good, good, good, other])
    config = write_config({"path": str(path), "max_reject_rate": 0.4, "columns": RETAIL_COLUMNS})
    with pytest.raises(RejectRateExceeded, match=r"rows rejected") as error:
        _land(config, con)
    assert "transactions: 2 of 4 rows rejected (50.00% > max_reject_rate 40.00%)" in str(
        error.value
    )
    assert "duplicate_row: 2" in str(error.value)


def test_misnamed_source_column_names_the_column_and_file(write_config, broken_source, con) -> None:
    columns = dict(RETAIL_COLUMNS, order_ts="Invoice Date")
    config = write_config({"path": str(broken_source), "columns": columns})
    with pytest.raises(SourceError) as error:
        _land(config, con)
    assert "'Invoice Date' (mapped to order_ts)" in str(error.value)
    assert str(broken_source) in str(error.value)


def test_rerun_replaces_exactly_what_it_wrote(write_config, retail_transactions, con) -> None:
    config = write_config(retail_transactions)
    first = _land(config, con)
    snapshot = con.execute("SELECT * FROM raw.transactions ORDER BY source_row").pl()
    second = _land(config, con)
    assert first == second
    again = con.execute("SELECT * FROM raw.transactions ORDER BY source_row").pl()
    assert again.equals(snapshot)
    assert _count(con, "SELECT count(*) FROM quality.rejected_rows") == first.rejected_rows


def test_failure_mid_write_leaves_previous_tables_intact(
    write_config, retail_transactions, broken_source, con, monkeypatch
) -> None:
    _land(write_config(retail_transactions), con)
    before = _count(con, "SELECT count(*) FROM raw.transactions")
    rejected_before = _count(con, "SELECT count(*) FROM quality.rejected_rows")

    real_read_sql = publishing.read_sql

    def failing_insert(path: str) -> str:
        if path == "raw/insert_rejected_rows.sql":
            return "INSERT INTO quality.rejected_rows SELECT 1/0"  # fails after the swap began
        return real_read_sql(path)

    monkeypatch.setattr(publishing, "read_sql", failing_insert)
    config = write_config(
        {
            "path": str(broken_source),
            "max_reject_rate": 1.0,
            "columns": RETAIL_COLUMNS,
            "allow_removed_files": True,
        }
    )
    with pytest.raises(duckdb.Error):
        _land(config, con)
    assert _count(con, "SELECT count(*) FROM raw.transactions") == before
    assert _count(con, "SELECT count(*) FROM quality.rejected_rows") == rejected_before


def test_columns_are_matched_by_name_not_position(write_config, tmp_path: Path, con) -> None:
    rows = [row for row, reason in BROKEN_ROWS if reason is None]
    order = list(reversed(RETAIL_HEADER))
    write_csv(tmp_path / "a" / "tx.csv", RETAIL_HEADER, rows)
    write_csv(tmp_path / "b" / "tx.csv", order, [list(reversed(r)) for r in rows])
    frames = []
    for folder in ("a", "b"):
        config = write_config(
            {
                "path": str(tmp_path / folder / "tx.csv"),
                "columns": RETAIL_COLUMNS,
                "allow_removed_files": True,
            }
        )
        _land(config, con)
        frames.append(con.execute("SELECT * EXCLUDE (source_file) FROM raw.transactions").pl())
    assert frames[0].equals(frames[1])


def test_parquet_and_csv_sources_land_the_same(write_config, tmp_path: Path, con) -> None:
    rows = [row for row, reason in BROKEN_ROWS if reason is None]
    typed = pl.DataFrame(rows, schema=RETAIL_HEADER, orient="row").with_columns(
        pl.col("Quantity").cast(pl.Int64),
        pl.col("Price").cast(pl.Float64),
        pl.col("Customer ID").cast(pl.Int64),
        pl.col("InvoiceDate").str.to_datetime("%Y-%m-%d %H:%M:%S"),
    )
    (tmp_path / "pq").mkdir()
    typed.write_parquet(tmp_path / "pq" / "tx.parquet")
    write_csv(tmp_path / "csv" / "tx.csv", RETAIL_HEADER, rows)
    frames = []
    for path in (tmp_path / "pq" / "tx.parquet", tmp_path / "csv" / "tx.csv"):
        source = {"path": str(path), "columns": RETAIL_COLUMNS, "allow_removed_files": True}
        _land(write_config(source), con)
        frames.append(con.execute("SELECT * EXCLUDE (source_file) FROM raw.transactions").pl())
    assert frames[0].equals(frames[1])


def test_real_sample_lands_with_independently_counted_rows(
    write_config, retail_transactions, con
) -> None:
    report = _land(write_config(retail_transactions), con)
    # counted straight from the file with DuckDB's own CSV reader, not our code path
    source = f"read_csv('{SAMPLE_CSV}', all_varchar=true)"
    all_columns = ", ".join(f'"{name}"' for name in RETAIL_HEADER)
    total = _count(con, f"SELECT count(*) FROM {source}")
    no_customer = _count(con, f'SELECT count(*) FROM {source} WHERE "Customer ID" IS NULL')
    extra_copies = _count(
        con,
        f"SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {source} "
        f'WHERE "Customer ID" IS NOT NULL GROUP BY {all_columns} HAVING count(*) > 1)',
    )
    assert (total, no_customer, extra_copies) == (290_325, 2_053, 4_113)
    assert report.source_rows == total
    assert report.rejected_by_reason == {
        "duplicate_row": extra_copies,
        "missing_customer_id": no_customer,
    }
    assert report.landed_rows == total - no_customer - extra_copies
    assert _count(con, "SELECT count(DISTINCT customer_id) FROM raw.transactions") == 1_980


def test_batch_size_and_hash_sort_parts_change_nothing_landed_or_quarantined(
    write_config, retail_transactions, tmp_path: Path, monkeypatch
) -> None:
    config = write_config(retail_transactions)
    tables = []
    # 7,000-row batches, and the row hashes sorted in 6 parts instead of one
    for batch_rows, hashes_per_sort in (
        (staging.BATCH_ROWS, staging.HASHES_PER_SORT),
        (7_000, 50_000),
    ):
        monkeypatch.setattr(staging, "BATCH_ROWS", batch_rows)
        monkeypatch.setattr(staging, "HASHES_PER_SORT", hashes_per_sort)
        with duckdb.connect(str(tmp_path / f"batches_{batch_rows}.duckdb")) as connection:
            _land(config, connection)
            tables.append(
                (
                    # a set of rows: landing writes in parallel, in no particular order
                    connection.execute(
                        "SELECT * FROM raw.transactions ORDER BY source_file, source_row"
                    ).pl(),
                    connection.execute(
                        "SELECT * EXCLUDE (rejected_at) FROM quality.rejected_rows"
                    ).pl(),
                )
            )
    # 290,325 rows in 42 batches: most of the 4,113 duplicates are in another batch
    assert tables[0][0].height == 284_159
    assert tables[0][1].height == 4_113 + 2_053
    assert tables[0][0].equals(tables[1][0])
    assert tables[0][1].equals(tables[1][1])
    assert tables[0][1].get_column("raw_values").null_count() == 0


@pytest.mark.parametrize("hashes_per_sort", [1_000, 2, 1])
def test_repeated_hashes_are_those_of_good_rows_that_repeat(
    tmp_path: Path, monkeypatch, hashes_per_sort: int
) -> None:
    monkeypatch.setattr(staging, "HASHES_PER_SORT", hashes_per_sort)
    schema = {"row_hash": pl.UInt64, "reason": pl.String}
    files = [tmp_path / "000000.parquet", tmp_path / "000001.parquet", tmp_path / "empty.parquet"]
    # 2 repeats within a file, 3 across files, 7 three times; 4 repeats only with a rejected row
    pl.DataFrame(
        {"row_hash": [1, 2, 3, 2, 4, 7, 2**64 - 1], "reason": [None] * 4 + ["bad", None, None]},
        schema=schema,
    ).write_parquet(files[0])
    pl.DataFrame(
        {"row_hash": [3, 4, 5, 7, 7, 2**64 - 1], "reason": [None] * 6}, schema=schema
    ).write_parquet(files[1])
    pl.DataFrame(schema=schema).write_parquet(files[2])
    found = staging.repeated_hashes(files)
    assert found.schema == pl.Schema({"row_hash": pl.UInt64})
    assert sorted(found.get_column("row_hash").to_list()) == [2, 3, 7, 2**64 - 1]
    assert staging.repeated_hashes(files[2:]).height == 0


EMPTY_CUSTOMERS_TABLE = (
    "CREATE SCHEMA raw; CREATE TABLE raw.customers (customer_id VARCHAR, signup_date DATE, "
    "birth_date DATE, gender VARCHAR, income DOUBLE, region VARCHAR, country VARCHAR, "
    "industry VARCHAR, acquisition_channel VARCHAR, email VARCHAR, phone VARCHAR, "
    "name VARCHAR, source_file VARCHAR, source_row BIGINT)"
)
CUSTOMER_HEADER = ["id", "created_at", "dob", "income", "email", "name"]
CUSTOMER_ROWS: list[tuple[list[str], str | None]] = [
    (["c1", "2010-01-05", "1980-02-29", "52000", "a@example.com", "Ann"], None),
    (["c1", "2010-01-05", "1980-02-29", "52000", "a@example.com", "Ann"], "duplicate_row"),
    (["c1", "2011-03-01", "1980-02-29", "60000", "a2@example.com", "Ann"], "duplicate_customer_id"),
    (["c2", "05/01/2010", "1990-01-01", "1", "b@example.com", "Bo"], "unparseable_date"),
    (["c3", "2010-01-05", "1990-01-01", "lots", "c@example.com", "Cy"], "unparseable_number"),
    (["", "2010-01-05", "1990-01-01", "1", "d@example.com", "Di"], "missing_customer_id"),
    (["c5", "2099-01-01", "1990-01-01", "1", "e@example.com", "Ed"], "date_in_future"),
    (["c6", "", "", "", "", ""], None),
]


def test_customer_rows_land_once_per_id(write_config, tmp_path: Path, con) -> None:
    path = write_csv(tmp_path / "customers.csv", CUSTOMER_HEADER, [r for r, _ in CUSTOMER_ROWS])
    source = tmp_path / "tx.csv"
    write_csv(source, RETAIL_HEADER, [BROKEN_ROWS[0][0]])
    config = write_config(
        {"path": str(source), "columns": RETAIL_COLUMNS},
        sources={
            "transactions": {"path": str(source), "columns": RETAIL_COLUMNS},
            "customers": {
                "path": str(path),
                "max_reject_rate": 1.0,
                "columns": {
                    "customer_id": "id",
                    "signup_date": "created_at",
                    "birth_date": "dob",
                    "income": "income",
                    "email": "email",
                    "name": "name",
                },
            },
        },
    )
    report = land_source(con, "customers", config.sources.customers, LANDING_NOW)
    expected = Counter(reason for _, reason in CUSTOMER_ROWS if reason is not None)
    assert report.rejected_by_reason == dict(expected)
    landed = con.execute(
        "SELECT customer_id, signup_date::VARCHAR, income, email FROM raw.customers ORDER BY 1"
    ).fetchall()
    assert landed == [
        ("c1", "2010-01-05", 52000.0, "a@example.com"),
        ("c6", None, None, None),
    ]
    assert report.landed_rows + report.rejected_rows == len(CUSTOMER_ROWS)


def test_contract_check_sees_duplicates_across_batches(tmp_path: Path, monkeypatch) -> None:
    warehouse = Warehouse(path=str(tmp_path / "checks.duckdb"))
    with warehouse.connect() as con:
        con.execute(EMPTY_CUSTOMERS_TABLE)
        con.execute(
            "INSERT INTO raw.customers (customer_id, source_file, source_row) "
            "VALUES ('a', 'f', 1), ('b', 'f', 2), ('a', 'f', 3)"
        )
    monkeypatch.setattr(validation, "BATCH_ROWS", 1)  # every row in its own batch
    with warehouse.connect() as con:
        rows, failures = validation.validate_table(con, "raw.customers", CustomersContract)
    assert failures is not None
    assert failures.to_dicts() == [{"customer_id": "a", "copies": 2}]
    with warehouse.connect() as con:
        con.execute("DELETE FROM raw.customers WHERE source_row = 3")
        rows, failures = validation.validate_table(con, "raw.customers", CustomersContract)
    assert (rows, failures) == (2, None)
