"""Customer buckets on Spark: the map steps of the engine.

Every measure of a customer depends on that customer's rows alone, so the customers are split
into buckets by a hash of their id, Spark shuffles each bucket's rows of every table to one task,
and the task runs the library's own code on them: a DuckDB connection in the task holds the
bucket's rows under the tables' own names (``raw.transactions``, ``raw.customers``), and a
function of that connection (the same one the DuckDB engine calls on the warehouse) returns the
bucket's rows of the result. One implementation of every feature, not two.

The bucket is the DuckDB engine's (``features/customer_bucket_files.sql``): DuckDB's hash of
the customer id, computed by DuckDB inside the tasks, modulo the bucket count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import duckdb
import polars as pl
import pyarrow as pa

from segmentation.keys import SNAPSHOT_COLUMN
from segmentation.sql_files import read_sql, render_sql

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

BUCKET_COLUMN = "customer_bucket"
# Transaction rows per bucket: a task holds its bucket's rows in DuckDB (one thread) and the
# result in polars. 1M rows are ~0.1 GB as Arrow; the DuckDB engine takes 3M rows per GiB of
# its memory_limit in one pass (segmentation.features.behaviour.ROWS_PER_GIB).
ROWS_PER_BUCKET = 1_000_000

# One computation on one bucket: the library function reading the bucket's tables from the
# connection, returning the bucket's rows of the result
BucketComputation = Callable[[duckdb.DuckDBPyConnection], pl.DataFrame]


def bucket_count(rows: int, parallelism: int, rows_per_bucket: int = ROWS_PER_BUCKET) -> int:
    """How many customer buckets: at least one per core of the cluster (``parallelism``), more
    when the rows would exceed ``rows_per_bucket`` per bucket."""
    return max(1, parallelism, math.ceil(rows / rows_per_bucket))


@contextmanager
def bucket_connection(tables: Mapping[str, pa.Table]) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection holding one bucket's rows of each table under the
    table's own name (``{"raw.transactions": rows, ...}``), without the bucket column.

    One thread: Spark runs the buckets in parallel, one task per core.
    """
    con = duckdb.connect(config={"threads": 1})
    try:
        for number, (table, rows) in enumerate(tables.items()):
            schema = table.split(".")[0]
            source = f"_bucket_table_{number}"
            if BUCKET_COLUMN in rows.column_names:
                rows = rows.drop_columns([BUCKET_COLUMN])
            con.execute(render_sql("warehouse/create_schema.sql", schema=schema))
            con.register(source, rows)
            con.execute(render_sql("spark/create_bucket_view.sql", view=table, source=source))
        yield con
    finally:
        con.close()


@dataclass(frozen=True)
class _BucketOf:
    """The mapInArrow function adding the customer bucket to every batch of a table."""

    buckets: int

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        query = read_sql("spark/customer_bucket.sql")
        with duckdb.connect(config={"threads": 1}) as con:
            for batch in batches:
                con.register("_bucket_batch", pa.Table.from_batches([batch]))
                bucket = con.execute(query, {"customer_buckets": self.buckets}).to_arrow_table()
                con.unregister("_bucket_batch")
                yield pa.RecordBatch.from_arrays(
                    [*batch.columns, bucket.column(0).combine_chunks()],
                    schema=batch.schema.append(pa.field(BUCKET_COLUMN, pa.int64())),
                )


def with_customer_bucket(frame: DataFrame, buckets: int) -> DataFrame:
    """``frame`` (with a ``customer_id`` column) with its rows' customer bucket beside them,
    computed by DuckDB on the executors (the DuckDB engine's bucket; see the module)."""
    from pyspark.sql.types import LongType, StructField, StructType

    schema = StructType([*frame.schema.fields, StructField(BUCKET_COLUMN, LongType())])
    return frame.mapInArrow(_BucketOf(buckets), schema)


@dataclass(frozen=True)
class _CogroupedBucket:
    """The applyInArrow function: one bucket's rows of each table in, the computation's rows
    of that bucket out, in the declared Arrow schema."""

    compute: BucketComputation
    tables: tuple[str, ...]
    schema: pa.Schema | None = None

    def __call__(self, *rows: pa.Table) -> pa.Table:
        with bucket_connection(dict(zip(self.tables, rows, strict=True))) as con:
            result = self.compute(con).to_arrow()
        return result if self.schema is None else result.cast(self.schema)


# the column saying which table a row of the tagged union belongs to (see _TaggedBucket)
TABLE_COLUMN = "_bucket_table"


def _tagged_name(table: int, column: str) -> str:
    """A table's column in the tagged union: the table's position, then its own name."""
    return f"_t{table}_{column}"


@dataclass(frozen=True)
class _TaggedBucket:
    """The applyInArrow function for any number of tables: one bucket's rows of the tagged
    union (every table's columns side by side under :func:`_tagged_name`, a row carrying one
    table's values and nulls elsewhere) split back into the tables, then as
    :class:`_CogroupedBucket`."""

    task: _CogroupedBucket
    columns: tuple[tuple[str, ...], ...]

    def __call__(self, rows: pa.Table) -> pa.Table:
        import pyarrow.compute as pc

        tag = rows.column(TABLE_COLUMN)
        tables = [
            rows.filter(pc.equal(tag, number))
            .select([_tagged_name(number, name) for name in names])
            .rename_columns(list(names))
            for number, names in enumerate(self.columns)
        ]
        return self.task(*tables)


def result_schema(
    compute: BucketComputation, tables: tuple[str, ...], inputs: tuple[StructType, ...]
) -> StructType:
    """The Spark schema of ``compute``'s result: the computation run on no rows of the
    inputs' schemas, here on the driver, so the declared schema is the library's own."""
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

    empty = [pa.Table.from_batches([], to_arrow_schema(schema)) for schema in inputs]
    result = _CogroupedBucket(compute, tables)(*empty)
    return from_arrow_schema(result.schema, prefer_timestamp_ntz=True)


def _tagged_union(frames: list[DataFrame], buckets: int) -> DataFrame:
    """Every frame's rows with their customer bucket, in one frame of all frames' columns
    (renamed by :func:`_tagged_name`; nulls where a row is another table's) and the table's
    position in :data:`TABLE_COLUMN`."""
    from pyspark.sql import functions as F

    fields = [(number, field) for number, frame in enumerate(frames) for field in frame.schema]
    parts = []
    for number, frame in enumerate(frames):
        columns = [
            (F.col(field.name) if own == number else F.lit(None).cast(field.dataType)).alias(
                _tagged_name(own, field.name)
            )
            for own, field in fields
        ]
        parts.append(
            with_customer_bucket(frame, buckets).select(
                F.col(BUCKET_COLUMN), F.lit(number).alias(TABLE_COLUMN), *columns
            )
        )
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    return union


def map_buckets(
    compute: BucketComputation, tables: Mapping[str, DataFrame], buckets: int
) -> DataFrame:
    """``compute`` run on every customer bucket of the tables, in parallel on the executors;
    the result is every bucket's rows together.

    Args:
        compute: A picklable function of a DuckDB connection holding one bucket's rows of the
            tables under their names; it runs inside the Spark tasks.
        tables: The tables by name (``raw.transactions``, ``raw.customers``, ...), each with
            a ``customer_id`` column. A bucket present in some tables only gets the others'
            columns without rows; a bucket in none has no task.
        buckets: How many customer buckets (:func:`bucket_count`).

    Two tables are cogrouped (each shuffled in its own columns). Any other number travels as
    one tagged union of all tables' columns, a row holding one table's values and nulls for
    the others' (PySpark cogroups two grouped frames at most).
    """
    from pyspark.sql.pandas.types import to_arrow_schema

    if not tables:
        raise ValueError("map_buckets needs at least one table")
    names = tuple(tables)
    frames = list(tables.values())
    schema = result_schema(compute, names, tuple(frame.schema for frame in frames))
    task = _CogroupedBucket(compute, names, to_arrow_schema(schema))
    if len(frames) != 2:
        tagged = _TaggedBucket(task, tuple(tuple(frame.columns) for frame in frames))

        def per_bucket_tagged(rows: pa.Table) -> pa.Table:
            return tagged(rows)

        union = _tagged_union(frames, buckets)
        return union.groupBy(BUCKET_COLUMN).applyInArrow(per_bucket_tagged, schema)

    # a function of exactly two arguments: PySpark passes the group's key as well to a
    # callable of three (which a callable object's bound method appears to be)
    def per_bucket(left: pa.Table, right: pa.Table) -> pa.Table:
        return task(left, right)

    grouped = [with_customer_bucket(frame, buckets).groupBy(BUCKET_COLUMN) for frame in frames]
    return grouped[0].cogroup(grouped[1]).applyInArrow(per_bucket, schema)


def partition_frames(batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[date, pl.DataFrame]]:
    """The rows of a partition's batches (a ``mapInArrow`` function's input), one frame per
    snapshot, in the order the snapshots first appear."""
    table = pa.Table.from_batches(list(batches))
    if table.num_rows == 0:
        return
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    for (snapshot,), rows in frame.partition_by(SNAPSHOT_COLUMN, as_dict=True).items():
        yield snapshot, rows
