"""The events landing benchmark: ``python -m benchmarks.events --size 10M``.

Writes (or reuses) one seeded Parquet file of N generated events under
``benchmarks/.cache/events-<size>``, then lands it in a fresh process (``benchmarks.stages
events``) through the ``raw/events`` asset, with the pipeline benchmark's DuckDB memory limit,
and validates the landed table with its contract as the blocking asset check does. Prints and
writes ``benchmarks/results/events-<size>.json`` and ``.md``: wall time and peak RSS per stage.

The events are what a web, app and e-mail log holds: ~1 event per customer and day over two
years for ``rows / 400`` customers, seven source event types (the demo mapping), a channel, a
product for views and cart adds, a campaign for e-mail events. The file is written in row groups
of :data:`CHUNK_ROWS`, so generating 100M rows takes the memory of one chunk.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow.parquet as pq
import yaml

from benchmarks.measure import DUCKDB_MEMORY_LIMIT, RESULTS_DIR

CACHE_DIR = Path(__file__).resolve().parent / ".cache"
SIZES = {"1M": 1_000_000, "10M": 10_000_000, "100M": 100_000_000}
SEED = 42
GENERATOR_VERSION = 1
CHUNK_ROWS = 2_000_000
EVENTS_PER_CUSTOMER = 400
START = np.datetime64("2010-01-01T00:00:00", "us")
WINDOW_US = int(np.timedelta64(730, "D") / np.timedelta64(1, "us"))
# source value -> (share of the events, channel)
SOURCE_EVENTS = {
    "session_start": (0.34, None),
    "view_item": (0.30, None),
    "add_to_cart": (0.08, None),
    "email_delivered": (0.16, "email"),
    "email_open": (0.08, "email"),
    "email_click": (0.035, "email"),
    "unsubscribe": (0.005, "email"),
}
EVENT_TYPES = {
    "visit": ["session_start"],
    "product_view": ["view_item"],
    "add_to_cart": ["add_to_cart"],
    "email_send": ["email_delivered"],
    "email_open": ["email_open"],
    "email_click": ["email_click"],
    "unsubscribe": ["unsubscribe"],
}
COLUMNS = {
    "customer_id": "user_id",
    "event_ts": "ts",
    "event_type": "event",
    "channel": "channel",
    "product_id": "sku",
    "campaign_id": "campaign",
}


def _chunk(rng: np.random.Generator, rows: int, customers: int) -> pl.DataFrame:
    names = list(SOURCE_EVENTS)
    shares = np.array([share for share, _ in SOURCE_EVENTS.values()])
    kind = rng.choice(len(names), size=rows, p=shares / shares.sum())
    customer = rng.integers(0, customers, size=rows)
    offset = rng.integers(0, WINDOW_US, size=rows)
    product = rng.integers(0, 4_000, size=rows)
    campaign = rng.integers(0, 200, size=rows)
    web_or_app = rng.random(rows) < 0.6
    frame = pl.DataFrame(
        {
            "kind": kind.astype(np.int8),
            "customer": customer,
            "ts": START + offset.astype("timedelta64[us]"),
            "product": product,
            "campaign": campaign,
            "web": web_or_app,
        }
    )
    event = pl.col("kind").replace_strict(dict(enumerate(names)), return_dtype=pl.Utf8)
    email = pl.col("kind") >= names.index("email_delivered")
    shopping = pl.col("kind").is_in([names.index("view_item"), names.index("add_to_cart")])
    return frame.select(
        pl.format("C{}", pl.col("customer").cast(pl.Utf8).str.zfill(8)).alias("user_id"),
        pl.col("ts"),
        event.alias("event"),
        pl.when(email)
        .then(pl.lit("email"))
        .when(pl.col("web"))
        .then(pl.lit("web"))
        .otherwise(pl.lit("app"))
        .alias("channel"),
        pl.when(shopping).then(pl.format("P{}", pl.col("product"))).alias("sku"),
        pl.when(email).then(pl.format("CMP{}", pl.col("campaign"))).alias("campaign"),
    )


def generate_events(path: Path, rows: int, seed: int = SEED) -> dict[str, Any]:
    """Write ``rows`` generated events to one Parquet file at ``path``, chunk by chunk; returns
    what was written (the cache's parameters)."""
    customers = max(1, rows // EVENTS_PER_CUSTOMER)
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    writer: pq.ParquetWriter | None = None
    try:
        for start in range(0, rows, CHUNK_ROWS):
            table = _chunk(rng, min(CHUNK_ROWS, rows - start), customers).to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(partial, table.schema, compression="zstd")
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    partial.replace(path)
    return {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "rows": rows,
        "customers": customers,
        "bytes": path.stat().st_size,
    }


def ensure_events(size: str, seed: int = SEED) -> tuple[Path, dict[str, Any]]:
    """The cached events folder of ``size`` (generated when missing or stale) and its
    parameters."""
    folder = CACHE_DIR / f"events-{size}"
    params_path = folder / "events_params.json"
    if params_path.is_file():
        params = json.loads(params_path.read_text())
        wanted = {"generator_version": GENERATOR_VERSION, "seed": seed, "rows": SIZES[size]}
        if (
            all(params.get(key) == value for key, value in wanted.items())
            and (folder / "events.parquet").is_file()
        ):
            return folder, params
    print(f"generating {SIZES[size]:,} events into {folder}", flush=True)
    params = generate_events(folder / "events.parquet", SIZES[size], seed)
    params_path.write_text(json.dumps(params, indent=2) + "\n")
    return folder, params


def write_config(data: Path, work: Path) -> Path:
    """A config landing the events of ``data`` (transactions: one row, never landed here) with
    the pipeline benchmark's DuckDB memory limit."""
    work.mkdir(parents=True, exist_ok=True)
    transactions = work / "transactions.csv"
    transactions.write_text("customer_id,order_ts,amount\nC00000001,2011-01-01,1.0\n")
    config = {
        "warehouse": str(work / "segmentation.duckdb"),
        "serving": str(work / "serving.duckdb"),
        "snapshots": {"start": "2011-12", "end": "2011-12"},
        "duckdb": {"memory_limit": DUCKDB_MEMORY_LIMIT, "temp_directory": str(work / "spill")},
        "sources": {
            "transactions": {
                "path": str(transactions),
                "columns": {
                    "customer_id": "customer_id",
                    "order_ts": "order_ts",
                    "amount": "amount",
                },
            },
            "events": {
                "path": str(data / "events.parquet"),
                "columns": COLUMNS,
                "event_types": EVENT_TYPES,
            },
        },
    }
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def markdown(result: dict[str, Any]) -> str:
    """The results as a markdown table (what the docs show)."""
    env = result["environment"]
    lines = [
        f"### Events landing, {result['size']}: {result['rows']:,} events "
        f"({result['bytes'] / 2**20:,.0f} MiB of Parquet), {result['customers']:,} customers",
        "",
        f"{env['cpus']} CPUs, {env['platform']}, Python {env['python']}, DuckDB {env['duckdb']},"
        f" polars {env['polars']}; DuckDB memory_limit {DUCKDB_MEMORY_LIMIT}; load average"
        f" {env['load_average'][0]:.1f} at the start, {env['load_average'][1]:.1f} at the end.",
        "",
        "| stage | seconds | peak RSS MiB | RSS at start MiB | rows |",
        "|---|---:|---:|---:|---:|",
    ]
    for stage in result["stages"]:
        rows = next((v for k, v in stage["extra"].items() if k.endswith("rows")), None)
        lines.append(
            f"| {stage['stage']} | {stage['seconds']:.2f} | {stage['peak_rss_mib']:,.0f} | "
            f"{stage['rss_start_mib']:,.0f} | {'' if rows is None else f'{rows:,}'} |"
        )
    if "failed" in result:
        lines.append(f"\nThe landing process failed ({result['failed']}).")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(SIZES), default="10M")
    args = parser.parse_args()
    data, params = ensure_events(args.size)
    work = data / "work"
    write_config(data, work)
    out = work / "events.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, "-m", "benchmarks.stages", "events"]
    command += ["--data", str(data), "--work", str(work), "--out", str(out)]
    start = time.perf_counter()
    load_at_start = round(os.getloadavg()[0], 2)
    returncode = subprocess.run(command, check=False).returncode
    measured = json.loads(out.read_text()) if out.is_file() else {"stages": []}
    result: dict[str, Any] = {
        "size": args.size,
        **{key: params[key] for key in ("rows", "customers", "bytes", "seed")},
        "process_seconds": round(time.perf_counter() - start, 2),
        "environment": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "polars": pl.__version__,
            # other processes on the machine slow the stages down: the 1-minute load average
            # when the landing started and when it ended
            "load_average": [load_at_start, round(os.getloadavg()[0], 2)],
        },
        "stages": measured["stages"],
    }
    if returncode != 0:
        result["failed"] = f"exit code {returncode}"
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / f"events-{args.size}.json").write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result)
    (RESULTS_DIR / f"events-{args.size}.md").write_text(text)
    print()
    print(text)


if __name__ == "__main__":
    main()
