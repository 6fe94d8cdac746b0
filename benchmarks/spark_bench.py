"""The Spark engine beside the DuckDB engine: ``make bench ENGINE=spark SIZE=10M`` (or
``python -m benchmarks.spark_bench --size``).

Generates (or reuses) the benchmark's seeded data of the requested size, then runs every stage
of each engine (``benchmarks.engine_stages``) in its own fresh process, one engine after the
other, on the same data and the same months (the last ``--months`` of the data; 4 by default,
so the evaluation has three pairs of snapshots and the backtest one snapshot with 90 days
after it). Then it checks that the two engines wrote the same tables
(``segmentation.engines.compare``: the raw tables, the features tables and every table of the
two serving copies) and counts the reduce steps' input sizes from the DuckDB engine's tables
(``benchmarks.reduce_sizes``). Writes ``benchmarks/results/spark-<size>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from benchmarks.data import SIZES, ensure_data, transaction_rows
from benchmarks.engine_stages import LAKE, LAST_STAGE, SPARK_SERVING
from benchmarks.measure import LANDING_PART, MONTHLY_PART, RESULTS_DIR
from benchmarks.reduce_sizes import CONTEXT, EXACT, reduce_sizes
from benchmarks.run import _config
from segmentation.config import load_config
from segmentation.engines.compare import frame_differences
from segmentation.keys import (
    BEHAVIOUR_TABLE,
    CATEGORIES_TABLE,
    CLV_TABLE,
    ENGAGEMENT_TABLE,
    FEATURES_TABLE,
    KEY_COLUMNS,
)
from segmentation.serving.dictionary import MART_CONTRACTS, MARTS_SCHEMA

ENGINES = ("duckdb", "spark")
PARTS = (LANDING_PART, MONTHLY_PART, "whole")
# the lake's monthly features tables (each with its schema file), compared by customer key
FEATURE_TABLES = (
    BEHAVIOUR_TABLE,
    ENGAGEMENT_TABLE,
    CATEGORIES_TABLE,
    CLV_TABLE,
    FEATURES_TABLE,
)
# the key of each table of the serving copy
MART_KEYS = {
    "clv_model_params": ["snapshot_date", "model", "parameter"],
    "customer_segments": list(KEY_COLUMNS),
    "segment_summary": ["snapshot_date", "dimension", "segment"],
    "strategy_assignments": list(KEY_COLUMNS),
    "segment_migration": [
        "from_snapshot",
        "to_snapshot",
        "dimension",
        "from_segment",
        "to_segment",
    ],
    "segment_outcomes": ["snapshot_date", "dimension", "segment"],
    "strategy_effect": ["snapshot_date", "strategy"],
    "satisfaction_summary": ["snapshot_date", "dimension", "segment"],
    "clv_backtest": ["snapshot_date"],
}
# what the landing's quarantine rows are compared without: the time each landing ran
LANDING_TIME = "rejected_at"


def _run_engine(engine: str, data: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One engine's stages in a fresh process; what it measured, also when it failed."""
    out = work / f"{engine}.json"
    out.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "benchmarks.engine_stages",
        engine,
        *("--data", str(data), "--work", str(work), "--out", str(out)),
        *("--months", str(args.months), "--master", args.master),
        *(("--driver-memory", args.driver_memory) if args.driver_memory else ()),
    ]
    print(f"[{engine}]", flush=True)
    start = time.perf_counter()
    returncode = subprocess.run(command, check=False).returncode
    result = json.loads(out.read_text()) if out.is_file() else {"stages": []}
    result["process_seconds"] = round(time.perf_counter() - start, 2)
    if returncode != 0:
        result["failed"] = f"exit code {returncode}"
        print(f"[{engine}] failed with exit code {returncode}", flush=True)
    return result


def _lake_table(lake: Path, table: str) -> pl.DataFrame:
    """A table of the lake as DuckDB reads it: the monthly tables through the serving copy's
    view (columns in the order and with the types of the table's schema file), the raw tables
    (written by Spark without one) as their Parquet files say."""
    from segmentation.engines.spark.lake import table_location
    from segmentation.engines.spark.lake_serving import create_lake_view

    location = Path(table_location(str(lake), table))
    with duckdb.connect() as con:
        if table.startswith("raw."):
            return con.execute("SELECT * FROM read_parquet(?)", [str(location / "*.parquet")]).pl()
        if table == "quality.rejected_rows":
            # a folder per source (the partition column); none when nothing was quarantined
            if not list(location.glob("source=*/*.parquet")):
                return pl.DataFrame()
            return con.execute(
                "SELECT * FROM read_parquet(?, hive_partitioning = true)",
                [str(location / "source=*" / "*.parquet")],
            ).pl()
        con.execute(f"CREATE SCHEMA {table.split('.')[0]}")
        create_lake_view(con, table, location)
        return con.execute(f"SELECT * FROM {table}").pl()


def _compared(actual: pl.DataFrame, expected: pl.DataFrame, keys: Sequence[str]) -> dict:
    differences = frame_differences(actual, expected, keys)
    return {"rows": expected.height, "same": not differences, "differences": differences}


NOT_WRITTEN = "not written: the Spark run stopped before it"


def _missing(rows: int) -> dict[str, Any]:
    return {"rows": rows, "same": None, "differences": [NOT_WRITTEN]}


def compare(work: Path) -> dict[str, dict[str, Any]]:
    """Each table both engines wrote: its rows in the DuckDB engine's warehouse (or serving
    copy) and how the Spark engine's lake (or serving copy) differs from it (empty: the same;
    ``same`` None: a Spark run stopped before writing it). The marts are compared in the two
    serving copies, or in the lake when the Spark run stopped before publishing its copy. The
    messages hold counts and column names only."""
    from segmentation.engines.spark.lake import table_location
    from segmentation.engines.spark.lake_commit import SCHEMA_FOLDER

    lake = work / LAKE

    def written(table: str) -> bool:
        # a raw table is plain Parquet; the others have a schema folder once a write committed
        location = Path(table_location(str(lake), table))
        if table.startswith("raw."):
            return any(location.glob("*.parquet"))
        return (location / SCHEMA_FOLDER).is_dir()

    tables: dict[str, dict[str, Any]] = {}
    config = load_config(work / "config.yaml")

    def warehouse(table: str) -> pl.DataFrame:
        # one table at a time: at 10M the tables together do not fit beside the lake's
        with duckdb.connect(str(config.warehouse), read_only=True) as con:
            return con.execute(f"SELECT * FROM {table}").pl()

    class _Tables(dict):
        def __missing__(self, table: str) -> pl.DataFrame:
            return warehouse(table)

    expected = _Tables()
    rejected = warehouse("quality.rejected_rows")
    for table, keys in (
        ("raw.transactions", ["source_file", "source_row"]),
        ("raw.customers", ["customer_id"]),
    ):
        tables[table] = (
            _compared(_lake_table(lake, table), expected[table], keys)
            if written(table)
            else _missing(expected[table].height)
        )
    quarantine = _lake_table(lake, "quality.rejected_rows")
    columns = [name for name in rejected.columns if name != LANDING_TIME]
    tables["quality.rejected_rows"] = _compared(
        quarantine.select(columns) if quarantine.width else rejected.clear().select(columns),
        rejected.select(columns),
        ["source", "source_file", "source_row"],
    )
    for table in FEATURE_TABLES:
        tables[table] = (
            _compared(_lake_table(lake, table), expected[table], KEY_COLUMNS)
            if written(table)
            else _missing(expected[table].height)
        )
    assert set(MART_KEYS) == set(MART_CONTRACTS), "a marts table without its key here"
    if (work / SPARK_SERVING).is_file():
        with (
            duckdb.connect(str(config.serving), read_only=True) as ours,
            duckdb.connect(str(work / SPARK_SERVING), read_only=True) as theirs,
        ):
            for table, keys in MART_KEYS.items():
                name = f"{MARTS_SCHEMA}.{table}"
                tables[f"serving: {name}"] = _compared(
                    theirs.execute(f"SELECT * FROM {name}").pl(),
                    ours.execute(f"SELECT * FROM {name}").pl(),
                    keys,
                )
        return tables
    for table, keys in MART_KEYS.items():
        name = f"{MARTS_SCHEMA}.{table}"
        tables[name] = (
            _compared(_lake_table(lake, name), expected[name], keys)
            if written(name)
            else _missing(expected[name].height)
        )
    return tables


def _part_total(engine: dict[str, Any], part: str | None) -> float | None:
    if "failed" in engine or "not_run" in engine:
        return None
    return sum(
        stage["seconds"]
        for stage in engine["stages"]
        if part is None or stage["extra"].get("part") == part
    )


def _reduce_rows(spark: dict[str, Any]) -> dict[str, int]:
    """What the Spark run's reduce steps received, by quantity."""
    rows: dict[str, int] = {}
    for stage in spark["stages"]:
        rows.update(stage["extra"].get("reduce rows", {}))
    return rows


def summarize(engines: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Totals per part and engine (seconds, peak RSS of the process tree), their ratio, and the
    load average the stages ended with."""
    totals: dict[str, Any] = {}
    for part in (*PARTS, None):
        row = {engine: _part_total(data, part) for engine, data in engines.items()}
        duck, spark = row.get("duckdb"), row.get("spark")
        row["spark_over_duckdb"] = None if not duck or spark is None else round(spark / duck, 2)
        totals[part or "all"] = row
    loads = [
        stage["extra"]["load average"]
        for data in engines.values()
        for stage in data["stages"]
        if "load average" in stage["extra"]
    ]
    return {
        "seconds": totals,
        "peak_rss_mib": {
            engine: max((s["peak_rss_mib"] for s in data["stages"]), default=None)
            for engine, data in engines.items()
        },
        "load_average": {"min": min(loads, default=None), "max": max(loads, default=None)},
        "failed": {e: data["failed"] for e, data in engines.items() if "failed" in data},
    }


def _fmt(value: float | int | None, pattern: str) -> str:
    return "not measured" if value is None else pattern.format(value)


def markdown(result: dict[str, Any]) -> str:
    """The result as the benchmark page's tables."""
    env = result["environment"]
    engines = result["engines"]
    s = result["summary"]
    spark = engines.get("spark", {})
    lines = [
        f"### Spark engine, {result['size']}: {result['transactions']:,} transactions, "
        f"{result['customers']:,} customers, months {result['months'][0]}..{result['months'][1]}",
        "",
        f"{env['cpus']} CPUs shared with other work (1-minute load average at the stages' ends: "
        f"{_fmt(s['load_average']['min'], '{:.1f}')}-{_fmt(s['load_average']['max'], '{:.1f}')})"
        f", {env['platform']}, Python {env['python']}, DuckDB {env['duckdb']}, "
        f"PySpark {env['pyspark']}; Spark master {spark.get('master', 'not run')}, "
        f"shuffle partitions {spark.get('conf', {}).get('spark.sql.shuffle.partitions', '-')}.",
        "",
        "| part | DuckDB engine s | Spark engine s | Spark / DuckDB |",
        "|---|---:|---:|---:|",
    ]
    labels = {
        LANDING_PART: "landing (transactions, customers)",
        MONTHLY_PART: "monthly tables (behaviour .. strategies)",
        "whole": "evaluation marts, backtest, serving copy",
        "all": "all stages",
    }
    for part, label in labels.items():
        row = s["seconds"][part]
        lines.append(
            f"| {label} | {_fmt(row.get('duckdb'), '{:.1f}')} | "
            f"{_fmt(row.get('spark'), '{:.1f}')} | {_fmt(row['spark_over_duckdb'], '{:.1f}x')} |"
        )
    peaks = s["peak_rss_mib"]
    lines.append(
        f"| peak RSS of the process tree, MiB | {_fmt(peaks.get('duckdb'), '{:,.0f}')} | "
        f"{_fmt(peaks.get('spark'), '{:,.0f}')} | |"
    )
    lines += [
        "",
        "| engine | stage | seconds | peak RSS MiB | load average |",
        "|---|---|---:|---:|---:|",
    ]
    for engine, data in engines.items():
        for stage in data["stages"]:
            lines.append(
                f"| {engine} | {stage['stage']} | {stage['seconds']:.2f} | "
                f"{stage['peak_rss_mib']:,.0f} | {stage['extra'].get('load average', '')} |"
            )
    lines += [f"\nEngine `{e}` failed ({why})." for e, why in s["failed"].items()]
    compared = result.get("tables")
    if compared:
        same = sum(1 for table in compared.values() if table["same"])
        unwritten = sum(1 for table in compared.values() if table["same"] is None)
        lines += [
            "",
            f"Same tables (`segmentation.engines.compare`, numbers to 1e-9 relative): {same} of "
            f"{len(compared)}"
            + (f" ({unwritten} not written by the stopped Spark run)." if unwritten else "."),
            "",
            "| table | rows | same |",
            "|---|---:|---|",
        ]
        for table, outcome in compared.items():
            verdict = {True: "yes", None: "not compared: " + NOT_WRITTEN}.get(
                outcome["same"], "**no**: " + "; ".join(outcome["differences"])
            )
            lines.append(f"| {table} | {outcome['rows']:,} | {verdict} |")
    sizes = result.get("reduce_sizes", {}).get("sizes", {})
    received = _reduce_rows(spark) if spark else {}
    if sizes:
        lines += [
            "",
            "| reduce step input | rows the Spark driver received | population count, all "
            "months | largest month |",
            "|---|---:|---:|---:|",
        ]
        for name, counts in sizes.items():
            kind = " (context)" if name in CONTEXT else " (exact)" if name in EXACT else " (least)"
            largest = counts.get("largest month")
            lines.append(
                f"| {name}{kind} | {'' if name in CONTEXT else _fmt(received.get(name), '{:,}')}"
                f" | {counts['total']:,} | {'' if largest is None else f'{largest:,}'} |"
            )
        extra = sorted(set(received) - set(sizes))
        for name in extra:
            lines.append(f"| {name} | {received[name]:,} | | |")
    return "\n".join(lines) + "\n"


def _pyspark_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("pyspark")
    except Exception:  # not installed: the Spark engine was not run
        return None


def main(argv: Sequence[str] | None = None) -> None:
    """Run the engines at ``--size``, compare their tables, count the reduce sizes and write
    ``benchmarks/results/spark-<size>.json`` and ``.md``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(SIZES), default="10M")
    parser.add_argument("--months", type=int, default=4, help="the data's last months")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument(
        "--driver-memory",
        default="6g",
        help="spark.driver.memory (on local[2] the heap of the JVM running every task; Spark's "
        "default 1g runs out of heap landing 10M)",
    )
    parser.add_argument(
        "--engines",
        nargs="+",
        choices=ENGINES,
        default=list(ENGINES),
        help="run only these engines (duckdb alone: the reduce sizes without a Spark run)",
    )
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--label", help=argparse.SUPPRESS)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="run no engine: compare and report what the last run left in the work folder",
    )
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.data is None:
        data, true_params, generated = ensure_data(args.size)
    else:  # tests: a small generated folder
        data, generated = args.data, False
        true_params = json.loads((data / "true_params.json").read_text())
    work = data / "work-engines"
    work.mkdir(exist_ok=True)
    _config(data, work)
    print(
        f"{args.label or args.size}: {transaction_rows(true_params):,} transactions, "
        f"{true_params['counts']['customers']:,} customers in {data} "
        f"({'generated' if generated else 'cached'})",
        flush=True,
    )
    name = f"spark-{args.label or args.size}"
    if args.reuse:
        previous = args.results / f"{name}.json"
        if previous.is_file():
            engines = json.loads(previous.read_text())["engines"]
        else:
            engines = {e: json.loads((work / f"{e}.json").read_text()) for e in args.engines}
            for engine in engines.values():
                # a process stopped midway saved the stages it finished
                if not engine["stages"] or engine["stages"][-1]["stage"] != LAST_STAGE:
                    engine["failed"] = "stopped before its last stage"
    else:
        engines = {engine: _run_engine(engine, data, work, args) for engine in args.engines}
    result: dict[str, Any] = {
        "size": args.label or args.size,
        "transactions": transaction_rows(true_params),
        "customers": true_params["counts"]["customers"],
        "seed": true_params["seed"],
        "months": engines[args.engines[0]].get("partitions", [None, None]),
        "environment": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "pyspark": _pyspark_version(),
        },
        "engines": engines,
        "summary": summarize(engines),
    }
    ran = {engine for engine, data in engines.items() if "failed" not in data}
    config = load_config(work / "config.yaml")
    if "duckdb" in ran:
        with duckdb.connect(str(config.warehouse), read_only=True) as con:
            result["reduce_sizes"] = reduce_sizes(con, config)
    # a Spark run stopped midway is compared on the tables it wrote
    if "duckdb" in ran and engines.get("spark", {}).get("stages"):
        result["tables"] = compare(work)
        result["same_tables"] = all(
            table["same"] is not False for table in result["tables"].values()
        )
    args.results.mkdir(exist_ok=True)
    (args.results / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result)
    (args.results / f"{name}.md").write_text(text)
    print()
    print(text)
    if engines and (result["summary"]["failed"] or result.get("same_tables") is False):
        sys.exit(1)


if __name__ == "__main__":
    main()
