"""RFM quintile scores (1-5) and the eleven named RFM segments.

Scores are computed per snapshot over purchasers only (customers with a last purchase, i.e.
non-null ``recency_days``). Customers who never purchased get null scores, a null ``rfm_cell`` and
the segment ``No Purchase``, so every customer has exactly one RFM segment.

* R ranks ``recency_days`` (fewer days since the last purchase = higher score).
* F ranks ``orders`` (or ``purchase_days``, see :class:`RfmSettings`).
* M ranks ``net_revenue`` (or ``gross_revenue``): net by default because returns are money the
  customer did not keep spending.

Ties: equal values get equal scores. Each value gets its *average* rank ``r`` among the ``n``
purchasers of its snapshot (ties share the mean of the ranks they span), and its score is
``floor(5 * (r - 0.5) / n) + 1``, the quintile of the mid-rank percentile. Without ties this
splits the purchasers into five buckets whose sizes differ by at most one (exactly ``n / 5`` when
``n`` is a multiple of 5); with ties a bucket can be larger, which is the price of never giving
two customers with the same behaviour different scores (a count-based NTILE would, depending on
their ids). The score depends only on the values, so it is deterministic and independent of row
order. It is computed in exact integer arithmetic: ``2r`` is an integer for average ranks.

The score -> segment mapping lives in ``rfm_segments.yaml`` beside this module.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from segmentation.keys import in_key_order
from segmentation.segments.columns import snapshot_slices
from segmentation.segments.settings import RfmSettings

RFM_SEGMENTS: tuple[str, ...] = (
    "Champions",
    "Loyal",
    "Potential Loyalist",
    "New",
    "Promising",
    "Need Attention",
    "About to Sleep",
    "At Risk",
    "Can't Lose Them",
    "Hibernating",
    "Lost",
)
NO_PURCHASE = "No Purchase"
RFM_SEGMENT_LABELS: tuple[str, ...] = (*RFM_SEGMENTS, NO_PURCHASE)
RFM_GRID_PATH = Path(__file__).with_name("rfm_segments.yaml")
SCORES = (1, 2, 3, 4, 5)

RFM_COLUMNS = ("r_score", "f_score", "m_score", "rfm_cell", "rfm_segment")


def fm_score(f_score: int, m_score: int) -> int:
    """The FM grid column: the average of F and M rounded half up (e.g. F 4, M 5 -> 5)."""
    return (f_score + m_score + 1) // 2


@cache
def load_rfm_grid(path: Path = RFM_GRID_PATH) -> dict[tuple[int, int], str]:
    """Read the R x FM grid: ``(r_score, fm_score) -> segment``, checked to be a full 5 x 5 grid.

    Raises:
        ValueError: If a row or column is missing or a name is not one of :data:`RFM_SEGMENTS`.
    """
    raw = yaml.safe_load(path.read_text())
    fm_columns = raw.get("fm_scores")
    if fm_columns != list(SCORES):
        raise ValueError(f"{path}: fm_scores must be [1, 2, 3, 4, 5], got {fm_columns}")
    rows = raw.get("grid") or {}
    if sorted(rows) != list(SCORES):
        raise ValueError(f"{path}: grid needs exactly the rows R = 1..5, got {sorted(rows)}")
    grid: dict[tuple[int, int], str] = {}
    for r_score, names in rows.items():
        if not isinstance(names, list) or len(names) != len(SCORES):
            raise ValueError(f"{path}: grid row R = {r_score} needs 5 names, got {names}")
        for fm, name in zip(SCORES, names, strict=True):
            if name not in RFM_SEGMENTS:
                raise ValueError(f"{path}: unknown segment {name!r} at R = {r_score}, FM = {fm}")
            grid[(int(r_score), fm)] = name
    return grid


def rfm_segment_table(path: Path = RFM_GRID_PATH) -> pl.DataFrame:
    """All 125 (R, F, M) score combinations with their FM score and segment name."""
    grid = load_rfm_grid(path)
    rows = [
        (r, f, m, fm_score(f, m), grid[(r, fm_score(f, m))])
        for r in SCORES
        for f in SCORES
        for m in SCORES
    ]
    return pl.DataFrame(
        rows,
        schema={
            "r_score": pl.Int64,
            "f_score": pl.Int64,
            "m_score": pl.Int64,
            "fm_score": pl.Int64,
            "rfm_segment": pl.String,
        },
        orient="row",
    )


def is_purchaser() -> pl.Expr:
    """True for customers with at least one purchase (a last purchase, so a recency)."""
    return pl.col("recency_days").is_not_null()


def _quintile(value: pl.Expr) -> pl.Expr:
    """``quintile_score`` over the whole frame: null values (non-purchasers) score null and do
    not count towards ``n``."""
    twice_rank = (value.rank("average") * 2).round(0).cast(pl.Int64)
    count = value.count().cast(pl.Int64)
    return (5 * (twice_rank - 1)) // (2 * count) + 1


def quintile_score(value: pl.Expr, group: str = "snapshot_date") -> pl.Expr:
    """Score 1-5 of ``value`` within ``group``: higher value, higher score; ties score equally.

    ``floor(5 * (r - 0.5) / n) + 1`` with ``r`` the average rank and ``n`` the group's size,
    evaluated as ``(5 * (2r - 1)) // (2n) + 1`` so it is exact. Nulls are not expected here.
    """
    return _quintile(value).over(group).cast(pl.Int64)


@cache
def _segment_of_cell() -> dict[int, str]:
    """``100 r + 10 f + m`` -> segment name, for all 125 score combinations."""
    return {
        100 * r + 10 * f + m: segment
        for r, f, m, segment in rfm_segment_table().drop("fm_score").iter_rows()
    }


_COUNTABLE = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32)


def _counted_scores(values: pl.Series) -> pl.Series | None:
    """``_quintile`` of integer values by counting instead of sorting: a value with ``less``
    smaller values and ``count`` copies has average rank ``less + (count + 1) / 2``, so
    ``2r = 2 less + count + 1``, exactly. None when the values span too wide a range."""
    present = values.is_not_null()
    numbers = values.drop_nulls().cast(pl.Int64).to_numpy()
    if numbers.size == 0:
        return None
    low = int(numbers.min())
    span = int(numbers.max()) - low + 1
    if span > 4 * numbers.size + 65_536:
        return None
    offsets = numbers - low
    by_value = quintile_scores_of_counts(np.bincount(offsets, minlength=span))
    scores = np.zeros(values.len(), dtype=np.int64)
    scores[present.to_numpy()] = by_value[offsets]
    return pl.select(pl.when(present).then(pl.Series(scores))).to_series()


def quintile_scores_of_counts(counts: np.ndarray) -> np.ndarray:
    """The quintile score of each distinct value from how many rows hold it (``counts``, in
    ascending value order; a count of 0 is a value nobody holds, whose score means nothing).

    A value with ``less`` smaller values and ``count`` copies has average rank
    ``less + (count + 1) / 2``, so ``2r = 2 less + count + 1`` and the score is
    ``(5 * (2r - 1)) // (2n) + 1``, exactly: the same scores as ranking every row. The counts
    of any split of the rows, summed per value, give the same scores (the Spark engine's
    reduce step)."""
    counts = np.asarray(counts, dtype=np.int64)
    less = np.cumsum(counts) - counts
    twice_rank = 2 * less + counts + 1
    return (5 * (twice_rank - 1)) // (2 * int(counts.sum())) + 1


def _scores(values: pl.Series) -> pl.Series:
    """``_quintile`` of one snapshot's values (null for non-purchasers)."""
    counted = _counted_scores(values) if isinstance(values.dtype, _COUNTABLE) else None
    if counted is None:
        counted = values.to_frame("value").select(_quintile(pl.col("value"))).to_series()
    return counted.alias(values.name)


def ranked_values(settings: RfmSettings) -> list[pl.Expr]:
    """The values the R, F and M scores rank (named ``r_score``, ``f_score``, ``m_score``):
    higher value, higher score; null for customers who never purchased."""

    def among_purchasers(value: pl.Expr) -> pl.Expr:
        return pl.when(is_purchaser()).then(value)

    return [
        among_purchasers(-pl.col("recency_days")).alias("r_score"),
        among_purchasers(pl.col(settings.frequency).fill_null(0)).alias("f_score"),
        among_purchasers(pl.col(settings.monetary).fill_null(0.0)).alias("m_score"),
    ]


def _score_snapshot(snapshot: pl.DataFrame, settings: RfmSettings) -> pl.DataFrame:
    """RFM columns of one snapshot's rows, in their order (the scores only rank purchasers)."""
    ranked = snapshot.select(ranked_values(settings))
    return with_rfm_segment(
        snapshot.select("snapshot_date", "customer_id").with_columns(
            *[_scores(column) for column in ranked.iter_columns()]
        )
    )


def with_rfm_segment(scores: pl.DataFrame) -> pl.DataFrame:
    """``scores`` (with r_score, f_score, m_score; null for non-purchasers) with the
    ``rfm_cell`` and ``rfm_segment`` of each row."""
    cell = pl.col("r_score") * 100 + pl.col("f_score") * 10 + pl.col("m_score")
    return scores.with_columns(
        # one digit per score, e.g. 545: the cell's text and its key into the grid
        cell.cast(pl.String).alias("rfm_cell"),
        pl.when(cell.is_null())
        .then(pl.lit(NO_PURCHASE))
        .otherwise(cell.replace_strict(_segment_of_cell(), return_dtype=pl.String))
        .alias("rfm_segment"),
    )


def score_sorted(features: pl.DataFrame, settings: RfmSettings) -> pl.DataFrame:
    """:func:`score_rfm` of features already sorted by snapshot_date and customer_id (unique)."""
    parts = [_score_snapshot(snapshot, settings) for snapshot in snapshot_slices(features)]
    if not parts:
        return _score_snapshot(features, settings)
    return parts[0] if len(parts) == 1 else pl.concat(parts)


def score_rfm(features: pl.DataFrame, settings: RfmSettings | None = None) -> pl.DataFrame:
    """RFM scores, cell and segment of every customer of every snapshot in ``features``.

    Args:
        features: ``features.customer_features`` rows (snapshot_date, customer_id,
            recency_days and the frequency and monetary columns named in ``settings``).
        settings: Which columns F and M rank; defaults to orders and net revenue.

    Returns:
        snapshot_date, customer_id, r_score, f_score, m_score (Int64, null for customers who
        never purchased), rfm_cell (e.g. ``"545"``, null likewise) and rfm_segment, sorted by
        snapshot_date and customer_id.
    """
    settings = settings or RfmSettings()
    columns = ["snapshot_date", "customer_id", "recency_days", settings.frequency]
    narrow = features.select(list(dict.fromkeys([*columns, settings.monetary])))
    return score_sorted(in_key_order(narrow, "features"), settings)
