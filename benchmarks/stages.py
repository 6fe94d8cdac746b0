"""The measured stage groups; each runs in its own process: ``python -m benchmarks.stages GROUP``.

Groups (the orchestrator ``benchmarks.run`` calls them in this order):

- ``floor``: a bare DuckDB scan of the transaction Parquet with the per-customer group-by
  (count, sum(amount), max(order_ts)) up to the snapshot: the least work any segmentation does.
- ``pipeline``: one monthly snapshot end to end, into a fresh DuckDB file: the Dagster asset
  definitions themselves, invoked one after another in dependency order (raw, features, segments,
  strategies) with the run's partition, so every stage is exactly what the asset does in a run,
  its pandera contract checks and its warehouse writes included. What is left out is Dagster's
  own run bookkeeping (event log, step launch).
- ``backfill``: the monthly assets (features .. strategies) for 24 monthly snapshots on a copy of
  the landed warehouse, one invocation per asset with the 24-month partition range, as a
  single-run backfill does.
- ``pandas_rfm`` and ``pymc``: the peers (see ``benchmarks.peers``).
- ``events``: the ``raw/events`` asset landing a generated events Parquet file into a fresh
  warehouse, then the landed table validated with its contract as the blocking check does (the
  orchestrator is ``benchmarks.events``, not ``benchmarks.run``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import warnings
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl

from assets.features.assets import build_feature_assets
from assets.partitions import monthly_snapshots
from assets.raw.assets import raw_customers, raw_events, raw_transactions
from assets.resources import warehouse_for
from assets.segments.assets import build_segment_assets
from assets.strategies.assets import build_strategy_assets
from benchmarks.measure import LANDING_PART, MONTHLY_PART, Recorder
from segmentation.config import SegmentationConfig, load_config, month_end
from segmentation.keys import BEHAVIOUR_TABLE
from segmentation.monthly import read_month
from segmentation.quality.validation import validate_table
from segmentation.raw.contracts import EventsContract

SUMMARY_FILE = "customer_summary.parquet"


def snapshot_keys(true_params: dict[str, Any], months: int) -> list[str]:
    """The last ``months`` monthly partition keys of the generated window (its last month last)."""
    end = date.fromisoformat(true_params["window"]["end"])
    keys = []
    year, month = end.year, end.month
    for _ in range(months):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return keys[::-1]


FLOOR_RUNS = 3


def floor(data: Path, keys: Sequence[str], recorder: Recorder) -> None:
    """The floor query, ``FLOOR_RUNS`` times: the first may read the files from disk, the fastest
    is the floor (``benchmarks.run`` takes the minimum)."""
    as_of = datetime.combine(month_end(keys[-1]), datetime.max.time())
    con = duckdb.connect()
    for run in range(1, FLOOR_RUNS + 1):
        with recorder.stage(f"floor: duckdb scan + group-by, run {run}") as info:
            result = con.execute(
                "SELECT customer_id, count(*) AS n, sum(amount) AS amount, "
                "max(order_ts) AS last_ts FROM read_parquet(?) WHERE order_ts <= ? "
                "GROUP BY customer_id",
                [str(data / "transactions" / "*.parquet"), as_of],
            ).pl()
            info["customers"] = result.height
    con.close()


def stage_name(asset: dg.AssetsDefinition) -> str:
    """``features.customer_clv + marts.clv_model_params``: the tables one asset writes."""
    return " + ".join(".".join(spec.key.path) for spec in asset.specs)


def _invoke(
    asset: dg.AssetsDefinition,
    config: SegmentationConfig,
    keys: Sequence[str] | None,
    recorder: Recorder,
    part: str,
) -> None:
    """One asset, invoked directly with the run's resources and partition range, as one stage."""
    context = (
        dg.build_asset_context(partition_key_range=dg.PartitionKeyRange(keys[0], keys[-1]))
        if keys
        else dg.build_asset_context()
    )
    with recorder.stage(stage_name(asset), part=part) as info:
        results = asset(context=context, warehouse=warehouse_for(config), settings=config)
        for result in (results,) if isinstance(results, dg.MaterializeResult) else results:
            key = ".".join(result.asset_key.path) if result.asset_key else stage_name(asset)
            info[f"{key} rows"] = result.metadata["dagster/row_count"]


def monthly_assets(config: SegmentationConfig, keys: Sequence[str], recorder: Recorder) -> None:
    """The feature, segment and strategy assets for ``keys``, in dependency order."""
    snapshots = monthly_snapshots(config)
    for asset in (
        *build_feature_assets(snapshots),
        *build_segment_assets(snapshots),
        *build_strategy_assets(snapshots),
    ):
        _invoke(asset, config, keys, recorder, MONTHLY_PART)


def pipeline(
    config: SegmentationConfig, keys: Sequence[str], work: Path, recorder: Recorder
) -> None:
    config.warehouse.unlink(missing_ok=True)
    Path(f"{config.warehouse}.wal").unlink(missing_ok=True)
    for asset in (raw_transactions, raw_customers):
        _invoke(asset, config, None, recorder, LANDING_PART)
    monthly_assets(config, keys, recorder)
    # the customer summary the CLV fit used, for the pymc-marketing peer (not timed)
    with warehouse_for(config).connect() as con:
        behaviour = read_month(con, BEHAVIOUR_TABLE, month_end(keys[-1]))
    behaviour.filter(pl.col("purchase_days") > 0).select(
        "customer_id", "frequency", "recency", "age_days", "repeat_spend_mean"
    ).write_parquet(work / SUMMARY_FILE)


def backfill(
    config: SegmentationConfig, keys: Sequence[str], work: Path, recorder: Recorder
) -> None:
    # a copy of the landed warehouse, so the backfill starts from the same raw tables
    copy = work / "backfill.duckdb"
    shutil.copyfile(config.warehouse, copy)
    try:
        monthly_assets(config.model_copy(update={"warehouse": copy}), keys, recorder)
    finally:
        copy.unlink()
        Path(f"{copy}.wal").unlink(missing_ok=True)


def events(config: SegmentationConfig, recorder: Recorder) -> None:
    """Land the events source into a fresh warehouse, then validate ``raw.events`` with its
    contract, batch by batch, as the blocking asset check does."""
    config.warehouse.unlink(missing_ok=True)
    Path(f"{config.warehouse}.wal").unlink(missing_ok=True)
    _invoke(raw_events, config, None, recorder, LANDING_PART)
    with recorder.stage("raw.events contract check") as info:
        with warehouse_for(config).connect(read_only=True) as con:
            rows, failures = validate_table(con, "raw.events", EventsContract)
        info["checked rows"] = rows
        info["failures"] = 0 if failures is None else failures.height


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "group", choices=["floor", "pipeline", "backfill", "pandas_rfm", "pymc", "events"]
    )
    parser.add_argument("--data", type=Path, required=True, help="the generated data folder")
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (config, db)")
    parser.add_argument("--out", type=Path, required=True, help="where the stage JSON goes")
    parser.add_argument("--months", type=int, default=1)
    parser.add_argument("--pymc-max-customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*is currently in beta")

    if args.group == "events":
        result: dict[str, Any] = {"group": args.group}

        def save_events(recorder: Recorder) -> None:
            result["stages"] = recorder.as_json()
            args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")

        recorder = Recorder(save_events)
        events(load_config(args.work / "config.yaml"), recorder)
        save_events(recorder)
        return
    true_params = json.loads((args.data / "true_params.json").read_text())
    keys = snapshot_keys(true_params, args.months)
    result = {"group": args.group, "partitions": [keys[0], keys[-1]]}

    def save(recorder: Recorder) -> None:
        # after every stage, so a group killed midway (e.g. out of memory) keeps what it measured
        result["stages"] = recorder.as_json()
        args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")

    recorder = Recorder(save)
    if args.group == "floor":
        floor(args.data, keys, recorder)
    elif args.group == "pandas_rfm":
        from benchmarks.peers import pandas_rfm

        pandas_rfm(args.data, month_end(keys[-1]), recorder)
    elif args.group == "pymc":
        from benchmarks.peers import pymc_vs_ours

        result["clv_fit"] = pymc_vs_ours(
            args.work / SUMMARY_FILE, args.pymc_max_customers, args.seed, recorder
        )
    else:
        config = load_config(args.work / "config.yaml")
        if args.group == "pipeline":
            pipeline(config, keys, args.work, recorder)
        else:
            backfill(config, keys, args.work, recorder)
    save(recorder)


if __name__ == "__main__":
    main()
