"""The pipeline's monthly tables for a polars frame of transactions, without a warehouse or
Dagster: for notebooks and scripts.

Every answer is the pipeline's answer: the transactions are landed into an in-memory DuckDB
as ``raw.transactions`` (the customers, if any, as ``raw.customers``, a product catalogue as
``raw.products``), and each table is computed by the functions the monthly assets call
(``segmentation.monthly``, ``segmentation.features.categories``) with the same settings. A
snapshot ``as_of`` a month's last day equals that month's partition of the tables.

- :func:`load_transactions`, :func:`load_customers`: a configured source, landed as the
  pipeline lands it (rows failing a check are quarantined, not returned), as a frame.
- :func:`customer_behaviour`: recency, frequency, monetary, trend, channel mix, BTYD inputs
  (``features.customer_behaviour``).
- :func:`predict_clv`: BG/NBD and Gamma-Gamma fitted on the snapshot; P(alive), expected
  purchases and spend, 12-month CLV per customer, and the fitted parameters.
- :func:`customer_features`: behaviour and CLV with the lifecycle stage, value tier and ABC
  class, the engagement and feedback columns from ``events`` and ``feedback`` frames and the
  category mix from a ``products`` catalogue if given, null otherwise
  (``features.customer_features``).
- :func:`customer_segments`: RFM scores and named RFM segments, loyalty, churn risk,
  attribute segments and clusters, and with a catalogue the needs class, next best category
  and psychographic class (``marts.customer_segments``).
- :func:`assign_playbook`: one playbook strategy per customer, with its control group
  (``marts.strategy_assignments``).
- :func:`snapshot`: all of them (and ``marts.segment_summary`` and
  ``features.customer_categories``) for one date, each computed once, when first read.

A frame handed in is a source: it lands exactly as a source file with the same rows and
columns lands in the pipeline, by the same code (``segmentation.raw.frame_source``). Customer
ids and text are trimmed, channels lower-cased, ``is_return`` derived (a negative quantity or
amount, or an order id starting with ``C``), and rows failing a check (a missing id, a future
timestamp, an exact duplicate of an earlier row, an amount too large to sum) are left out: they
are listed with their reasons in :attr:`Snapshot.rejected`, and an :class:`InputWarning` counts
them. A warning rather than a log line: a notebook shows it under the cell that caused it, and
``warnings.simplefilter("error", InputWarning)`` makes a script refuse such input. A missing or
ill-typed column raises :class:`InputError` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import cached_property
from pathlib import Path

import duckdb
import polars as pl

from segmentation.config import (
    PII_CUSTOMER_COLUMNS,
    SegmentationConfig,
    custom_attributes,
    load_config,
    pii_source_columns,
)
from segmentation.contracts import contract_dtypes
from segmentation.features.behaviour import behaviour_by_snapshot
from segmentation.features.categories import (
    CATEGORY_KEY_COLUMNS,
    categories_by_snapshot,
    empty_categories,
)
from segmentation.features.clv import SnapshotClv
from segmentation.features.engagement import engagement_by_snapshot, null_engagement
from segmentation.features.settings import FeatureSettings
from segmentation.keys import KEY_COLUMNS
from segmentation.monthly import (
    catalogue_for_rules,
    customer_clv_month,
    customer_features_of,
    customer_segments_month,
    strategy_assignments_month,
)
from segmentation.notebook_inputs import (
    TRANSACTION_TYPES,
    InputError,
    InputWarning,
    land_attributes,
    land_input,
    land_voice,
    missing_transaction_columns,
    source_types,
)
from segmentation.raw.contracts import (
    CustomersContract,
    EventsContract,
    FeedbackContract,
    ProductsContract,
    RejectedRowsContract,
    TransactionsContract,
)
from segmentation.raw.landing import land_source
from segmentation.raw.publishing import empty_customers_table
from segmentation.raw.settings import (
    CustomerColumns,
    EventColumns,
    FeedbackColumns,
    ProductColumns,
)
from segmentation.segments.columns import COLUMN_KIND_DTYPES
from segmentation.segments.settings import SegmentSettings
from segmentation.sql_files import render_sql
from segmentation.strategies.settings import Playbook, load_playbook
from segmentation.warehouse import frame_of, registered

__all__ = [
    "InputError",
    "InputWarning",
    "Snapshot",
    "assign_playbook",
    "customer_behaviour",
    "customer_features",
    "customer_segments",
    "load_customers",
    "load_transactions",
    "predict_clv",
    "snapshot",
]


def _no_rejected_rows() -> pl.DataFrame:
    return pl.DataFrame(schema=contract_dtypes(RejectedRowsContract))


def _day(as_of: date) -> date:
    """``as_of`` as a snapshot date: a date, or a datetime at its day's last instant."""
    if isinstance(as_of, datetime):
        if as_of != datetime.combine(as_of.date(), time.max):
            raise InputError(
                f"as_of: snapshots are whole days; give a date or a day's last instant "
                f"(23:59:59.999999), got {as_of}"
            )
        return as_of.date()
    if not isinstance(as_of, date):
        raise InputError(f"as_of: expected a date, got {type(as_of).__name__}")
    return as_of


def _create_table(table: str, frame_view: str) -> str:
    return render_sql("warehouse/create_table.sql", table=table, source=frame_view)


@dataclass(frozen=True, eq=False)
class Snapshot:
    """The pipeline's tables for one snapshot date of a frame of transactions.

    Build it with :func:`snapshot`, which lands the frames handed in. Each table is computed
    when first read and kept: reading ``segments`` computes behaviour, CLV and features on the
    way, once.

    Attributes:
        transactions: The transactions as the landing left them: ``raw.transactions``.
        as_of: The snapshot date: everything up to the end of that day counts.
        customers: The customer attributes as the landing left them (``raw.customers``), or
            None.
        feature_settings: The features layer's settings.
        segment_settings: The segments layer's settings.
        playbook: The playbook strategies are assigned from.
        events: The events as ``raw.events`` holds them, or None (no events source).
        feedback: The feedback as ``raw.feedback`` holds it, or None (no feedback source).
        attributes: The attribute history as ``raw.customer_attributes`` holds it, or None: the
            attributes are then the customers' as they are.
        products: The product catalogue as ``raw.products`` holds it (in the frame's order),
            or None (no products source: the category columns are null, the needs and
            psychographic classes ``unknown``).
        rejected: The rows the landing left out, as ``quality.rejected_rows`` holds them: per
            row its ``source`` (transactions, customers, ...), ``source_file`` and ``source_row``
            (the frame's own, else ``(polars frame)`` and the row's 1-based number in the
            frame), ``reason`` and ``check`` in words, and ``raw_values``, the row as JSON text
            with personal values masked.
    """

    transactions: pl.DataFrame
    as_of: date
    customers: pl.DataFrame | None
    feature_settings: FeatureSettings
    segment_settings: SegmentSettings
    playbook: Playbook
    events: pl.DataFrame | None = None
    feedback: pl.DataFrame | None = None
    attributes: pl.DataFrame | None = None
    products: pl.DataFrame | None = None
    rejected: pl.DataFrame = field(default_factory=_no_rejected_rows)

    @cached_property
    def behaviour(self) -> pl.DataFrame:
        """``features.customer_behaviour``: every known customer's behaviour as of the date (with
        an attribute history, the attributes that held on it)."""
        custom = list(self.segment_settings.extra_column_kinds())
        with duckdb.connect() as con:
            con.execute(render_sql("warehouse/create_schema.sql", schema="raw"))
            with registered(con, "frame_transactions", self.transactions):
                con.execute(_create_table("raw.transactions", "frame_transactions"))
            if self.customers is None:
                empty_customers_table(con)
            else:
                with registered(con, "frame_customers", self.customers):
                    con.execute(_create_table("raw.customers", "frame_customers"))
            if self.attributes is not None:
                with registered(con, "frame_attributes", self.attributes):
                    con.execute(_create_table("raw.customer_attributes", "frame_attributes"))
            [month] = behaviour_by_snapshot(
                con,
                [self.as_of],
                self.feature_settings.lifecycle.lost_recency_days,
                self.feature_settings.dominant_channel_share,
                custom,
                history=self.attributes is not None,
            )
        return month

    @cached_property
    def clv(self) -> SnapshotClv:
        """BG/NBD and Gamma-Gamma fitted on the snapshot: ``customers`` is
        ``features.customer_clv`` (P(alive), expected purchases, expected spend, 12-month CLV),
        ``params`` is ``marts.clv_model_params``; ``degenerate_reason`` says why the simple
        fallback was used, if it was."""
        return customer_clv_month(self.behaviour, self.as_of, self.feature_settings.clv)

    @cached_property
    def engagement(self) -> pl.DataFrame:
        """``features.customer_engagement``: the engagement columns (from ``events``) and the
        feedback columns (from ``feedback``) of every customer of ``behaviour``; those of a frame
        not given are null."""
        keys = self.behaviour.select(KEY_COLUMNS)
        if self.events is None and self.feedback is None:
            return null_engagement(keys)
        with duckdb.connect() as con:
            con.execute(render_sql("warehouse/create_schema.sql", schema="raw"))
            sources = {
                "raw.transactions": self.transactions,
                "raw.events": self.events,
                "raw.feedback": self.feedback,
            }
            for table, frame in sources.items():
                if frame is not None:
                    with registered(con, "frame_source", frame):
                        con.execute(_create_table(table, "frame_source"))
            with registered(con, "snapshot_customers", keys):
                [month] = engagement_by_snapshot(
                    con,
                    [self.as_of],
                    "snapshot_customers",
                    self.feature_settings.engagement,
                    self.feature_settings.feedback,
                    events_configured=self.events is not None,
                    feedback_configured=self.feedback is not None,
                )
        return month

    @cached_property
    def _catalogued(self) -> tuple[pl.DataFrame, pl.DataFrame | None] | None:
        """The ``features.customer_categories`` month and the catalogue columns the
        recommendations' eligibility rule reads (None without a rule), as the categories and
        segments assets read them; None without a catalogue."""
        if self.products is None:
            return None
        with duckdb.connect() as con:
            con.execute(render_sql("warehouse/create_schema.sql", schema="raw"))
            sources = {"raw.transactions": self.transactions, "raw.products": self.products}
            for table, frame in sources.items():
                with registered(con, "frame_source", frame):
                    con.execute(_create_table(table, "frame_source"))
            [month] = categories_by_snapshot(
                con,
                [self.as_of],
                self.feature_settings.categories,
                self.segment_settings.needs,
                products_configured=True,
            )
            eligible = self.segment_settings.recommendations.eligibility is not None
            rules = catalogue_for_rules(con) if eligible else None
        # in the order read_categories reads a month back: the category mix sums in row order
        return month.sort(CATEGORY_KEY_COLUMNS), rules

    @property
    def categories(self) -> pl.DataFrame:
        """``features.customer_categories``: per customer and catalogue category ('unknown'
        for products the catalogue does not list) the net spend, orders and share of spend in
        the category window, with the spend on core and basic items; empty without
        ``products``."""
        return empty_categories() if self._catalogued is None else self._catalogued[0]

    @cached_property
    def features(self) -> pl.DataFrame:
        """``features.customer_features``: behaviour, CLV, value tier, ABC class, lifecycle
        stage, engagement and feedback, and the category mix (top category and its share,
        breadth, core spend share; null without ``products``) per customer."""
        behaviour, clv = self.behaviour, self.clv.customers
        # the CLV rows are the behaviour rows, in their order (as read_behaviour_with_clv
        # puts a month's two tables side by side)
        if not behaviour.get_column("customer_id").equals(clv.get_column("customer_id")):
            raise AssertionError("CLV rows are not the behaviour rows")
        behaviour_with_clv = behaviour.hstack(clv.drop(KEY_COLUMNS).get_columns())
        custom = list(self.segment_settings.extra_column_kinds())
        categories = None if self._catalogued is None else self._catalogued[0]
        return customer_features_of(
            behaviour_with_clv, self.feature_settings, custom, self.engagement, categories
        )

    @cached_property
    def _segments_and_summary(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        categories, rules = self._catalogued or (None, None)
        return customer_segments_month(self.features, self.segment_settings, categories, rules)

    @property
    def segments(self) -> pl.DataFrame:
        """``marts.customer_segments``: RFM scores and segment, value tier, lifecycle stage,
        loyalty, churn risk, attribute segments and cluster per customer; the needs class, the
        next best category with its lift and support, the psychographic class and the category
        features from ``products`` (``unknown`` / null without it)."""
        return self._segments_and_summary[0]

    @property
    def segment_summary(self) -> pl.DataFrame:
        """``marts.segment_summary``: size, revenue and mean CLV of every segment."""
        return self._segments_and_summary[1]

    @cached_property
    def strategies(self) -> pl.DataFrame:
        """``marts.strategy_assignments``: one playbook strategy per customer."""
        return strategy_assignments_month(self.segments, self.playbook)


def snapshot(
    transactions: pl.DataFrame,
    as_of: date,
    *,
    customers: pl.DataFrame | None = None,
    feature_settings: FeatureSettings | None = None,
    segment_settings: SegmentSettings | None = None,
    playbook: Playbook | None = None,
    events: pl.DataFrame | None = None,
    feedback: pl.DataFrame | None = None,
    attributes: pl.DataFrame | None = None,
    products: pl.DataFrame | None = None,
) -> Snapshot:
    """Every monthly table of the pipeline for ``transactions`` as of the end of ``as_of``.

    The frames are sources: each lands as the pipeline lands a source file whose columns are
    named as the canonical ones (see the module's description). Rows the landing rejects are
    left out, listed in :attr:`Snapshot.rejected` and counted in an :class:`InputWarning`.

    Args:
        transactions: One row per transaction (line), its columns a transactions source's:
            ``customer_id`` (text), ``order_ts`` (naive, UTC) and ``amount`` (number), or
            ``quantity`` and ``unit_price`` instead of ``amount``; optional ``order_id``,
            ``product_id``, ``channel`` and ``country`` (text). ``is_return`` is derived (a
            negative quantity or amount, or an order id starting with ``C``), not read. Other
            columns are part of the row: two rows are duplicates only when they are equal in
            every column. A frame :func:`load_transactions` gave lands unchanged: its
            ``source_file`` and ``source_row`` are kept as the rows' provenance.
        as_of: The snapshot date; a month's last day gives that month's partition.
        customers: Optional customer attributes, a customers source: ``customer_id`` (text)
            and the custom attributes ``segment_settings.extra_columns`` declares are
            required; ``signup_date``, ``birth_date`` (dates), ``income`` (number),
            ``gender``, ``region``, ``country``, ``industry``, ``acquisition_channel``,
            ``email``, ``phone`` and ``name`` (text) are optional. A repeated customer id lands
            once (the first row).
        feature_settings: Default: the pipeline's defaults (``features:`` of the config).
        segment_settings: Default: the pipeline's defaults (``segments:`` of the config).
        playbook: Default: the bundled ``config/playbook.yaml``.
        events: Optional events with the columns of ``raw.events``: ``customer_id``,
            ``event_ts`` (naive datetime) and ``event_type`` (a canonical kind: visit,
            product_view, add_to_cart, email_send, email_open, email_click, unsubscribe) are
            required, ``channel``, ``product_id`` and ``campaign_id`` may be left out. Without
            it the engagement columns are null.
        feedback: Optional feedback with the columns of ``raw.feedback``: ``customer_id``,
            ``feedback_ts`` and ``kind`` (nps, csat, complaint or review) are required,
            ``score`` (required for nps and csat rows) and ``topic`` may be left out. Without
            it the feedback columns are null.
        attributes: Optional attribute history, a customer_attributes source: ``customer_id``
            (text), ``valid_from`` (naive datetime, UTC) and at least one attribute:
            a standard customer column (``income``, ``region``, ...) or a custom attribute
            ``segment_settings.extra_columns`` declares (a ``list`` one as a list of text).
            The snapshot uses each customer's latest row with ``valid_from`` before the end of
            ``as_of`` (over ``customers``' values of the same columns); a customer with such
            a row is known. Rows for one customer and instant that disagree are left out.
        products: Optional product catalogue, a products source: ``product_id`` and
            ``category`` (text) are required, ``subcategory``, ``price_level``, ``need_level``
            and ``risk_level`` (text) may be left out; other columns are part of the row. It
            gives the category mix (``features.customer_categories`` and the category columns
            of the features), ``needs_class`` (from ``segment_settings.needs``), the next best
            category with its lift and support, and the psychographic clusters of the category
            shares. A row without an id or a category, a repeated row (it lands once) and every
            row of a product id whose rows disagree are left out. Without it the category
            columns are null and the needs and psychographic classes ``unknown``.

    Returns:
        A :class:`Snapshot`; its tables are computed when first read.

    Raises:
        InputError: A frame lacks a required column or has an ill-typed one, its own
            ``source_file`` or ``source_row`` breaks the contract, or ``as_of`` is not a date.
    """
    day = _day(as_of)
    segment_settings = segment_settings or SegmentSettings()
    landed = land_input(
        "transactions",
        transactions,
        TRANSACTION_TYPES,
        missing_transaction_columns,
        TransactionsContract,
    )
    rejected = [landed.rejected]
    kinds = dict(segment_settings.extra_column_kinds())
    extra = {name: COLUMN_KIND_DTYPES[kind] for name, kind in kinds.items()}
    personal = frozenset(PII_CUSTOMER_COLUMNS) | segment_settings.pii_extra_columns()
    landed_customers = None
    if customers is not None:
        canonical = list(CustomerColumns.model_fields)
        customer_types = source_types(CustomersContract, canonical) | extra
        # a custom attribute the history holds need not be in the customers frame too
        in_history = set(attributes.columns) if isinstance(attributes, pl.DataFrame) else set()
        required = ["customer_id", *(name for name in extra if name not in in_history)]
        landed_customers = land_input(
            "customers",
            customers,
            customer_types,
            lambda names: [name for name in required if name not in names],
            CustomersContract,
            {name: kind for name, kind in kinds.items() if name in customers.columns},
            personal,
        )
        rejected.append(landed_customers.rejected)
    landed_attributes = None
    if attributes is not None:
        landed_attributes = land_attributes(attributes, kinds, extra, personal)
        rejected.append(landed_attributes.rejected)
    return Snapshot(
        transactions=landed.rows,
        as_of=day,
        customers=None if landed_customers is None else landed_customers.rows,
        feature_settings=feature_settings or FeatureSettings(),
        segment_settings=segment_settings,
        playbook=playbook or load_playbook(None, segment_settings),
        events=land_voice("events", events, EventsContract, EventColumns, rejected),
        feedback=land_voice("feedback", feedback, FeedbackContract, FeedbackColumns, rejected),
        attributes=None if landed_attributes is None else landed_attributes.rows,
        products=land_voice("products", products, ProductsContract, ProductColumns, rejected),
        rejected=pl.concat(rejected),
    )


def customer_behaviour(
    transactions: pl.DataFrame,
    as_of: date,
    *,
    customers: pl.DataFrame | None = None,
    feature_settings: FeatureSettings | None = None,
    segment_settings: SegmentSettings | None = None,
    attributes: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``features.customer_behaviour`` as of ``as_of``: recency, frequency, monetary, trailing
    windows, trend, channel mix and the BTYD inputs of every known customer.

    The arguments are those of :func:`snapshot`; the same errors are raised.
    """
    return snapshot(
        transactions,
        as_of,
        customers=customers,
        feature_settings=feature_settings,
        segment_settings=segment_settings,
        attributes=attributes,
    ).behaviour


def predict_clv(
    transactions: pl.DataFrame,
    as_of: date,
    *,
    customers: pl.DataFrame | None = None,
    feature_settings: FeatureSettings | None = None,
) -> SnapshotClv:
    """Fit BG/NBD and Gamma-Gamma on the customers as of ``as_of`` and predict each one.

    Returns:
        ``customers``: ``features.customer_clv`` (p_alive, expected purchases in 30/90/365
        days, expected spend, clv_12m, clv_method); ``params``: ``marts.clv_model_params``
        (every fitted parameter, log-likelihood, customers used, converged); ``summary``: one
        line about the fit; ``degenerate_reason``: why the simple fallback replaced the models
        (too few repeat buyers, no convergence), else None.

    The arguments are those of :func:`snapshot`; the same errors are raised.
    """
    return snapshot(transactions, as_of, customers=customers, feature_settings=feature_settings).clv


def customer_features(
    transactions: pl.DataFrame,
    as_of: date,
    *,
    customers: pl.DataFrame | None = None,
    feature_settings: FeatureSettings | None = None,
    segment_settings: SegmentSettings | None = None,
    events: pl.DataFrame | None = None,
    feedback: pl.DataFrame | None = None,
    attributes: pl.DataFrame | None = None,
    products: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``features.customer_features`` as of ``as_of``: behaviour and CLV with the lifecycle
    stage (potential, new, growing, mature, declining, at_risk, lost, won_back), the value
    tier (high, mid, low), the ABC class, the engagement and feedback columns (null without
    ``events`` / ``feedback``) and the category mix (null without ``products``) of every known
    customer.

    The arguments are those of :func:`snapshot`; the same errors are raised.
    """
    return snapshot(
        transactions,
        as_of,
        customers=customers,
        feature_settings=feature_settings,
        segment_settings=segment_settings,
        events=events,
        feedback=feedback,
        attributes=attributes,
        products=products,
    ).features


def customer_segments(
    transactions: pl.DataFrame,
    as_of: date,
    *,
    customers: pl.DataFrame | None = None,
    feature_settings: FeatureSettings | None = None,
    segment_settings: SegmentSettings | None = None,
    events: pl.DataFrame | None = None,
    feedback: pl.DataFrame | None = None,
    attributes: pl.DataFrame | None = None,
    products: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``marts.customer_segments`` as of ``as_of``: RFM scores (r_score, f_score, m_score,
    rfm_cell) and the named RFM segment (Champions, Loyal, ..., No Purchase), with value tier,
    lifecycle stage, loyalty, churn risk, attribute segments and cluster of every customer, and
    from ``products`` its needs class, next best category (lift, support) and psychographic
    class.

    The arguments are those of :func:`snapshot`; the same errors are raised.
    """
    return snapshot(
        transactions,
        as_of,
        customers=customers,
        feature_settings=feature_settings,
        segment_settings=segment_settings,
        events=events,
        feedback=feedback,
        attributes=attributes,
        products=products,
    ).segments


def assign_playbook(
    transactions: pl.DataFrame,
    as_of: date,
    *,
    customers: pl.DataFrame | None = None,
    feature_settings: FeatureSettings | None = None,
    segment_settings: SegmentSettings | None = None,
    playbook: Playbook | None = None,
    events: pl.DataFrame | None = None,
    feedback: pl.DataFrame | None = None,
    attributes: pl.DataFrame | None = None,
    products: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``marts.strategy_assignments`` as of ``as_of``: the first matching playbook rule's
    strategy, channel, priority and budget per customer, and its stable control-group flag.

    The arguments are those of :func:`snapshot`; the same errors are raised.
    """
    return snapshot(
        transactions,
        as_of,
        customers=customers,
        feature_settings=feature_settings,
        segment_settings=segment_settings,
        playbook=playbook,
        events=events,
        feedback=feedback,
        attributes=attributes,
        products=products,
    ).strategies


def _config(config: SegmentationConfig | str | Path | None) -> SegmentationConfig:
    return config if isinstance(config, SegmentationConfig) else load_config(config)


def _landed(config: SegmentationConfig, source: str) -> pl.DataFrame:
    """Land one source of ``config`` into an in-memory DuckDB as the raw asset does."""
    now = datetime.now(UTC).replace(tzinfo=None)
    with duckdb.connect() as con:
        if source == "transactions":
            land_source(
                con,
                "transactions",
                config.sources.transactions,
                now,
                masked=pii_source_columns(config, "transactions"),
            )
        else:
            land_source(
                con,
                "customers",
                config.sources.customers,
                now,
                custom_attributes(config, "customers"),
                masked=pii_source_columns(config),
            )
        # landing writes in no particular order: by file and row, as the sources hold them
        return frame_of(
            con.execute(render_sql("raw/landed_in_source_order.sql", table=f"raw.{source}"))
        )


def load_transactions(config: SegmentationConfig | str | Path | None = None) -> pl.DataFrame:
    """The transactions source of a pipeline configuration, landed as the pipeline lands it:
    ``raw.transactions``, in file and row order.

    Args:
        config: A loaded configuration or the path of its YAML file; default: the one
            ``SEGMENTATION_CONFIG`` names, else the bundled demo configuration.

    Raises:
        ConfigError: The configuration is invalid.
        RejectRateExceeded: More rows fail their checks than the source allows.
    """
    return _landed(_config(config), "transactions")


def load_customers(config: SegmentationConfig | str | Path | None = None) -> pl.DataFrame | None:
    """The customers source of a pipeline configuration, landed as the pipeline lands it
    (``raw.customers``, in file and row order); None when it has no customers source.

    Args:
        config: As for :func:`load_transactions`.
    """
    loaded = _config(config)
    return None if loaded.sources.customers is None else _landed(loaded, "customers")
