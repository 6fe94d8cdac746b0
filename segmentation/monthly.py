"""What each monthly table holds for one month, computed from that month's input frames, and
how a month of a table is read back: the functions the monthly assets call, one month at a time
(a benchmark or a notebook calls the same ones)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import date

import duckdb
import polars as pl

from segmentation.config import SegmentationConfig, custom_attributes
from segmentation.contracts import contract_dtypes
from segmentation.features.behaviour import behaviour_by_snapshot
from segmentation.features.categories import (
    CATEGORY_KEY_COLUMNS,
    categories_by_snapshot,
    category_columns,
    products_configured,
)
from segmentation.features.clv import SnapshotClv, clv_for_snapshot
from segmentation.features.contracts import (
    ClvModelParamsContract,
    CustomerClvContract,
    CustomerFeaturesContract,
)
from segmentation.features.engagement import (
    ENGAGEMENT_FEATURE_COLUMNS,
    engagement_by_snapshot,
    null_engagement,
)
from segmentation.features.lifecycle import lifecycle_stage
from segmentation.features.settings import ClvSettings, FeatureSettings
from segmentation.features.value import value_columns
from segmentation.keys import (
    BEHAVIOUR_TABLE,
    CATEGORIES_TABLE,
    CLV_TABLE,
    ENGAGEMENT_TABLE,
    FEATURES_TABLE,
    KEY_COLUMNS,
    SEGMENTS_TABLE,
    SNAPSHOT_COLUMN,
    ordered_by,
    sorted_by_keys,
)
from segmentation.phases import READING, phase
from segmentation.segments.build import build_customer_segments, summarize_segments
from segmentation.segments.columns import SOURCE_FEATURE_COLUMNS
from segmentation.segments.inputs import segment_feature_columns
from segmentation.segments.settings import SegmentSettings
from segmentation.sql_files import read_sql
from segmentation.strategies.playbook import assign_strategies
from segmentation.strategies.settings import Playbook, playbook_segment_columns
from segmentation.warehouse import (
    columns_without_values,
    frame_of,
    read_partitions,
    table_exists,
    table_schema,
)


def customer_behaviour_months(
    con: duckdb.DuckDBPyConnection,
    snapshots: Sequence[date],
    config: SegmentationConfig,
    memory_limit: str | None = None,
) -> Iterator[pl.DataFrame]:
    """``features.customer_behaviour`` for each snapshot date in ascending order, one frame per
    month, from one scan of the transactions; with an attribute-history source, each month's
    attributes are those that held on its snapshot date. ``memory_limit``: the DuckDB
    memory_limit ``con`` was opened with, if any (see ``behaviour_by_snapshot``)."""
    features = config.features
    return behaviour_by_snapshot(
        con,
        snapshots,
        features.lifecycle.lost_recency_days,
        features.dominant_channel_share,
        list(custom_attributes(config)),
        history=config.sources.customer_attributes is not None,
        memory_limit=memory_limit,
    )


def customer_engagement_months(
    con: duckdb.DuckDBPyConnection, snapshots: Sequence[date], config: SegmentationConfig
) -> Iterator[pl.DataFrame]:
    """``features.customer_engagement`` for each snapshot date in ascending order, one frame per
    month, for the customers ``features.customer_behaviour`` holds at each: from one scan of the
    configured events and feedback (a source not configured is not read; its columns are
    null)."""
    features, sources = config.features, config.sources
    return engagement_by_snapshot(
        con,
        snapshots,
        BEHAVIOUR_TABLE,
        features.engagement,
        features.feedback,
        events_configured=sources.events is not None,
        feedback_configured=sources.feedback is not None,
    )


def customer_categories_months(
    con: duckdb.DuckDBPyConnection, snapshots: Sequence[date], config: SegmentationConfig
) -> Iterator[pl.DataFrame]:
    """``features.customer_categories`` for each snapshot date in ascending order, one frame per
    month, from one grouping of the transactions (empty frames without a products source)."""
    return categories_by_snapshot(
        con,
        snapshots,
        config.features.categories,
        config.segments.needs,
        products_configured=products_configured(config.sources),
    )


def customer_clv_month(
    behaviour: pl.DataFrame, snapshot: date, settings: ClvSettings
) -> SnapshotClv:
    """``features.customer_clv`` and ``marts.clv_model_params`` of one month from its behaviour.

    A month without any known customer has nothing to fit: both frames are empty (no parameter
    rows either) and the summary is empty.
    """
    if behaviour.is_empty():
        return SnapshotClv(
            customers=pl.DataFrame(schema=contract_dtypes(CustomerClvContract)),
            params=pl.DataFrame(schema=contract_dtypes(ClvModelParamsContract)),
            summary={},
            degenerate_reason=None,
        )
    return clv_for_snapshot(behaviour, snapshot, settings)


def customer_features_month(
    behaviour_with_clv: pl.DataFrame,
    config: SegmentationConfig,
    engagement: pl.DataFrame | None = None,
    categories: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``features.customer_features`` of one month from its behaviour with the CLV columns
    beside it (``read_behaviour_with_clv``), its ``features.customer_engagement`` month
    (``read_engagement``; None: the engagement columns are null) and its
    ``features.customer_categories`` month (``read_categories``; None: the category columns are
    null): value tier and ABC class, lifecycle stage, engagement and feedback, category mix;
    the contract's columns, then the custom customer attributes, sorted by snapshot and
    customer.

    The new columns are added beside the input's, which are not copied: a month is held once.
    """
    return customer_features_of(
        behaviour_with_clv,
        config.features,
        list(custom_attributes(config)),
        engagement,
        categories,
    )


def customer_features_of(
    behaviour_with_clv: pl.DataFrame,
    settings: FeatureSettings,
    custom: Sequence[str] = (),
    engagement: pl.DataFrame | None = None,
    categories: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``customer_features_month`` from the features settings and the custom customer
    attributes (``custom``) alone, for callers without a pipeline configuration.

    Raises:
        ValueError: ``engagement`` does not hold exactly the customers of
            ``behaviour_with_clv`` (e.g. its month was not computed after the behaviour's).
    """
    valued = behaviour_with_clv.hstack(value_columns(behaviour_with_clv, settings.value))
    return customer_features_of_valued(valued, settings, custom, engagement, categories)


def customer_features_of_valued(
    valued: pl.DataFrame,
    settings: FeatureSettings,
    custom: Sequence[str] = (),
    engagement: pl.DataFrame | None = None,
    categories: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """:func:`customer_features_of` of behaviour with the CLV and the value columns beside it
    already: the value columns need the whole snapshot, the rest of the features only each
    customer's row, so an engine that computes the value columns apart (the Spark engine, on
    any split of the customers) finishes the features here.

    Raises:
        ValueError: ``engagement`` does not hold exactly the customers of ``valued``.
    """
    staged = valued.with_columns(lifecycle_stage(valued, settings.lifecycle))
    staged = staged.hstack(_engagement_columns(staged, engagement))
    staged = staged.hstack(category_columns(staged.select(KEY_COLUMNS), categories).get_columns())
    features = staged.select(*CustomerFeaturesContract.to_schema().columns.keys(), *custom)
    return features if sorted_by_keys(features) else features.sort(KEY_COLUMNS)


def _engagement_columns(features: pl.DataFrame, engagement: pl.DataFrame | None) -> list[pl.Series]:
    """The engagement columns of ``engagement`` in the row order of ``features`` (all null
    without ``engagement``): put beside them as they are when both hold the same keys in the
    same order (the months read back from the warehouse), else joined by key."""
    keys = features.select(KEY_COLUMNS)
    if engagement is None:
        return null_engagement(keys).drop(KEY_COLUMNS).get_columns()
    if engagement.height == keys.height and all(
        engagement.get_column(key).equals(keys.get_column(key)) for key in KEY_COLUMNS
    ):
        return engagement.select(ENGAGEMENT_FEATURE_COLUMNS).get_columns()
    unmatched = keys.join(engagement, on=list(KEY_COLUMNS), how="anti").height
    if unmatched or engagement.height != keys.height:
        # counts only: the ids are the customers'
        raise ValueError(
            f"{ENGAGEMENT_TABLE} does not hold the customers of {BEHAVIOUR_TABLE} for this "
            f"snapshot ({engagement.height} rows for {keys.height} customers, {unmatched} of "
            f"them missing): materialize features/customer_engagement for the same partitions "
            f"first"
        )
    joined = keys.join(engagement, on=list(KEY_COLUMNS), how="left", validate="1:1")
    return joined.select(ENGAGEMENT_FEATURE_COLUMNS).get_columns()


def read_engagement(
    con: duckdb.DuckDBPyConnection, snapshot: date, config: SegmentationConfig
) -> pl.DataFrame | None:
    """One month of ``features.customer_engagement``, sorted by customer id; None when neither
    an events nor a feedback source is configured: its columns are all null then, and
    ``customer_features_month`` makes them so without a read.

    Raises:
        ValueError: A source is configured but the table was never written.
    """
    if config.sources.events is None and config.sources.feedback is None:
        return None
    if not table_exists(con, ENGAGEMENT_TABLE):
        raise ValueError(
            f"{ENGAGEMENT_TABLE} does not exist: materialize features/customer_engagement for "
            f"the same partitions first"
        )
    return read_month(con, ENGAGEMENT_TABLE, snapshot)


def read_categories(
    con: duckdb.DuckDBPyConnection, snapshot: date, config: SegmentationConfig
) -> pl.DataFrame | None:
    """One month of ``features.customer_categories``, sorted by customer and category; None
    without a products source (the category columns are null then).

    Raises:
        ValueError: A products source is configured but the table was never written.
    """
    if not products_configured(config.sources):
        return None
    if not table_exists(con, CATEGORIES_TABLE):
        raise ValueError(
            f"{CATEGORIES_TABLE} does not exist: materialize features/customer_categories for "
            f"the same partitions first"
        )
    month = read_month(con, CATEGORIES_TABLE, snapshot)
    return month if ordered_by(month, CATEGORY_KEY_COLUMNS) else month.sort(CATEGORY_KEY_COLUMNS)


def customer_segments_month(
    features: pl.DataFrame,
    settings: SegmentSettings,
    categories: pl.DataFrame | None = None,
    products: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``marts.customer_segments`` and ``marts.segment_summary`` of one month, from its
    features and, with a products source, its ``features.customer_categories`` month and the
    catalogue (``read_products``)."""
    segments = build_customer_segments(features, settings, categories, products)
    return segments, summarize_segments(segments, features)


def read_products(
    con: duckdb.DuckDBPyConnection, config: SegmentationConfig
) -> pl.DataFrame | None:
    """``raw.products`` (the catalogue columns the eligibility rule may use), when a products
    source is configured and an eligibility rule needs it; else None."""
    if (
        not products_configured(config.sources)
        or config.segments.recommendations.eligibility is None
    ):
        return None
    if not table_exists(con, "raw.products"):
        raise ValueError("raw.products does not exist: materialize raw/products first")
    return catalogue_for_rules(con)


def catalogue_for_rules(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The columns of ``raw.products`` an eligibility rule may use, one row per product id,
    sorted by it: the ``products`` argument of :func:`customer_segments_month`."""
    with phase(READING):
        return frame_of(con.execute(read_sql("segments/catalogue.sql")))


def read_playbook_segments(
    con: duckdb.DuckDBPyConnection,
    snapshot: date,
    playbook: Playbook,
    segment_settings: SegmentSettings | None = None,
) -> tuple[pl.DataFrame, dict[str, pl.DataType]]:
    """One month of ``marts.customer_segments`` with the columns ``playbook``'s rules read
    (:func:`~segmentation.strategies.settings.playbook_segment_columns`), and the whole
    table's columns, which the rules are checked against: the inputs of
    :func:`strategy_assignments_month`."""
    columns = playbook_segment_columns(playbook, segment_settings)
    month = read_month(con, SEGMENTS_TABLE, snapshot, columns)
    return month, table_schema(con, SEGMENTS_TABLE)


def strategy_assignments_month(
    segments: pl.DataFrame,
    playbook: Playbook,
    columns: Mapping[str, pl.DataType] | None = None,
) -> pl.DataFrame:
    """``marts.strategy_assignments`` of one month: one playbook strategy per customer.
    ``columns``: the whole segments table's, when ``segments`` holds only some of them
    (:func:`read_playbook_segments`)."""
    return assign_strategies(segments, playbook, columns=columns)


def read_month(
    con: duckdb.DuckDBPyConnection,
    table: str,
    snapshot: date,
    columns: Collection[str] | None = None,
) -> pl.DataFrame:
    """One month of ``table``, sorted by snapshot date and customer id (as the IO manager read);
    only the table's columns among ``columns`` (and the keys) when given."""
    return read_partitions(con, table, SNAPSHOT_COLUMN, [snapshot], columns)


def read_segment_features(
    con: duckdb.DuckDBPyConnection, snapshot: date, settings: SegmentSettings
) -> pl.DataFrame:
    """One month of ``features.customer_features`` with the columns the segments read under
    ``settings`` (:func:`~segmentation.segments.inputs.segment_feature_columns`): the input of
    :func:`customer_segments_month`. At 7.25M customers the whole month is 3.7 GB in memory.

    The events, feedback and category columns that hold no value in the month (their source is
    not configured, or had nothing by then) are not read either: the segments take a missing
    one as null (:func:`~segmentation.segments.source_labels.with_source_columns`), which is
    what it holds, and polars keeps such a column as one null instead of one per customer."""
    columns = segment_feature_columns(settings)
    empty = columns_without_values(
        con, FEATURES_TABLE, SNAPSHOT_COLUMN, [snapshot], columns & set(SOURCE_FEATURE_COLUMNS)
    )
    return read_month(con, FEATURES_TABLE, snapshot, columns - empty)


def read_behaviour_with_clv(con: duckdb.DuckDBPyConnection, snapshot: date) -> pl.DataFrame:
    """One month of ``features.customer_behaviour`` with the customers' ``features.customer_clv``
    columns beside it (null where a customer has none), sorted by customer id.

    The CLV month is computed from the behaviour month, one row per customer in the same order:
    its columns are then put beside the behaviour's without copying either. Otherwise the two
    are joined in DuckDB (a left join of the two frames in polars held three copies of the
    month, the join in DuckDB sorts it: 10.9-26.2 s and a 6.3-6.5 GiB peak at 7.25M customers).
    """
    behaviour = read_month(con, BEHAVIOUR_TABLE, snapshot)
    clv = read_month(con, CLV_TABLE, snapshot)
    if behaviour.get_column("customer_id").equals(clv.get_column("customer_id")):
        return behaviour.hstack(clv.drop(KEY_COLUMNS).get_columns())
    del behaviour, clv
    with phase(READING):
        return frame_of(
            con.execute(read_sql("features/behaviour_with_clv.sql"), {"snapshot_date": snapshot})
        )
