"""The measured stage groups; each runs in its own process: ``python -m benchmarks.stages GROUP``.

Groups (the orchestrator ``benchmarks.run`` calls them in this order):

- ``floor``: a bare DuckDB scan of the transaction Parquet with the per-customer group-by
  (count, sum(amount), max(order_ts)) up to the snapshot: the least work any segmentation does.
- ``pipeline``: one monthly snapshot end to end through the functions the Dagster assets call:
  landing into a fresh DuckDB file, features, segments, strategies, the IO manager's writes, and
  the pandera type checks Dagster runs on every output.
- ``backfill``: features .. strategies for 24 monthly snapshots on the landed warehouse, one call
  per asset with all 24 months, as a single-run backfill does.
- ``pandas_rfm`` and ``pymc``: the peers (see ``benchmarks.peers``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import warnings
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl

from assets.features.behaviour import behaviour_for_snapshots
from assets.features.clv import clv_for_snapshot
from assets.features.contracts import (
    ClvModelParamsContract,
    CustomerBehaviourContract,
    CustomerClvContract,
    CustomerFeaturesContract,
)
from assets.features.lifecycle import lifecycle_stage
from assets.features.value import value_features
from assets.metadata import contract_type
from assets.raw.landing import land_source
from assets.segments.build import build_customer_segments, summarize_segments
from assets.segments.contracts import CustomerSegmentsContract, SegmentSummaryContract
from assets.strategies.contracts import StrategyAssignmentsContract
from assets.strategies.playbook import assign_strategies
from assets.warehouse import replace_partitions
from benchmarks.measure import Recorder
from pipelines.config import SegmentationConfig, custom_attributes, load_config, month_end
from pipelines.resources import SNAPSHOT_COLUMN, warehouse_for

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


def floor(data: Path, keys: Sequence[str], recorder: Recorder) -> None:
    as_of = datetime.combine(month_end(keys[-1]), datetime.max.time())
    con = duckdb.connect()
    with recorder.stage("floor: duckdb scan + group-by") as info:
        result = con.execute(
            "SELECT customer_id, count(*) AS n, sum(amount) AS amount, max(order_ts) AS last_ts "
            "FROM read_parquet(?) WHERE order_ts <= ? GROUP BY customer_id",
            [str(data / "transactions" / "*.parquet"), as_of],
        ).pl()
        info["customers"] = result.height
    con.close()


def _features(
    con: duckdb.DuckDBPyConnection,
    config: SegmentationConfig,
    keys: Sequence[str],
    recorder: Recorder,
) -> dict[str, pl.DataFrame]:
    """What the feature, segment and strategy assets compute for ``keys``, stage by stage."""
    features = config.features
    custom = list(custom_attributes(config))
    with recorder.stage("features: behaviour (duckdb sql)") as info:
        behaviour = behaviour_for_snapshots(
            con,
            [month_end(key) for key in keys],
            features.lifecycle.lost_recency_days,
            features.dominant_channel_share,
            custom,
        )
        info["rows"] = behaviour.height
    with recorder.stage("features: clv (bg/nbd + gamma-gamma)") as info:
        clv_frames, param_frames = [], []
        for (snapshot,), frame in behaviour.partition_by(
            "snapshot_date", as_dict=True, maintain_order=True
        ).items():
            result = clv_for_snapshot(frame, snapshot, features.clv)
            clv_frames.append(result.customers)
            param_frames.append(result.params)
        clv = pl.concat(clv_frames)
        params = pl.concat(param_frames)
        info["methods"] = dict(clv.get_column("clv_method").value_counts().iter_rows())
    with recorder.stage("features: value + lifecycle"):
        joined = behaviour.join(
            clv, on=["snapshot_date", "customer_id"], how="left", validate="1:1"
        )
        valued = value_features(joined, features.value)
        customer_features = (
            valued.with_columns(lifecycle_stage(valued, features.lifecycle))
            .sort(["snapshot_date", "customer_id"])
            .select(*CustomerFeaturesContract.to_schema().columns.keys(), *custom)
        )
    with recorder.stage("segments: build + summarize"):
        segments = build_customer_segments(customer_features, config.segments)
        summary = summarize_segments(segments, customer_features)
    with recorder.stage("strategies: assign"):
        if config.playbook is None:
            raise RuntimeError("the config has no playbook")
        assignments = assign_strategies(segments, config.playbook)
    return {
        "features.customer_behaviour": behaviour,
        "features.customer_clv": clv,
        "marts.clv_model_params": params,
        "features.customer_features": customer_features,
        "marts.customer_segments": segments,
        "marts.segment_summary": summary,
        "marts.strategy_assignments": assignments,
    }


_CONTRACTS = {
    "features.customer_behaviour": CustomerBehaviourContract,
    "features.customer_clv": CustomerClvContract,
    "marts.clv_model_params": ClvModelParamsContract,
    "features.customer_features": CustomerFeaturesContract,
    "marts.customer_segments": CustomerSegmentsContract,
    "marts.segment_summary": SegmentSummaryContract,
    "marts.strategy_assignments": StrategyAssignmentsContract,
}


def pipeline(
    config: SegmentationConfig, keys: Sequence[str], work: Path, recorder: Recorder
) -> None:
    config.warehouse.unlink(missing_ok=True)
    Path(f"{config.warehouse}.wal").unlink(missing_ok=True)
    warehouse = warehouse_for(config)
    now = datetime.now(UTC).replace(tzinfo=None)
    with warehouse.connect() as con:
        with recorder.stage("landing: transactions") as info:
            report = land_source(con, "transactions", config.sources.transactions, now)
            info["landed_rows"] = report.landed_rows
            info["rejected_rows"] = report.rejected_rows
        with recorder.stage("landing: customers") as info:
            source = config.sources.customers
            if source is None:
                raise RuntimeError("the benchmark config has a customers source")
            report = land_source(con, "customers", source, now, custom_attributes(config))
            info["landed_rows"] = report.landed_rows
        outputs = _features(con, config, keys, recorder)
    with recorder.stage("contracts: dagster pandera type checks") as info:
        for table, frame in outputs.items():
            check = dg.check_dagster_type(contract_type(_CONTRACTS[table]), frame)
            if not check.success:
                raise RuntimeError(f"{table} breaks its contract: {check.description}")
        info["rows_checked"] = sum(frame.height for frame in outputs.values())
    # the IO manager opens the warehouse per output and writes it in one transaction
    with recorder.stage("marts write: replace_partitions") as info:
        dates = [month_end(key) for key in keys]
        for table, frame in outputs.items():
            with warehouse.connect() as con:
                replace_partitions(con, table, frame, SNAPSHOT_COLUMN, dates)
        info["rows_written"] = sum(frame.height for frame in outputs.values())
    # the customer summary the CLV fit used, for the pymc-marketing peer (not timed)
    behaviour = outputs["features.customer_behaviour"]
    behaviour.filter(pl.col("purchase_days") > 0).select(
        "customer_id", "frequency", "recency", "age_days", "repeat_spend_mean"
    ).write_parquet(work / SUMMARY_FILE)


def backfill(
    config: SegmentationConfig, keys: Sequence[str], work: Path, recorder: Recorder
) -> None:
    # a copy of the landed warehouse, so the backfill starts from the same raw tables
    copy = work / "backfill.duckdb"
    shutil.copyfile(config.warehouse, copy)
    with warehouse_for(config.model_copy(update={"warehouse": copy})).connect() as con:
        _features(con, config, keys, recorder)
    copy.unlink()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("group", choices=["floor", "pipeline", "backfill", "pandas_rfm", "pymc"])
    parser.add_argument("--data", type=Path, required=True, help="the generated data folder")
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (config, db)")
    parser.add_argument("--out", type=Path, required=True, help="where the stage JSON goes")
    parser.add_argument("--months", type=int, default=1)
    parser.add_argument("--pymc-max-customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*is currently in beta")

    true_params = json.loads((args.data / "true_params.json").read_text())
    keys = snapshot_keys(true_params, args.months)
    result: dict[str, Any] = {"group": args.group, "partitions": [keys[0], keys[-1]]}

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
