"""The generated bank's attribute history landed from its files the way the quarantine rules of
the customer_attributes source say (an implementation of its own, for the tests of
:mod:`synthetic.bank`), the states it gives at month ends, and the Mantel-Haenszel estimates of
the product affinity lifts from month-to-month adds (shared with the recovery of the lifts from
the pipeline's marts, tests/e2e/test_bank_recovery.py)."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import polars as pl

from synthetic.bank_params import CATALOGUE, PRODUCTS, RISK_LEVELS, TIER_THRESHOLDS, TIERS

FORMAT = "%Y-%m-%d %H:%M:%S"
#: Each product's risk rank (R1: 1), the highest risk preference rank it may be sold to.
RANK = {p: int(CATALOGUE[p][4][1:]) for p in PRODUCTS}
#: The quarantine reasons of the attribute history, in the order their checks apply.
ATTRIBUTE_REASONS = (
    "missing_customer_id",
    "missing_timestamp",
    "unparseable_timestamp",
    "timestamp_before_1970",
    "timestamp_in_future",
    "unparseable_number",
    "duplicate_row",
    "conflicting_attribute_rows",
)


def params_of(folder: Path) -> dict:
    """The run's ``true_params.json``."""
    return json.loads((folder / "true_params.json").read_text())


def classify_history(raw: pl.DataFrame, now: dt.datetime) -> pl.DataFrame:
    """Every source row with its quarantine reason (null: it lands); the checks apply in the
    order of :data:`ATTRIBUTE_REASONS`."""
    ts = pl.col("changed_at").str.to_datetime(FORMAT, strict=False, time_unit="us")
    frame = raw.with_row_index("_row").with_columns(
        _ts=ts,
        _aum=pl.col("aum").cast(pl.Float64, strict=False),
        _change=pl.col("aum_change_3m").cast(pl.Float64, strict=False),
        _products=pl.col("products").list.join("|"),
    )
    reason = (
        pl.when(pl.col("client_id").is_null())
        .then(pl.lit("missing_customer_id"))
        .when(pl.col("changed_at").is_null())
        .then(pl.lit("missing_timestamp"))
        .when(pl.col("_ts").is_null())
        .then(pl.lit("unparseable_timestamp"))
        .when(pl.col("_ts") < dt.datetime(1970, 1, 1))
        .then(pl.lit("timestamp_before_1970"))
        .when(pl.col("_ts") > now)
        .then(pl.lit("timestamp_in_future"))
        .when(
            (pl.col("aum").is_not_null() & pl.col("_aum").is_null())
            | (pl.col("aum_change_3m").is_not_null() & pl.col("_change").is_null())
        )
        .then(pl.lit("unparseable_number"))
    )
    frame = frame.with_columns(_reason=reason)
    values = ["client_id", "changed_at", "aum", "risk", "_products", "aum_change_3m"]
    ok = frame.filter(pl.col("_reason").is_null())
    # an exact copy of an earlier row; then an instant holding different rows rejects them all
    ok = ok.with_columns(
        _dup=~pl.struct(values).is_first_distinct(),
    ).with_columns(
        _distinct=pl.struct(values)
        .filter(~pl.col("_dup"))
        .n_unique()
        .over("client_id", "_ts")
        .fill_null(1),
    )
    late = ok.select(
        "_row",
        pl.when(pl.col("_dup"))
        .then(pl.lit("duplicate_row"))
        .when(pl.col("_distinct") > 1)
        .then(pl.lit("conflicting_attribute_rows"))
        .alias("_late"),
    )
    return frame.join(late, on="_row", how="left").with_columns(
        pl.coalesce("_reason", "_late").alias("reason")
    )


def landed_history(folder: Path) -> tuple[pl.DataFrame, dict[str, int]]:
    """The rows that land, typed, and the rejected rows by reason."""
    raw = pl.read_parquet(sorted((folder / "attributes").glob("*.parquet")))
    classified = classify_history(raw, dt.datetime.now())
    counts = classified.group_by("reason").len().drop_nulls("reason")
    rejected = dict(zip(counts["reason"], counts["len"], strict=True))
    landed = classified.filter(pl.col("reason").is_null()).select(
        "client_id",
        pl.col("_ts").alias("changed_at"),
        pl.col("_aum").alias("aum"),
        "risk",
        "products",
        pl.col("_change").alias("aum_change_3m"),
    )
    return landed, rejected


def month_ends(params: dict) -> list[dt.date]:
    """The day before the window (the initial load), then each month's end."""
    ends = [dt.date.fromisoformat(d) for d in params["window"]["month_ends"]]
    return [dt.date(ends[0].year, ends[0].month, 1) - dt.timedelta(days=1), *ends]


def states(landed: pl.DataFrame, ends: list[dt.date]) -> pl.DataFrame:
    """Per customer and month end (index 0: the day before the window), the latest landed row
    with changed_at before the end of that day: AUM, its 3-month change, tier, risk rank and
    holdings mask."""
    clients = landed.select("client_id").unique()
    grid = clients.join(
        pl.DataFrame(
            {
                "k": range(len(ends)),
                "as_of": [
                    dt.datetime.combine(d + dt.timedelta(days=1), dt.time())
                    - dt.timedelta(microseconds=1)
                    for d in ends
                ],
            }
        ),
        how="cross",
    ).sort("as_of")
    rows = landed.sort("changed_at")
    joined = grid.join_asof(
        rows,
        left_on="as_of",
        right_on="changed_at",
        by="client_id",
        strategy="backward",
        check_sortedness=False,  # both sides are sorted on their own
    ).filter(pl.col("changed_at").is_not_null())
    cuts = [TIER_THRESHOLDS[t] for t in TIERS[1:]]
    tier = pl.lit(0)
    for i, cut in enumerate(cuts, start=1):
        tier = pl.when(pl.col("aum") >= cut).then(pl.lit(i)).otherwise(tier)
    mask = pl.lit(0)
    for j, product in enumerate(PRODUCTS):
        mask = mask + pl.col("products").list.contains(product).cast(pl.Int64) * (1 << j)
    risk = pl.col("risk").replace_strict(
        {level: rank for rank, level in enumerate(RISK_LEVELS, start=1)}, return_dtype=pl.Int64
    )
    return joined.select(
        "client_id",
        "k",
        "aum",
        "aum_change_3m",
        tier.alias("tier"),
        risk.alias("risk"),
        mask.alias("mask"),
    )


def holds(mask: str, j: int) -> pl.Expr:
    """Whether the holdings mask in column ``mask`` holds product ``j``."""
    return (pl.col(mask) & (1 << j)) != 0


def transitions(state: pl.DataFrame) -> pl.DataFrame:
    """Each customer and window month with its state at the month's start (the previous month
    end) and end (a closed account has AUM 0)."""
    before = state.with_columns(pl.col("k") + 1)
    return (
        before.join(state, on=["client_id", "k"], suffix="_end")
        .rename(
            {"tier": "tier_start", "risk": "risk_start", "mask": "mask_start", "aum": "aum_start"}
        )
        .drop("aum_change_3m", "aum_change_3m_end")
    )


def mantel_haenszel(table: pl.DataFrame) -> tuple[float, float]:
    """The Mantel-Haenszel risk ratio of an add between exposed (holding ``a``) and unexposed
    trials over strata, and the standard error of its log (Greenland & Robins 1985, Biometrics
    41, 55-68): ``table`` holds per stratum ``n1, d1`` (exposed trials, adds) and ``n0, d0``."""
    n1, d1 = table["n1"].to_numpy(), table["d1"].to_numpy()
    n0, d0 = table["n0"].to_numpy(), table["d0"].to_numpy()
    total = n1 + n0
    r = (d1 * n0 / total).sum()
    s = (d0 * n1 / total).sum()
    p = ((n1 * n0 * (d1 + d0) - d1 * d0 * total) / total**2).sum()
    return r / s, math.sqrt(p / (r * s))


def open_months(months: pl.DataFrame) -> pl.DataFrame:
    """The rows of :func:`transitions` of accounts open at the month's start and end (a
    closing month removes every product and is no trial of an add)."""
    return months.filter((pl.col("aum_start") > 0) & (pl.col("aum_end") > 0))


def affinity_estimates(months: pl.DataFrame) -> dict[tuple[str, str], tuple[float, float]]:
    """Per ordered product pair (a, b): the Mantel-Haenszel risk ratio of adding b between
    holding a and not, and the standard error of its log (:func:`mantel_haenszel`).

    The trials are the customer-months of ``months`` (:func:`open_months`) where b is not held
    at the start and the risk preference allows it at the start and the end (as the generator
    decides an add); the strata are the tier and the other products held at the start, within
    which the generator's add probability with a is exactly ``affinity[a][b]`` times that
    without."""
    risk_floor = pl.min_horizontal("risk_start", "risk_end")
    estimates = {}
    for j, b in enumerate(PRODUCTS):
        trials = months.filter(~holds("mask_start", j) & (risk_floor >= RANK[b])).with_columns(
            add=holds("mask_end", j).cast(pl.Int64)
        )
        for i, a in enumerate(PRODUCTS):
            if i == j:
                continue
            others = pl.col("mask_start") & ~((1 << i) | (1 << j))
            exposed = holds("mask_start", i).cast(pl.Int64)
            table = (
                trials.group_by(pl.col("tier_start"), others.alias("others"))
                .agg(
                    n1=exposed.sum(),
                    d1=(exposed * pl.col("add")).sum(),
                    n0=(1 - exposed).sum(),
                    d0=((1 - exposed) * pl.col("add")).sum(),
                )
                .filter((pl.col("n1") > 0) & (pl.col("n0") > 0))
            )
            estimates[a, b] = mantel_haenszel(table)
    return estimates
