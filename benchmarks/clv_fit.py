"""Speed of the CLV fits: `uv run python -m benchmarks.clv_fit [--customers 5000000]`.

Target (issue: features): BG/NBD on 5M customers fitted in under 10 s on a 2-core machine,
including validation and the compression to distinct (x, t_x, T) triples. Also timed: the
Gamma-Gamma fit, ``clv_12m`` and ``bgnbd_gamma_gamma_predictions`` (everything a snapshot
predicts) on the same customers, and a Pareto/NBD fit on 500k.
"""

import argparse
import logging
import time
from collections.abc import Mapping

import numpy as np
from threadpoolctl import threadpool_limits

from segmentation.btyd import (
    bgnbd_gamma_gamma_predictions,
    clv_12m,
    compress,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_pareto_nbd,
)
from segmentation.btyd.special import FloatArray

logger = logging.getLogger("benchmarks.clv_fit")


def simulate_bgnbd_days(
    n: int, params: Mapping[str, float], max_T: int, seed: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Simulate BG/NBD customers with whole-day recency/age."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], n)
    p = rng.beta(params["a"], params["b"], n)
    T = rng.integers(0, max_T + 1, n).astype(np.float64)
    n_poisson = rng.poisson(lam * T)
    x = np.minimum(rng.geometric(p), n_poisson).astype(np.float64)
    t_x = np.where(x > 0, np.floor(T * rng.beta(np.maximum(x, 1), n_poisson - x + 1)), 0.0)
    return x, t_x, T


def _benchmark(n: int = 5_000_000) -> None:
    true_bg = {"r": 0.5, "alpha": 20.0, "a": 0.8, "b": 4.0}
    x, t_x, T = simulate_bgnbd_days(n, true_bg, 730, seed=1)
    logger.info(
        "simulated %d customers, max x = %d, repeaters = %.1f%%", n, x.max(), 100 * (x > 0).mean()
    )

    start = time.perf_counter()
    xu, tu, Tu, counts = compress(x, t_x, T)
    logger.info("compress: %.2f s -> %d distinct triples", time.perf_counter() - start, xu.size)

    start = time.perf_counter()
    fit = fit_bgnbd(x, t_x, T)
    logger.info(
        "fit_bgnbd (incl. validation + compression): %.2f s, %s", time.perf_counter() - start, fit
    )

    start = time.perf_counter()
    fit_w = fit_bgnbd(xu, tu, Tu, counts)
    logger.info("fit_bgnbd on pre-compressed data: %.2f s", time.perf_counter() - start)
    del fit_w

    rng = np.random.default_rng(2)
    true_gg = {"p": 6.0, "q": 4.0, "gamma": 15.0}
    xg = 1.0 + rng.poisson(3.0, n)
    nu = rng.gamma(true_gg["q"], 1.0 / true_gg["gamma"], n)
    mg = rng.gamma(true_gg["p"] * xg, 1.0 / nu) / xg
    start = time.perf_counter()
    fit_gg = fit_gamma_gamma(xg, mg)
    logger.info("fit_gamma_gamma (%d rows): %.2f s, %s", n, time.perf_counter() - start, fit_gg)

    mean_spend = np.where(x > 0, 30.0, np.nan)
    start = time.perf_counter()
    clv = clv_12m(
        fit.params,
        fit_gg.params,
        x,
        t_x,
        T,
        mean_spend,
        margin=0.3,
        monthly_discount_rate=0.01,
    )
    logger.info(
        "clv_12m (%d customers): %.2f s, mean %.2f", n, time.perf_counter() - start, clv.mean()
    )

    start = time.perf_counter()
    predicted = bgnbd_gamma_gamma_predictions(
        fit.params,
        fit_gg.params,
        x,
        t_x,
        T,
        mean_spend,
        horizons=(30, 90, 365),
        margin=0.3,
        monthly_discount_rate=0.01,
    )
    logger.info(
        "bgnbd_gamma_gamma_predictions (%d customers; p_alive, 3 horizons, spend, clv): %.2f s, "
        "mean clv %.2f",
        n,
        time.perf_counter() - start,
        predicted.clv.mean(),
    )

    n_p = 500_000
    x, t_x, T = simulate_bgnbd_days(n_p, true_bg, 730, seed=3)
    start = time.perf_counter()
    fit_p = fit_pareto_nbd(x, t_x, T)
    logger.info(
        "fit_pareto_nbd (%d customers): %.2f s, %s", n_p, time.perf_counter() - start, fit_p
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=5_000_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with threadpool_limits(limits=1, user_api="blas"):
        _benchmark(args.customers)


if __name__ == "__main__":
    main()
