"""Buy-till-you-die models of customer lifetime value: BG/NBD, Pareto/NBD and Gamma-Gamma.

The public names below are the package's interface; import them from ``segmentation.btyd``.
Pure numpy/scipy: no Dagster, no polars. Every function takes numpy arrays (one element per
customer) and returns numpy arrays; fits return a frozen :class:`FitResult`.

Modules, from the bottom up:
    * ``special``: special functions and inner products shared by the models (log 2F1, trigamma);
    * ``data``: input validation and collapsing customers to distinct (x, t_x, T) triples;
    * ``optimise``: the maximum-likelihood optimiser on log-parameters and :class:`FitResult`;
    * ``bgnbd``, ``pareto_nbd``, ``gamma_gamma``: one module per model (log-likelihood, P(alive),
      expectations, fit), each citing its paper;
    * ``clv``: lifetime value from fitted models, and the run-rate fallback.

Conventions (the literature's; the caller computes the summaries):
    * time unit: DAYS; purchases on the same day are one purchase;
    * ``x``: frequency, number of repeat purchase days (whole number >= 0);
    * ``t_x``: recency, days from the first purchase day to the last purchase day (0 when x == 0);
    * ``T``: age, days from the first purchase day to the as-of day (T >= t_x);
    * ``m``: mean value of the x repeat purchases (Gamma-Gamma; the first purchase is excluded).

Run ``uv run python -m benchmarks.clv_fit`` for a benchmark (5M customers).
"""

from segmentation.btyd.bgnbd import (
    BGNBD_PARAMS,
    bgnbd_conditional_expected_purchases,
    bgnbd_expected_purchases,
    bgnbd_log_likelihood,
    bgnbd_p_alive,
    fit_bgnbd,
)
from segmentation.btyd.clv import (
    DAYS_PER_MONTH,
    ClvPredictions,
    bgnbd_gamma_gamma_predictions,
    clv_12m,
    simple_clv_12m,
)
from segmentation.btyd.data import DEFAULT_MIN_REPEAT_BUYERS, compress
from segmentation.btyd.gamma_gamma import (
    GAMMA_GAMMA_PARAMS,
    fit_gamma_gamma,
    gamma_gamma_conditional_expected_spend,
    gamma_gamma_log_likelihood,
    gamma_gamma_population_mean,
)
from segmentation.btyd.optimise import FitResult
from segmentation.btyd.pareto_nbd import (
    PARETO_NBD_PARAMS,
    fit_pareto_nbd,
    pareto_nbd_conditional_expected_purchases,
    pareto_nbd_expected_purchases,
    pareto_nbd_log_likelihood,
    pareto_nbd_p_alive,
)

__all__ = [
    "BGNBD_PARAMS",
    "DAYS_PER_MONTH",
    "DEFAULT_MIN_REPEAT_BUYERS",
    "GAMMA_GAMMA_PARAMS",
    "PARETO_NBD_PARAMS",
    "ClvPredictions",
    "FitResult",
    "bgnbd_conditional_expected_purchases",
    "bgnbd_expected_purchases",
    "bgnbd_gamma_gamma_predictions",
    "bgnbd_log_likelihood",
    "bgnbd_p_alive",
    "clv_12m",
    "compress",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "fit_pareto_nbd",
    "gamma_gamma_conditional_expected_spend",
    "gamma_gamma_log_likelihood",
    "gamma_gamma_population_mean",
    "pareto_nbd_conditional_expected_purchases",
    "pareto_nbd_expected_purchases",
    "pareto_nbd_log_likelihood",
    "pareto_nbd_p_alive",
    "simple_clv_12m",
]
