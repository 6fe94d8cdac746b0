"""Benchmark data: seeded generated transactions, cached per size under ``benchmarks/.cache``.

Sizes name a transaction count; the generator's defaults give ~13.8 transaction rows per
customer (100k customers -> ~1.38M rows), so ``10M`` is 725k customers. The cache is reused when
its ``true_params.json`` was written by the same generator version with the same customers, seed
and dirty rate.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from synthetic.generate import GENERATOR_VERSION, write

CACHE_DIR = Path(__file__).resolve().parent / ".cache"
SEED = 42
START = "2010-01-01"
END = "2011-12-31"
# customers per size: ~13.8 transaction rows per customer with the generator defaults
SIZES = {"1M": 72_500, "10M": 725_000, "100M": 7_250_000}

logger = logging.getLogger("benchmarks.data")


def _matches(params: dict[str, Any], customers: int, seed: int) -> bool:
    return (
        params.get("generator_version") == GENERATOR_VERSION
        and params.get("seed") == seed
        and params.get("dirty_rate") == 0.0
        and params.get("counts", {}).get("customers") == customers
        and params.get("window", {}).get("start") == START
        and params.get("window", {}).get("end") == END
    )


def ensure_data(size: str, seed: int = SEED) -> tuple[Path, dict[str, Any], bool]:
    """The cached data folder of ``size`` (generated when missing or stale), its true params and
    whether it was generated now."""
    customers = SIZES[size]
    out = CACHE_DIR / size
    params_path = out / "true_params.json"
    if params_path.is_file():
        params = json.loads(params_path.read_text())
        if _matches(params, customers, seed):
            return out, params, False
        logger.info("cache %s does not match size %s / seed %d: regenerating", out, size, seed)
        params_path.unlink()
    logger.info("generating %s: %d customers, seed %d, into %s", size, customers, seed, out)
    params = write(out, customers, seed=seed, start=START, end=END, dirty_rate=0.0)
    return out, params, True


def transaction_rows(params: dict[str, Any]) -> int:
    return int(params["counts"]["rows_written"])


if __name__ == "__main__":
    import sys

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in sys.argv[1:]:
        folder, true_params, fresh = ensure_data(name)
        print(name, folder, transaction_rows(true_params), "generated" if fresh else "cached")
