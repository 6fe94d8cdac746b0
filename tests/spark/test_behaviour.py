"""The first vertical slice of the Spark engine: features.customer_behaviour computed by Spark
on local[2] (the lake's raw tables shuffled by customer bucket, the DuckDB engine's own code run
on each bucket inside the tasks) equals the DuckDB engine's table: same rows, same columns and
types, numbers equal to 1e-9 relative (here: bit for bit)."""

from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from segmentation.config import SegmentationConfig
from segmentation.engines.compare import frame_differences
from segmentation.engines.spark.behaviour import customer_behaviour
from segmentation.engines.spark.buckets import BUCKET_COLUMN, with_customer_bucket
from segmentation.engines.spark.lake import export_raw, read_table, table_location, write_months
from segmentation.keys import BEHAVIOUR_TABLE, KEY_COLUMNS
from segmentation.sql_files import read_sql
from tests.spark.equality import assert_same_table
from tests.spark.reference import behaviour_months

pytestmark = pytest.mark.spark

# every partition of the real sample's config, 2009-12 .. 2011-11, and a day before its first
# transaction (no customer yet)
RETAIL_SNAPSHOTS = [
    date(2009, 11, 30),
    *pl.date_range(date(2009, 12, 1), date(2011, 11, 1), "1mo", eager=True)
    .dt.month_end()
    .to_list(),
]
GENERATED_SNAPSHOTS = [date(2010, 1, 31), date(2010, 7, 31), date(2011, 2, 28), date(2011, 12, 31)]


def _duckdb_engine(
    con: duckdb.DuckDBPyConnection, snapshots: list[date], config: SegmentationConfig
) -> pl.DataFrame:
    return pl.concat(behaviour_months(con, snapshots, config))


def _spark_engine(spark, lake: str, snapshots, config, buckets=None) -> pl.DataFrame:
    frame = pl.from_arrow(customer_behaviour(spark, lake, snapshots, config, buckets).toArrow())
    assert isinstance(frame, pl.DataFrame)
    return frame


def test_spark_equals_duckdb_on_the_real_sample_for_every_month(
    spark, retail, tmp_path: Path
) -> None:
    config, con = retail
    lake = str(tmp_path / "lake")
    export_raw(con, lake)
    expected = _duckdb_engine(con, RETAIL_SNAPSHOTS, config)
    actual = _spark_engine(spark, lake, RETAIL_SNAPSHOTS, config)
    assert expected.height > 20_000
    assert frame_differences(actual, expected) == []
    # bit for bit, not only within the tolerance
    assert actual.sort(KEY_COLUMNS).equals(expected.sort(KEY_COLUMNS))


def test_spark_equals_duckdb_on_generated_customers_in_more_buckets_than_cores(
    spark, generated, tmp_path: Path
) -> None:
    config, con = generated
    lake = str(tmp_path / "lake")
    export_raw(con, lake)
    expected = _duckdb_engine(con, GENERATED_SNAPSHOTS, config)
    # 7 buckets on 2 cores; with 1,500 customers some buckets hold customers who never bought
    actual = _spark_engine(spark, lake, GENERATED_SNAPSHOTS, config, buckets=7)
    never_bought = expected.filter(pl.col("orders") == 0).height
    assert never_bought > 0
    assert expected.get_column("dominant_channel").n_unique() > 2
    assert_same_table(actual, expected)


def test_the_spark_bucket_is_the_duckdb_engines_bucket(spark, retail, tmp_path: Path) -> None:
    config, con = retail
    lake = str(tmp_path / "lake")
    export_raw(con, lake)
    buckets = 7
    transactions = read_table(spark, lake, "raw.transactions").select("customer_id")
    in_spark = pl.from_arrow(with_customer_bucket(transactions, buckets).distinct().toArrow()).sort(
        "customer_id"
    )
    # the bucket files the DuckDB engine splits the transactions into
    con.execute(
        read_sql("features/customer_bucket_files.sql"),
        {
            "directory": str(tmp_path / "duckdb-buckets"),
            "snapshot_dates": [date(2099, 12, 31)],
            "customer_buckets": buckets,
        },
    )
    in_duckdb = (
        pl.read_parquet(tmp_path / "duckdb-buckets" / "**" / "*.parquet", hive_partitioning=True)
        .select("customer_id", pl.col(BUCKET_COLUMN).cast(pl.Int64))
        .unique()
        .sort("customer_id")
    )
    assert in_duckdb.get_column(BUCKET_COLUMN).n_unique() == buckets
    assert in_spark.equals(in_duckdb)


def test_the_export_leaves_out_personal_data(generated, tmp_path: Path) -> None:
    config, con = generated
    folders = export_raw(con, str(tmp_path / "lake"))
    customers = pq.read_table(folders["raw.customers"]).to_pydict()
    landed = con.execute("SELECT count(*), count(email), count(name) FROM raw.customers").fetchone()
    assert landed[0] == len(customers["customer_id"]) and landed[1] > 0 and landed[2] > 0
    for column in ("name", "email", "phone"):
        assert set(customers[column]) == {None}
    # no landed e-mail address anywhere in the lake's files
    emails = [row[0] for row in con.execute("SELECT email FROM raw.customers LIMIT 50").fetchall()]
    content = b"".join(path.read_bytes() for path in (tmp_path / "lake").rglob("*.parquet"))
    assert not [email for email in emails if email.encode() in content]
    assert set(customers["income"]) != {None}
    # a re-export replaces the file; no partial file is left behind
    export_raw(con, str(tmp_path / "lake"))
    assert sorted(path.name for path in (tmp_path / "lake" / "raw" / "customers").iterdir()) == [
        "part-00000.parquet"
    ]


def test_months_written_to_the_lake_replace_only_their_own(spark, retail, tmp_path: Path) -> None:
    config, con = retail
    lake = str(tmp_path / "lake")
    export_raw(con, lake)
    months = [date(2010, 6, 30), date(2010, 12, 31)]
    write_months(customer_behaviour(spark, lake, months, config), lake, BEHAVIOUR_TABLE)
    write_months(customer_behaviour(spark, lake, months[1:], config), lake, BEHAVIOUR_TABLE)
    folder = Path(table_location(lake, BEHAVIOUR_TABLE))
    assert sorted(path.name for path in folder.glob("snapshot_date=*")) == [
        "snapshot_date=2010-06-30",
        "snapshot_date=2010-12-31",
    ]
    written = pl.from_arrow(read_table(spark, lake, BEHAVIOUR_TABLE).toArrow())
    expected = _duckdb_engine(con, months, config)

    def per_month(frame: pl.DataFrame) -> list[tuple[date, int]]:
        return sorted(frame.group_by("snapshot_date").len().iter_rows())

    assert per_month(written) == per_month(expected)
