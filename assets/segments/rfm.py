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

import polars as pl
import yaml

from assets.segments.settings import RfmSettings

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


def quintile_score(value: pl.Expr, group: str = "snapshot_date") -> pl.Expr:
    """Score 1-5 of ``value`` within ``group``: higher value, higher score; ties score equally.

    ``floor(5 * (r - 0.5) / n) + 1`` with ``r`` the average rank and ``n`` the group's size,
    evaluated as ``(5 * (2r - 1)) // (2n) + 1`` so it is exact. Nulls are not expected here.
    """
    twice_rank = (value.rank("average") * 2).round(0).cast(pl.Int64)
    count = value.count().cast(pl.Int64)
    score = (5 * (twice_rank - 1)) // (2 * count) + 1
    return score.over(group).cast(pl.Int64)


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
    keys = features.select("snapshot_date", "customer_id")
    purchasers = features.filter(is_purchaser()).select(
        "snapshot_date",
        "customer_id",
        quintile_score(-pl.col("recency_days")).alias("r_score"),
        quintile_score(pl.col(settings.frequency).fill_null(0)).alias("f_score"),
        quintile_score(pl.col(settings.monetary).fill_null(0.0)).alias("m_score"),
    )
    segments = rfm_segment_table().drop("fm_score")
    scored = purchasers.join(
        segments, on=["r_score", "f_score", "m_score"], how="left", validate="m:1"
    ).with_columns(
        pl.concat_str(
            pl.col("r_score").cast(pl.String),
            pl.col("f_score").cast(pl.String),
            pl.col("m_score").cast(pl.String),
        ).alias("rfm_cell")
    )
    return (
        keys.join(scored, on=["snapshot_date", "customer_id"], how="left", validate="1:1")
        .with_columns(pl.col("rfm_segment").fill_null(NO_PURCHASE))
        .select("snapshot_date", "customer_id", *RFM_COLUMNS)
        .sort("snapshot_date", "customer_id")
    )
