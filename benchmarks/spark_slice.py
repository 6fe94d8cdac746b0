"""The Spark engine's first slice against the DuckDB engine: ``features.customer_behaviour`` for
every month of a config, each engine in a fresh process, wall time and peak RSS of the whole
process tree (Spark's Java process and its Python workers included), and whether the two tables
are the same (``segmentation.engines.compare``, 1e-9 relative).

    python -m benchmarks.spark_slice --config config/online_retail_sample.yaml
    python -m benchmarks.spark_slice --data /tmp/spark-gen      # synthetic.generate output

The sources are landed once by the DuckDB engine (not timed). DuckDB then computes the months
and writes them into the warehouse as the asset does; Spark (``--master``, default local[2])
reads the raw tables exported into a lake, computes on customer buckets and writes the months
to the lake as Parquet.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import yaml

from benchmarks.measure import MIB, TreePeak
from segmentation.config import (
    SegmentationConfig,
    custom_attributes,
    load_config,
    month_end,
    pii_source_columns,
)
from segmentation.keys import BEHAVIOUR_TABLE, SNAPSHOT_COLUMN
from segmentation.raw.landing import land_source
from segmentation.raw.publishing import empty_customers_table
from segmentation.sql_files import read_sql

ROOT = Path(__file__).resolve().parents[1]


def _snapshots(config: SegmentationConfig) -> list:
    """Every month end of the config's partitions."""
    start = datetime.strptime(config.snapshots.start, "%Y-%m")
    end = datetime.strptime(config.snapshots.end or config.snapshots.start, "%Y-%m")
    keys = pl.date_range(start, end, "1mo", eager=True).dt.strftime("%Y-%m").to_list()
    return [month_end(key) for key in keys]


def _duckdb(config: SegmentationConfig, warehouse: Path, out: Path) -> dict[str, Any]:
    from segmentation.monthly import customer_behaviour_months
    from segmentation.warehouse import read_partitions, replace_partitions

    snapshots = _snapshots(config)
    started = time.perf_counter()
    rows = 0
    with duckdb.connect(str(warehouse)) as con:
        months = customer_behaviour_months(con, snapshots, config)
        for snapshot, month in zip(snapshots, months, strict=True):
            replace_partitions(con, BEHAVIOUR_TABLE, month, SNAPSHOT_COLUMN, [snapshot])
            rows += month.height
        seconds = time.perf_counter() - started
        read_partitions(con, BEHAVIOUR_TABLE).write_parquet(out)
    return {"compute and write": seconds, "rows": rows}


def _spark(config: SegmentationConfig, warehouse: Path, lake: str, master: str) -> dict[str, Any]:
    from segmentation.engines.settings import SparkSettings
    from segmentation.engines.spark.behaviour import customer_behaviour
    from segmentation.engines.spark.lake import export_raw, write_months
    from segmentation.engines.spark.session import start_session

    started = time.perf_counter()
    spark = start_session(SparkSettings(master=master, lake=lake))
    session = time.perf_counter() - started
    started = time.perf_counter()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        export_raw(con, lake)
    export = time.perf_counter() - started
    started = time.perf_counter()
    frame = customer_behaviour(spark, lake, _snapshots(config), config)
    write_months(frame, lake, BEHAVIOUR_TABLE)
    seconds = time.perf_counter() - started
    spark.stop()
    return {"session start": session, "raw export": export, "compute and write": seconds}


def _engine(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    with TreePeak() as peak:
        if args.engine == "duckdb":
            result = _duckdb(config, Path(args.warehouse), Path(args.out))
        else:
            result = _spark(config, Path(args.warehouse), args.lake, args.master)
    result["peak RSS MiB"] = peak.peak / MIB
    sys.stdout.write(json.dumps(result) + "\n")


def _config_for(args: argparse.Namespace, work: Path) -> Path:
    if args.config:
        raw = yaml.safe_load(Path(args.config).read_text())
        base = Path(args.config).resolve().parent
        for block in raw["sources"].values():
            block["path"] = str((base / block["path"]).resolve())
    else:
        raw = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
        raw["sources"] = {key: raw["sources"][key] for key in ("transactions", "customers")}
        # data drawn without the catalogue has no lifestyle survey
        raw["sources"]["customers"]["columns"].pop("lifestyle", None)
        raw.get("segments", {}).get("extra_columns", {}).pop("lifestyle", None)
        raw["sources"]["transactions"]["path"] = str(Path(args.data) / "transactions/*.parquet")
        raw["sources"]["customers"]["path"] = str(Path(args.data) / "customers.parquet")
        raw["snapshots"] = {"start": "2010-01", "end": "2011-12"}
    raw["warehouse"] = str(work / "warehouse.duckdb")
    raw["serving"] = str(work / "serving.duckdb")
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _run(command: list[str]) -> dict[str, Any]:
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-4000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", help="a config whose sources to use")
    source.add_argument("--data", help="a synthetic.generate output folder")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--engine", choices=("duckdb", "spark"), help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", help=argparse.SUPPRESS)
    parser.add_argument("--lake", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.engine:
        _engine(args)
        return
    from segmentation.engines.compare import frame_differences
    from segmentation.engines.spark.lake import table_location

    with tempfile.TemporaryDirectory(prefix="spark-slice-") as folder:
        work = Path(folder)
        config_path = _config_for(args, work)
        config = load_config(config_path)
        landed = work / "landed.duckdb"
        with duckdb.connect(str(landed)) as con:
            land_source(con, "transactions", config.sources.transactions, datetime(2026, 1, 1))
            if config.sources.customers is None:
                empty_customers_table(con)
            else:
                land_source(
                    con,
                    "customers",
                    config.sources.customers,
                    datetime(2026, 1, 1),
                    custom_attributes(config),
                    pii_source_columns(config),
                )
            transactions = con.execute(read_sql("features/transaction_count.sql")).fetchone()[0]
        base = [sys.executable, "-m", "benchmarks.spark_slice", "--config", str(config_path)]
        duckdb_copy, expected = work / "duckdb.duckdb", work / "duckdb.parquet"
        duckdb_copy.write_bytes(landed.read_bytes())
        results = {
            "duckdb": _run(
                [*base, "--engine", "duckdb", "--warehouse", str(duckdb_copy)]
                + ["--out", str(expected)]
            ),
            f"spark {args.master}": _run(
                [*base, "--engine", "spark", "--warehouse", str(landed), "--master", args.master]
                + ["--lake", str(work / "lake")]
            ),
        }
        actual = pl.read_parquet(
            f"{table_location(str(work / 'lake'), BEHAVIOUR_TABLE)}/**/*.parquet",
            hive_partitioning=True,
        )
        wanted = pl.read_parquet(expected)
        actual = actual.select(wanted.columns).cast(wanted.schema)
        differences = frame_differences(actual, wanted)
    sys.stdout.write(
        f"{transactions:,} transactions, {len(_snapshots(config))} months, "
        f"{wanted.height:,} behaviour rows; same table: {not differences} {differences}\n"
    )
    for engine, result in results.items():
        stages = ", ".join(
            f"{name} {value:.1f} s"
            for name, value in result.items()
            if name.endswith(("start", "export", "write"))
        )
        sys.stdout.write(f"  {engine}: {stages}; peak RSS {result['peak RSS MiB']:,.0f} MiB\n")


if __name__ == "__main__":
    main()
