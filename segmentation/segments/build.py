"""The customer segments table and its per-segment summary (``marts.segment_summary``)."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from segmentation.keys import KEY_COLUMNS, in_key_order, sorted_by_keys
from segmentation.segments.attribute_rules import attribute_segments
from segmentation.segments.catalogue_labels import (
    CATALOGUE_COLUMNS,
    CataloguePopulation,
    catalogue_labels,
)
from segmentation.segments.clusters import cluster_sorted
from segmentation.segments.columns import (
    ATTRIBUTE_COLUMN_PREFIX,
    CATALOGUE_LABEL_COLUMNS,
    KEY_FEATURE_COLUMNS,
    SOURCE_KEY_FEATURE_COLUMNS,
    SOURCE_LABEL_COLUMNS,
    attribute_column,
)
from segmentation.segments.labels import LABEL_COLUMNS, label_customers
from segmentation.segments.rfm import RFM_COLUMNS, score_sorted
from segmentation.segments.settings import SegmentSettings
from segmentation.segments.source_labels import (
    LABEL_SOURCES,
    configured_source_dimensions,
    label_sources,
    with_source_columns,
)

KEYS = KEY_COLUMNS
# the features column a summary sums per segment unless told otherwise
SUMMARY_REVENUE_COLUMN = "net_revenue"
FIXED_DIMENSIONS = ("rfm_segment", *LABEL_COLUMNS)


def segment_dimensions(
    settings: SegmentSettings, sources: tuple[str, ...] | list[str] = ()
) -> list[str]:
    """The label columns of the segments table that are segment dimensions, in table order.

    Args:
        settings: The segment settings (their attribute dimensions).
        sources: The configured label sources among ``events``, ``feedback`` and
            ``products``: their labels (intent_class and engagement_level; nps_class and
            satisfaction_class; needs_class and psychographic_class) are dimensions too;
            psychographic_class also with psychographic rules.
    """
    attributes = [attribute_column(dimension) for dimension in settings.attribute_dimensions()]
    labels = [column for column in SOURCE_LABEL_COLUMNS if LABEL_SOURCES[column] in sources]
    catalogue = [
        column
        for column in CATALOGUE_LABEL_COLUMNS
        if LABEL_SOURCES[column] in sources
        or (column == "psychographic_class" and settings.psychographics.rules)
    ]
    return [*FIXED_DIMENSIONS, *attributes, "cluster", *labels, *catalogue]


def dimension_columns(segments: pl.DataFrame) -> list[str]:
    """The segment-dimension columns a segments frame has, in its column order; a source label
    (intent_class, engagement_level, nps_class, satisfaction_class) only where its source is
    configured (see :func:`~segmentation.segments.source_labels.configured_source_dimensions`).
    """
    sources = configured_source_dimensions(segments)
    return [
        column
        for column in segments.columns
        if column in (*FIXED_DIMENSIONS, "cluster")
        or column.startswith(ATTRIBUTE_COLUMN_PREFIX)
        or column in sources
    ]


def build_customer_segments(
    features: pl.DataFrame,
    settings: SegmentSettings,
    categories: pl.DataFrame | None = None,
    products: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Every segment label of every customer of every snapshot in ``features``.

    Args:
        features: ``features.customer_features``: one row per snapshot_date x customer_id.
        settings: The segment settings.
        categories: ``features.customer_categories`` rows of the same snapshots (the next best
            category and the psychographic clusters); None without a products source.
        products: ``raw.products``, for the ``product_*`` columns of the recommendations'
            eligibility rule; None without a products source.

    Returns:
        One row per snapshot_date x customer_id, sorted by both: snapshot_date, customer_id,
        r_score, f_score, m_score, rfm_cell, rfm_segment, value_tier, abc_class,
        lifecycle_stage, loyalty, churn_risk, attr_<dimension>..., cluster, the key
        features recency_days, frequency, orders, net_revenue, clv_12m, p_alive, the source
        labels intent_class, engagement_level, nps_class, satisfaction_class ('unknown'
        without their source), the source key features (``SOURCE_KEY_FEATURE_COLUMNS``), and
        the catalogue columns (``CATALOGUE_COLUMNS``: needs and psychographic class, next best
        category and product, category features).

    Raises:
        ValueError: If ``features`` has duplicate (snapshot_date, customer_id) rows.
    """
    ordered = with_source_columns(in_key_order(features, "features"))
    rfm = score_sorted(ordered, settings.rfm)
    clusters = cluster_sorted(ordered, settings.clusters).assignments
    return segments_of(ordered, settings, rfm, clusters, categories, products)


def segments_of(
    ordered: pl.DataFrame,
    settings: SegmentSettings,
    rfm: pl.DataFrame,
    clusters: pl.DataFrame,
    categories: pl.DataFrame | None = None,
    products: pl.DataFrame | None = None,
    population: CataloguePopulation | None = None,
) -> pl.DataFrame:
    """The segments table of ``ordered``'s rows given their RFM columns and clusters, the parts
    that rank or cluster a whole snapshot: every other label is the customer's own (the map
    step of the Spark engine runs this on a part of the customers).

    Args:
        ordered: ``features.customer_features`` rows sorted by snapshot_date and customer_id
            (unique), with the source columns (``with_source_columns``).
        settings: The segment settings.
        rfm: The :data:`~segmentation.segments.rfm.RFM_COLUMNS` of the same rows, in order.
        clusters: The ``cluster`` column of the same rows, in order.
        categories: As :func:`build_customer_segments`'s.
        products: As :func:`build_customer_segments`'s.
        population: What the catalogue columns read of the whole population when ``ordered``
            holds a part of it (``CataloguePopulation``); default: ``ordered`` is the whole
            population.
    """
    labels = label_customers(ordered, settings.loyalty, settings.churn_risk)
    attributes = attribute_segments(ordered, settings)
    sources = label_sources(ordered, settings)
    catalogue = catalogue_labels(ordered, settings, categories, products, population)
    # Every part is sorted by the keys and has one row per input row, so they line up.
    return pl.concat(
        [
            ordered.select(KEYS),
            rfm.select(RFM_COLUMNS),
            labels.drop(KEYS),
            attributes.drop(KEYS),
            clusters.select("cluster"),
            ordered.select(KEY_FEATURE_COLUMNS),
            sources,
            catalogue,
        ],
        how="horizontal",
    ).select(
        *KEYS,
        *RFM_COLUMNS,
        *LABEL_COLUMNS,
        *[attribute_column(name) for name in settings.attribute_dimensions()],
        "cluster",
        *KEY_FEATURE_COLUMNS,
        *SOURCE_LABEL_COLUMNS,
        *SOURCE_KEY_FEATURE_COLUMNS,
        *CATALOGUE_COLUMNS,
    )


SUMMARY_SCHEMA = {
    "snapshot_date": pl.Date,
    "dimension": pl.String,
    "segment": pl.String,
    "customers": pl.Int64,
    "share": pl.Float64,
    "revenue": pl.Float64,
    "revenue_share": pl.Float64,
    "avg_clv": pl.Float64,
}


def summarize_segments(
    segments: pl.DataFrame,
    features: pl.DataFrame,
    dimensions: Sequence[str] | None = None,
    revenue_column: str = SUMMARY_REVENUE_COLUMN,
) -> pl.DataFrame:
    """Size, revenue and CLV of every segment of every dimension, per snapshot.

    Args:
        segments: The customer segments table.
        features: ``features.customer_features`` of the same snapshots; the revenue comes from
            it, so any revenue column (e.g. ``revenue_365d``) can be summarised.
        dimensions: Segment columns to summarise; default: every label column of ``segments``
            (the fixed ones, ``attr_*``, ``cluster`` and the source labels whose source is
            configured).
        revenue_column: The features column summed as ``revenue``; default ``net_revenue``,
            lifetime net revenue up to the snapshot (the base of the value tiers).

    Returns:
        snapshot_date, dimension, segment, customers, share (of the snapshot's customers),
        revenue, revenue_share (of the snapshot's revenue; null when that is 0) and avg_clv
        (mean clv_12m), one row per snapshot x dimension x segment. For each snapshot and
        dimension the shares add up to 1.
    """
    if dimensions is None:
        dimensions = dimension_columns(segments)
    base = _summary_base(segments, features, dimensions, revenue_column)
    return finish_summary(
        _segment_aggregates(base, dimensions, pl.col("clv_12m").mean().alias("avg_clv"))
    )


# the columns of a summary's sums (:func:`segment_sums`), which any split of the customers
# gives in parts that add up
SUMMARY_SUMS_SCHEMA = {
    "snapshot_date": pl.Date,
    "dimension": pl.String,
    "segment": pl.String,
    "customers": pl.Int64,
    "revenue": pl.Float64,
    "clv_sum": pl.Float64,
    "clv_customers": pl.Int64,
}


def segment_sums(
    segments: pl.DataFrame,
    features: pl.DataFrame,
    dimensions: Sequence[str],
    revenue_column: str = SUMMARY_REVENUE_COLUMN,
) -> pl.DataFrame:
    """The sums :func:`summarize_segments` divides, for any part of the customers: customers,
    revenue, the sum of clv_12m and the customers with one (``SUMMARY_SUMS_SCHEMA``), per
    snapshot, dimension and segment. The sums of several parts' rows, finished by
    :func:`summary_of_sums`, are the summary of all of them (the float sums to rounding)."""
    base = _summary_base(segments, features, dimensions, revenue_column)
    sums = _segment_aggregates(
        base,
        dimensions,
        pl.col("clv_12m").sum().alias("clv_sum"),
        pl.col("clv_12m").count().cast(pl.Int64).alias("clv_customers"),
    )
    return pl.concat([pl.DataFrame(schema=SUMMARY_SUMS_SCHEMA), sums], how="diagonal").select(
        list(SUMMARY_SUMS_SCHEMA)
    )


def summary_of_sums(sums: pl.DataFrame) -> pl.DataFrame:
    """``marts.segment_summary`` from :func:`segment_sums` rows, one per snapshot, dimension
    and segment (the parts' sums added up): the mean CLV of the summed CLV and its customers
    (null without any), the shares by :func:`finish_summary`."""
    clv_customers = pl.col("clv_customers")
    return finish_summary(
        sums.with_columns(
            pl.when(clv_customers > 0)
            .then(pl.col("clv_sum") / clv_customers)
            .otherwise(None)
            .alias("avg_clv")
        ).drop("clv_sum", "clv_customers")
    )


def _summary_base(
    segments: pl.DataFrame,
    features: pl.DataFrame,
    dimensions: Sequence[str],
    revenue_column: str,
) -> pl.DataFrame:
    """The keys, ``dimensions``, clv_12m and the features' revenue of every customer."""
    revenue = pl.col(revenue_column).cast(pl.Float64).alias("revenue")
    base = segments.select(*KEYS, *dimensions, pl.col("clv_12m").cast(pl.Float64))
    if (
        features.height == segments.height
        and sorted_by_keys(segments)
        and features.select(KEYS).equals(segments.select(KEYS))
    ):
        # the same customers in the same order (as the segments built from these features
        # are): the join would only line them up again
        return base.with_columns(features.select(revenue).to_series())
    return base.join(features.select(*KEYS, revenue), on=list(KEYS), how="left", validate="1:1")


def _segment_aggregates(
    base: pl.DataFrame, dimensions: Sequence[str], *clv: pl.Expr
) -> pl.DataFrame:
    """Customers, revenue and the ``clv`` aggregates per snapshot, dimension and segment."""
    parts = []
    for dimension in dimensions:
        parts.append(
            base.group_by("snapshot_date", pl.col(dimension).cast(pl.String).alias("segment"))
            .agg(
                pl.len().cast(pl.Int64).alias("customers"),
                pl.col("revenue").fill_null(0.0).sum().alias("revenue"),
                *clv,
            )
            .with_columns(pl.lit(dimension).alias("dimension"))
        )
    return pl.concat(parts, how="diagonal") if parts else pl.DataFrame()


def finish_summary(aggregates: pl.DataFrame) -> pl.DataFrame:
    """``marts.segment_summary`` from its per-segment customers, revenue and avg_clv
    (snapshot_date, dimension, segment): the customer and revenue shares of each snapshot and
    dimension, in the table's columns, types and order."""
    parts = [pl.DataFrame(schema=SUMMARY_SCHEMA), aggregates]
    # sorted before the totals: float sums in a fixed order give reproducible shares
    summary = pl.concat(parts, how="diagonal").sort("snapshot_date", "dimension", "segment")
    totals_by = ["snapshot_date", "dimension"]
    total_revenue = pl.col("revenue").sum().over(totals_by)
    return (
        summary.with_columns(
            (pl.col("customers") / pl.col("customers").sum().over(totals_by)).alias("share"),
            pl.when(total_revenue != 0)
            .then(pl.col("revenue") / total_revenue)
            .otherwise(None)
            .alias("revenue_share"),
        )
        .select(list(SUMMARY_SCHEMA))
        .cast(SUMMARY_SCHEMA)
        .sort("snapshot_date", "dimension", "segment")
    )
