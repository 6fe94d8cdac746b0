"""``marts.strategy_assignments`` on Spark: a map step on the executors, a reduce step on the
driver for the capacity rules, a map step again, each running the DuckDB engine's own
functions (:mod:`segmentation.strategies.playbook`).

1. Map: each partition of ``marts.customer_segments`` evaluates every playbook rule and the
   control-group draw per customer (:func:`~segmentation.strategies.playbook.rule_matches`).
   A customer whose first matching rule has no capacity gets that rule there.
2. Reduce, on the driver: the customers whose first matching rule has a capacity (the
   eligible set), with their CLV, control flag and rule matches, ranked per snapshot by
   :func:`~segmentation.strategies.playbook.resolve_rules` in key order, as the DuckDB engine
   ranks them: the same treated customers per capacity rule and the same fall-through.
3. Map: every customer's assignment from its rule and control flag
   (:func:`~segmentation.strategies.playbook.assignments_of`).

A segments row is one customer at one snapshot: the map steps run on the table's own
partitions, without a shuffle.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from segmentation.engines.spark.buckets import partition_frames
from segmentation.keys import KEY_COLUMNS, SNAPSHOT_COLUMN, in_key_order
from segmentation.strategies.playbook import (
    ASSIGNMENT_SCHEMA,
    assignments_of,
    resolve_rules,
    rule_matches,
)
from segmentation.strategies.settings import Playbook

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# the map step's output: what the decisions read of each customer
_DECIDED = "rule_index"


def _match_schema(playbook: Playbook) -> pa.Schema:
    return pa.schema(
        [
            (SNAPSHOT_COLUMN, pa.date32()),
            ("customer_id", pa.string()),
            ("clv_12m", pa.float64()),
            ("is_control", pa.bool_()),
            *[(f"match_{index}", pa.bool_()) for index in range(len(playbook.rules))],
            (_DECIDED, pa.int64()),
        ]
    )


def first_rule_without_capacity(work: pl.DataFrame, playbook: Playbook) -> pl.DataFrame:
    """``work`` (:func:`~segmentation.strategies.playbook.rule_matches`' rows) with the
    ``rule_index`` of every customer whose first matching rule has no capacity: that rule is
    theirs whoever else matches. The others (null) need the ranking of their snapshot."""
    rules = playbook.rules
    first = pl.coalesce(
        [pl.when(pl.col(f"match_{index}")).then(pl.lit(index)) for index in range(len(rules))]
    )
    without_capacity = [index for index, rule in enumerate(rules) if rule.capacity is None]
    return work.with_columns(
        pl.when(first.is_in(without_capacity)).then(first).cast(pl.Int64).alias(_DECIDED)
    )


@dataclass(frozen=True)
class _MatchPartition:
    """The mapInArrow function of the first map step."""

    playbook: Playbook
    schema: pa.Schema

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for _, rows in partition_frames(batches):
            work = first_rule_without_capacity(rule_matches(rows, self.playbook), self.playbook)
            yield from work.to_arrow().cast(self.schema).to_batches()


@dataclass(frozen=True)
class _AssignPartition:
    """The mapInArrow function of the last map step."""

    playbook: Playbook
    schema: pa.Schema

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for _, rows in partition_frames(batches):
            yield from assignments_of(rows, self.playbook).to_arrow().cast(self.schema).to_batches()


def resolve_eligible(eligible: pl.DataFrame, playbook: Playbook) -> pl.DataFrame:
    """The reduce step: the rule of every customer whose first matching rule has a capacity
    (snapshot_date, customer_id, rule_index), ranked as the DuckDB engine ranks them.

    Raises:
        ValueError: If a customer matches no rule (as the DuckDB engine's).
    """
    resolved = resolve_rules(in_key_order(eligible, "segments"), playbook)
    unmatched = resolved.get_column(_DECIDED).null_count()
    if unmatched:
        raise ValueError(f"{unmatched} customers match no playbook rule: end with a catch-all")
    return resolved.select(*KEY_COLUMNS, _DECIDED)


@dataclass(frozen=True)
class SparkAssignments:
    """The Spark engine's strategy assignments.

    Attributes:
        assignments: ``marts.strategy_assignments`` (a Spark frame).
        reduce_rows: The customers ranked on the driver (``eligible``): those whose first
            matching rule has a capacity, over all snapshots.
    """

    assignments: DataFrame
    reduce_rows: dict[str, int] = field(default_factory=dict)


def strategy_assignments(
    spark: SparkSession, segments: DataFrame, playbook: Playbook
) -> SparkAssignments:
    """``marts.strategy_assignments`` of every customer of ``segments``
    (``marts.customer_segments``, any snapshots): the same strategies and control group as the
    DuckDB engine's.

    Raises:
        ValueError: If a customer matches no rule.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    match_schema = _match_schema(playbook)
    work = segments.mapInArrow(
        _MatchPartition(playbook, match_schema), from_arrow_schema(match_schema)
    )
    eligible = pl.from_arrow(work.where(F.col(_DECIDED).isNull()).toArrow())
    assert isinstance(eligible, pl.DataFrame)
    resolved = resolve_eligible(eligible, playbook)
    ranked = spark.createDataFrame(
        resolved.rename({_DECIDED: "ranked_rule"}).to_arrow()
    ).withColumn(SNAPSHOT_COLUMN, F.col(SNAPSHOT_COLUMN).cast("date"))

    decided = work.select(*KEY_COLUMNS, "is_control", _DECIDED).join(
        F.broadcast(ranked), on=list(KEY_COLUMNS), how="left"
    )
    decided = decided.select(
        *KEY_COLUMNS,
        "is_control",
        F.coalesce(F.col(_DECIDED), F.col("ranked_rule")).alias(_DECIDED),
    )
    schema = pl.DataFrame(schema=ASSIGNMENT_SCHEMA).to_arrow().schema
    assignments = decided.mapInArrow(_AssignPartition(playbook, schema), from_arrow_schema(schema))
    return SparkAssignments(assignments=assignments, reduce_rows={"eligible": eligible.height})
