"""The segmentation benchmark: ``make bench SIZE=10M`` (or ``python -m benchmarks.run --size``).

Generates (or reuses) seeded data of the requested size, then runs each stage group in a fresh
process (``benchmarks.stages``): the DuckDB floor, one monthly snapshot through the pipeline
(in process, then through ``dagster asset materialize``), a 24-month backfill, and the peers
(pandas, SQL and polars RFM, pymc-marketing MAP). Prints the stages with wall time, peak RSS and
where the seconds went (reading, checking, writing, computing) and the ratios, and writes
``benchmarks/results/<size>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import yaml

from benchmarks.data import SIZES, ensure_data, transaction_rows
from benchmarks.measure import (
    BENCH_GROUPS,
    CLI_RUN,
    DEFINITIONS_LOAD,
    DUCKDB_MEMORY_LIMIT,
    LANDING_PART,
    LANDING_SCHEMAS,
    MONTHLY_PART,
    OUR_FIT,
    PHASE_COLUMNS,
    POLARS_RFM,
    PYMC_FIT,
    RESULTS_DIR,
    SQL_RFM,
    WRITE_COPIES,
)

BACKFILL_MONTHS = 24
GROUPS = BENCH_GROUPS
NOT_RUN: dict[str, Any] = {"stages": [], "not_run": True}
STRATEGY_STAGE = "marts.strategy_assignments"
BEHAVIOUR_TABLE = "features.customer_behaviour"
TARGET_SIZE = "10M"


def _config(data: Path, work: Path) -> Path:
    """The demo config pointed at the generated data and a scratch warehouse."""
    demo = yaml.safe_load((Path(__file__).resolve().parents[1] / "config/demo.yaml").read_text())
    demo["warehouse"] = str(work / "segmentation.duckdb")
    demo["serving"] = str(work / "serving.duckdb")
    demo["snapshots"] = {"start": "2010-01", "end": "2011-12"}
    demo["sources"]["transactions"]["path"] = str(data / "transactions" / "*.parquet")
    demo["sources"]["customers"]["path"] = str(data / "customers.parquet")
    # the pipeline benchmark measures transactions and customers (comparable with the recorded
    # results); events landing has its own benchmark, benchmarks.events, the catalogue's
    # features theirs, benchmarks.categories
    for optional in ("events", "feedback", "products"):
        demo["sources"].pop(optional, None)
    # nor the demo's lifestyle survey (benchmark data are drawn without categories)
    demo["sources"]["customers"]["columns"].pop("lifestyle", None)
    demo.get("segments", {}).get("extra_columns", {}).pop("lifestyle", None)
    # DuckDB spills beyond this; the polars frames of a snapshot come on top
    demo["duckdb"] = {"memory_limit": DUCKDB_MEMORY_LIMIT, "temp_directory": str(work / "spill")}
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(demo, sort_keys=False))
    return path


def _run_group(group: str, data: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    out = work / f"{group}.json"
    out.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "benchmarks.stages",
        group,
        "--data",
        str(data),
        "--work",
        str(work),
        "--out",
        str(out),
        "--months",
        str(BACKFILL_MONTHS if group == "backfill" else 1),
        "--pymc-max-customers",
        str(args.pymc_max_customers),
    ]
    print(f"[{group}]", flush=True)
    start = time.perf_counter()
    returncode = subprocess.run(command, check=False).returncode
    result = json.loads(out.read_text()) if out.is_file() else {"stages": []}
    result["process_seconds"] = round(time.perf_counter() - start, 2)
    if returncode != 0:
        # e.g. -9: killed by the kernel's out-of-memory killer; the stages before it are kept
        result["failed"] = f"exit code {returncode}"
        print(f"[{group}] failed with exit code {returncode}", flush=True)
    return result


def _measured(group: dict[str, Any]) -> bool:
    """Whether the group ran to its end (it was neither left out by ``--groups`` nor failed)."""
    return "failed" not in group and "not_run" not in group


def _total(
    group: dict[str, Any], keep: Callable[[dict[str, Any]], bool] | None = None
) -> float | None:
    """Summed seconds of the group's stages (all, or those ``keep`` accepts); None when the group
    failed."""
    if not _measured(group):
        return None
    return sum(s["seconds"] for s in group["stages"] if keep is None or keep(s))


def _monthly(stage: dict[str, Any]) -> bool:
    return stage["extra"].get("part") == MONTHLY_PART


def _landing(stage: dict[str, Any]) -> bool:
    return stage["extra"].get("part") == LANDING_PART


def _plus(first: float | None, second: float | None) -> float | None:
    return None if first is None or second is None else first + second


def _customer_snapshots(group: dict[str, Any]) -> int | None:
    """Rows the group wrote to ``features.customer_behaviour``: one per customer and snapshot."""
    if not _measured(group):
        return None
    return sum(s["extra"].get(f"{BEHAVIOUR_TABLE} rows", 0) for s in group["stages"])


def _our_rfm(stage: dict[str, Any]) -> bool:
    """The monthly stages up to the segments: behaviour, CLV, features, segments."""
    return _monthly(stage) and stage["stage"] != STRATEGY_STAGE


def _fastest(group: dict[str, Any], prefix: str = "") -> float | None:
    """The fastest of the group's stages named ``prefix``... (the floor runs its query several
    times, the pymc group each fit)."""
    runs = [s["seconds"] for s in group["stages"] if s["stage"].startswith(prefix)]
    if not _measured(group) or not runs:
        return None
    return min(runs)


def _fastest_run(group: dict[str, Any]) -> float | None:
    """The fastest run of a peer that times each run in several stages ("<step>, run <k>"):
    the smallest per-run sum."""
    runs: dict[str, float] = {}
    for stage in group["stages"]:
        _, _, run = stage["stage"].rpartition(", run ")
        runs[run] = runs.get(run, 0.0) + stage["seconds"]
    if not _measured(group) or not runs:
        return None
    return min(runs.values())


def _phases(
    group: dict[str, Any], keep: Callable[[dict[str, Any]], bool] | None = None
) -> dict[str, float] | None:
    """Summed seconds per phase (reading, checking, writing, computing) of the group's stages
    (all, or those ``keep`` accepts); None when the group did not run to its end or its stages
    recorded no phases."""
    kept = [s for s in group["stages"] if keep is None or keep(s)]
    if not _measured(group) or not kept or any(not s.get("phases") for s in kept):
        return None
    return {name: round(sum(s["phases"][name] for s in kept), 3) for name in PHASE_COLUMNS}


def _cpu(group: dict[str, Any], prefix: str = "", fastest: bool = False) -> float | None:
    """CPU seconds of the group's stages named ``prefix``...: summed, or of the stage with the
    least wall time (``fastest``); None when not measured."""
    kept = [s for s in group["stages"] if s["stage"].startswith(prefix)]
    if not _measured(group) or not kept or any(s.get("cpu_seconds") is None for s in kept):
        return None
    if fastest:
        return min(kept, key=lambda s: s["seconds"])["cpu_seconds"]
    return round(sum(s["cpu_seconds"] for s in kept), 3)


def _peak(group: dict[str, Any]) -> float | None:
    return max((s["peak_rss_mib"] for s in group["stages"]), default=None)


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return round(numerator / denominator, 2)


def _met(value: float | None, limit: float, at_most: bool = True) -> bool | None:
    if value is None:
        return None
    return value <= limit if at_most else value >= limit


def _fmt(value: float | None, pattern: str) -> str:
    return "not measured" if value is None else pattern.format(value)


def _seconds(value: float | None) -> str:
    """Seconds to 0.01 s, or to 0.001 s below 0.1 s (our CLV fit takes ~0.01-0.03 s)."""
    return _fmt(value, "{:.3f}" if value is not None and abs(value) < 0.1 else "{:.2f}")


def _snapshot_target(
    target: str,
    size: str,
    seconds: float | None,
    peak_mib: float | None,
    max_seconds: float,
    max_mib: float,
) -> dict[str, Any]:
    """A 100M target on one snapshot's seconds and peak memory (not run at other sizes)."""
    if size != "100M":
        return {"target": target, "measured": "not run at this size", "met": None}
    return {
        "target": target,
        "measured": f"{_fmt(seconds, '{:.1f} s')}, {(peak_mib or 0) / 1024:.2f} GiB",
        "met": _met(seconds, max_seconds) and _met(peak_mib, max_mib),
    }


def _write_floor(group: dict[str, Any]) -> dict[str, Any] | None:
    """The writes group's copies (see ``benchmarks.write_floor``): the seconds of each copy's
    fastest run (its tables' seconds summed), and the writes' floor: the file copy minus the
    memory copy, for landing's tables and for the monthly assets' apart (each at least zero),
    their sum, and the same for the uncompressed file; with the bytes the memory copy spilled.
    None when the group did not run to its end or its copies do not hold the same tables."""
    if not _measured(group):
        return None
    fastest: dict[str, dict[str, float]] = {}
    spilled = 0
    for mode, name in WRITE_COPIES.items():
        runs = [st["extra"] for st in group["stages"] if st["stage"].startswith(f"{name}, run ")]
        if not runs:
            return None
        times = [
            {k.removesuffix(" seconds"): v for k, v in extra.items() if k.endswith(" seconds")}
            for extra in runs
        ]
        best = min(range(len(runs)), key=lambda k: sum(times[k].values()))
        fastest[mode] = times[best]
        if mode == "memory":
            spilled = sum(v for k, v in runs[best].items() if k.endswith(" spilled bytes"))
    if len({frozenset(tables) for tables in fastest.values()}) != 1:
        return None

    def landing(table: str) -> bool:
        return table.split(".")[0] in LANDING_SCHEMAS

    def floor(mode: str, part: Callable[[str], bool]) -> float:
        # a part's sum, not each table's, is held at zero: a table's noise either way cancels
        return max(
            sum(
                seconds - fastest["memory"][table]
                for table, seconds in fastest[mode].items()
                if part(table)
            ),
            0.0,
        )

    def monthly(table: str) -> bool:
        return not landing(table)

    result = {mode: sum(tables.values()) for mode, tables in fastest.items()}
    result |= {
        "floor_landing": floor("file", landing),
        "floor_monthly": floor("file", monthly),
        "floor_uncompressed": floor("uncompressed", landing) + floor("uncompressed", monthly),
    }
    result["floor"] = result["floor_landing"] + result["floor_monthly"]
    return {key: round(value, 3) for key, value in result.items()} | {
        "memory_spilled_bytes": spilled
    }


def _budget(
    target: str,
    budget: float | None,
    floor: float | None,
    now: float | None,
    start: float | None = 0.0,
) -> dict[str, Any]:
    """What a seconds target leaves for everything but the writes and the process start, once
    the writes cost no more than their ``floor``; and how many times the rest (``now``:
    everything but the snapshot's own writing phase and the process start, as measured) would
    have to shrink to fit: at least that many, as that phase holds more than the writes (the
    publish's read of the staged files, the frames handed to DuckDB)."""
    fixed = None if floor is None or start is None else floor + start
    left = None if budget is None or fixed is None else budget - fixed
    if left is None:
        shrink: float | str | None = None
    elif left <= 0:
        shrink = "impossible"
    elif now is None:
        shrink = None
    elif now <= left:
        shrink = "fits"
    else:
        shrink = round(now / left, 1)

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 3)

    return {
        "target": target,
        "budget": rounded(budget),
        "process_start": rounded(start),
        "writes_floor": rounded(floor),
        "left": rounded(left),
        "rest_now": rounded(now),
        "shrink_at_least": shrink,
    }


def _budgets(
    size: str,
    seconds: dict[str, float | None],
    writing: dict[str, float] | None,
    writes: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    """The issue's seconds targets against the writes' floor (see ``_budget``)."""
    floor = None if writes is None else writes["floor"]
    in_process = seconds["pipeline_one_snapshot"]
    own = None if writing is None else writing["writing"]
    rest = None if in_process is None or own is None else in_process - own
    if size == TARGET_SIZE:
        cli, start, sql = seconds["cli_one_snapshot"], seconds["process_start"], seconds["sql_rfm"]
        return [
            _budget("issue 18, 10M: one snapshot in process <= 8 s", 8.0, floor, rest),
            _budget(
                "issue 18, 10M: one snapshot through `dagster asset materialize` within 10x the "
                "SQL RFM model",
                None if sql is None else 10 * sql,
                floor,
                None if cli is None or start is None or own is None else cli - start - own,
                start,
            ),
        ]
    if size == "100M":
        return [_budget("issue 18, 100M: one snapshot <= 150 s", 150.0, floor, rest)]
    return []


def _summarize(size: str, measured: dict[str, dict[str, Any]]) -> dict[str, Any]:
    # a group absent from ``measured`` counts as not run
    groups = {name: measured.get(name, NOT_RUN) for name in GROUPS} | measured
    snapshot = groups["pipeline"]
    seconds = {
        "floor": _fastest(groups["floor"]),
        "pipeline_one_snapshot": _total(snapshot),
        "snapshot_features_to_strategies": _total(snapshot, _monthly),
        "backfill_24_features_to_strategies": _total(groups["backfill"], _monthly),
        # a backfill from scratch lands once, as the one snapshot does (the backfill group
        # starts from a copy of the pipeline group's landed warehouse)
        "backfill_24_end_to_end": _plus(
            _total(snapshot, _landing), _total(groups["backfill"], _monthly)
        ),
        "our_rfm_segments": _total(snapshot, _our_rfm),
        "cli_one_snapshot": _fastest(groups["cli"], CLI_RUN),
        "process_start": _fastest(groups["cli"], DEFINITIONS_LOAD),
        "pandas_rfm": _fastest_run(groups["pandas_rfm"]),
        "sql_rfm": _fastest(groups["sql_rfm"], SQL_RFM),
        "polars_rfm": _fastest(groups["polars_rfm"], POLARS_RFM),
        "our_clv_fit": _fastest(groups["pymc"], OUR_FIT),
        "pymc_map_fit": _fastest(groups["pymc"], PYMC_FIT),
    }
    ratios = {
        "cli_over_sql_rfm": _ratio(seconds["cli_one_snapshot"], seconds["sql_rfm"]),
        "cli_over_in_process": _ratio(
            seconds["cli_one_snapshot"], seconds["pipeline_one_snapshot"]
        ),
        "in_process_over_sql_rfm": _ratio(seconds["pipeline_one_snapshot"], seconds["sql_rfm"]),
        "sql_rfm_over_polars_rfm": _ratio(seconds["sql_rfm"], seconds["polars_rfm"]),
        "pandas_rfm_over_sql_rfm": _ratio(seconds["pandas_rfm"], seconds["sql_rfm"]),
        "pandas_rfm_over_polars_rfm": _ratio(seconds["pandas_rfm"], seconds["polars_rfm"]),
        "pipeline_over_floor": _ratio(seconds["pipeline_one_snapshot"], seconds["floor"]),
        "backfill_over_snapshot": _ratio(
            seconds["backfill_24_end_to_end"], seconds["pipeline_one_snapshot"]
        ),
        "backfill_over_snapshot_features_to_strategies": _ratio(
            seconds["backfill_24_features_to_strategies"],
            seconds["snapshot_features_to_strategies"],
        ),
        "pandas_rfm_over_our_rfm_segments": _ratio(
            seconds["pandas_rfm"], seconds["our_rfm_segments"]
        ),
        "pandas_rfm_over_pipeline": _ratio(seconds["pandas_rfm"], seconds["pipeline_one_snapshot"]),
        "pymc_map_over_our_fit": _ratio(seconds["pymc_map_fit"], seconds["our_clv_fit"]),
    }
    # a backfill writes every month's known customers: its work grows with these rows
    rows = {
        "snapshot": _customer_snapshots(snapshot),
        "backfill_24": _customer_snapshots(groups["backfill"]),
    }
    ratios["backfill_rows_over_snapshot_rows"] = _ratio(rows["backfill_24"], rows["snapshot"])
    per_row = {
        key: None if not rows[key] or seconds[name] is None else seconds[name] / rows[key] * 1e6
        for key, name in (
            ("snapshot", "snapshot_features_to_strategies"),
            ("backfill_24", "backfill_24_features_to_strategies"),
        )
    }
    ratios["backfill_over_snapshot_per_customer_snapshot"] = _ratio(
        per_row["backfill_24"], per_row["snapshot"]
    )
    # the backfill against one snapshot if the monthly assets did nothing but write their
    # tables, at the writes' floor: landing as measured, then landing at its floor too
    # a floor beside a pipeline run that failed would be another run's tables
    writes = _write_floor(groups["writes"]) if _measured(snapshot) else None
    landing_now = _total(snapshot, _landing)
    repeat = (
        None
        if not rows["snapshot"] or not rows["backfill_24"]
        else (rows["backfill_24"] / rows["snapshot"])
    )
    monthly = None if writes is None else writes["floor_monthly"]
    for key, landing in (
        ("backfill_over_snapshot_writes_floor", landing_now),
        ("backfill_over_snapshot_writes_floor_landing_too", writes and writes["floor_landing"]),
    ):
        ratios[key] = (
            None
            if None in (landing, monthly, repeat)
            else _ratio(landing + repeat * monthly, landing + monthly)
        )
    fit = groups["pymc"].get("clv_fit")
    exact: bool | None = None
    max_rel = None
    if fit is not None:
        max_rel = max(v for part in fit["relative_difference"].values() for v in part.values())
        # the gradient test of the fit (max |grad| <= 1e-6) and no worse than pymc's optimum
        exact = (
            fit["ours"]["bgnbd_max_abs_grad"] <= 1e-6
            and fit["ours"]["gamma_gamma_max_abs_grad"] <= 1e-6
            and all(
                fit["log_likelihood"][m]["ours"] >= fit["log_likelihood"][m]["pymc"]
                for m in ("bgnbd", "gamma_gamma")
            )
        )
    pipeline_s = seconds["pipeline_one_snapshot"]
    pipeline_peak = _peak(snapshot)
    at_target = size == TARGET_SIZE
    cli_s = seconds["cli_one_snapshot"]
    targets = [
        {
            "target": "issue 18, 10M: one snapshot through `dagster asset materialize` (process "
            "start included) within 10x the SQL RFM model",
            "measured": _fmt(ratios["cli_over_sql_rfm"], "{:.1f}x")
            + f" ({_fmt(cli_s, '{:.1f} s')} / {_fmt(seconds['sql_rfm'], '{:.2f} s')})",
            "met": _met(ratios["cli_over_sql_rfm"], 10) if at_target else None,
        },
        {
            "target": "issue 18, 10M: one snapshot in process <= 8 s",
            "measured": _fmt(pipeline_s, "{:.1f} s"),
            "met": _met(pipeline_s, 8) if at_target else None,
        },
        {
            "target": "10M: one snapshot end to end < 30 s",
            "measured": _fmt(pipeline_s, "{:.1f} s"),
            "met": _met(pipeline_s, 30) if at_target else None,
        },
        {
            "target": "10M and above: end to end within 4x the floor",
            "measured": _fmt(ratios["pipeline_over_floor"], "{:.1f}x"),
            "met": _met(ratios["pipeline_over_floor"], 4) if size in ("10M", "100M") else None,
        },
        {
            "target": "issue 18: 24-month backfill within 3x one snapshot (both end to end, "
            "in process)",
            "measured": _fmt(ratios["backfill_over_snapshot"], "{:.1f}x")
            + " (features..strategies alone: "
            + _fmt(ratios["backfill_over_snapshot_features_to_strategies"], "{:.1f}x")
            + ")",
            "met": _met(ratios["backfill_over_snapshot"], 3),
        },
        {
            "target": "CLV fit >= 100x faster than pymc-marketing MAP",
            "measured": _fmt(ratios["pymc_map_over_our_fit"], "{:.0f}x"),
            "met": _met(ratios["pymc_map_over_our_fit"], 100, at_most=False),
        },
        {
            "target": "CLV parameters at the exact maximum likelihood (within 1%)",
            "measured": (
                "not measured"
                if "not_run" in groups["pymc"]
                else "failed"
                if max_rel is None
                else f"max grad <= 1e-6 and log-likelihood >= pymc's: {exact}; "
                f"pymc MAP differs by up to {100 * max_rel:.2f}%"
            ),
            "met": exact,
        },
        _snapshot_target(
            "issue 18, 100M: one snapshot <= 150 s and <= 6 GiB",
            size,
            pipeline_s,
            pipeline_peak,
            150,
            6144,
        ),
        _snapshot_target(
            "100M: one snapshot < 5 min and < 8 GiB", size, pipeline_s, pipeline_peak, 300, 8192
        ),
    ]
    return {
        "seconds": {k: None if v is None else round(v, 3) for k, v in seconds.items()},
        # CPU seconds (user + system) where wall time moves with the machine's load
        "cpu_seconds": {
            "pipeline_one_snapshot": _cpu(snapshot),
            "process_start": _cpu(groups["cli"], DEFINITIONS_LOAD, fastest=True),
            "cli_one_snapshot": _cpu(groups["cli"], CLI_RUN),
        },
        "peak_rss_mib": {
            "floor": _peak(groups["floor"]),
            "pipeline_one_snapshot": pipeline_peak,
            "backfill_24": _peak(groups["backfill"]),
            "cli_one_snapshot": _peak(groups["cli"]),
            "pandas_rfm": _peak(groups["pandas_rfm"]),
            "sql_rfm": _peak(groups["sql_rfm"]),
            "polars_rfm": _peak(groups["polars_rfm"]),
            "pymc": _peak(groups["pymc"]),
        },
        # where the in-process snapshot's seconds went, landing and monthly apart
        "phases": {
            "landing": _phases(snapshot, _landing),
            "monthly": _phases(snapshot, _monthly),
            "pipeline_one_snapshot": _phases(snapshot),
            "backfill_24": _phases(groups["backfill"], _monthly),
        },
        "ratios": ratios,
        "customer_snapshots": rows,
        "microseconds_per_customer_snapshot": {
            key: None if value is None else round(value, 2) for key, value in per_row.items()
        },
        "writes": writes,
        "budgets": _budgets(size, seconds, _phases(snapshot), writes),
        "failed": {g: data["failed"] for g, data in groups.items() if "failed" in data},
        "not_run": [g for g, data in groups.items() if "not_run" in data],
        "targets": targets,
    }


def _markdown(result: dict[str, Any]) -> str:
    env = result["environment"]
    lines = [
        f"### {result['size']}: {result['transactions']:,} transactions, "
        f"{result['customers']:,} customers",
        "",
        f"{env['cpus']} CPUs, {env['platform']}, Python {env['python']}, DuckDB {env['duckdb']},"
        f" polars {env['polars']}; snapshot {result['snapshot']}, backfill "
        f"{result['backfill'][0]}..{result['backfill'][1]}"
        + (
            f"; load average (1 min) {env['load_average'][0]:.1f} at the start, "
            f"{env['load_average'][1]:.1f} at the end."
            if "load_average" in env
            else "."
        ),
        "",
        "| group | stage | seconds | CPU s | " + " | ".join(PHASE_COLUMNS) + " | peak RSS MiB "
        "| RSS at start MiB |",
        "|---|---|---:|---:|" + "---:|" * len(PHASE_COLUMNS) + "---:|---:|",
    ]
    for group, data in result["groups"].items():
        for stage in data["stages"]:
            phases = stage.get("phases") or {}
            # a stage none of whose code is marked (the floor, the peers) shows no split
            marked = any(phases.get(name) for name in PHASE_COLUMNS if name != "computing")
            split = " | ".join(
                _seconds(phases[name]) if marked and name in phases else ""
                for name in PHASE_COLUMNS
            )
            cpu = stage.get("cpu_seconds")
            lines.append(
                f"| {group} | {stage['stage']} | {_seconds(stage['seconds'])} | "
                f"{'' if cpu is None else _seconds(cpu)} | {split} | "
                f"{stage['peak_rss_mib']:,.0f} | {stage['rss_start_mib']:,.0f} |"
            )
    s = result["summary"]
    lines += ["", "| total | seconds | peak RSS MiB |", "|---|---:|---:|"]
    peaks = s["peak_rss_mib"]
    rows = [
        ("floor (DuckDB scan + group-by, fastest run)", "floor", "floor"),
        ("pipeline, one snapshot, end to end", "pipeline_one_snapshot", "pipeline_one_snapshot"),
        ("one snapshot, features..strategies", "snapshot_features_to_strategies", None),
        (
            "24-month backfill, features..strategies",
            "backfill_24_features_to_strategies",
            "backfill_24",
        ),
        ("24-month backfill, end to end (landing once)", "backfill_24_end_to_end", None),
        ("our RFM + segments (features..segments)", "our_rfm_segments", None),
        (
            "one snapshot through `dagster asset materialize`",
            "cli_one_snapshot",
            "cli_one_snapshot",
        ),
        ("process start (`import pipelines.definitions`), fastest run", "process_start", None),
        ("SQL RFM model (DuckDB), fastest run", "sql_rfm", "sql_rfm"),
        ("polars RFM twin (lazy), fastest run", "polars_rfm", "polars_rfm"),
        ("pandas RFM (read + score + segment), fastest run", "pandas_rfm", "pandas_rfm"),
        ("our CLV fit (fit_bgnbd + fit_gamma_gamma), fastest run", "our_clv_fit", None),
        ("pymc-marketing MAP (BG/NBD + Gamma-Gamma), fastest run", "pymc_map_fit", "pymc"),
    ]
    for label, key, peak in rows:
        peak_text = _fmt(peaks[peak], "{:,.0f}") if peak else ""
        lines.append(f"| {label} | {_seconds(s['seconds'][key])} | {peak_text} |")
    rows, per_row = s["customer_snapshots"], s["microseconds_per_customer_snapshot"]
    lines += [
        "",
        "| features..strategies | customer-snapshot rows | µs per row |",
        "|---|---:|---:|",
        f"| one snapshot | {_fmt(rows['snapshot'], '{:,}')} | "
        f"{_fmt(per_row['snapshot'], '{:.1f}')} |",
        f"| 24-month backfill | {_fmt(rows['backfill_24'], '{:,}')} | "
        f"{_fmt(per_row['backfill_24'], '{:.1f}')} |",
    ]
    lines += _where_seconds_go(s)
    lines += _writes_lines(s)
    lines += ["", "| ratio | value |", "|---|---:|"]
    lines += [f"| {name} | {_fmt(value, '{:.2f}')} |" for name, value in s["ratios"].items()]
    lines += [
        f"\nGroup `{g}` failed ({why}); its totals are left out." for g, why in s["failed"].items()
    ]
    if s["not_run"]:
        lines.append(f"\nNot run (`--groups`): {', '.join(s['not_run'])}.")
    targets = ["", "| target | measured | met |", "|---|---|---|"]
    for target in s["targets"]:
        met = {True: "yes", False: "**no**", None: "n/a"}[target["met"]]
        targets.append(f"| {target['target']} | {target['measured']} | {met} |")
    fit = result["groups"].get("pymc", NOT_RUN).get("clv_fit")
    if fit is None:
        return "\n".join(lines + targets) + "\n"
    lines += [
        "",
        f"CLV fit comparison on {fit['subsample']} ({fit['repeat_buyers_fitted']:,} repeat "
        "buyers):",
        "",
        "| model | parameter | ours (MLE) | pymc-marketing MAP | relative difference |",
        "|---|---|---:|---:|---:|",
    ]
    for model in ("bgnbd", "gamma_gamma"):
        for name, value in fit["ours"][model].items():
            lines.append(
                f"| {model} | {name} | {value:.6g} | {fit['pymc'][model][name]:.6g} | "
                f"{100 * fit['relative_difference'][model][name]:.3f}% |"
            )
    for model, ll in fit["log_likelihood"].items():
        lines.append(
            f"| {model} | log-likelihood | {ll['ours']:.6f} | {ll['pymc']:.6f} | "
            f"{ll['ours'] - ll['pymc']:+.4f} (ours - pymc) |"
        )
    return "\n".join(lines + targets) + "\n"


def _where_seconds_go(summary: dict[str, Any]) -> list[str]:
    """The phase split of the in-process snapshot and backfill, and what the CLI adds to it."""
    lines = [
        "",
        "| where the seconds go | seconds | " + " | ".join(PHASE_COLUMNS) + " |",
        "|---|---:|" + "---:|" * len(PHASE_COLUMNS),
    ]
    for label, key in (
        ("landing (raw.transactions + raw.customers)", "landing"),
        ("one snapshot, features..strategies", "monthly"),
        ("one snapshot in process, end to end", "pipeline_one_snapshot"),
        ("24-month backfill, features..strategies", "backfill_24"),
    ):
        phases = summary["phases"][key]
        if phases is None:
            continue
        split = " | ".join(_seconds(phases[name]) for name in PHASE_COLUMNS)
        lines.append(f"| {label} | {_seconds(sum(phases.values()))} | {split} |")
    seconds, cpu = summary["seconds"], summary["cpu_seconds"]
    cli, start = seconds["cli_one_snapshot"], seconds["process_start"]
    in_process = seconds["pipeline_one_snapshot"]
    if cli is None or start is None or in_process is None:
        return lines

    def shown(value: float | None) -> str:
        # "the rest" is a difference between two runs (in process, command line): below zero it
        # says only that the two runs' spread is larger than what Dagster adds
        if value is None:
            return ""
        return _seconds(value) if value >= 0 else f"< 0 (two runs' spread: {_seconds(value)})"

    def row(label: str, wall: float, used: float | None) -> str:
        return f"| {label} | {shown(wall)} | {shown(used)} |"

    rest_cpu = (
        None
        if None in (cpu["cli_one_snapshot"], cpu["process_start"], cpu["pipeline_one_snapshot"])
        else cpu["cli_one_snapshot"] - cpu["process_start"] - cpu["pipeline_one_snapshot"]
    )
    return lines + [
        "",
        "| one snapshot through the CLI | seconds | CPU s |",
        "|---|---:|---:|",
        row(
            "process start: interpreter, imports, config, definitions",
            start,
            cpu["process_start"],
        ),
        row("the assets' work, as measured in process", in_process, cpu["pipeline_one_snapshot"]),
        row(
            "the rest: Dagster's run (storage, event log, steps) and the asset checks",
            cli - start - in_process,
            rest_cpu,
        ),
        row("`dagster asset materialize`, process start to exit", cli, cpu["cli_one_snapshot"]),
    ]


def _writes_lines(summary: dict[str, Any]) -> list[str]:
    """The writes group's copies, the writes' floor, and what it leaves of each target."""
    writes = summary["writes"]
    if writes is None:
        return []
    lines = [
        "",
        "| the snapshot's tables, copied by DuckDB (fastest run) | seconds |",
        "|---|---:|",
        f"| into a fresh file: the pipeline's storage format, compressed | "
        f"{_seconds(writes['file'])} |",
        f"| into a fresh file, compression off | {_seconds(writes['uncompressed'])} |",
        f"| into memory, no file: reading the tables, building the rows | "
        f"{_seconds(writes['memory'])} |",
        f"| the writes' floor: file minus memory | {_seconds(writes['floor'])} |",
        f"| of it landing's tables (raw, quality) | {_seconds(writes['floor_landing'])} |",
        f"| of it the monthly assets' tables (features, marts) | "
        f"{_seconds(writes['floor_monthly'])} |",
        f"| the writes' floor, compression off | {_seconds(writes['floor_uncompressed'])} |",
    ]
    if writes["memory_spilled_bytes"]:
        lines.append(
            f"\nThe memory copy spilled {writes['memory_spilled_bytes'] / 2**30:.1f} GiB to "
            "DuckDB's temp directory (a table larger than the memory limit): it wrote a file "
            "too, so the floor above is lower than writing costs."
        )
    if not summary["budgets"]:
        return lines
    lines += [
        "",
        "| target | budget s | process start s | the writes' floor s | left for the rest s "
        "| the rest now s | the rest must shrink at least |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary["budgets"]:
        shrink = row["shrink_at_least"]
        start = row["process_start"]
        lines.append(
            f"| {row['target']} | {_seconds(row['budget'])} | "
            f"{_seconds(start) if start else ''} | {_seconds(row['writes_floor'])} | "
            f"{_seconds(row['left'])} | {_seconds(row['rest_now'])} | "
            + (shrink if isinstance(shrink, str) else _fmt(shrink, "{}x"))
            + " |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(SIZES), default="10M")
    parser.add_argument(
        "--pymc-max-customers",
        type=int,
        default=100_000,
        help="above this many buyers pymc-marketing and our fit use a seeded random subsample",
    )
    parser.add_argument(
        "--groups",
        nargs="+",
        choices=GROUPS,
        default=list(GROUPS),
        help="run only these stage groups (pymc needs a pipeline run's customer summary)",
    )
    args = parser.parse_args()

    data, true_params, generated = ensure_data(args.size)
    work = data / "work"
    work.mkdir(exist_ok=True)
    _config(data, work)
    load_at_start = os.getloadavg()[0]
    print(
        f"{args.size}: {transaction_rows(true_params):,} transactions, "
        f"{SIZES[args.size]:,} customers in {data} ({'generated' if generated else 'cached'})"
    )
    groups = {
        group: _run_group(group, data, work, args) if group in args.groups else dict(NOT_RUN)
        for group in GROUPS
    }
    result = {
        "size": args.size,
        "transactions": transaction_rows(true_params),
        "customers": SIZES[args.size],
        "seed": true_params["seed"],
        "snapshot": groups["pipeline"].get("partitions", [None])[-1],
        "backfill": groups["backfill"].get("partitions", [None, None]),
        "environment": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "polars": pl.__version__,
            "load_average": [round(load_at_start, 2), round(os.getloadavg()[0], 2)],
        },
        "groups": groups,
    }
    result["summary"] = _summarize(args.size, groups)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / f"{args.size}.json").write_text(json.dumps(result, indent=2) + "\n")
    markdown = _markdown(result)
    (RESULTS_DIR / f"{args.size}.md").write_text(markdown)
    print()
    print(markdown)


if __name__ == "__main__":
    main()
