"""Writing one month of a monthly asset: checked first, then one transaction for all its tables."""

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pandera.polars as pa
import polars as pl
import pytest

from assets.monthly import ContractViolation, MonthlyTable, write_month
from segmentation.keys import BEHAVIOUR_TABLE, CLV_TABLE, ordered_by
from segmentation.monthly import read_behaviour_with_clv, read_month
from segmentation.sql_files import read_sql
from segmentation.warehouse import (
    frame_of,
    lowered_memory_limit,
    memory_limit_bytes,
    read_partitions,
    release_cached_blocks,
    replace_partitions_together,
    scratch_directory,
)

JAN, FEB = date(2011, 1, 31), date(2011, 2, 28)


class Tiny(pa.DataFrameModel):
    """A small contract in the shape of the monthly tables."""

    snapshot_date: date = pa.Field(description="As-of date.")
    customer_id: str = pa.Field(description="Customer id.")
    value: pl.Int64 = pa.Field(ge=0, description="Some count.")

    class Config:
        strict = True
        unique = ["snapshot_date", "customer_id"]


def _month(snapshot: date, values: list[int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "snapshot_date": [snapshot] * len(values),
            "customer_id": [f"c{i}" for i in range(len(values))],
            "value": values,
        },
        schema={"snapshot_date": pl.Date, "customer_id": pl.String, "value": pl.Int64},
    )


def _rows(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    return con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        yield connection


@pytest.fixture
def tables(con: duckdb.DuckDBPyConnection) -> tuple[MonthlyTable, MonthlyTable]:
    """Two tables holding January and February."""
    first, second = MonthlyTable("features.first", Tiny), MonthlyTable("marts.second", Tiny)
    for snapshot in (JAN, FEB):
        write_month(
            con, snapshot, (first, _month(snapshot, [1, 2])), (second, _month(snapshot, [3]))
        )
    return first, second


def test_a_month_replaces_only_that_month(con, tables) -> None:
    first, second = tables
    write_month(con, FEB, (first, _month(FEB, [7, 8, 9])), (second, _month(FEB, [4])))
    assert _rows(con, "features.first") == [
        (JAN, "c0", 1),
        (JAN, "c1", 2),
        (FEB, "c0", 7),
        (FEB, "c1", 8),
        (FEB, "c2", 9),
    ]
    assert _rows(con, "marts.second") == [(JAN, "c0", 3), (FEB, "c0", 4)]


def test_a_contract_violation_names_table_and_snapshot_and_writes_nothing(con, tables) -> None:
    first, second = tables
    before = {table: _rows(con, table) for table in ("features.first", "marts.second")}
    with pytest.raises(ContractViolation) as failure:
        write_month(con, FEB, (first, _month(FEB, [5])), (second, _month(FEB, [-1])))
    assert failure.value.description.startswith(
        "marts.second for snapshot 2011-02-28 breaks Tiny; nothing of this snapshot was written"
    )
    assert failure.value.metadata["snapshot_date"].value == "2011-02-28"
    # the valid first table of the month was not written either
    assert {table: _rows(con, table) for table in before} == before
    # nor recorded: the run's metadata keeps what was written
    assert first.rows == {JAN: 2, FEB: 2}


def test_a_failing_write_rolls_back_every_table_of_the_month(con, tables) -> None:
    before = {table: _rows(con, table) for table in ("features.first", "marts.second")}
    # the second table's value column is BIGINT: text that is no number fails the insert
    broken = _month(FEB, [6]).with_columns(pl.lit("not a number").alias("value"))
    with pytest.raises(duckdb.ConversionException):
        replace_partitions_together(
            con,
            {"features.first": _month(FEB, [5]), "marts.second": broken},
            "snapshot_date",
            [FEB],
        )
    assert {table: _rows(con, table) for table in before} == before


def test_an_empty_month_removes_that_month(con, tables) -> None:
    first, _ = tables
    write_month(con, FEB, (first, _month(FEB, [])))
    assert _rows(con, "features.first") == [(JAN, "c0", 1), (JAN, "c1", 2)]


def test_metadata_counts_every_month_and_describes_each_month(con) -> None:
    months: dict = {}
    table = MonthlyTable(
        "features.first",
        Tiny,
        lambda month: {"total": int(month["value"].sum())},
        on_month=months.__setitem__,
    )
    write_month(con, JAN, (table, _month(JAN, [1, 2, 3])))
    write_month(con, FEB, (table, _month(FEB, [4, 5])))
    assert {snapshot: m["dagster/row_count"] for snapshot, m in months.items()} == {JAN: 3, FEB: 2}
    assert {snapshot: m["total"] for snapshot, m in months.items()} == {JAN: 6, FEB: 9}
    assert months[FEB]["snapshot_date"] == "2011-02-28"
    assert "2011-02-28" in months[FEB]["preview"].value
    assert "2011-01-31" not in months[FEB]["preview"].value
    metadata = table.metadata()
    assert metadata["dagster/row_count"] == 5
    assert metadata["snapshots"] == 2
    assert metadata["table"] == "features.first"
    per_month = {
        r.data["snapshot_date"]: r.data["rows"] for r in metadata["rows_per_snapshot"].records
    }
    assert per_month == {"2011-01-31": 3, "2011-02-28": 2}
    assert [column.name for column in metadata["dagster/column_schema"].columns] == [
        "snapshot_date",
        "customer_id",
        "value",
    ]


@pytest.mark.parametrize(
    ("snapshots", "customers", "expected"),
    [
        ([JAN, JAN, FEB], ["a", "b", "a"], True),
        ([JAN, JAN, JAN], ["a", "a", "b"], True),  # equal keys allowed
        ([JAN, FEB, JAN], ["a", "a", "b"], False),
        ([JAN, JAN, FEB], ["b", "a", "a"], False),
        ([JAN, JAN, FEB], ["a", None, "b"], False),  # a null key: not in DuckDB's order
        ([JAN], ["a"], True),
    ],
)
def test_ordered_by_snapshot_then_customer(snapshots, customers, expected) -> None:
    frame = pl.DataFrame(
        {"snapshot_date": snapshots, "customer_id": customers},
        schema={"snapshot_date": pl.Date, "customer_id": pl.String},
    )
    assert ordered_by(frame, ["snapshot_date", "customer_id"]) is expected


def test_a_month_reads_back_in_key_order_however_it_was_written(con) -> None:
    in_order = _month(JAN, [5, 6, 7])
    write_month(con, JAN, (MonthlyTable("features.first", Tiny), in_order))
    assert read_month(con, "features.first", JAN).equals(in_order)
    # rows written out of key order (c10 < c2 as text) come back sorted
    shuffled = pl.DataFrame(
        {"snapshot_date": [FEB] * 3, "customer_id": ["c2", "c10", "c1"], "value": [2, 10, 1]},
        schema=in_order.schema,
    )
    replace_partitions_together(con, {"features.first": shuffled}, "snapshot_date", [FEB])
    back = read_month(con, "features.first", FEB)
    assert back.get_column("customer_id").to_list() == ["c1", "c10", "c2"]
    assert back.get_column("value").to_list() == [1, 10, 2]


def _behaviour_and_clv(con, clv_customers: list[str]) -> None:
    behaviour = pl.DataFrame(
        {"snapshot_date": [JAN] * 3, "customer_id": ["a", "b", "c"], "orders": [1, 2, 3]},
        schema={"snapshot_date": pl.Date, "customer_id": pl.String, "orders": pl.Int64},
    )
    clv = pl.DataFrame(
        {
            "snapshot_date": [JAN] * len(clv_customers),
            "customer_id": clv_customers,
            "clv_12m": [10.0 * (i + 1) for i in range(len(clv_customers))],
        },
        schema={"snapshot_date": pl.Date, "customer_id": pl.String, "clv_12m": pl.Float64},
    )
    replace_partitions_together(
        con, {BEHAVIOUR_TABLE: behaviour, CLV_TABLE: clv}, "snapshot_date", [JAN]
    )


@pytest.mark.parametrize(
    ("clv_customers", "expected_clv"),
    [
        (["a", "b", "c"], [10.0, 20.0, 30.0]),  # the same customers: side by side, no join
        (["a", "c"], [10.0, None, 20.0]),  # a customer without CLV: joined, null
    ],
)
def test_behaviour_with_clv_equals_the_join(con, clv_customers, expected_clv) -> None:
    _behaviour_and_clv(con, clv_customers)
    month = read_behaviour_with_clv(con, JAN)
    joined = con.execute(read_sql("features/behaviour_with_clv.sql"), {"snapshot_date": JAN}).pl()
    assert month.equals(joined)
    assert month.columns == ["snapshot_date", "customer_id", "orders", "clv_12m"]
    assert month.get_column("clv_12m").to_list() == expected_clv


def test_months_in_key_order_are_read_without_a_sort(con, monkeypatch) -> None:
    # 5 months of 200,000 customers: months of several row groups, scanned by several threads
    # (a read through `IN (SELECT unnest(...))`, a join, came back out of order here)
    months = [date(2011, m, 1) for m in range(1, 6)]
    con.execute("SET threads = 4")
    con.execute(
        "CREATE SCHEMA features; CREATE TABLE features.first AS "
        "SELECT m AS snapshot_date, printf('c%06d', c) AS customer_id, c AS value "
        "FROM unnest(?::DATE[]) AS t(m), range(200000) AS r(c) ORDER BY m, c",
        [months],
    )

    def no_sort(*args, **kwargs):
        raise AssertionError("a month read back in key order was sorted again")

    monkeypatch.setattr(pl.DataFrame, "sort", no_sort)
    for snapshot in (months[1], months[4]):
        month = read_month(con, "features.first", snapshot)
        assert month.height == 200_000
        assert ordered_by(month, ["snapshot_date", "customer_id"])
    both = read_partitions(con, "features.first", "snapshot_date", [months[2], months[3]])
    assert both.height == 400_000
    assert ordered_by(both, ["snapshot_date", "customer_id"])


def test_a_read_of_some_columns_gives_those_the_table_has_in_its_order_and_the_keys(con) -> None:
    con.execute(
        "CREATE SCHEMA features; CREATE TABLE features.wide AS SELECT "
        "DATE '2011-01-31' + INTERVAL (m) MONTH AS snapshot_date, printf('c%d', c) AS customer_id, "
        "c AS a, c * 2 AS b, c * 3 AS c FROM range(2) AS s(m), range(3) AS r(c) ORDER BY m, c"
    )
    whole = read_partitions(con, "features.wide")
    # asked out of order, with a column the table lacks (written before it existed): the
    # table's order, the keys always, the missing column not invented
    some = read_partitions(con, "features.wide", columns=["c", "not_there", "a"])
    assert some.columns == ["snapshot_date", "customer_id", "a", "c"]
    assert some.equals(whole.select(some.columns))
    month = read_month(con, "features.wide", JAN, columns=("b",))
    assert month.columns == ["snapshot_date", "customer_id", "b"]
    assert month.equals(whole.filter(pl.col("snapshot_date") == JAN).select(month.columns))
    assert read_month(con, "features.wide", JAN).equals(whole.filter(snapshot_date=JAN))
    con.execute("CREATE TABLE features.keyless AS SELECT 1 AS a")
    with pytest.raises(ValueError, match=r"features.keyless has none of the columns \['b'\]"):
        read_partitions(con, "features.keyless", columns=["b"])


def test_a_result_becomes_one_chunk_per_column_with_duckdbs_types(con) -> None:
    # 2.5M rows: DuckDB's own conversion hands them over in three 1M-row chunks
    query = (
        "SELECT range AS n, printf('c%07d', range) AS customer_id, "
        "DATE '2011-01-01' + (range % 365)::INTEGER AS day, range % 7 = 0 AS flag, "
        "(range / 3)::DECIMAL(18, 3) AS money, CASE WHEN range % 5 = 0 THEN NULL "
        "ELSE range * 0.5 END AS maybe, TIMESTAMP '2011-01-01 00:00:00' AS ts "
        "FROM range(2500000)"
    )
    frame = frame_of(con.execute(query))
    duckdb_own = con.execute(query).pl()
    assert duckdb_own.n_chunks("all")[0] > 1
    assert set(frame.n_chunks("all")) == {1}
    assert frame.equals(duckdb_own)
    assert frame.schema == duckdb_own.schema
    empty = frame_of(con.execute(f"{query} LIMIT 0"))
    assert empty.height == 0 and empty.schema == duckdb_own.schema


def _cached_table_mib(con: duckdb.DuckDBPyConnection) -> float:
    return con.execute(
        "SELECT memory_usage_bytes / 2 ** 20 FROM duckdb_memory() WHERE tag = 'BASE_TABLE'"
    ).fetchone()[0]


def _memory_limit(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]


@pytest.mark.parametrize("configured", ["1GB", None])
def test_the_blocks_a_read_cached_are_given_back_and_the_limit_restored(
    tmp_path, configured
) -> None:
    config = {"memory_limit": configured} if configured else {}
    path = str(tmp_path / "warehouse.duckdb")
    with duckdb.connect(path) as default:
        default_limit = _memory_limit(default)
        default.execute(
            "CREATE SCHEMA features; CREATE TABLE features.first AS SELECT DATE '2011-01-31' "
            "AS snapshot_date, printf('c%07d', range) AS customer_id, hash(range) AS value "
            "FROM range(4000000)"
        )
    with duckdb.connect(path, config=config) as con:
        limit = _memory_limit(con)
        assert limit == (default_limit if configured is None else "953.6 MiB")
        month = read_month(con, "features.first", JAN)
        assert _cached_table_mib(con) > 48
        if configured:
            # the configured limit comes back, not whatever the connection had meanwhile
            con.execute("SET memory_limit = '2GB'")
        release_cached_blocks(con, configured)
        assert _cached_table_mib(con) < 16
        # DuckDB's default is set again as DuckDB reported it, to 0.1 GiB, and reported back
        # rounded down once more ('18.8 GiB' -> '18.7 GiB'); a configured limit exactly
        restored = memory_limit_bytes(_memory_limit(con))
        assert restored == pytest.approx(memory_limit_bytes(limit), abs=0.2 * 2**30)
        if configured:
            assert _memory_limit(con) == limit
        release_cached_blocks(con, configured)
        assert memory_limit_bytes(_memory_limit(con)) == restored
        # the buffer pool got its limit back too: ~150 MB held in memory, nowhere to spill
        con.execute("SET temp_directory = ''")
        con.execute("CREATE TEMP TABLE held AS SELECT md5(range::VARCHAR) FROM range(3000000)")
        # what was read is untouched, and the table reads again
        assert month.height == 4_000_000
        assert read_month(con, "features.first", JAN).equals(month)


def _memory_mib(con: duckdb.DuckDBPyConnection) -> tuple[float, float]:
    """What DuckDB holds in memory and in its spill files, in MiB."""
    return con.execute(
        "SELECT sum(memory_usage_bytes) / 2 ** 20, sum(temporary_storage_bytes) / 2 ** 20 "
        "FROM duckdb_memory()"
    ).fetchone()


@pytest.mark.parametrize(
    ("configured", "lowered", "restored"),
    [
        ("4GB", "953.6 MiB", "3.7 GiB"),  # a quarter
        ("512MB", "256.0 MiB", "488.2 MiB"),  # a quarter is less than the least: the least
        ("100MB", "95.3 MiB", "95.3 MiB"),  # the least is more than the limit: the limit
    ],
)
def test_a_lowered_memory_limit_holds_inside_the_block_and_the_configured_one_after(
    tmp_path, configured: str, lowered: str, restored: str
) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb"), config={"memory_limit": configured}) as con:
        # a temp table of ~305 MiB: more than the two lower limits, less than the first
        con.execute("CREATE TEMP TABLE kept AS SELECT range AS n FROM range(40000000)")
        with lowered_memory_limit(con, configured):
            assert _memory_limit(con) == lowered
            # held, not only reported: what does not fit went to the spill files
            in_memory, spilled = _memory_mib(con)
            assert in_memory <= memory_limit_bytes(lowered) / 2**20
            assert (spilled > 0) == (memory_limit_bytes(lowered) < 305 * 2**20)
            assert con.execute("SELECT sum(n) FROM kept").fetchone()[0] == 799999980000000
        assert _memory_limit(con) == restored
        # set back even when the block fails, and to the configured value, not the one read back
        con.execute("SET memory_limit = '2GB'")
        with pytest.raises(duckdb.BinderException), lowered_memory_limit(con, configured):
            assert _memory_limit(con) == lowered
            con.execute("SELECT no_such_column FROM kept")
        assert _memory_limit(con) == restored


def test_memory_duckdb_cannot_give_back_leaves_the_limit_as_configured() -> None:
    # an in-memory database without a temp directory cannot evict a temp table's blocks
    with duckdb.connect(config={"memory_limit": "1GB", "temp_directory": ""}) as con:
        con.execute("CREATE TEMP TABLE held AS SELECT md5(range::VARCHAR) FROM range(1000000)")
        with pytest.raises(duckdb.OutOfMemoryException):
            con.execute("SET memory_limit = '16MB'")
        con.execute("SET memory_limit = '1GB'")
        release_cached_blocks(con, "1GB")
        assert _memory_limit(con) == "953.6 MiB"
        assert con.execute("SELECT count(*) FROM held").fetchone()[0] == 1_000_000


def test_a_scratch_directory_leaves_duckdbs_spill_directory_usable(tmp_path) -> None:
    # DuckDB creates its spill directory once: removed under it, the next spill fails
    spill = tmp_path / "spill"
    config = {"memory_limit": "100MB", "temp_directory": str(spill)}
    big = "SELECT md5(range::VARCHAR) AS s FROM range(3000000)"
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), config=config) as con:
        with scratch_directory(con, "test-") as directory:
            assert directory.parent == spill
            (directory / "staged.parquet").write_bytes(b"")
            con.execute(f"CREATE TEMP TABLE spilled AS {big}")
            con.execute("DROP TABLE spilled")
        assert not directory.exists()
        con.execute(f"CREATE TEMP TABLE spilled_again AS {big}")
        assert con.execute("SELECT count(*) FROM spilled_again").fetchone()[0] == 3_000_000


def test_a_lowered_limit_duckdb_cannot_hold_is_logged_and_the_block_still_runs(caplog) -> None:
    # in memory with nowhere to spill, a ~305 MiB temp table cannot leave a 256 MiB limit
    with duckdb.connect(config={"memory_limit": "512MB", "temp_directory": ""}) as con:
        con.execute("CREATE TEMP TABLE kept AS SELECT range AS n FROM range(40000000)")
        with (
            caplog.at_level("WARNING", logger="segmentation.warehouse"),
            lowered_memory_limit(con, "512MB"),
        ):
            assert con.execute("SELECT count(*) FROM kept").fetchone()[0] == 40_000_000
        assert _memory_limit(con) == "488.2 MiB"
    [record] = caplog.records
    assert record.getMessage().startswith(
        "DuckDB could not lower its memory_limit to 268435456 bytes: Out of Memory Error"
    )
