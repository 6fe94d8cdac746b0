"""The product catalogue: list prices and Zipf-like popularity, drawn from the run's seed."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from synthetic.settings import GeneratorConfig


@dataclass(frozen=True)
class Catalogue:
    """The products, their list prices and popularity, in the layouts the line items draw from."""

    ids: pl.Series
    price: np.ndarray  # list price per product
    price_order: np.ndarray  # product indices sorted by list price
    sorted_price: np.ndarray  # list prices in that order
    sorted_cdf: np.ndarray  # cumulative popularity in that order (ends at 1)
    popularity: np.ndarray  # per product, adding up to 1


def build_catalogue(cfg: GeneratorConfig) -> Catalogue:
    """The run's catalogue, from its own random stream (the same for every chunk)."""
    s = cfg.settings
    rng = np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(0,)))
    n = s.n_products
    price = np.exp(math.log(s.price_median) + s.price_sigma * rng.standard_normal(n))
    price = np.clip(np.round(price, 2), 0.29, 250.0)
    popularity = 1.0 / np.arange(1, n + 1) ** s.zipf_exponent
    popularity = popularity[rng.permutation(n)]
    order = np.argsort(price, kind="stable")
    cdf = np.cumsum(popularity[order])
    cdf /= cdf[-1]
    ids = pl.Series("product_id", np.arange(1, n + 1)).cast(pl.String).str.zfill(5)
    ids = ("P" + ids).alias("product_id")
    return Catalogue(
        ids=ids,
        price=price,
        price_order=order,
        sorted_price=price[order],
        sorted_cdf=cdf,
        popularity=popularity / popularity.sum(),
    )
