"""What a run records in ``true_params.json``: the true parameters of the purchase process,
the secondary settings, the counts summed over chunks and the dirty rows, with the entries of
the events, feedback and categories when the run draws them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from synthetic.dirty import DIRTY_KINDS
from synthetic.population import (
    ACQUISITION_CHANNELS,
    ACQUISITION_WEIGHTS,
    CHANNELS,
    PREFERRED_CHANNEL_GIVEN_ACQUISITION,
)
from synthetic.products import Products, category_true_params
from synthetic.settings import GeneratorConfig
from synthetic.voice_params import voice_true_params

GENERATOR_VERSION = 1


def sum_counts(total: dict[str, int], add: dict[str, int]) -> dict[str, int]:
    """Add one chunk's counts to the run's."""
    for key, value in add.items():
        total[key] = total.get(key, 0) + value
    return total


def true_params(
    cfg: GeneratorConfig,
    counts: dict[str, int],
    voice_counts: dict[str, float] | None = None,
    products: Products | None = None,
    category_counts: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The dictionary ``true_params.json`` holds: the process's true parameters, the
    settings, the counts and the dirty rows, and the entries of the events, feedback and
    categories when the run draws them."""
    prm, st = cfg.params, cfg.settings
    month, day = st.seasonality_peak_month_day
    dirty = {k: counts.get(f"dirty_{k}", 0) for k in DIRTY_KINDS}
    plain_counts = {k: v for k, v in counts.items() if not k.startswith("dirty_")}
    plain_counts["dirty_rows_total"] = counts.get("dirty_rows_total", 0)
    settings = dataclasses.asdict(st)
    params = {
        "generator": "synthetic.generate",
        "generator_version": GENERATOR_VERSION,
        "seed": cfg.seed,
        "time_unit": "days",
        "window": {
            "start": cfg.start.isoformat(),
            "end": cfg.end.isoformat(),
            "end_exclusive": (cfg.end + dt.timedelta(days=1)).isoformat(),
            "days": cfg.window_days,
        },
        "bgnbd": {"r": prm.r, "alpha": prm.alpha, "a": prm.a, "b": prm.b},
        "gamma_gamma": {"p": prm.p, "q": prm.q, "gamma": prm.gamma},
        "seasonality": {
            "amplitude": cfg.seasonality,
            "peak_month_day": f"{month:02d}-{day:02d}",
            "period_days": st.seasonality_period_days,
            "exact_bgnbd_in_calendar_time": cfg.seasonality == 0.0,
        },
        "potential_share": cfg.potential_share,
        "cancel_rate": st.cancel_rate,
        "dirty_rate": cfg.dirty_rate,
        "chunk_customers": cfg.chunk_customers,
        "counts": plain_counts,
        "dirty_rows": dirty,
        "transactions_all_strings": cfg.dirty_rate > 0.0,
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
        "channels": {
            "transaction": list(CHANNELS),
            "acquisition": dict(zip(ACQUISITION_CHANNELS, ACQUISITION_WEIGHTS, strict=True)),
            "preferred_given_acquisition": {
                acq: dict(zip(CHANNELS, row, strict=True))
                for acq, row in zip(
                    ACQUISITION_CHANNELS, PREFERRED_CHANNEL_GIVEN_ACQUISITION, strict=True
                )
            },
        },
    }
    if cfg.with_voice:
        # only then: without events and feedback the file is what it always was
        params.update(voice_true_params(cfg, voice_counts or {}))
    if products is not None:
        params["categories"] = category_true_params(cfg, products, category_counts or {})
    return params
