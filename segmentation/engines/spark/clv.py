"""``features.customer_clv`` and ``marts.clv_model_params`` on Spark: a map step on the
executors, a reduce step on the driver, a map step again, each running the DuckDB engine's own
functions (:mod:`segmentation.features.clv`).

1. Map: each partition of ``features.customer_behaviour`` compresses its customers of every
   snapshot to the fit input (:func:`~segmentation.features.clv.clv_fit_input`): the distinct
   (x, t_x, T) triples and (x, m) pairs with their counts, and its number of customers.
2. Reduce, on the driver: per snapshot, the partitions' inputs merged into the canonical fit
   input (:func:`~segmentation.features.clv.merge_fit_inputs`), the same arrays the DuckDB
   engine fits on, and the same fits on them: the same parameters, bit for bit.
3. Map: each partition's customers predicted with their snapshot's fitted models
   (:func:`~segmentation.features.clv.clv_predictions`, per customer).

A behaviour row is one customer at one snapshot, so any split of the rows is a split of the
customers: the map steps run on the table's own partitions, without a shuffle.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import pyarrow as pa

from segmentation.contracts import contract_dtypes
from segmentation.engines.spark.buckets import partition_frames
from segmentation.engines.spark.lake import read_table
from segmentation.features.clv import (
    ClvFitInput,
    ClvFits,
    clv_fit_input,
    clv_params,
    clv_predictions,
    clv_summary,
    fit_clv_models,
    merge_fit_inputs,
)
from segmentation.features.contracts import ClvModelParamsContract
from segmentation.features.settings import ClvSettings
from segmentation.keys import BEHAVIOUR_TABLE, SNAPSHOT_COLUMN

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from segmentation.config import SegmentationConfig

# what the fits and the predictions read of features.customer_behaviour
FIT_COLUMNS = (
    SNAPSHOT_COLUMN,
    "purchase_days",
    "frequency",
    "recency",
    "age_days",
    "repeat_spend_mean",
)
PREDICTION_COLUMNS = (*FIT_COLUMNS[:1], "customer_id", *FIT_COLUMNS[1:], "gross_revenue")

# the fit input as rows (the map step's output, the driver's input): one row per distinct
# triple, per distinct spend pair, and one holding the partition's number of customers
FIT_INPUT_SCHEMA = pa.schema(
    [
        (SNAPSHOT_COLUMN, pa.date32()),
        ("part", pa.string()),
        ("x", pa.float64()),
        ("t_x", pa.float64()),
        ("age", pa.float64()),
        ("m", pa.float64()),
        ("count", pa.float64()),
    ]
)
TRIPLE, SPEND, CUSTOMERS = "triple", "spend", "customers"


def fit_input_rows(snapshot: date, fit_input: ClvFitInput) -> pa.Table:
    """``fit_input`` of ``snapshot`` as rows of :data:`FIT_INPUT_SCHEMA`."""
    triples, pairs = fit_input.x.size, fit_input.spend_x.size

    def column(triple: np.ndarray | None, spend: np.ndarray | None, customers: float) -> np.ndarray:
        return np.concatenate(
            [
                np.full(triples, np.nan) if triple is None else triple,
                np.full(pairs, np.nan) if spend is None else spend,
                [customers],
            ]
        ).astype(np.float64)

    return pa.table(
        {
            SNAPSHOT_COLUMN: pa.array([snapshot] * (triples + pairs + 1), pa.date32()),
            "part": [TRIPLE] * triples + [SPEND] * pairs + [CUSTOMERS],
            "x": column(fit_input.x, fit_input.spend_x, np.nan),
            "t_x": column(fit_input.t_x, None, np.nan),
            "age": column(fit_input.age, None, np.nan),
            "m": column(None, fit_input.spend_m, np.nan),
            "count": column(fit_input.count, fit_input.spend_count, float(fit_input.customers)),
        },
        schema=FIT_INPUT_SCHEMA,
    )


def fit_inputs_of_rows(rows: pa.Table) -> dict[date, ClvFitInput]:
    """The rows of every partition (:func:`fit_input_rows`) merged into each snapshot's
    canonical fit input (:func:`~segmentation.features.clv.merge_fit_inputs`)."""
    frame = pl.from_arrow(rows)
    assert isinstance(frame, pl.DataFrame)
    merged = {}
    for (snapshot,), snapshot_rows in frame.partition_by(
        SNAPSHOT_COLUMN, as_dict=True, maintain_order=False
    ).items():
        parts = {
            part: snapshot_rows.filter(pl.col("part") == part)
            for part in (TRIPLE, SPEND, CUSTOMERS)
        }

        def values(part: str, name: str, parts: Mapping[str, pl.DataFrame] = parts) -> np.ndarray:
            return parts[part].get_column(name).to_numpy().astype(np.float64)

        whole = ClvFitInput(
            int(round(float(values(CUSTOMERS, "count").sum()))),
            values(TRIPLE, "x"),
            values(TRIPLE, "t_x"),
            values(TRIPLE, "age"),
            values(TRIPLE, "count"),
            values(SPEND, "x"),
            values(SPEND, "m"),
            values(SPEND, "count"),
        )
        merged[snapshot] = merge_fit_inputs([whole])
    return merged


def _fit_input_of_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The mapInArrow function of the first map step: a partition's fit input per snapshot."""
    for snapshot, rows in partition_frames(batches):
        yield from fit_input_rows(snapshot, clv_fit_input(rows)).to_batches()


@dataclass(frozen=True)
class _PredictPartition:
    """The mapInArrow function of the second map step: a partition's customers predicted with
    the fitted models of their snapshot."""

    fits: dict[date, ClvFits]
    settings: ClvSettings
    schema: pa.Schema

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for snapshot, rows in partition_frames(batches):
            predicted = clv_predictions(rows, self.fits[snapshot], self.settings).customers
            yield from predicted.to_arrow().cast(self.schema).to_batches()


@dataclass(frozen=True)
class SparkClv:
    """The Spark engine's CLV of some snapshots.

    Attributes:
        customers: ``features.customer_clv`` (a Spark frame: the predictions run when it is
            read or written).
        params: ``marts.clv_model_params``, computed on the driver.
        summaries: One fit summary per snapshot (the DuckDB asset's ``fits`` metadata).
        reduce_rows: How many rows of fit input the driver received from the map step, by
            part: ``triple`` (distinct buyer triples per partition and snapshot), ``spend``
            (distinct repeat-buyer spend pairs, likewise) and ``customers`` (one per partition
            and snapshot).
    """

    customers: DataFrame
    params: pl.DataFrame
    summaries: list[dict[str, Any]] = field(default_factory=list)
    reduce_rows: dict[str, int] = field(default_factory=dict)


def _rows_by_part(rows: pa.Table) -> dict[str, int]:
    """How many rows of each part the driver received."""
    parts = rows.column("part").to_pylist()
    return {part: parts.count(part) for part in (TRIPLE, SPEND, CUSTOMERS)}


def _params_schema() -> dict[str, pl.DataType]:
    """The columns of ``marts.clv_model_params``, for a run without any customer."""
    return contract_dtypes(ClvModelParamsContract)


def _prediction_schema(settings: ClvSettings) -> pa.Schema:
    """The Arrow schema of the predictions: the library's own, from no customers."""
    empty = pl.DataFrame(
        schema={
            SNAPSHOT_COLUMN: pl.Date,
            "customer_id": pl.Utf8,
            **dict.fromkeys(PREDICTION_COLUMNS[2:], pl.Float64),
        }
    )
    fits = fit_clv_models(merge_fit_inputs([clv_fit_input(empty)]), settings)
    return clv_predictions(empty, fits, settings).customers.to_arrow().schema


def customer_clv(
    spark: SparkSession,
    lake: str,
    snapshots: Sequence[date],
    config: SegmentationConfig,
    behaviour: DataFrame | None = None,
) -> SparkClv:
    """``features.customer_clv`` and ``marts.clv_model_params`` at each of ``snapshots``: the
    same rows and values as the DuckDB engine's.

    Args:
        spark: The engine's session.
        lake: The lake holding ``features.customer_behaviour`` (read when ``behaviour`` is None).
        snapshots: The snapshot dates, any order; one without customers has no rows (as in the
            DuckDB engine).
        config: The pipeline configuration (``features.clv``).
        behaviour: ``features.customer_behaviour`` holding the snapshots; default: the lake's.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    if not snapshots:
        raise ValueError("no snapshot dates: nothing to compute")
    settings = config.features.clv
    if behaviour is None:
        behaviour = read_table(spark, lake, BEHAVIOUR_TABLE)
    months = behaviour.where(F.col(SNAPSHOT_COLUMN).isin(*sorted(set(snapshots))))

    # map, then reduce: the only rows that reach the driver are the compressed fit inputs
    rows = (
        months.select(*FIT_COLUMNS)
        .mapInArrow(_fit_input_of_partition, from_arrow_schema(FIT_INPUT_SCHEMA))
        .toArrow()
    )
    inputs = fit_inputs_of_rows(rows)
    fits = {snapshot: fit_clv_models(inputs[snapshot], settings) for snapshot in sorted(inputs)}

    schema = _prediction_schema(settings)
    customers = months.select(*PREDICTION_COLUMNS).mapInArrow(
        _PredictPartition(fits, settings, schema),
        from_arrow_schema(schema, prefer_timestamp_ntz=True),
    )
    params = [clv_params(snapshot, fit) for snapshot, fit in fits.items()]
    summaries = [clv_summary(snapshot, inputs[snapshot], fit) for snapshot, fit in fits.items()]
    return SparkClv(
        customers=customers,
        params=pl.concat(params) if params else pl.DataFrame(schema=_params_schema()),
        summaries=summaries,
        reduce_rows=_rows_by_part(rows),
    )
