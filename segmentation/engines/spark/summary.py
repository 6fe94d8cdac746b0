"""``marts.segment_summary`` on Spark: sums per partition on the executors, the summary of
their totals on the driver, both by the DuckDB engine's own functions
(:mod:`segmentation.segments.build`).

1. Map: each partition of ``marts.customer_segments`` says, per snapshot, which of its label
   columns are segment dimensions (:func:`~segmentation.segments.build.dimension_columns`: a
   source label is one when any customer shows its source) and whether its customers have a
   feedback source. The driver joins the partitions' answers: a column is a dimension of the
   snapshot when any partition says so, as it would be for the whole snapshot.
2. Map: each partition's customers, per snapshot, dimension and segment: customers, revenue,
   the sum of clv_12m and the customers with one
   (:func:`~segmentation.segments.build.segment_sums`).
3. Reduce, on the driver: the partitions' sums added up per snapshot, dimension and segment,
   in partition order, and finished by
   :func:`~segmentation.segments.build.summary_of_sums` (mean CLV, customer and revenue
   shares). The driver receives one row per partition, snapshot and segment of every
   dimension, whatever the number of customers.

The counts and shares of customers are exact. The revenue and CLV sums are float sums in
another order than the DuckDB engine's one pass over the snapshot, so revenue, revenue_share
and avg_clv equal the DuckDB engine's to rounding (the engines' contract: 1e-9 relative), not
bit for bit.

A segments row is one customer at one snapshot, so the map steps run on the table's own
partitions, without a shuffle. The revenue summed is ``net_revenue``, which the segments table
carries as ``features.customer_features`` has it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from segmentation.engines.spark.lake import read_table
from segmentation.evaluation.satisfaction import has_feedback_source
from segmentation.keys import SEGMENTS_TABLE, SNAPSHOT_COLUMN
from segmentation.segments.build import (
    SUMMARY_SUMS_SCHEMA,
    dimension_columns,
    segment_sums,
    summary_of_sums,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# what a partition says of a snapshot: a dimension column, or that it has feedback
EVIDENCE_SCHEMA = pa.schema(
    [(SNAPSHOT_COLUMN, pa.date32()), ("kind", pa.string()), ("name", pa.string())]
)
_DIMENSION, _FEEDBACK = "dimension", "feedback"


def partition_frames(batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[date, pl.DataFrame]]:
    """The rows of a partition's batches, one frame per snapshot."""
    table = pa.Table.from_batches(list(batches))
    if table.num_rows == 0:
        return
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    for (snapshot,), rows in frame.partition_by(SNAPSHOT_COLUMN, as_dict=True).items():
        yield snapshot, rows


def _evidence_of_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for snapshot, rows in partition_frames(batches):
        names = [(_DIMENSION, name) for name in dimension_columns(rows)]
        if has_feedback_source(rows):
            names.append((_FEEDBACK, ""))
        evidence = pl.DataFrame(
            {
                SNAPSHOT_COLUMN: [snapshot] * len(names),
                "kind": [kind for kind, _ in names],
                "name": [name for _, name in names],
            },
            schema={SNAPSHOT_COLUMN: pl.Date, "kind": pl.String, "name": pl.String},
        )
        yield from evidence.to_arrow().cast(EVIDENCE_SCHEMA).to_batches()


@dataclass(frozen=True)
class SnapshotDimensions:
    """What the whole of each snapshot of a segments table says.

    Attributes:
        dimensions: Per snapshot, its segment-dimension columns in the table's column order
            (what :func:`~segmentation.segments.build.dimension_columns` gives on the
            snapshot's rows).
        feedback: The snapshots whose customers have a feedback source
            (:func:`~segmentation.evaluation.satisfaction.has_feedback_source`).
    """

    dimensions: dict[date, list[str]]
    feedback: frozenset[date]

    def of_pair(self, earlier: date, later: date) -> list[str]:
        """The dimension columns of two snapshots' rows together, in their common order."""
        ordered = [*self.dimensions.get(earlier, []), *self.dimensions.get(later, [])]
        return list(dict.fromkeys(ordered))


def snapshot_dimensions(segments: DataFrame) -> SnapshotDimensions:
    """The segment dimensions and feedback of every snapshot of ``segments`` (a Spark frame of
    ``marts.customer_segments``), from every partition's answer for its own customers."""
    from pyspark.sql.pandas.types import from_arrow_schema

    rows = pl.from_arrow(
        segments.mapInArrow(_evidence_of_partition, from_arrow_schema(EVIDENCE_SCHEMA))
        .distinct()
        .toArrow()
    )
    assert isinstance(rows, pl.DataFrame)
    columns = segments.columns
    dimensions: dict[date, list[str]] = {}
    for (snapshot,), found in (
        rows.filter(pl.col("kind") == _DIMENSION)
        .partition_by(SNAPSHOT_COLUMN, as_dict=True)
        .items()
    ):
        names = set(found.get_column("name").to_list())
        dimensions[snapshot] = [column for column in columns if column in names]
    feedback = rows.filter(pl.col("kind") == _FEEDBACK).get_column(SNAPSHOT_COLUMN)
    return SnapshotDimensions(dimensions, frozenset(feedback.to_list()))


@dataclass(frozen=True)
class _SumsOfPartition:
    """The mapInArrow function of the sums: a partition's sums per snapshot and segment."""

    dimensions: dict[date, list[str]]

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        schema = pl.DataFrame(schema=SUMMARY_SUMS_SCHEMA).to_arrow().schema
        for snapshot, rows in partition_frames(batches):
            sums = segment_sums(rows, rows, self.dimensions.get(snapshot, []))
            yield from sums.to_arrow().cast(schema).to_batches()


def total_sums(sums: pl.DataFrame) -> pl.DataFrame:
    """The parts' :func:`~segmentation.segments.build.segment_sums` rows added up per
    snapshot, dimension and segment, in the order the parts come (a fixed order: the same
    parts give the same float sums)."""
    return sums.group_by(SNAPSHOT_COLUMN, "dimension", "segment", maintain_order=True).agg(
        pl.col("customers").sum(),
        pl.col("revenue").sum(),
        pl.col("clv_sum").sum(),
        pl.col("clv_customers").sum(),
    )


@dataclass(frozen=True)
class SparkSummary:
    """The Spark engine's segment summary.

    Attributes:
        summary: ``marts.segment_summary`` (on the driver: one row per snapshot, dimension
            and segment).
        reduce_rows: How many rows of sums the driver received (one per partition, snapshot,
            dimension and segment).
    """

    summary: pl.DataFrame
    reduce_rows: int


def segment_summary(
    spark: SparkSession,
    lake: str,
    snapshots: Sequence[date],
    segments: DataFrame | None = None,
) -> SparkSummary:
    """``marts.segment_summary`` at each of ``snapshots``, from ``marts.customer_segments``:
    the DuckDB engine's rows, counts and shares of customers exactly, sums and means to
    rounding.

    Args:
        spark: The engine's session.
        lake: The lake holding ``marts.customer_segments`` (read when ``segments`` is None).
        snapshots: The snapshot dates, any order.
        segments: ``marts.customer_segments`` holding the snapshots; default: the lake's.

    Raises:
        ValueError: No snapshot dates.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    if not snapshots:
        raise ValueError("no snapshot dates: nothing to compute")
    if segments is None:
        segments = read_table(spark, lake, SEGMENTS_TABLE)
    months = segments.where(F.col(SNAPSHOT_COLUMN).isin(*sorted(set(snapshots))))
    found = snapshot_dimensions(months)
    schema = pl.DataFrame(schema=SUMMARY_SUMS_SCHEMA).to_arrow().schema
    parts = pl.from_arrow(
        months.mapInArrow(_SumsOfPartition(found.dimensions), from_arrow_schema(schema)).toArrow()
    )
    assert isinstance(parts, pl.DataFrame)
    return SparkSummary(summary=summary_of_sums(total_sums(parts)), reduce_rows=parts.height)
