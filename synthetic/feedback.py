"""The voice of the customer: NPS and CSAT answers, reviews and complaints after orders, drawn
from each customer's latent satisfaction class (see
:class:`synthetic.settings.FeedbackSettings` and :mod:`synthetic.satisfaction`).

After each order, independently: an NPS answer with probability ``nps_survey_rate *
nps_response_rate``, a CSAT answer with ``csat_survey_rate * csat_response_rate``, a review
with ``review_rate`` and a complaint with the class's ``complaint_rate``; each lands a uniform
delay after the order and only if that is still inside the window.  An NPS score comes from the
class's distribution, or with probability ``nps_noise`` from an adjacent class's (so a
promoter never answers like a detractor).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from synthetic.process import Process, sort_distinct
from synthetic.settings import SECONDS_PER_DAY, GeneratorConfig

#: Canonical feedback kinds (index = code used internally); the source uses the same values.
FEEDBACK_KINDS: tuple[str, ...] = ("nps", "csat", "complaint", "review")
NPS, CSAT, COMPLAINT, REVIEW = range(len(FEEDBACK_KINDS))
#: What a complaint is about, and what a survey answer or review may name.
COMPLAINT_TOPICS: tuple[str, ...] = (
    "delivery",
    "damaged item",
    "refund",
    "customer service",
    "billing",
    "website",
)
ANSWER_TOPICS: tuple[str, ...] = ("price", "product range", "delivery", "service", "website")
#: Lowest score of each scored kind (scores are drawn as offsets from it).
_SCORE_BASE = {NPS: 0, CSAT: 1, REVIEW: 1}


@dataclass
class Feedback:
    """Feedback rows as parallel arrays (score ``nan``: none; topic ``-1``: none)."""

    customer: np.ndarray
    ts: np.ndarray  # seconds since the window start
    kind: np.ndarray
    score: np.ndarray
    topic: np.ndarray  # index into COMPLAINT_TOPICS for complaints, ANSWER_TOPICS otherwise


def _draw_scores(rng: np.random.Generator, weights: np.ndarray, cls: np.ndarray) -> np.ndarray:
    """One score index per row from its class's row of ``weights``."""
    cdf = np.cumsum(weights, axis=1)
    cdf /= cdf[:, -1:]
    u = rng.random(cls.size)
    return (u[:, None] >= cdf[cls][:, :-1]).sum(axis=1)


def _noisy_class(rng: np.random.Generator, cls: np.ndarray, noise: float) -> np.ndarray:
    """The class an NPS answer is drawn from: its own, or an adjacent one."""
    swap = rng.random(cls.size) < noise
    side = rng.random(cls.size) < 0.5
    adjacent = np.where(cls == 1, np.where(side, 0, 2), 1)
    return np.where(swap, adjacent, cls).astype(np.int64)


def feedback_rows(
    rng: np.random.Generator, cfg: GeneratorConfig, proc: Process, classes: np.ndarray
) -> Feedback:
    """Every answer, review and complaint of the chunk inside the window, sorted by time."""
    fb = cfg.feedback
    window_s = cfg.window_days * SECONDS_PER_DAY
    n_orders = proc.order_s.size
    cls = classes[proc.order_customer].astype(np.int64)
    rates = {
        NPS: np.full(n_orders, fb.nps_survey_rate * fb.nps_response_rate),
        CSAT: np.full(n_orders, fb.csat_survey_rate * fb.csat_response_rate),
        COMPLAINT: np.asarray(fb.complaint_rate)[cls],
        REVIEW: np.full(n_orders, fb.review_rate),
    }
    delays = {
        NPS: fb.nps_delay_days,
        CSAT: fb.csat_delay_days,
        COMPLAINT: fb.complaint_delay_days,
        REVIEW: fb.review_delay_days,
    }
    weights = {NPS: fb.nps_weights, CSAT: fb.csat_weights, REVIEW: fb.review_weights}
    parts = []
    for kind in (NPS, CSAT, COMPLAINT, REVIEW):
        order = np.flatnonzero(rng.random(n_orders) < rates[kind])
        lo, hi = delays[kind]
        delay = (lo + (hi - lo) * rng.random(order.size)) * SECONDS_PER_DAY
        ts = proc.order_s[order] + np.floor(delay).astype(np.int64)
        who = cls[order]
        if kind == COMPLAINT:
            score = np.full(order.size, np.nan)
            topic = np.floor(rng.random(order.size) * len(COMPLAINT_TOPICS)).astype(np.int64)
        else:
            source = _noisy_class(rng, who, fb.nps_noise) if kind == NPS else who
            table = np.asarray(weights[kind], dtype=np.float64)
            score = (_SCORE_BASE[kind] + _draw_scores(rng, table, source)).astype(np.float64)
            named = rng.random(order.size) < fb.topic_share
            pick = np.floor(rng.random(order.size) * len(ANSWER_TOPICS)).astype(np.int64)
            topic = np.where(named, pick, -1)
        keep = ts < window_s
        parts.append((proc.order_customer[order][keep], ts[keep], kind, score[keep], topic[keep]))
    customer = np.concatenate([p[0] for p in parts]).astype(np.int64)
    ts = np.concatenate([p[1] for p in parts]).astype(np.int64)
    kind = np.concatenate([np.full(p[0].size, p[2], dtype=np.int8) for p in parts])
    score = np.concatenate([p[3] for p in parts])
    topic = np.concatenate([p[4] for p in parts])
    # one customer's answers of a kind in distinct seconds, so that no clean row repeats
    perm, ts = sort_distinct(ts, customer, kind)
    return Feedback(customer[perm], ts[perm], kind[perm], score[perm], topic[perm])


def feedback_frame(rows: Feedback, customer_id: pl.Series, start_epoch_s: int) -> pl.DataFrame:
    """Typed frame of the canonical feedback columns (what the CSV renders)."""
    complaint = rows.kind == COMPLAINT
    topic_names = pl.Series([*COMPLAINT_TOPICS, *ANSWER_TOPICS], dtype=pl.String)
    topic_idx = np.where(complaint, rows.topic, len(COMPLAINT_TOPICS) + rows.topic)
    topic_idx = np.where(rows.topic < 0, 0, topic_idx)
    return (
        pl.DataFrame(
            {
                "cust": customer_id.gather(rows.customer),
                "date": pl.Series((start_epoch_s + rows.ts) * 1_000_000).cast(pl.Datetime("us")),
                "type": pl.Series(FEEDBACK_KINDS, dtype=pl.String).gather(rows.kind),
                "score": pl.Series(rows.score, dtype=pl.Float64).fill_nan(None).cast(pl.Int64),
                "topic": topic_names.gather(topic_idx),
                "_no_topic": rows.topic < 0,
            }
        )
        .with_columns(
            pl.when(pl.col("_no_topic")).then(None).otherwise(pl.col("topic")).alias("topic")
        )
        .drop("_no_topic")
    )
