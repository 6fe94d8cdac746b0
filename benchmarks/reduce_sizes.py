"""The inputs of the Spark engine's reduce steps, counted from the DuckDB engine's tables.

What the driver receives depends on the population, and for some steps on how the rows are
split. The quantities here are counts of the population alone, so either engine's tables give
the same numbers; they are computed from a DuckDB warehouse, which makes them measurable at a
size the Spark engine was not run at:

- exactly what the driver receives, whatever the split: the distinct RFM values per snapshot and
  score (Spark sums the partitions' counts before collecting them), the purchasers' cluster
  rows, the customers ranked for the strategies' capacities, the backtest's customer rows;
- the least the driver receives, reached when one task holds all of a snapshot's customers:
  the CLV fit input (each partition sends its distinct triples and spend pairs), the value
  counts (each partition its distinct revenues), the summary's and the evaluation's sums (each
  partition or bucket one row per row of the result); the Spark run records the actual
  numbers of its split beside them.

``python -m benchmarks.reduce_sizes WAREHOUSE CONFIG`` prints them as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from segmentation.config import SegmentationConfig, load_config
from segmentation.engines.spark.strategies import first_rule_without_capacity
from segmentation.evaluation.evaluate import backtest_customers, coverage_last_day
from segmentation.features.clv import clv_fit_input
from segmentation.features.value import revenue_counts
from segmentation.keys import (
    BEHAVIOUR_TABLE,
    FEATURES_TABLE,
    SEGMENTS_TABLE,
    SNAPSHOT_COLUMN,
    SUMMARY_TABLE,
)
from segmentation.monthly import read_month
from segmentation.segments.rfm import ranked_values
from segmentation.strategies.playbook import rule_matches

# the table each count reads, and how it counts one month
_PER_MONTH: dict[str, tuple[str, Callable[[pl.DataFrame, SegmentationConfig], int]]] = {
    # not a reduce step's input: the customer-months the others compare with
    "customer-months": (BEHAVIOUR_TABLE, lambda month, _: month.height),
    "clv fit input: triple": (BEHAVIOUR_TABLE, lambda month, _: clv_fit_input(month).x.size),
    "clv fit input: spend": (
        BEHAVIOUR_TABLE,
        lambda month, _: clv_fit_input(month).spend_x.size,
    ),
    "value counts": (BEHAVIOUR_TABLE, lambda month, _: revenue_counts(month).height),
    "segments: rfm_values": (
        FEATURES_TABLE,
        lambda month, config: sum(
            column.drop_nulls().cast(pl.Float64).n_unique()
            for column in month.select(ranked_values(config.segments.rfm)).iter_columns()
        ),
    ),
    "segments: cluster_rows": (
        FEATURES_TABLE,
        lambda month, config: (
            month.filter(pl.col("recency_days").is_not_null()).height
            if config.segments.clusters.enabled
            else 0
        ),
    ),
    "strategies: eligible": (
        SEGMENTS_TABLE,
        lambda month, config: (
            0
            if config.playbook is None
            else first_rule_without_capacity(rule_matches(month, config.playbook), config.playbook)
            .get_column("rule_index")
            .null_count()
        ),
    ),
    # the summary's rows: what one partition's sums hold at most
    "summary sums": (SUMMARY_TABLE, lambda month, _: month.height),
}
# exactly what the driver receives, whatever the split (the others: at least this)
EXACT = (
    "segments: rfm_values",
    "segments: cluster_rows",
    "strategies: eligible",
    "backtest customers",
)
CONTEXT = ("customer-months",)


def _snapshots(con: duckdb.DuckDBPyConnection) -> list[date]:
    rows = con.execute(
        f"SELECT DISTINCT {SNAPSHOT_COLUMN} FROM {BEHAVIOUR_TABLE} ORDER BY 1"
    ).fetchall()
    return [row[0] for row in rows]


def reduce_sizes(con: duckdb.DuckDBPyConnection, config: SegmentationConfig) -> dict[str, Any]:
    """The reduce steps' input sizes of the warehouse ``con``'s snapshots: per quantity the
    total over the snapshots and the largest month, and the evaluation's and backtest's (which
    read every snapshot at once) in total.

    Args:
        con: A warehouse the DuckDB engine wrote (behaviour, features, segments, summary,
            assignments, the evaluation marts and the raw transactions).
        config: The configuration the warehouse was computed with.
    """
    snapshots = _snapshots(con)
    per_month: dict[str, list[int]] = {name: [] for name in _PER_MONTH}
    for snapshot in snapshots:
        months: dict[str, pl.DataFrame] = {}
        for name, (table, count) in _PER_MONTH.items():
            if table not in months:
                months[table] = read_month(con, table, snapshot)
            per_month[name].append(int(count(months[table], config)))
    totals: dict[str, Any] = {
        name: {"total": sum(counts), "largest month": max(counts, default=0)}
        for name, counts in per_month.items()
    }
    for name, table in (
        ("evaluation: migration", "marts.segment_migration"),
        ("evaluation: outcomes", "marts.segment_outcomes"),
        ("evaluation: effect", "marts.strategy_effect"),
    ):
        (rows,) = con.execute(f"SELECT count(*) FROM {table}").fetchone() or (0,)
        totals[name] = {"total": int(rows)}
    totals["backtest customers"] = {"total": backtest_customers(con, coverage_last_day(con)).height}
    return {"snapshots": [str(snapshot) for snapshot in snapshots], "sizes": totals}


def main(argv: list[str] | None = None) -> None:
    """Print the reduce sizes of a warehouse as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("config", type=Path)
    args = parser.parse_args(argv)
    with duckdb.connect(str(args.warehouse), read_only=True) as con:
        sizes = reduce_sizes(con, load_config(args.config))
    sys.stdout.write(json.dumps(sizes, indent=2) + "\n")


if __name__ == "__main__":
    main()
