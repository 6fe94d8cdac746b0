"""The measured stage groups; each runs in its own process: ``python -m benchmarks.stages GROUP``.

Groups (the orchestrator ``benchmarks.run`` calls them in this order):

- ``floor``: a bare DuckDB scan of the transaction Parquet with the per-customer group-by
  (count, sum(amount), max(order_ts)) up to the snapshot: the least work any segmentation does.
- ``pipeline``: one monthly snapshot end to end, into a fresh DuckDB file: the Dagster asset
  definitions themselves, invoked one after another in dependency order (raw, features, segments,
  strategies) with the run's partition, so every stage is exactly what the asset does in a run,
  its pandera contract checks and its warehouse writes included. What is left out is Dagster's
  own run bookkeeping (event log, step launch).
- ``cli``: the same snapshot as ``pipeline`` (the same assets and config, a fresh warehouse) as
  an operator runs it: ``dagster asset materialize -m pipelines.definitions --select ...
  --partition KEY`` in a fresh process with a fresh ``DAGSTER_HOME``, timed from the process's
  start to its exit, its process tree's peak RSS sampled. Dagster's run bookkeeping (event log,
  run storage), the code location's load and the raw tables' blocking asset checks are in it.
  Before it, the process start alone: ``python -c "import pipelines.definitions"`` (interpreter,
  imports, the config's validation and the definitions), ``PEER_RUNS`` times.
- ``backfill``: the monthly assets (features .. strategies) for 24 monthly snapshots on a copy of
  the landed warehouse, one invocation per asset with the 24-month partition range, as a
  single-run backfill does.
- ``pandas_rfm``, ``sql_rfm``, ``polars_rfm`` and ``pymc``: the peers (see ``benchmarks.peers``).
- ``writes``: every table the ``pipeline`` group left in its warehouse, copied by DuckDB into
  a fresh file (compressed, then with compression off) and into memory, ``WRITE_RUNS`` times
  each: what writing one snapshot's tables costs, whatever computes them (see
  ``benchmarks.write_floor``).
- ``events``: the ``raw/events`` asset landing a generated events Parquet file into a fresh
  warehouse, then the landed table validated with its contract as the blocking check does (the
  orchestrator is ``benchmarks.events``, not ``benchmarks.run``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import warnings
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
import yaml

from assets.features.assets import build_feature_assets
from assets.partitions import monthly_snapshots
from assets.raw.assets import raw_customers, raw_events, raw_transactions
from assets.resources import warehouse_for
from assets.segments.assets import build_segment_assets
from assets.strategies.assets import build_strategy_assets
from benchmarks.measure import (
    BENCH_GROUPS,
    CLI_RUN,
    DEFINITIONS_LOAD,
    LANDING_PART,
    MONTHLY_PART,
    PEER_RUNS,
    WRITE_COPIES,
    WRITE_RUNS,
    Recorder,
    Stage,
    run_process,
)
from benchmarks.write_floor import copy_tables
from segmentation.config import SegmentationConfig, load_config, month_end
from segmentation.keys import BEHAVIOUR_TABLE
from segmentation.monthly import read_month
from segmentation.quality.validation import validate_table
from segmentation.raw.contracts import EventsContract

SUMMARY_FILE = "customer_summary.parquet"
# what the writes group's uncompressed copy may need on disk, times the warehouse file's size
UNCOMPRESSED_GROWTH = 8
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# the events landing's group is run by benchmarks.events, not by `make bench`
GROUPS = (*BENCH_GROUPS, "events")


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
    for asset in snapshot_assets(config):
        landing = asset in (raw_transactions, raw_customers)
        _invoke(
            asset,
            config,
            None if landing else keys,
            recorder,
            LANDING_PART if landing else MONTHLY_PART,
        )
    # the customer summary the CLV fit used, for the pymc-marketing peer (not timed)
    with warehouse_for(config).connect() as con:
        behaviour = read_month(con, BEHAVIOUR_TABLE, month_end(keys[-1]))
    behaviour.filter(pl.col("purchase_days") > 0).select(
        "customer_id", "frequency", "recency", "age_days", "repeat_spend_mean"
    ).write_parquet(work / SUMMARY_FILE)


def snapshot_assets(config: SegmentationConfig) -> list[dg.AssetsDefinition]:
    """The assets one snapshot materializes, in the order ``pipeline`` invokes them."""
    snapshots = monthly_snapshots(config)
    return [
        raw_transactions,
        raw_customers,
        *build_feature_assets(snapshots),
        *build_segment_assets(snapshots),
        *build_strategy_assets(snapshots),
    ]


def cli_selection(config: SegmentationConfig) -> str:
    """``--select`` of the cli group: the keys of every table ``pipeline``'s assets write."""
    return ",".join(
        spec.key.to_user_string() for asset in snapshot_assets(config) for spec in asset.specs
    )


def _process_stage(name: str, command: list[str], env: dict[str, str], log: Path) -> Stage:
    run = run_process(command, env, PROJECT_ROOT, log)
    if run.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{name} exited with {run.returncode}; the end of {log}:\n{tail}")
    return Stage(
        stage=name,
        seconds=run.seconds,
        peak_rss_mib=run.peak_rss_mib,
        rss_start_mib=0.0,
        peak_scope="child process tree",
        cpu_seconds=run.cpu_seconds,
    )


def cli(config_path: Path, keys: Sequence[str], work: Path, recorder: Recorder) -> None:
    """The snapshot through ``dagster asset materialize`` in a fresh process, after the process
    start alone (see the module's docstring)."""
    folder = work / "cli"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "dagster_home").mkdir(parents=True)
    settings = yaml.safe_load(config_path.read_text())
    settings["warehouse"] = str(folder / "segmentation.duckdb")
    settings["serving"] = str(folder / "serving.duckdb")
    settings["duckdb"]["temp_directory"] = str(folder / "spill")
    (folder / "config.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    config = load_config(folder / "config.yaml")
    env = os.environ | {
        "SEGMENTATION_CONFIG": str(folder / "config.yaml"),
        "DAGSTER_HOME": str(folder / "dagster_home"),
        "PYTHONWARNINGS": "ignore",
    }
    load = [sys.executable, "-c", "import pipelines.definitions"]
    for run in range(1, PEER_RUNS + 1):
        recorder.add(
            _process_stage(f"{DEFINITIONS_LOAD}, run {run}", load, env, folder / "load.log")
        )
    dagster = Path(sys.executable).parent / "dagster"
    command = [str(dagster), "asset", "materialize", "-m", "pipelines.definitions"]
    command += ["--select", cli_selection(config), "--partition", keys[-1]]
    stage = _process_stage(CLI_RUN, command, env, folder / "cli.log")
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        for asset in snapshot_assets(config):
            for spec in asset.specs:
                table = ".".join(spec.key.path)
                rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()
                stage.extra[f"{table} rows"] = rows[0] if rows else 0
    recorder.add(stage)


def writes(config: SegmentationConfig, work: Path, recorder: Recorder) -> None:
    """The ``pipeline`` group's tables copied into a fresh file, uncompressed and into memory,
    ``WRITE_RUNS`` times each (see ``benchmarks.write_floor``)."""
    if not config.warehouse.is_file():
        raise FileNotFoundError(
            f"{config.warehouse} does not exist: the writes group copies the tables the "
            "pipeline group wrote, so run that group first"
        )
    # the uncompressed copy is the largest file: 6.6x the warehouse at 10M
    needed = UNCOMPRESSED_GROWTH * config.warehouse.stat().st_size
    free = shutil.disk_usage(work).free
    if free < needed:
        raise OSError(
            f"the writes group needs {needed / 2**30:.1f} GiB free in {work} for its "
            f"uncompressed copy; {free / 2**30:.1f} GiB are"
        )
    spill = work / "writes-spill"
    settings = {
        key: value
        for key, value in (
            ("memory_limit", config.duckdb.memory_limit),
            ("threads", config.duckdb.threads),
        )
        if value is not None
    } | {"temp_directory": str(spill)}
    try:
        for run in range(1, WRITE_RUNS + 1):
            for mode, name in WRITE_COPIES.items():
                target = None if mode == "memory" else work / "writes.duckdb"
                with recorder.stage(f"{name}, run {run}") as info:
                    info.update(copy_tables(config.warehouse, target, mode, settings))
    finally:
        # the benchmark's own directory: a copy that failed midway leaves its spill files
        shutil.rmtree(spill, ignore_errors=True)


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
    parser.add_argument("group", choices=GROUPS)
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
    elif args.group in ("pandas_rfm", "sql_rfm", "polars_rfm"):
        from benchmarks import peers

        getattr(peers, args.group)(args.data, month_end(keys[-1]), recorder)
    elif args.group == "cli":
        cli(args.work / "config.yaml", keys, args.work, recorder)
    elif args.group == "pymc":
        from benchmarks.peers import pymc_vs_ours

        result["clv_fit"] = pymc_vs_ours(
            args.work / SUMMARY_FILE, args.pymc_max_customers, args.seed, recorder
        )
    else:
        config = load_config(args.work / "config.yaml")
        if args.group == "pipeline":
            pipeline(config, keys, args.work, recorder)
        elif args.group == "writes":
            writes(config, args.work, recorder)
        else:
            backfill(config, keys, args.work, recorder)
    save(recorder)


if __name__ == "__main__":
    main()
