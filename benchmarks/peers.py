"""The peers the pipeline is compared with, on the same generated data.

- ``pandas_rfm``: what most teams write for RFM segments: read the transactions with pandas,
  group by customer (recency of the last order, distinct orders, summed amount), score each with
  ``qcut`` into quintiles and map the R and F scores to the usual named segments. It knows
  nothing of returns, CLV, lifecycle, value tiers, clusters or strategies.
- ``sql_rfm``: the same RFM as one SQL model in DuckDB (``benchmarks/sql/rfm.sql``), read
  straight from the transaction Parquet: a group-by per customer, ``NTILE(5)`` scores and a
  ``CASE`` into the same named segments.
- ``polars_rfm``: its polars twin, a lazy ``scan_parquet`` with the same group-by and
  ``NTILE(5)``'s rule computed from each customer's ordinal rank.

Where the three agree: the per-customer recency, frequency and monetary are the same numbers
(SQL and polars round monetary to the cent). SQL and polars give the same scores and segments,
customer by customer: ``NTILE(5)`` over the rows ordered by the value, ties by customer id, puts
the first ``n % 5`` buckets one row larger. pandas' ``qcut`` differs in two ways: on recency and
monetary it cuts at value quantiles, so tied values share a score and the quintiles are not equal
in size (a recency in whole days ties a lot); on frequency it cuts the ordinal ranks (``rank(
method="first")``, ties by customer id as with NTILE) at the quantiles ``1 + (n - 1) k / 5``,
which puts each of the four cuts at most one rank away from NTILE's, so at most four customers'
F scores differ.

Each RFM peer runs ``PEER_RUNS`` times in its process; the fastest run counts (as the floor's).
- ``pymc_vs_ours``: pymc-marketing's BG/NBD (``BetaGeoModel``) and Gamma-Gamma
  (``GammaGammaModel``) fitted with ``method="map"`` (the non-deprecated spelling of
  ``fit_method="map"``) against ``fit_bgnbd`` + ``fit_gamma_gamma`` on the same customer summary:
  the snapshot's buyers with frequency = repeat purchase days, recency and T in days, monetary =
  mean spend of the repeat purchases. Above ``max_customers`` buyers both fit the same seeded
  random subsample.
"""

from __future__ import annotations

import logging
import math
import warnings
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import polars as pl
from threadpoolctl import threadpool_limits

from benchmarks.measure import (
    DUCKDB_MEMORY_LIMIT,
    FIT_RUNS,
    OUR_FIT,
    PANDAS_READ,
    PANDAS_SCORE,
    PEER_RUNS,
    POLARS_RFM,
    PYMC_FIT,
    SQL_RFM,
    Recorder,
)
from segmentation.btyd import (
    bgnbd_log_likelihood,
    fit_bgnbd,
    fit_gamma_gamma,
    gamma_gamma_log_likelihood,
)

RFM_SQL = Path(__file__).resolve().parent / "sql" / "rfm.sql"

# the usual R x F segment map of pandas RFM tutorials (first match wins)
_SEGMENTS = {
    r"^[1-2][1-2]$": "hibernating",
    r"^[1-2][3-4]$": "at_risk",
    r"^[1-2]5$": "cant_lose",
    r"^3[1-2]$": "about_to_sleep",
    r"^33$": "need_attention",
    r"^[3-4][4-5]$": "loyal_customers",
    r"^41$": "promising",
    r"^51$": "new_customers",
    r"^[4-5][2-3]$": "potential_loyalists",
    r"^5[4-5]$": "champions",
}


def pandas_rfm(data: Path, as_of: date, recorder: Recorder, runs: int = PEER_RUNS) -> pd.DataFrame:
    """The pandas RFM peer, ``runs`` times; returns the last run's scores and segments.

    Args:
        data: The generated data folder (its ``transactions`` Parquet).
        as_of: The snapshot date; transactions up to its end count.
        recorder: Where the stages go (a read and a scoring stage per run).
        runs: How many times to run it.

    Returns:
        One row per customer (index ``customer_id``): recency, frequency, monetary, the r, f
        and m scores and the segment.
    """
    for run in range(1, runs + 1):
        rfm = _pandas_rfm_once(data, as_of, recorder, f", run {run}")
    return rfm


def _pandas_rfm_once(data: Path, as_of: date, recorder: Recorder, suffix: str) -> pd.DataFrame:
    cutoff = pd.Timestamp(datetime.combine(as_of, datetime.max.time()))
    with recorder.stage(PANDAS_READ + suffix) as info:
        tx = pd.read_parquet(
            data / "transactions", columns=["customer_id", "order_id", "order_ts", "amount"]
        )
        info["rows"] = len(tx)
    with recorder.stage(PANDAS_SCORE + suffix) as info:
        tx = tx[tx["order_ts"] <= cutoff]
        rfm = tx.groupby("customer_id").agg(
            last_order=("order_ts", "max"),
            frequency=("order_id", "nunique"),
            monetary=("amount", "sum"),
        )
        rfm["recency"] = (cutoff - rfm["last_order"]).dt.days
        rfm["r"] = pd.qcut(rfm["recency"], 5, labels=[5, 4, 3, 2, 1]).astype(int)
        rfm["f"] = pd.qcut(rfm["frequency"].rank(method="first"), 5, labels=[1, 2, 3, 4, 5])
        rfm["m"] = pd.qcut(rfm["monetary"], 5, labels=[1, 2, 3, 4, 5]).astype(int)
        rfm["segment"] = (rfm["r"].astype(str) + rfm["f"].astype(str)).replace(
            _SEGMENTS, regex=True
        )
        info["customers"] = len(rfm)
        info["segments"] = int(rfm["segment"].nunique())
    return rfm


def sql_rfm(data: Path, as_of: date, recorder: Recorder, runs: int = PEER_RUNS) -> pl.DataFrame:
    """The SQL RFM model (``benchmarks/sql/rfm.sql``) in DuckDB, ``runs`` times, each a stage.

    Args:
        data: The generated data folder (its ``transactions`` Parquet).
        as_of: The snapshot date; transactions up to its end count.
        recorder: Where the stages go.
        runs: How many times to run it (the first may read the files from disk).

    Returns:
        The last run's result: one row per customer, sorted by customer id.
    """
    query = RFM_SQL.read_text()
    params = {"path": str(data / "transactions" / "*.parquet"), "as_of": as_of}
    with duckdb.connect(config={"memory_limit": DUCKDB_MEMORY_LIMIT}) as con:
        for run in range(1, runs + 1):
            with recorder.stage(f"{SQL_RFM}, run {run}") as info:
                result = con.execute(query, params).pl()
                info["customers"] = result.height
    return result


def _ntile(rank: pl.Expr, buckets: int = 5) -> pl.Expr:
    """SQL's ``NTILE(buckets)`` of the row whose 0-based ordinal rank is ``rank``: the rows split
    into ``buckets`` runs of ``n // buckets`` rows, the first ``n % buckets`` one row longer."""
    size = pl.len() // buckets
    larger = pl.len() - buckets * size
    in_larger = larger * (size + 1)
    return (
        pl.when(rank < in_larger)
        .then(1 + rank // (size + 1))
        .otherwise(1 + larger + (rank - in_larger) // size)
    )


def _ordinal(*by: str, descending: list[bool]) -> pl.Expr:
    """Each row's 0-based position in the order of ``by``."""
    return pl.arg_sort_by(list(by), descending=descending).arg_sort()


def polars_rfm(data: Path, as_of: date, recorder: Recorder, runs: int = PEER_RUNS) -> pl.DataFrame:
    """The polars twin of the SQL RFM model, ``runs`` times, each a stage.

    Args:
        data: The generated data folder (its ``transactions`` Parquet).
        as_of: The snapshot date; transactions up to its end count.
        recorder: Where the stages go.
        runs: How many times to run it.

    Returns:
        The last run's result, the same columns as ``sql_rfm``'s, sorted by customer id.
    """
    r, f = pl.col("r"), pl.col("f")
    segment = (
        pl.when((r <= 2) & (f <= 2))
        .then(pl.lit("hibernating"))
        .when((r <= 2) & (f <= 4))
        .then(pl.lit("at_risk"))
        .when(r <= 2)
        .then(pl.lit("cant_lose"))
        .when((r == 3) & (f <= 2))
        .then(pl.lit("about_to_sleep"))
        .when((r == 3) & (f == 3))
        .then(pl.lit("need_attention"))
        .when((r <= 4) & (f >= 4))
        .then(pl.lit("loyal_customers"))
        .when((r == 4) & (f == 1))
        .then(pl.lit("promising"))
        .when((r == 5) & (f == 1))
        .then(pl.lit("new_customers"))
        .when(f <= 3)
        .then(pl.lit("potential_loyalists"))
        .otherwise(pl.lit("champions"))
    )
    model = (
        pl.scan_parquet(data / "transactions" / "*.parquet")
        .filter(pl.col("order_ts") < datetime.combine(as_of + timedelta(days=1), time()))
        .group_by("customer_id")
        .agg(
            recency=(pl.lit(as_of) - pl.col("order_ts").max().dt.date()).dt.total_days(),
            frequency=pl.col("order_id").n_unique(),
            monetary=pl.col("amount").sum().round(2),
        )
        .with_columns(
            r=_ntile(_ordinal("recency", "customer_id", descending=[True, False])),
            f=_ntile(_ordinal("frequency", "customer_id", descending=[False, False])),
            m=_ntile(_ordinal("monetary", "customer_id", descending=[False, False])),
        )
        .with_columns(segment=segment)
        .sort("customer_id")
    )
    for run in range(1, runs + 1):
        with recorder.stage(f"{POLARS_RFM}, run {run}") as info:
            result = model.collect()
            info["customers"] = result.height
    return result


def _relative(ours: dict[str, float], theirs: dict[str, float]) -> dict[str, float]:
    return {name: abs(theirs[name] - value) / abs(value) for name, value in ours.items()}


def _posterior(idata: Any, name: str) -> float:
    return float(np.asarray(idata.posterior[name].values).reshape(-1)[0])


def pymc_vs_ours(
    summary_path: Path, max_customers: int, seed: int, recorder: Recorder
) -> dict[str, Any]:
    logging.getLogger("pymc").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    summary = pd.read_parquet(summary_path)
    buyers = len(summary)
    sampled = buyers > max_customers
    if sampled:
        summary = summary.sample(n=max_customers, random_state=seed).reset_index(drop=True)
    x = summary["frequency"].to_numpy(dtype=float)
    t_x = summary["recency"].to_numpy(dtype=float)
    T = summary["age_days"].to_numpy(dtype=float)
    m = summary["repeat_spend_mean"].to_numpy(dtype=float, na_value=math.nan)
    spend = (x > 0) & (m > 0)

    # ours, as clv_for_snapshot runs it (one BLAS thread; setting the limit is not timed)
    for run in range(1, FIT_RUNS + 1):
        with threadpool_limits(1, "blas"), recorder.stage(f"{OUR_FIT}, run {run}"):
            ours_bg = fit_bgnbd(x, t_x, T)
            ours_gg = fit_gamma_gamma(x[spend], m[spend])

    ids = summary["customer_id"].to_numpy()
    bg_data = pd.DataFrame({"customer_id": ids, "frequency": x, "recency": t_x, "T": T})
    gg_data = pd.DataFrame(
        {"customer_id": ids[spend], "frequency": x[spend], "monetary_value": m[spend]}
    )
    for run in range(1, FIT_RUNS + 1):
        with recorder.stage(f"{PYMC_FIT}, run {run}"):
            bg_model = BetaGeoModel(data=bg_data)
            bg_model.fit(method="map", progressbar=False)
            gg_model = GammaGammaModel(data=gg_data)
            gg_model.fit(method="map", progressbar=False)
    pymc_bg = {name: _posterior(bg_model.idata, name) for name in ("r", "alpha", "a", "b")}
    pymc_gg = {
        "p": _posterior(gg_model.idata, "p"),
        "q": _posterior(gg_model.idata, "q"),
        "gamma": _posterior(gg_model.idata, "v"),
    }
    ll_bg_pymc = float(bgnbd_log_likelihood(pymc_bg, x, t_x, T).sum())
    ll_gg_pymc = float(gamma_gamma_log_likelihood(pymc_gg, x[spend], m[spend]).sum())
    return {
        "buyers": buyers,
        "customers_fitted": len(summary),
        "repeat_buyers_fitted": int(spend.sum()),
        "subsample": (
            f"seeded random subsample (pandas .sample, random_state={seed}) of {len(summary):,} "
            f"of {buyers:,} buyers"
            if sampled
            else "all buyers"
        ),
        "ours": {
            "bgnbd": ours_bg.params,
            "gamma_gamma": ours_gg.params,
            "bgnbd_converged": ours_bg.converged,
            "gamma_gamma_converged": ours_gg.converged,
            "bgnbd_max_abs_grad": ours_bg.max_abs_grad,
            "gamma_gamma_max_abs_grad": ours_gg.max_abs_grad,
            "bgnbd_message": ours_bg.message,
            "gamma_gamma_message": ours_gg.message,
        },
        "pymc": {"bgnbd": pymc_bg, "gamma_gamma": pymc_gg},
        "relative_difference": {
            "bgnbd": _relative(ours_bg.params, pymc_bg),
            "gamma_gamma": _relative(ours_gg.params, pymc_gg),
        },
        # total log-likelihood at each side's parameters (higher is closer to the maximum)
        "log_likelihood": {
            "bgnbd": {"ours": ours_bg.log_likelihood, "pymc": ll_bg_pymc},
            "gamma_gamma": {"ours": ours_gg.log_likelihood, "pymc": ll_gg_pymc},
        },
    }
