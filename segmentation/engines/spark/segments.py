"""``marts.customer_segments`` on Spark: map steps on the executors, two reduce steps on the
driver, each running the DuckDB engine's own functions (:mod:`segmentation.segments`).

1. Map: each partition of ``features.customer_features`` counts the values the R, F and M
   scores rank (:func:`~segmentation.segments.rfm.ranked_values`) per snapshot; Spark sums the
   counts per value.
2. Reduce, on the driver: per snapshot, the merged counts give every distinct value its score
   (:func:`~segmentation.segments.rfm.quintile_scores_of_counts`, the DuckDB engine's formula
   on the same counts), kept as cut points: the smallest value of each score. A score depends
   on the value alone and grows with it, so the cut points give every customer the DuckDB
   engine's score, ties included.
3. Reduce, on the driver: per snapshot, the purchasers' four cluster features, in customer id
   order, go through :func:`~segmentation.segments.clusters.fit_snapshot_clusters`: the same
   standardisation, the same seeded sample, the same k-means fits and silhouette choice, the
   same names.
4. With a products source, the next best category: each group of customers (a hash of the
   customer id) counts its category baskets' association rules
   (:func:`~segmentation.segments.recommendations.association_counts`: n, n(a), n(a, c) per
   snapshot); Spark sums the counts, and the driver receives them (at most items^2 rows per
   snapshot). With held products (``products_held_column``), the same for the product
   baskets, per partition of the features.
5. Reduce, on the driver, with a products source and psychographic clusters: every category
   row with positive catalogued spend goes through
   :func:`~segmentation.segments.psychographics.fit_share_clusters`: the same top categories,
   share vectors, seeded sample, k-means and names.
6. Map: each partition's customers labelled by
   :func:`~segmentation.segments.build.segments_of` (lifecycle, loyalty, churn risk, attribute
   rules, source labels, needs ...), with the scores from the cut points, the cluster of the
   nearest fitted centre, and the catalogue columns from the summed counts and the fitted
   share clusters (:class:`~segmentation.segments.catalogue_labels.CataloguePopulation`):
   each customer's candidates, eligibility and pick, and share vector assignment, are the
   customer's own. With a products source, the features and category rows are grouped by
   the same hash of the customer id and cogrouped, so a task holds both.

A features row is one customer at one snapshot, so any split of the rows is a split of the
customers: without a products source the map steps run on the table's own partitions, without
a shuffle.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from segmentation.engines.spark.buckets import partition_frames
from segmentation.engines.spark.catalogue import (
    GROUP_COLUMN,
    catalogue_population,
    grouped_by_customer,
    no_population,
)
from segmentation.engines.spark.lake import read_table
from segmentation.features.categories import CATEGORY_KEY_COLUMNS
from segmentation.keys import (
    FEATURES_TABLE,
    KEY_COLUMNS,
    SNAPSHOT_COLUMN,
    in_key_order,
)
from segmentation.segments.build import build_customer_segments, segments_of
from segmentation.segments.catalogue_labels import CataloguePopulation
from segmentation.segments.clusters import (
    CLUSTER_FEATURES,
    SnapshotClusters,
    cluster_names,
    fit_snapshot_clusters,
    unclustered_names,
)
from segmentation.segments.rfm import (
    quintile_scores_of_counts,
    ranked_values,
    with_rfm_segment,
)
from segmentation.segments.settings import SegmentSettings
from segmentation.segments.source_labels import with_source_columns

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from segmentation.config import SegmentationConfig

SCORE_COLUMNS = ("r_score", "f_score", "m_score")
# the map step's value counts: one row per partition, snapshot, score and distinct value
VALUE_COUNT_SCHEMA = pa.schema(
    [
        (SNAPSHOT_COLUMN, pa.date32()),
        ("score", pa.string()),
        ("value", pa.float64()),
        ("count", pa.int64()),
    ]
)
# the scores above 1: a cut point per score, the smallest value holding it (or more)
_HIGHER_SCORES = (2, 3, 4, 5)

# score column -> the smallest value of each of scores 2..5 (inf: no value scores that high)
CutPoints = dict[str, tuple[float, ...]]


@dataclass(frozen=True)
class _CountValues:
    """The mapInArrow function of the first map step: a partition's value counts."""

    settings: SegmentSettings

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for snapshot, rows in partition_frames(batches):
            values = rows.select(ranked_values(self.settings.rfm))
            for name in SCORE_COLUMNS:
                counts = (
                    values.select(pl.col(name).cast(pl.Float64).alias("value"))
                    .drop_nulls()
                    .group_by("value")
                    .agg(pl.len().cast(pl.Int64).alias("count"))
                    .select(
                        pl.lit(snapshot, dtype=pl.Date).alias(SNAPSHOT_COLUMN),
                        pl.lit(name).alias("score"),
                        "value",
                        "count",
                    )
                )
                yield from counts.to_arrow().cast(VALUE_COUNT_SCHEMA).to_batches()


def cut_points(counts: pl.DataFrame) -> dict[date, CutPoints]:
    """Per snapshot and score column, the cut points of the merged value counts
    (snapshot_date, score, value, count; one row per distinct value)."""
    cuts: dict[date, CutPoints] = {}
    for (snapshot, name), rows in (
        counts.sort("value")
        .partition_by(SNAPSHOT_COLUMN, "score", as_dict=True, maintain_order=True)
        .items()
    ):
        values = rows.get_column("value").to_numpy()
        scores = quintile_scores_of_counts(rows.get_column("count").to_numpy())
        cuts.setdefault(snapshot, {})[name] = tuple(
            float(values[scores >= score][0]) if (scores >= score).any() else float("inf")
            for score in _HIGHER_SCORES
        )
    return cuts


def scores_from_cut_points(
    ordered: pl.DataFrame, settings: SegmentSettings, cuts: CutPoints
) -> pl.DataFrame:
    """The RFM columns of one snapshot's rows (in their order) from the snapshot's cut points:
    a value's score is 1 plus the number of cut points it reaches; null for non-purchasers."""
    values = ordered.select(ranked_values(settings.rfm))
    scores = [
        pl.when(pl.col(name).is_not_null())
        .then(
            pl.sum_horizontal(
                (pl.col(name).cast(pl.Float64) >= cut).cast(pl.Int64) for cut in cuts.get(name, ())
            )
            + 1
        )
        .cast(pl.Int64)
        .alias(name)
        for name in SCORE_COLUMNS
    ]
    return with_rfm_segment(ordered.select(KEY_COLUMNS).hstack(values.select(scores)))


@dataclass(frozen=True)
class _LabelPartition:
    """The mapInArrow (or, with category rows, cogroup) function of the last map step: a
    partition's or group's segments rows."""

    settings: SegmentSettings
    cuts: dict[date, CutPoints]
    clusters: dict[date, SnapshotClusters]
    schema: pa.Schema
    population: dict[date, CataloguePopulation] = field(default_factory=dict)
    products: pl.DataFrame | None = None

    def label(
        self, snapshot: date, rows: pl.DataFrame, categories: pl.DataFrame | None
    ) -> pa.Table:
        """The segments of one snapshot's rows (and, with a products source, their
        customers' category rows of that snapshot)."""
        ordered = with_source_columns(in_key_order(rows, "features"))
        rfm = scores_from_cut_points(ordered, self.settings, self.cuts.get(snapshot, {}))
        if self.settings.clusters.enabled:
            names = cluster_names(ordered, self.clusters.get(snapshot))
        else:
            names = unclustered_names(ordered)
        segments = segments_of(
            ordered,
            self.settings,
            rfm,
            ordered.select(KEY_COLUMNS).with_columns(names),
            categories,
            self.products,
            self.population.get(snapshot, no_population(self.population)),
        )
        return segments.to_arrow().cast(self.schema)

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for snapshot, rows in partition_frames(batches):
            yield from self.label(snapshot, rows, None).to_batches()

    def cogrouped(self, features: pa.Table, categories: pa.Table) -> pa.Table:
        """One group's features rows and category rows (both with :data:`GROUP_COLUMN`) in, its
        segments rows out."""
        rows = pl.from_arrow(features.drop_columns([GROUP_COLUMN]))
        owned = pl.from_arrow(categories.drop_columns([GROUP_COLUMN]))
        assert isinstance(rows, pl.DataFrame) and isinstance(owned, pl.DataFrame)
        parts = [self.schema.empty_table()]
        for (snapshot,), month in rows.partition_by(SNAPSHOT_COLUMN, as_dict=True).items():
            # the DuckDB engine reads a month's category rows sorted by customer and category
            mine = owned.filter(pl.col(SNAPSHOT_COLUMN) == snapshot).sort(CATEGORY_KEY_COLUMNS)
            parts.append(self.label(snapshot, month, mine))
        return pa.concat_tables(parts)


def fit_clusters(
    purchasers: pl.DataFrame, settings: SegmentSettings
) -> dict[date, SnapshotClusters]:
    """The clusters of every snapshot of ``purchasers`` (snapshot_date, customer_id and the
    cluster features of every purchaser), fitted as the DuckDB engine fits them."""
    if not settings.clusters.enabled or purchasers.is_empty():
        return {}
    ordered = in_key_order(purchasers, "features")
    return {
        snapshot: fit_snapshot_clusters(rows, settings.clusters)
        for (snapshot,), rows in ordered.partition_by(
            SNAPSHOT_COLUMN, as_dict=True, maintain_order=True
        ).items()
    }


@dataclass(frozen=True)
class SparkSegments:
    """The Spark engine's customer segments of some snapshots.

    Attributes:
        segments: ``marts.customer_segments`` (a Spark frame: the labels run when it is read
            or written).
        clusters: The fitted clusters per snapshot (their profiles: ``profiles``).
        reduce_rows: How many rows the driver received: ``rfm_values`` (distinct values per
            snapshot and score, after Spark summed the partitions' counts),
            ``cluster_rows`` (one per purchaser and snapshot), and with a products source or
            held products ``category_counts`` and ``product_counts`` (the summed association
            counts) and ``share_rows`` (the category rows the psychographic clusters are
            fitted on).
    """

    segments: DataFrame
    clusters: dict[date, SnapshotClusters] = field(default_factory=dict)
    reduce_rows: dict[str, int] = field(default_factory=dict)

    @property
    def profiles(self) -> pl.DataFrame:
        """One row per snapshot and cluster: size, k, silhouette and the feature medians."""
        from segmentation.segments.clusters import PROFILE_SCHEMA

        parts = [fitted.profiles for fitted in self.clusters.values()]
        frame = pl.concat([pl.DataFrame(schema=PROFILE_SCHEMA), *parts])
        return frame.sort(SNAPSHOT_COLUMN, "cluster")


def _segments_schema(features: DataFrame, settings: SegmentSettings) -> pa.Schema:
    """The Arrow schema of the segments: the library's own, from no customers."""
    from pyspark.sql.pandas.types import to_arrow_schema

    empty = pl.from_arrow(pa.Table.from_batches([], to_arrow_schema(features.schema)))
    assert isinstance(empty, pl.DataFrame)
    return build_customer_segments(empty, settings).to_arrow().schema


def customer_segments(
    spark: SparkSession,
    lake: str,
    snapshots: Sequence[date],
    config: SegmentationConfig,
    features: DataFrame | None = None,
    categories: DataFrame | None = None,
) -> SparkSegments:
    """``marts.customer_segments`` at each of ``snapshots``: the same rows and labels as the
    DuckDB engine's.

    Args:
        spark: The engine's session.
        lake: The lake holding ``features.customer_features`` (read when ``features`` is None).
        snapshots: The snapshot dates, any order.
        config: The pipeline configuration (``segments``).
        features: ``features.customer_features`` holding the snapshots; default: the lake's.
        categories: ``features.customer_categories`` holding the snapshots, read with a
            products source only; default: the lake's.

    Raises:
        ValueError: No snapshot dates.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

    if not snapshots:
        raise ValueError("no snapshot dates: nothing to compute")
    settings = config.segments
    dates = sorted(set(snapshots))
    if features is None:
        features = read_table(spark, lake, FEATURES_TABLE)
    months = features.where(F.col(SNAPSHOT_COLUMN).isin(*dates))
    # the schema first: a held-products column the features lack stops here, on the driver
    schema = _segments_schema(months, settings)

    # reduce 1: the partitions' value counts, summed per value by Spark, to the driver
    counted = (
        months.mapInArrow(_CountValues(settings), from_arrow_schema(VALUE_COUNT_SCHEMA))
        .groupBy(SNAPSHOT_COLUMN, "score", "value")
        .agg(F.sum("count").cast("long").alias("count"))
        .toArrow()
    )
    counts = pl.from_arrow(counted)
    assert isinstance(counts, pl.DataFrame)
    cuts = cut_points(counts)

    # reduce 2: the purchasers' cluster features to the driver, fitted there
    cluster_rows = 0
    fitted: dict[date, SnapshotClusters] = {}
    if settings.clusters.enabled:
        purchasers = pl.from_arrow(
            months.where(F.col("recency_days").isNotNull())
            .select(*KEY_COLUMNS, *CLUSTER_FEATURES)
            .toArrow()
        )
        assert isinstance(purchasers, pl.DataFrame)
        cluster_rows = purchasers.height
        fitted = fit_clusters(purchasers, settings)

    population, products, owned, catalogue_rows = catalogue_population(
        spark, lake, dates, config, months, categories
    )

    # the tasks need the models, not the driver's labels of every purchaser
    models = {
        snapshot: replace(clusters, labels=clusters.labels[:0])
        for snapshot, clusters in fitted.items()
    }
    spark_schema = from_arrow_schema(schema, prefer_timestamp_ntz=True)
    # the tasks return Spark's own Arrow types (a cogroup's result is checked against them)
    task = _LabelPartition(
        settings, cuts, models, to_arrow_schema(spark_schema), population, products
    )
    if owned is None:
        segments = months.mapInArrow(task, spark_schema)
    else:

        def per_group(rows: pa.Table, mine: pa.Table) -> pa.Table:
            return task.cogrouped(rows, mine)

        segments = (
            grouped_by_customer(spark, months)
            .cogroup(grouped_by_customer(spark, owned))
            .applyInArrow(per_group, spark_schema)
        )
    return SparkSegments(
        segments=segments,
        clusters=fitted,
        reduce_rows={"rfm_values": counts.height, "cluster_rows": cluster_rows} | catalogue_rows,
    )
