"""One chunk's events and feedback, drawn beside its purchases from random streams of their own
(``SeedSequence(seed, spawn_key=(2, chunk))`` and ``(3, chunk, block)``), so that the customers
and transactions of a seed are the same with or without them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from synthetic.catalogue import Catalogue
from synthetic.dirty_sources import add_dirty_events, add_dirty_feedback, feedback_as_strings
from synthetic.emails import campaigns, email_events
from synthetic.engagement import (
    EVENT_CHANNELS,
    EVENT_KINDS,
    EVENT_VALUES,
    SEND,
    UNSUBSCRIBE,
    Engagement,
    Events,
    draw_engagement,
    session_events,
)
from synthetic.feedback import FEEDBACK_KINDS, NPS, Feedback, feedback_frame, feedback_rows
from synthetic.process import Process, sort_distinct
from synthetic.satisfaction import copula_rho, draw_classes
from synthetic.settings import SATISFACTION_CLASSES, SECONDS_PER_DAY, GeneratorConfig

#: The events file's columns (deliberately not the canonical names) and types.
EVENT_SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.String(),
    "ts": pl.Datetime("us"),
    "event": pl.String(),
    "channel": pl.String(),
    "sku": pl.String(),
    "campaign": pl.String(),
}
#: Where :func:`simulate_voice` hands each block of events: (block index, frame).
EventsSink = Callable[[int, pl.DataFrame], None]
#: Customers per block of events (each block from its own random stream).
EVENT_BLOCK_CUSTOMERS = 20_000
#: The feedback file's columns (all text in the CSV).
FEEDBACK_COLUMNS: tuple[str, ...] = ("cust", "date", "type", "score", "topic")


@dataclass
class Voice:
    """What a chunk's events and feedback produced.

    ``events`` holds one frame per block of customers; each carries a ``_month`` column (the
    index in :func:`month_starts` of the month of the row's timestamp, which a dirty copy
    shares with its source; ascending) that names the file the row goes to.
    """

    events: list[pl.DataFrame]
    feedback: pl.DataFrame
    latent: pl.DataFrame
    counts: dict[str, float]


def month_starts(cfg: GeneratorConfig) -> tuple[np.ndarray, list[str]]:
    """Seconds since the window start of each month's first day in the window (the first
    month's start clipped to the window), and the months' ``YYYY-MM`` names."""
    starts, labels = [], []
    day = cfg.start
    while day <= cfg.end:
        starts.append((day - cfg.start).days * SECONDS_PER_DAY)
        labels.append(f"{day.year:04d}-{day.month:02d}")
        day = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return np.asarray(starts, dtype=np.int64), labels


def _month_end_snapshots(cfg: GeneratorConfig) -> np.ndarray:
    """Each month end as the second it ends at: the start of the next month (the window end
    last)."""
    bounds, _ = month_starts(cfg)
    return np.append(bounds[1:], cfg.window_days * SECONDS_PER_DAY)


def _monthly_dropout(cfg: GeneratorConfig, proc: Process, classes: np.ndarray) -> dict[str, float]:
    """Per class: purchasers alive at a month end (summed over month ends that have a next
    one) and how many of them dropped out before the next month end."""
    snaps = _month_end_snapshots(cfg)
    death = np.where(proc.dead, proc.last_s, np.iinfo(np.int64).max)
    k_first = np.searchsorted(snaps, proc.first_s, side="right")
    k_death = np.searchsorted(snaps, death, side="right")
    last_with_next = snaps.size - 1
    alive = np.where(
        proc.purchaser, np.clip(np.minimum(k_death, last_with_next) - k_first, 0, None), 0
    )
    died = proc.dead & (k_death - 1 >= k_first) & (k_death - 1 < last_with_next)
    out: dict[str, float] = {}
    for k, name in enumerate(SATISFACTION_CLASSES):
        mine = classes == k
        out[f"customers.{name}"] = int(mine.sum())
        out[f"purchasers.{name}"] = int((mine & proc.purchaser).sum())
        out[f"sum_p_dropout.{name}"] = float(proc.p_dropout[mine].sum())
        out[f"alive_month_ends.{name}"] = int(alive[mine].sum())
        out[f"dropouts_next_month.{name}"] = int(died[mine].sum())
    return out


def _answered_class(score: np.ndarray) -> np.ndarray:
    """The class an NPS score shows, as a class code (0 promoter 9-10, 1 passive 7-8,
    2 detractor 0-6)."""
    return np.where(score >= 9, 0, np.where(score >= 7, 1, 2)).astype(np.int64)


def _answered_monthly_dropout(
    cfg: GeneratorConfig, proc: Process, rows: Feedback
) -> dict[str, float]:
    """Per month end that has a next one and per class the customer's latest NPS answer so far
    shows: purchasers alive at the month end with such an answer, and how many of them dropped
    out before the next month end.

    It draws no random numbers, so the files of a seed stay what they were.
    """
    snaps = _month_end_snapshots(cfg)
    with_next = snaps.size - 1
    nps = rows.kind == NPS
    order = np.lexsort((rows.ts[nps], rows.customer[nps]))
    cust = rows.customer[nps][order]
    shown = _answered_class(rows.score[nps][order])
    # an answer is a customer's latest at the month ends from the first one after it up to the
    # first one after their next answer
    k_from = np.searchsorted(snaps, rows.ts[nps][order], side="right")
    same_next = np.append(cust[1:] == cust[:-1], False)
    k_to = np.where(same_next, np.append(k_from[1:], 0), with_next)
    # ...and counts there while the customer is alive: first purchase < month end <= dropout
    death = np.where(proc.dead, proc.last_s, np.iinfo(np.int64).max)
    k_first = np.searchsorted(snaps, proc.first_s, side="right")[cust]
    k_death = np.searchsorted(snaps, death, side="right")[cust]
    lo = np.maximum(k_from, k_first)
    hi = np.minimum(np.minimum(k_to, k_death), with_next)
    spans = hi > lo
    alive = np.zeros((with_next + 1, len(SATISFACTION_CLASSES)), dtype=np.int64)
    np.add.at(alive, (lo[spans], shown[spans]), 1)
    np.add.at(alive, (hi[spans], shown[spans]), -1)
    alive = np.cumsum(alive, axis=0)[:with_next]
    # the dropout falls between month end k_death - 1 and the next one
    k_drop = k_death - 1
    drops = spans & (k_drop >= lo) & (k_drop < hi) & proc.dead[cust]
    dropouts = np.zeros_like(alive)
    np.add.at(dropouts, (k_drop[drops], shown[drops]), 1)
    out: dict[str, float] = {}
    for c, name in enumerate(SATISFACTION_CLASSES):
        for k in range(with_next):
            out[f"answered.{k}.alive_month_ends.{name}"] = int(alive[k, c])
            out[f"answered.{k}.dropouts_next_month.{name}"] = int(dropouts[k, c])
    return out


def _events_frame(
    events: Events, proc: Process, cat: Catalogue, cfg: GeneratorConfig
) -> tuple[pl.DataFrame, Events]:
    """The typed events frame sorted by time, customer and kind, with its ``_month`` (the
    index of the month in :func:`month_starts`), and its rows as arrays."""
    perm, ts = sort_distinct(
        events.ts, events.customer, events.kind, events.channel, events.product, events.campaign
    )
    ts = ts[perm]
    inside = ts < cfg.window_days * SECONDS_PER_DAY  # a moved row may leave the window
    perm, ts = perm[inside], ts[inside]
    kept = Events(
        events.customer[perm],
        ts,
        events.kind[perm],
        events.channel[perm],
        events.product[perm],
        events.campaign[perm],
    )
    _, campaign_ids = campaigns(cfg)
    starts, _ = month_starts(cfg)

    def nullable(index: np.ndarray) -> pl.Series:
        # a null index gathers a null
        return pl.from_arrow(pa.array(index.astype(np.int32), mask=index < 0))  # type: ignore[return-value]

    frame = pl.DataFrame(
        {
            "user_id": proc.customer_id.gather(kept.customer),
            "ts": pl.Series((cfg.start_epoch_s + ts) * 1_000_000).cast(pl.Datetime("us")),
            "event": pl.Series(EVENT_VALUES, dtype=pl.String).gather(kept.kind),
            "channel": pl.Series(EVENT_CHANNELS, dtype=pl.String).gather(kept.channel),
            "sku": cat.ids.gather(nullable(kept.product)),
            "campaign": campaign_ids.gather(nullable(kept.campaign)),
            "_month": (np.searchsorted(starts, ts, side="right") - 1).astype(np.int16),
        }
    )
    return frame, kept


def _block_events(
    cfg: GeneratorConfig,
    cat: Catalogue,
    proc: Process,
    traits: Engagement,
    rngs: tuple[np.random.Generator, ...],
    counts: dict[str, float],
) -> pl.DataFrame:
    """One block's events frame (dirty rows included), its counts added to ``counts``."""
    rng_session, rng_email, rng_dirty = rngs
    sessions = session_events(rng_session, cfg, cat, proc, traits)
    emails = email_events(rng_email, cfg, proc, traits)
    events, kept = _events_frame(Events.concat([sessions, emails]), proc, cat, cfg)
    del sessions, emails
    found = np.bincount(kept.kind, minlength=len(EVENT_KINDS))
    add = {f"events.{kind}": int(found[code]) for code, kind in enumerate(EVENT_KINDS)}
    add["events.unsubscribed_customers"] = int(
        np.unique(kept.customer[kept.kind == UNSUBSCRIBE]).size
    )
    add["events.email_recipients"] = int(np.unique(kept.customer[kept.kind == SEND]).size)
    if cfg.dirty_rate > 0.0:
        events, dirty = add_dirty_events(events, rng_dirty, cfg.dirty_rate)
        add.update({f"events.dirty_{k}": v for k, v in dirty.items()})
    add["events.rows_written"] = events.height
    for key, value in add.items():
        counts[key] = counts.get(key, 0) + value
    return events


def simulate_voice(
    cfg: GeneratorConfig,
    cat: Catalogue,
    chunk_index: int,
    proc: Process,
    events_sink: EventsSink | None = None,
) -> Voice:
    """The chunk's satisfaction classes, events (if ``cfg.with_events``) and feedback (if
    ``cfg.with_feedback``).

    Per-customer traits come from the chunk's stream ``(2, chunk)``; the events are drawn in
    blocks of :data:`EVENT_BLOCK_CUSTOMERS` customers, block ``b`` from the stream ``(3,
    chunk, b)``.  With ``events_sink`` each block is handed to it (block index, frame) and not
    kept, so memory holds one block of events at a time.
    """
    ss = np.random.SeedSequence(cfg.seed, spawn_key=(2, chunk_index))
    rng_class, rng_traits, rng_feedback, rng_dirty_fb = (
        np.random.default_rng(s) for s in ss.spawn(4)
    )
    prm, fb = cfg.params, cfg.feedback
    rho = (
        copula_rho(fb.detractor_dropout_factor, prm.a, prm.b, fb.class_shares)
        if cfg.satisfaction_effect
        else 0.0
    )
    classes = draw_classes(rng_class, proc.p_dropout, rho, prm.a, prm.b, fb.class_shares)
    counts: dict[str, float] = {
        f"satisfaction.{k}": v for k, v in _monthly_dropout(cfg, proc, classes).items()
    }
    traits = draw_engagement(rng_traits, cfg, proc, classes)
    fading = np.isfinite(traits.fade_since_s)
    fade_s = np.floor(np.where(fading, traits.fade_since_s, 0.0)).astype(np.int64)
    disengaged = pl.Series((cfg.start_epoch_s + fade_s) * 1_000_000).cast(pl.Datetime("us"))
    latent = pl.DataFrame(
        {
            "satisfaction_class": pl.Series(SATISFACTION_CLASSES, dtype=pl.String).gather(classes),
            "disengaged_ts": disengaged.scatter(np.flatnonzero(~fading), None),
            "app_share": traits.app_share,
            "email_optin": traits.email_optin,
            "open_propensity": traits.open_propensity,
            "click_propensity": traits.click_propensity,
        }
    )

    events: list[pl.DataFrame] = []
    if cfg.with_events:
        for b, lo in enumerate(range(0, proc.n, EVENT_BLOCK_CUSTOMERS)):
            hi = min(lo + EVENT_BLOCK_CUSTOMERS, proc.n)
            block_ss = np.random.SeedSequence(cfg.seed, spawn_key=(3, chunk_index, b))
            rngs = tuple(np.random.default_rng(s) for s in block_ss.spawn(3))
            frame = _block_events(cfg, cat, proc.block(lo, hi), traits.block(lo, hi), rngs, counts)
            if events_sink is None:
                events.append(frame)
            else:
                events_sink(b, frame)
            del frame

    feedback = pl.DataFrame(schema=dict.fromkeys(FEEDBACK_COLUMNS, pl.String()))
    if cfg.with_feedback:
        rows = feedback_rows(rng_feedback, cfg, proc, classes)
        counts.update(
            {f"satisfaction.{k}": v for k, v in _answered_monthly_dropout(cfg, proc, rows).items()}
        )
        typed = feedback_frame(rows, proc.customer_id, cfg.start_epoch_s)
        for code, kind in enumerate(FEEDBACK_KINDS):
            counts[f"feedback.{kind}"] = int((rows.kind == code).sum())
        if cfg.dirty_rate > 0.0:
            feedback, dirty = add_dirty_feedback(typed, rng_dirty_fb, cfg.dirty_rate)
            counts.update({f"feedback.dirty_{k}": v for k, v in dirty.items()})
        else:
            feedback = feedback_as_strings(typed)
        counts["feedback.rows_written"] = feedback.height
    return Voice(events, feedback, latent, counts)
