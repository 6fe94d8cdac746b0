"""Seeded, vectorised synthetic demo data drawn from a known buy-till-you-die process.

Customers sign up over the whole observation window; most of them then buy, and their repeat
purchases and order values follow two standard probability models exactly, so that fitted
parameters can be checked against the truth recorded in ``true_params.json``:

* **Purchase counts: BG/NBD** (Fader, Hardie & Lee, 2005, "Counting your customers the easy
  way: an alternative to the Pareto/NBD model", *Marketing Science* 24(2), 275-284).  While
  alive, a customer buys according to a Poisson process with rate ``lambda ~ Gamma(shape=r,
  rate=alpha)`` per **day**.  After each repeat purchase they become inactive with probability
  ``p ~ Beta(a, b)``.  As in the BG/NBD likelihood (and unlike the MBG/NBD variant), nobody
  drops out at the first purchase (time zero): ``P(X(t) = 0) = (alpha / (alpha + t)) ** r``.
  The number of repeat purchases a customer makes before dying is therefore
  ``J ~ Geometric(p)`` on ``{1, 2, ...}``, and the repeat count in an observation window of
  length ``T`` is ``X = min(N(T), J)`` with ``N(T) ~ Poisson(lambda * T)``.
* **Order values: Gamma-Gamma** (Colombo & Jiang, 1999, "A stochastic RFM model", *Journal of
  Interactive Marketing* 13(3), 2-12; Fader, Hardie & Lee, 2005, "RFM and CLV: using iso-value
  curves for customer base analysis", *Journal of Marketing Research* 42(4), 415-430; and
  Fader & Hardie, 2013, "The Gamma-Gamma model of monetary value").  Per customer
  ``nu ~ Gamma(shape=q, rate=gamma)``; per order ``z ~ Gamma(shape=p, rate=nu)``.  The order is
  split into line items whose amounts (``quantity * unit_price``, in whole cents) add up to
  ``z`` up to rounding to cents.

Exactness.  With ``seasonality=0`` the purchase process *is* the BG/NBD: for a purchasing
customer, the observation window runs from the first purchase (a timestamp with a time of day)
to the end of the last day of the window (``end + 1 day``, exclusive) and repeat purchases are
placed in continuous time.  Given ``N(T) = n`` Poisson events the event times are the order
statistics of ``n`` uniforms; the first ``m = min(n, J)`` of them are generated exactly as
``T * S_k / (S_m + G)`` with ``S_k`` the cumulative sum of ``m`` unit exponential gaps and
``G ~ Gamma(n - m + 1)`` (the Dirichlet representation of uniform spacings), so only the
purchases that actually happen are ever drawn.  Timestamps are then floored to whole seconds.
Caveat for fitting by *calendar day*: with heterogeneous rates, the next purchase of a heavy
buyer often falls on the same calendar day (rate-weighted, ~3.5% of repeat purchases with the
default parameters, not the ~1/2 x 0.033 of an average customer).  A summary that counts
distinct purchase *days* therefore under-counts the heaviest buyers: at 100k customers and
the defaults a BG/NBD fit on (distinct days, whole-day recency and ``T``) overestimates
``alpha`` by ~11% and ``r`` by ~4%, whereas a fit on (number of orders - 1, recency and ``T``
in fractional days from the timestamps, ``T`` up to ``end + 1 day``) recovers all four
parameters within ~1.5% (sampling noise; asymptotic relative SEs 0.6/0.8/1.7/2.5%).  Whole
days for ``T`` alone cost < 1%; it is the day-collapsing of the frequency that matters.  The
``latent`` frame of :func:`simulate` holds the exact ``(n_repeat, t_x_days, T_days)``.

Seasonality.  With amplitude ``A`` in ``[0, 1)`` the purchase intensity is multiplied by
``s(t) = 1 + A * cos(2 * pi * (t - t_peak) / 365.25)`` (peak on 1 December).  The process is
simulated in *operational time* ``tau = Lambda(t) = integral of s`` and mapped back to calendar
time through ``Lambda^-1`` (Newton iterations), i.e. each customer's BG/NBD holds exactly in
operational time.  Signups are warped the same way (more customers arrive in Q4).  ``A = 0``
makes ``Lambda`` the identity and the model exact in calendar days.

Everything is vectorised with numpy over customers, orders and line items (no per-row Python
loop).  Customers are simulated in chunks; chunk ``i`` uses a random stream derived from
``SeedSequence(seed, spawn_key=(1, i))``, so results depend only on ``(seed, arguments,
chunk_customers)`` and memory is bounded by the chunk size.  Order numbers and customer numbers
continue across chunks.

Other realism features: acquisition and preferred purchase channels, Zipf-like product
popularity over a small catalogue, ~2% of orders partially cancelled later (``"C"`` prefixed
order id, negative quantity), optional dirty source rows (``dirty_rate``), fake PII built from
small word lists, reserved demo e-mail domains (RFC 2606) and fictional ``555-01xx`` phone
numbers.

Events and feedback (``with_events``, ``with_feedback``; on by default on the command line).
Beside the purchases and from random streams of their own (the customers and transactions of a
seed are byte-identical with or without them), every customer gets a latent satisfaction class
(promoter, passive, detractor) tied to the BG/NBD dropout probability by a Gaussian copula, so
that detractors drop out ``detractor_dropout_factor`` times as fast as promoters on average
(``satisfaction``); shopping sessions whose purchases are the converting ones, fading after the
dropout, and weekly e-mails with known open, click and unsubscribe rates (``engagement``,
``emails``); NPS, CSAT, reviews and complaints after orders, drawn from the class
(``feedback``).  They are written as ``events/events-YYYY-MM-NNNNN-BBB.parquet`` and
``feedback.csv`` with the source's own column names and values, plus dirty rows when
``dirty_rate > 0`` (``dirty_sources``); their true parameters go to ``true_params.json`` under
``satisfaction``, ``engagement`` and ``feedback`` (``voice_params``).  See docs/demo-data.md.

Categories (``with_categories``; on by default on the command line).  The catalogue's products
get categories, subcategories, price and need levels (``products.csv``), and every customer a
latent lifestyle, a Dirichlet category profile around the lifestyle's mean, a need class and,
for a share of them, a lifestyle survey answer (the customers' ``lifestyle`` column).  Each
line item's product is drawn within a category from the profile and a need level from the
class; the orders, their timing and values are drawn exactly as without categories, from the
same streams, so only the products (and quantities and unit prices) change.  The true category
pair lifts, line shares, need and survey structure go to ``true_params.json`` under
``categories`` (``categories``, ``category_settings``, ``products``).

This module drives the runs (:func:`simulate`, :func:`write`, the command line) and is the
generator's interface; the parts live beside it: ``settings`` (process parameters, secondary
settings, one run's configuration), ``season`` (the seasonal time map), ``population`` (the
categories drawn from, the tables' schemas), ``catalogue`` (products), ``chunk`` (one chunk of
customers and their transactions), ``dirty`` (source rows as text, dirty rows), ``run_params``
(``true_params.json``), for events and feedback ``process``, ``voice``, ``satisfaction``,
``engagement``, ``emails``, ``feedback``, ``dirty_sources`` and ``voice_params``.

CLI::

    python -m synthetic.generate --customers 100000 --out data/demo --seed 42
    python -m synthetic.generate ... --no-events --no-feedback   # purchases only
    python -m synthetic.generate ... --no-satisfaction-effect    # classes independent of dropout
    python -m synthetic.generate ... --no-categories   # no catalogue categories or lifestyles
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from synthetic.catalogue import Catalogue, build_catalogue
from synthetic.category_settings import CategorySettings
from synthetic.chunk import Chunk, simulate_chunk
from synthetic.dirty import DIRTY_KINDS, TIMESTAMP_FORMAT, transactions_as_strings
from synthetic.population import (
    ACQUISITION_CHANNELS,
    B2B_INDUSTRIES,
    CHANNELS,
    COUNTRIES,
    CUSTOMER_SCHEMA,
    TRANSACTION_SCHEMA,
)
from synthetic.products import PRODUCT_COLUMNS, Products, build_products
from synthetic.run_params import GENERATOR_VERSION, sum_counts, true_params
from synthetic.settings import (
    DEFAULT_CHUNK_CUSTOMERS,
    DEFAULT_END,
    DEFAULT_START,
    EngagementSettings,
    FeedbackSettings,
    GeneratorConfig,
    ProcessParams,
    Settings,
    make_config,
)
from synthetic.voice import EVENT_SCHEMA, FEEDBACK_COLUMNS, month_starts

# the generator's interface: what simulate and write take and return, the tables' schemas and
# the categories the data are drawn from
__all__ = [
    "ACQUISITION_CHANNELS",
    "B2B_INDUSTRIES",
    "CHANNELS",
    "COUNTRIES",
    "CUSTOMER_SCHEMA",
    "DEFAULT_CHUNK_CUSTOMERS",
    "DEFAULT_END",
    "DEFAULT_START",
    "DIRTY_KINDS",
    "EVENT_SCHEMA",
    "FEEDBACK_COLUMNS",
    "GENERATOR_VERSION",
    "PRODUCT_COLUMNS",
    "TIMESTAMP_FORMAT",
    "TRANSACTION_SCHEMA",
    "CategorySettings",
    "EngagementSettings",
    "FeedbackSettings",
    "ProcessParams",
    "Settings",
    "Simulation",
    "main",
    "simulate",
    "transactions_as_strings",
    "write",
]

logger = logging.getLogger(__name__)


@dataclass
class Simulation:
    """In-memory result of :func:`simulate`.

    Attributes:
        customers: One row per customer (schema :data:`CUSTOMER_SCHEMA`).
        transactions: One row per line item / cancellation / dirty row (schema
            :data:`TRANSACTION_SCHEMA`, or all strings when ``dirty_rate > 0``).
        true_params: The same dictionary that :func:`write` stores in ``true_params.json``.
        latent: Per-customer latent truth: ``customer_id``, ``is_potential``,
            ``is_purchaser``, ``first_purchase_ts``, ``last_purchase_ts``, ``t_x_days``
            (recency, fractional days), ``T_days`` (first purchase to end of window),
            ``T_operational`` (the same in seasonal operational time), ``lam`` (purchase rate
            per day), ``p_dropout``, ``nu``, ``dropout_after`` (repeat purchase after which the
            customer dies), ``n_repeat`` (repeat purchases in the window), ``alive_at_end``,
            ``preferred_channel``, ``channel_loyalty``; with events or feedback also
            ``satisfaction_class``, ``disengaged_ts`` (when engagement starts to fade: the
            dropout, or the end of a never-buyer's interest; null when not in the window),
            ``app_share``, ``email_optin``, ``open_propensity`` and ``click_propensity``; with
            categories ``lifestyle``, ``need_class`` and ``profile_<category>``.  Not written
            unless asked for.
        events: One row per event (schema :data:`EVENT_SCHEMA`; empty unless asked for).
        feedback: One row per answer, review or complaint, all text (columns
            :data:`FEEDBACK_COLUMNS`; empty unless asked for).
        products: One row per product and dirty row, all text (columns
            :data:`PRODUCT_COLUMNS`; empty unless categories are asked for).
    """

    customers: pl.DataFrame
    transactions: pl.DataFrame
    true_params: dict[str, Any]
    latent: pl.DataFrame = field(default_factory=pl.DataFrame)
    events: pl.DataFrame = field(default_factory=pl.DataFrame)
    feedback: pl.DataFrame = field(default_factory=pl.DataFrame)
    products: pl.DataFrame = field(default_factory=pl.DataFrame)


def _catalogue(cfg: GeneratorConfig) -> tuple[Catalogue, Products | None]:
    cat = build_catalogue(cfg)
    return cat, build_products(cfg, cat) if cfg.with_categories else None


def _iter_chunks(
    cfg: GeneratorConfig,
    cat: Catalogue,
    products: Products | None,
    events_sink: Callable[[int, int, pl.DataFrame], None] | None = None,
) -> Iterator[Chunk]:
    """The chunks in order; with ``events_sink`` their blocks of events go there (chunk
    index, block index, frame) as they are drawn."""
    cc = None if products is None else products.catalogue
    order_offset = 0
    for i in range(cfg.n_chunks):
        first = 1 + i * cfg.chunk_customers
        n = min(cfg.chunk_customers, cfg.n_customers - (first - 1))
        t0 = time.perf_counter()
        sink = None if events_sink is None else functools.partial(events_sink, i)
        chunk = simulate_chunk(cfg, cat, i, first, n, order_offset, sink, cc)
        order_offset += chunk.counts["orders"]
        logger.info(
            "chunk %d/%d: %d customers, %d rows in %.2fs",
            i + 1,
            cfg.n_chunks,
            n,
            chunk.transactions.height,
            time.perf_counter() - t0,
        )
        yield chunk


def simulate(
    n_customers: int,
    seed: int = 42,
    start: str | dt.date = DEFAULT_START,
    end: str | dt.date = DEFAULT_END,
    seasonality: float = 0.2,
    dirty_rate: float = 0.0,
    potential_share: float = 0.08,
    params: ProcessParams | Mapping[str, Any] | None = None,
    *,
    chunk_customers: int = DEFAULT_CHUNK_CUSTOMERS,
    settings: Settings | None = None,
    with_events: bool = False,
    with_feedback: bool = False,
    satisfaction_effect: bool = True,
    engagement: EngagementSettings | None = None,
    feedback: FeedbackSettings | None = None,
    with_categories: bool = False,
    categories: CategorySettings | None = None,
) -> Simulation:
    """Simulate customers and transactions in memory.

    The result equals what :func:`write` stores for the same arguments (including
    ``chunk_customers``, which determines the per-chunk random streams).

    Args:
        n_customers: Number of customers (potential ones included).
        seed: Non-negative integer seed.
        start: First day of the observation window (ISO date or ``date``).
        end: Last day of the observation window, inclusive.
        seasonality: Amplitude ``A`` in ``[0, 1)`` of the yearly intensity modulation;
            ``0`` gives an exact BG/NBD in calendar days.
        dirty_rate: Expected share of extra dirty rows (> 0 makes every transaction column a
            string).
        potential_share: Share of customers who sign up but never purchase.
        params: :class:`ProcessParams`, or a mapping (flat ``{"r": ...}`` or nested
            ``{"bgnbd": {...}, "gamma_gamma": {...}}``) overriding defaults.
        chunk_customers: Customers per independently seeded chunk.
        settings: Secondary :class:`Settings`.
        with_events: Also draw events (visits, views, cart adds, e-mails).
        with_feedback: Also draw feedback (NPS, CSAT, reviews, complaints).
        satisfaction_effect: Detractors drop out faster than promoters (otherwise the
            satisfaction class is independent of the dropout); the purchases are the same
            either way.
        engagement: :class:`EngagementSettings` of the events.
        feedback: :class:`FeedbackSettings` of the classes and the feedback.
        with_categories: Give the catalogue categories and the customers category profiles,
            needs and lifestyles that the line items follow (changes the products, quantities
            and unit prices of the transactions, not the orders; adds the customers'
            ``lifestyle`` and the products).
        categories: :class:`CategorySettings` of the categories and profiles.

    Returns:
        A :class:`Simulation`.
    """
    cfg = make_config(
        n_customers,
        seed,
        start,
        end,
        seasonality,
        dirty_rate,
        potential_share,
        params,
        chunk_customers,
        settings,
        with_events=with_events,
        with_feedback=with_feedback,
        satisfaction_effect=satisfaction_effect,
        engagement=engagement,
        feedback=feedback,
        with_categories=with_categories,
        categories=categories,
    )
    customers, transactions, latent, events, answers = [], [], [], [], []
    counts: dict[str, int] = {}
    voice_counts: dict[str, float] = {}
    category_counts: dict[str, float] = {}
    cat, products = _catalogue(cfg)
    for chunk in _iter_chunks(cfg, cat, products):
        customers.append(chunk.customers)
        transactions.append(chunk.transactions)
        latent.append(chunk.latent)
        events.extend(chunk.events)
        answers.append(chunk.feedback)
        sum_counts(counts, chunk.counts)
        sum_counts(voice_counts, chunk.voice_counts)  # type: ignore[arg-type]
        sum_counts(category_counts, chunk.category_counts)  # type: ignore[arg-type]
    return Simulation(
        customers=pl.concat(customers),
        transactions=pl.concat(transactions),
        true_params=true_params(cfg, counts, voice_counts, products, category_counts),
        latent=pl.concat(latent),
        events=pl.concat(events).drop("_month") if events else pl.DataFrame(),
        feedback=pl.concat(answers) if cfg.with_feedback else pl.DataFrame(),
        products=pl.DataFrame() if products is None else products.frame,
    )


def write(
    out_dir: str | Path,
    n_customers: int,
    seed: int = 42,
    start: str | dt.date = DEFAULT_START,
    end: str | dt.date = DEFAULT_END,
    seasonality: float = 0.2,
    dirty_rate: float = 0.0,
    potential_share: float = 0.08,
    params: ProcessParams | Mapping[str, Any] | None = None,
    *,
    chunk_customers: int = DEFAULT_CHUNK_CUSTOMERS,
    settings: Settings | None = None,
    write_latent: bool = False,
    compression: str = "zstd",
    with_events: bool = False,
    with_feedback: bool = False,
    satisfaction_effect: bool = True,
    engagement: EngagementSettings | None = None,
    feedback: FeedbackSettings | None = None,
    with_categories: bool = False,
    categories: CategorySettings | None = None,
) -> dict[str, Any]:
    """Simulate chunk by chunk and stream the result to Parquet files.

    Writes ``customers.parquet``, ``transactions/part-NNNNN.parquet`` (one part per chunk,
    sorted by ``order_ts``), ``true_params.json`` and, with ``write_latent``,
    ``latent.parquet``; with ``with_events`` ``events/events-YYYY-MM-NNNNN-BBB.parquet`` (one
    file per month, chunk and block of customers, sorted by time), with ``with_feedback``
    ``feedback.csv`` (sorted by time within a chunk), with ``with_categories``
    ``products.csv``.  Existing ``part-*.parquet`` files in ``transactions/``,
    ``events-*.parquet`` files in ``events/``, ``feedback.csv`` and ``products.csv`` are
    removed.

    Args:
        out_dir: Output directory (created if missing).
        n_customers: Number of customers.
        seed: Non-negative integer seed.
        start: First day of the window.
        end: Last day of the window, inclusive.
        seasonality: Seasonal amplitude in ``[0, 1)``.
        dirty_rate: Expected share of extra dirty rows.
        potential_share: Share of customers who never purchase.
        params: Process parameters (see :func:`simulate`).
        chunk_customers: Customers per chunk; bounds memory.
        settings: Secondary :class:`Settings`.
        write_latent: Also write the per-customer latent truth.
        compression: Parquet compression codec.
        with_events: Also write the events (see :func:`simulate`).
        with_feedback: Also write the feedback.
        satisfaction_effect: Detractors drop out faster than promoters.
        engagement: :class:`EngagementSettings` of the events.
        feedback: :class:`FeedbackSettings` of the classes and the feedback.
        with_categories: Also write ``products.csv`` (see :func:`simulate`).
        categories: :class:`CategorySettings` of the categories and profiles.

    Returns:
        The ``true_params`` dictionary written to ``true_params.json``.
    """
    cfg = make_config(
        n_customers,
        seed,
        start,
        end,
        seasonality,
        dirty_rate,
        potential_share,
        params,
        chunk_customers,
        settings,
        with_events=with_events,
        with_feedback=with_feedback,
        satisfaction_effect=satisfaction_effect,
        engagement=engagement,
        feedback=feedback,
        with_categories=with_categories,
        categories=categories,
    )
    out = Path(out_dir)
    tx_dir = out / "transactions"
    ev_dir = out / "events"
    tx_dir.mkdir(parents=True, exist_ok=True)
    stale_files = [*tx_dir.glob("part-*.parquet"), out / "latent.parquet"]
    stale_files += [*ev_dir.glob("events-*.parquet"), out / "feedback.csv", out / "products.csv"]
    for stale in stale_files:
        stale.unlink(missing_ok=True)
    if cfg.with_events:
        ev_dir.mkdir(exist_ok=True)
    _, month_labels = month_starts(cfg)
    writers: dict[str, pq.ParquetWriter] = {}
    counts: dict[str, int] = {}
    voice_counts: dict[str, float] = {}
    category_counts: dict[str, float] = {}
    t0 = time.perf_counter()
    cat, products = _catalogue(cfg)
    if products is not None:
        products.frame.write_csv(out / "products.csv")

    def _write_chunk(i: int, chunk: Chunk) -> None:
        chunk.transactions.write_parquet(
            tx_dir / f"part-{i:05d}.parquet", compression=compression, statistics=True
        )
        if cfg.with_feedback:
            with (out / "feedback.csv").open("ab" if i else "wb") as handle:
                chunk.feedback.write_csv(handle, include_header=i == 0)
        frames = {"customers": chunk.customers}
        if write_latent:
            frames["latent"] = chunk.latent
        for name_, frame in frames.items():
            table = frame.to_arrow()
            if name_ not in writers:
                writers[name_] = pq.ParquetWriter(
                    out / f"{name_}.parquet", table.schema, compression=compression
                )
            writers[name_].write_table(table)

    def _write_events(i: int, b: int, block: pl.DataFrame) -> None:
        # rows come in month order (a dirty copy right after its source row)
        month = block["_month"].to_numpy()
        cuts = np.searchsorted(month, np.arange(len(month_labels) + 1), side="left")
        events = block.drop("_month")
        for m, label in enumerate(month_labels):
            if cuts[m + 1] > cuts[m]:
                events.slice(cuts[m], cuts[m + 1] - cuts[m]).write_parquet(
                    ev_dir / f"events-{label}-{i:05d}-{b:03d}.parquet",
                    compression=compression,
                    statistics=True,
                )

    # Chunk i is written by one background thread while chunk i + 1 is simulated (numpy and
    # polars release the GIL); at most two chunks are held in memory.  Events, ten times the
    # transactions, are written block by block as they are drawn and never held whole.
    pending: Future[None] | None = None
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-writer") as pool:
            for i, chunk in enumerate(_iter_chunks(cfg, cat, products, _write_events)):
                if pending is not None:
                    pending.result()
                pending = pool.submit(_write_chunk, i, chunk)
                sum_counts(counts, chunk.counts)
                sum_counts(voice_counts, chunk.voice_counts)  # type: ignore[arg-type]
                sum_counts(category_counts, chunk.category_counts)  # type: ignore[arg-type]
                del chunk
            if pending is not None:
                pending.result()
    finally:
        for writer in writers.values():
            writer.close()
    recorded = true_params(cfg, counts, voice_counts, products, category_counts)
    (out / "true_params.json").write_text(json.dumps(recorded, indent=2) + "\n")
    logger.info(
        "wrote %d customers, %d transaction rows to %s in %.1fs",
        counts.get("customers", 0),
        counts.get("rows_written", 0),
        out,
        time.perf_counter() - t0,
    )
    return recorded


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (``python -m synthetic.generate``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, required=True, help="number of customers")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--start", default=DEFAULT_START, help="first day (ISO date)")
    parser.add_argument("--end", default=DEFAULT_END, help="last day, inclusive (ISO date)")
    parser.add_argument("--seasonality", type=float, default=0.2, help="amplitude in [0, 1)")
    parser.add_argument("--dirty-rate", type=float, default=0.002)
    parser.add_argument("--potential-share", type=float, default=0.08)
    parser.add_argument("--chunk-customers", type=int, default=DEFAULT_CHUNK_CUSTOMERS)
    parser.add_argument("--write-latent", action="store_true", help="also write latent.parquet")
    on_off = argparse.BooleanOptionalAction
    parser.add_argument("--events", action=on_off, default=True, help="write events/ (default: on)")
    parser.add_argument(
        "--feedback", action=on_off, default=True, help="write feedback.csv (default: on)"
    )
    parser.add_argument(
        "--satisfaction-effect",
        action=on_off,
        default=True,
        help="detractors drop out faster than promoters (default: on; purchases unchanged)",
    )
    parser.add_argument(
        "--categories",
        action=on_off,
        default=True,
        help="products.csv, category profiles, needs and lifestyles (default: on)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings")
    args = parser.parse_args(argv)

    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(show_path=False)],
    )
    t0 = time.perf_counter()
    params = write(
        args.out,
        args.customers,
        seed=args.seed,
        start=args.start,
        end=args.end,
        seasonality=args.seasonality,
        dirty_rate=args.dirty_rate,
        potential_share=args.potential_share,
        chunk_customers=args.chunk_customers,
        write_latent=args.write_latent,
        with_events=args.events,
        with_feedback=args.feedback,
        satisfaction_effect=args.satisfaction_effect,
        with_categories=args.categories,
    )
    c = params["counts"]
    print(
        f"{c['customers']} customers ({c['purchasing_customers']} purchasing), "
        f"{c['orders']} orders, {c['transactions']} transactions, "
        f"{c['cancellations']} cancellations, {c['dirty_rows_total']} dirty rows"
        + (f", {params['engagement']['counts']['rows_written']} events" if args.events else "")
        + (
            f", {params['feedback']['counts']['rows_written']} feedback rows"
            if args.feedback
            else ""
        )
        + (f", {params['categories']['catalogue']['products']} products" if args.categories else "")
        + f" -> {args.out} in {time.perf_counter() - t0:.1f}s"
    )


if __name__ == "__main__":
    main()
