"""The dirty rows an events export and a feedback export hold (``dirty_rate`` > 0): corrupted
copies of random rows, each right after its source row, one defect each; about ``dirty_rate``
of the rows, and each kind at least once (per block of events, per chunk of feedback).

Events stay typed (Parquet): a copy may repeat its row, lose its customer id or timestamp, carry
an event type the mapping does not know, or a timestamp in the future or before 1970.  Feedback
is text (CSV): a copy may repeat its row, lose its customer id or score, carry an unknown kind,
an NPS or CSAT score off its scale, a score or timestamp that does not parse.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from synthetic.dirty import BAD_QUANTITIES, BAD_TIMESTAMPS, TIMESTAMP_FORMAT
from synthetic.settings import SECONDS_PER_DAY

#: Kinds of dirty event rows.
EVENT_DIRTY_KINDS: tuple[str, ...] = (
    "duplicate",
    "missing_customer_id",
    "missing_timestamp",
    "unknown_event_type",
    "future_timestamp",
    "pre_1970_timestamp",
)
#: Kinds of dirty feedback rows.
FEEDBACK_DIRTY_KINDS: tuple[str, ...] = (
    "duplicate",
    "missing_customer_id",
    "unknown_kind",
    "nps_out_of_range",
    "csat_out_of_range",
    "missing_score",
    "bad_score",
    "bad_timestamp",
)
UNKNOWN_EVENT_TYPES: tuple[str, ...] = ("page_ping", "scroll_depth", "app_crash", "Session_Start")
UNKNOWN_FEEDBACK_KINDS: tuple[str, ...] = ("chat_rating", "ces", "Survey")
NPS_OFF_SCALE: tuple[str, ...] = ("11", "12", "-1", "7.5", "100")
CSAT_OFF_SCALE: tuple[str, ...] = ("0", "6", "9", "10")


def pick_dirty_rows(
    rng: np.random.Generator, n_rows: int, rate: float, kinds: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """About ``rate`` of ``n_rows`` rows to corrupt, each kind at least once: each dirty row's
    kind (index into ``kinds``), source row and a random number to pick its bad value with, and
    the counts by kind."""
    n_dirty = int(rng.binomial(n_rows, rate)) if n_rows else 0
    # every kind at least once, so that even a small demo shows each quarantine reason
    n_dirty = max(n_dirty, min(len(kinds), n_rows))
    kind = rng.integers(0, len(kinds), n_dirty)
    kind[: len(kinds)] = np.arange(min(len(kinds), n_dirty))
    src = rng.integers(0, max(n_rows, 1), n_dirty)
    pick = rng.integers(0, 1 << 30, n_dirty)
    return kind, src, pick, {k: int((kind == i).sum()) for i, k in enumerate(kinds)}


def interleave(clean: pl.DataFrame, dirty: pl.DataFrame, src: np.ndarray) -> pl.DataFrame:
    """The clean rows with each dirty copy right after its source row (copies of one row in
    the order drawn)."""
    n = clean.height
    copies = np.argsort(src, kind="stable")
    # a clean row moves down by the copies of the rows before it; the j-th copy (by source)
    # lands right after its source row and the j copies before it
    before = np.concatenate(([0], np.cumsum(np.bincount(src, minlength=n))[:-1]))
    perm = np.empty(n + src.size, dtype=np.int64)
    perm[np.arange(n) + before] = np.arange(n)
    perm[src[copies] + 1 + np.arange(src.size)] = n + copies
    return pl.concat([clean, dirty])[perm]


def _epoch_us(rng: np.random.Generator, lo: dt.datetime, n: int) -> pl.Series:
    epoch = dt.datetime(1970, 1, 1)
    lo_s = int((lo - epoch).total_seconds())
    seconds = rng.integers(lo_s, lo_s + 365 * SECONDS_PER_DAY, n)
    return pl.Series(seconds * 1_000_000).cast(pl.Datetime("us"))


def add_dirty_events(
    events: pl.DataFrame, rng: np.random.Generator, rate: float
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Insert corrupted copies of random event rows right after their source rows (typed)."""
    kind, src, pick, counts = pick_dirty_rows(rng, events.height, rate, EVENT_DIRTY_KINDS)
    future = _epoch_us(rng, dt.datetime(2099, 1, 1), kind.size)
    old = _epoch_us(rng, dt.datetime(1900, 1, 1), kind.size)
    if kind.size == 0:
        return events, counts
    code = {k: i for i, k in enumerate(EVENT_DIRTY_KINDS)}
    unknown = pl.Series(UNKNOWN_EVENT_TYPES, dtype=pl.String).gather(
        pick % len(UNKNOWN_EVENT_TYPES)
    )
    k = pl.col("_kind")
    dirty = (
        events[src]
        .with_columns(_kind=pl.Series(kind), _unknown=unknown, _future=future, _old=old)
        .with_columns(
            pl.when(k == code["missing_customer_id"])
            .then(pl.lit(None, dtype=pl.String))
            .otherwise(pl.col("user_id"))
            .alias("user_id"),
            pl.when(k == code["missing_timestamp"])
            .then(pl.lit(None, dtype=pl.Datetime("us")))
            .when(k == code["future_timestamp"])
            .then(pl.col("_future"))
            .when(k == code["pre_1970_timestamp"])
            .then(pl.col("_old"))
            .otherwise(pl.col("ts"))
            .alias("ts"),
            pl.when(k == code["unknown_event_type"])
            .then(pl.col("_unknown"))
            .otherwise(pl.col("event"))
            .alias("event"),
        )
        .select(events.columns)
    )
    return interleave(events, dirty, src), counts


def feedback_as_strings(feedback: pl.DataFrame) -> pl.DataFrame:
    """The typed feedback frame as its CSV holds it: ``%Y-%m-%d %H:%M:%S``, integer scores."""
    return feedback.with_columns(
        pl.col("date").dt.to_string(TIMESTAMP_FORMAT), pl.col("score").cast(pl.String)
    )


def add_dirty_feedback(
    feedback: pl.DataFrame, rng: np.random.Generator, rate: float
) -> tuple[pl.DataFrame, dict[str, int]]:
    """The feedback as text with corrupted copies of random rows right after their sources."""
    clean = feedback_as_strings(feedback)
    kind, src, pick, counts = pick_dirty_rows(rng, clean.height, rate, FEEDBACK_DIRTY_KINDS)
    if kind.size == 0:
        return clean, counts
    code = {k: i for i, k in enumerate(FEEDBACK_DIRTY_KINDS)}

    def choice(values: tuple[str, ...]) -> pl.Series:
        return pl.Series(values, dtype=pl.String).gather(pick % len(values))

    k = pl.col("_kind")
    dirty = (
        clean[src]
        .with_columns(
            _kind=pl.Series(kind),
            _unknown=choice(UNKNOWN_FEEDBACK_KINDS),
            _nps=choice(NPS_OFF_SCALE),
            _csat=choice(CSAT_OFF_SCALE),
            _bad_score=choice(BAD_QUANTITIES),
            _bad_ts=choice(BAD_TIMESTAMPS),
        )
        .with_columns(
            pl.when(k == code["missing_customer_id"])
            .then(pl.lit(None, dtype=pl.String))
            .otherwise(pl.col("cust"))
            .alias("cust"),
            pl.when(k == code["bad_timestamp"])
            .then(pl.col("_bad_ts"))
            .otherwise(pl.col("date"))
            .alias("date"),
            pl.when(k == code["unknown_kind"])
            .then(pl.col("_unknown"))
            .when(k.is_in([code["nps_out_of_range"], code["missing_score"]]))
            .then(pl.lit("nps"))
            .when(k == code["csat_out_of_range"])
            .then(pl.lit("csat"))
            .otherwise(pl.col("type"))
            .alias("type"),
            pl.when(k == code["nps_out_of_range"])
            .then(pl.col("_nps"))
            .when(k == code["csat_out_of_range"])
            .then(pl.col("_csat"))
            .when(k == code["missing_score"])
            .then(pl.lit(None, dtype=pl.String))
            .when(k == code["bad_score"])
            .then(pl.col("_bad_score"))
            .otherwise(pl.col("score"))
            .alias("score"),
        )
        .select(clean.columns)
    )
    return interleave(clean, dirty, src), counts
