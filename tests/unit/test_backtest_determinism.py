"""marts.clv_backtest is the same, bit for bit, every time it is computed from the same data."""

import struct
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from assets.evaluation.assets import clv_backtest
from assets.resources import Warehouse

CUSTOMERS = 50_000
SNAPSHOTS = 3
RUNS = 4


def _warehouse(path: Path) -> None:
    """Predictions spread over seven orders of magnitude (their float sums depend on the order
    they are added in) and a year of purchases after the snapshots."""
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA features; CREATE SCHEMA raw")
        con.execute(
            f"""
            CREATE TABLE features.customer_clv AS
            SELECT (DATE '2011-01-31' + INTERVAL (m) MONTH)::DATE AS snapshot_date,
                'c' || i AS customer_id,
                (hash(i, m) % 100000) / 7919.0 * pow(10, (hash(i) % 7)::INT - 3)
                    AS expected_purchases_90d,
                'bgnbd_gamma_gamma' AS clv_method
            FROM range({CUSTOMERS}) AS r(i), range({SNAPSHOTS}) AS s(m)
            """
        )
        con.execute(
            f"""
            CREATE TABLE raw.transactions AS
            SELECT 'c' || (hash(j) % {CUSTOMERS}) AS customer_id,
                TIMESTAMP '2011-02-01' + INTERVAL (hash(j, 1) % 300) DAY AS order_ts,
                false AS is_return
            FROM range({CUSTOMERS * 3}) AS r(j)
            """
        )


def _bits(frame: pl.DataFrame) -> list[tuple]:
    """Every value, floats as their exact 8 bytes (equal floats print alike; this tells apart
    values that differ in the last bit)."""
    return [
        tuple(struct.pack("<d", v) if isinstance(v, float) else v for v in row)
        for row in frame.iter_rows()
    ]


def test_clv_backtest_is_identical_across_runs(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    _warehouse(path)
    # several threads, as on any multi-core machine: the aggregation runs in parallel
    warehouse = Warehouse(path=str(path), threads=4)
    results = [
        _bits(clv_backtest(context=dg.build_asset_context(), warehouse=warehouse))
        for _ in range(RUNS)
    ]
    assert len(results[0]) == SNAPSHOTS
    assert all(result == results[0] for result in results[1:])
