"""Seeded synthetic data of a bank, with its truth: customers whose assets under management (AUM)
grow and shrink, whose risk preference changes now and then and whose products change with
known affinities; their transactions; the product catalogue.

The process (:mod:`synthetic.bank_process`, parameters in :mod:`synthetic.bank_params`) runs
month by month.  AUM follows a log-normal level with a drift by latent path (steady, growing,
or declining from some month on: the win-back target), a market factor weighted by the risk
preference, the customer's own noise and rare jumps.  Risk preferences (conservative, balanced,
aggressive) change one level at a time, rarely.  Each month a customer adds a product it does
not hold with probability ``add_base * tier multiplier * product of the affinity lifts of the
products it holds``, provided the product's risk rating is within its risk preference, and
closes a held product with a fixed probability.  Now and then a customer closes its account
(more often once its AUM declines): it withdraws everything and books nothing more.

The files (:mod:`synthetic.bank_files`, :mod:`synthetic.bank_transactions`,
:mod:`synthetic.bank_dirty`), in the bank's own column names:

* ``customers.parquet``: one row per customer (no names or contact data);
* ``attributes/attributes-YYYY.parquet``: the attribute history, one row per customer and
  change (``changed_at``, ``aum``, ``risk``, ``products`` as a list, ``aum_change_3m``), by the
  year of ``changed_at``; with ``dirty_rate`` > 0 its ``changed_at``, ``aum`` and
  ``aum_change_3m`` are text and it holds dirty rows;
* ``products.csv``: the catalogue (with ``dirty_rate`` > 0, a dirty row of each kind);
* ``transactions/transactions-YYYY-MM.parquet``: the bookings of each month;
* ``true_params.json``: every parameter, the true tier of each customer at each month end, the
  tier counts and moves, the adoption counts, the dirty rows by quarantine reason;
* ``latent.parquet`` (``--write-latent``): per customer its AUM path, decline month, opening.

Random streams: ``SeedSequence(seed, spawn_key=(k,))`` with k = 0 the process, 1 the
customers' attributes, 2 the transactions, 3 the dirty rows; files depend only on the seed and
the arguments, byte for byte.  See docs/bank-demo.md.

CLI::

    python -m synthetic.bank --customers 3000 --out data/bank --seed 42
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from synthetic.bank_dirty import add_dirty_attributes, add_dirty_catalogue
from synthetic.bank_files import (
    attribute_frame,
    attribute_rows,
    catalogue_frame,
    client_ids,
    customers_frame,
)
from synthetic.bank_params import (
    AUM_TYPES,
    CATALOGUE,
    PRODUCTS,
    RISK_LEVELS,
    TIER_THRESHOLDS,
    TIERS,
    BankSettings,
    product_risk_rank,
    tier_codes,
)
from synthetic.bank_process import BankProcess, make_calendar, simulate_process
from synthetic.bank_transactions import UNCATALOGUED_PRODUCT, transactions_frame

__all__ = [
    "DEFAULT_END_MONTH",
    "DEFAULT_START_MONTH",
    "GENERATOR_VERSION",
    "BankData",
    "BankSettings",
    "main",
    "simulate",
    "write",
]

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 1
DEFAULT_START_MONTH = "2010-01"
DEFAULT_END_MONTH = "2011-12"
#: One character per month in ``tiers.by_customer``: the tier's rank, ``.`` before the account.
NO_ACCOUNT = "."


@dataclass
class BankData:
    """In-memory result of :func:`simulate` (what :func:`write` stores).

    Attributes:
        customers: ``customers.parquet``.
        attribute_files: File name -> frame of ``attributes/`` (with the dirty rows).
        products: ``products.csv``.
        transaction_files: File name -> frame of ``transactions/``.
        true_params: ``true_params.json``.
        latent: ``latent.parquet``: per customer ``client_id``, ``existing``, ``first_month``,
            ``opened_on``, ``opening_product``, ``initial_risk``, ``aum_type``,
            ``decline_month`` (null unless declining), ``closed_month`` (null unless the
            account was closed), ``aum_z`` (the opening AUM's score).
    """

    customers: pl.DataFrame
    attribute_files: dict[str, pl.DataFrame]
    products: pl.DataFrame
    transaction_files: dict[str, pl.DataFrame]
    true_params: dict[str, Any]
    latent: pl.DataFrame = field(default_factory=pl.DataFrame)

    @property
    def attributes(self) -> pl.DataFrame:
        """The attribute history, files in name order."""
        return pl.concat([self.attribute_files[k] for k in sorted(self.attribute_files)])

    @property
    def transactions(self) -> pl.DataFrame:
        """The transactions, files in name order."""
        return pl.concat([self.transaction_files[k] for k in sorted(self.transaction_files)])


def _matrix(pairs: np.ndarray) -> dict[str, dict[str, int]]:
    return {
        TIERS[i]: {TIERS[j]: int(pairs[i, j]) for j in range(len(TIERS))} for i in range(len(TIERS))
    }


def _tier_truth(proc: BankProcess) -> dict[str, Any]:
    cal = proc.cal
    n = proc.first_month.size
    codes = np.full((n, cal.n), -1, dtype=np.int8)
    for t in range(cal.n):
        live = proc.first_month <= t
        codes[live, t] = tier_codes(proc.aum_cents[live, proc.column(t)])
    by_month, moves, entries = {}, {}, {}
    total = np.zeros((len(TIERS), len(TIERS)), dtype=np.int64)
    for t in range(cal.n):
        now = codes[:, t]
        by_month[cal.label(t)] = {tier: int((now == i).sum()) for i, tier in enumerate(TIERS)}
        if t == 0:
            continue
        before = codes[:, t - 1]
        both = (before >= 0) & (now >= 0)
        pairs = np.zeros_like(total)
        np.add.at(pairs, (before[both], now[both]), 1)
        total += pairs
        moves[cal.label(t)] = _matrix(pairs)
        entering = (before < 0) & (now >= 0)
        entries[cal.label(t)] = {
            tier: int((now[entering] == i).sum()) for i, tier in enumerate(TIERS)
        }
    shares = {
        month: {tier: count / max(sum(c.values()), 1) for tier, count in c.items()}
        for month, c in by_month.items()
    }
    ids = client_ids(n).to_list()
    text = np.where(codes >= 0, codes.astype(np.int64) + ord("0"), ord(NO_ACCOUNT))
    by_customer = {
        cid: bytes(row.astype(np.uint8)).decode("ascii") for cid, row in zip(ids, text, strict=True)
    }
    return {
        "thresholds": dict(TIER_THRESHOLDS),
        "rule": "private_banking if aum >= 6,000,000, else wealth if >= 600,000, else premier "
        "if >= 50,000, else mass; the AUM of the latest attribute row at the month's end",
        "order": list(TIERS),
        "customers_by_month": by_month,
        "shares_by_month": shares,
        "moves_total": _matrix(total),
        "moves_by_month": moves,
        "entries_by_month": entries,
        "by_customer_legend": {
            **{str(i): tier for i, tier in enumerate(TIERS)},
            NO_ACCOUNT: "no account yet",
        },
        "by_customer_months": [cal.label(t) for t in range(cal.n)],
        "by_customer": by_customer,
    }


def _holdings_truth(proc: BankProcess) -> dict[str, Any]:
    cal = proc.cal
    by_month = {}
    for t in range(cal.n):
        masks = proc.holdings[:, proc.column(t)]
        live = masks >= 0
        by_month[cal.label(t)] = {
            p: int(((masks[live] >> j) & 1).sum()) for j, p in enumerate(PRODUCTS)
        }
    # the customers with an open account at the last month end
    last = proc.holdings[:, proc.column(cal.n - 1)]
    last = last[proc.aum_cents[:, proc.column(cal.n - 1)] > 0].astype(np.int64)
    held = np.stack([(last >> j) & 1 for j in range(len(PRODUCTS))], axis=1)
    pair = held.T @ held
    customers = int(last.size)
    lift = {
        a: {
            b: (customers * int(pair[i, j])) / (int(pair[i, i]) * int(pair[j, j]))
            for j, b in enumerate(PRODUCTS)
            if j != i and pair[i, i] and pair[j, j]
        }
        for i, a in enumerate(PRODUCTS)
    }
    return {
        "holders_by_month": by_month,
        "at_end": {
            "month": cal.label(cal.n - 1),
            "customers": customers,
            "pair_holders": {
                a: {b: int(pair[i, j]) for j, b in enumerate(PRODUCTS)}
                for i, a in enumerate(PRODUCTS)
            },
            "holding_lift": lift,
        },
        "adoption_counts": proc.counts,
    }


def _uncatalogued(transactions: pl.DataFrame) -> dict[str, Any]:
    cents = (pl.col("amount") * 100).round(0).cast(pl.Int64)
    outside = pl.col("product") == UNCATALOGUED_PRODUCT
    sums = transactions.select(
        rows=outside.sum(),
        distinct_product_ids=pl.col("product").filter(outside).n_unique(),
        net_cents=cents.filter(outside).sum(),
        positive_cents=cents.filter(outside & (cents > 0)).sum(),
        all_net_cents=cents.sum(),
        all_positive_cents=cents.filter(cents > 0).sum(),
    ).row(0, named=True)
    return {
        "product_ids": [UNCATALOGUED_PRODUCT],
        "rows": int(sums["rows"]),
        "distinct_product_ids": int(sums["distinct_product_ids"]),
        "net_amount": sums["net_cents"] / 100,
        "positive_amount": sums["positive_cents"] / 100,
        "all_net_amount": sums["all_net_cents"] / 100,
        "all_positive_amount": sums["all_positive_cents"] / 100,
        "positive_amount_share": sums["positive_cents"] / max(sums["all_positive_cents"], 1),
    }


def simulate(
    n_customers: int,
    seed: int = 42,
    start: str = DEFAULT_START_MONTH,
    end: str = DEFAULT_END_MONTH,
    dirty_rate: float = 0.0,
    settings: BankSettings | None = None,
) -> BankData:
    """Simulate the bank in memory.

    Args:
        n_customers: Number of customers (existing and opened in the window).
        seed: Non-negative integer seed.
        start: First month of the window (``YYYY-MM``).
        end: Last month of the window, inclusive.
        dirty_rate: Expected share of dirty attribute rows; > 0 makes the history's
            ``changed_at``, ``aum`` and ``aum_change_3m`` text and adds dirty catalogue rows.
        settings: The bank's :class:`BankSettings`.

    Returns:
        A :class:`BankData`.
    """
    if n_customers < 1:
        raise ValueError(f"n_customers must be at least 1, got {n_customers}")
    if seed < 0:
        raise ValueError(f"seed must not be negative, got {seed}")
    if not 0.0 <= dirty_rate < 1.0:
        raise ValueError(f"dirty_rate must be in [0, 1), got {dirty_rate}")
    st = settings or BankSettings()
    st.check()
    cal = make_calendar(start, end)

    def stream(k: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))

    proc = simulate_process(n_customers, cal, st, stream(0))
    ids = client_ids(n_customers)
    customers = customers_frame(proc, stream(1))
    rows = attribute_rows(proc)
    as_strings = dirty_rate > 0
    history = attribute_frame(rows, ids, as_strings)
    years = pl.from_epoch(rows["_at_s"], time_unit="s").dt.year()
    catalogue = catalogue_frame()
    if as_strings:
        history, attribute_dirt = add_dirty_attributes(
            history.with_columns(_year=years), stream(3), dirty_rate
        )
        years = history["_year"]
        history = history.drop("_year")
        catalogue, product_dirt = add_dirty_catalogue(catalogue)
    else:
        attribute_dirt, product_dirt = {}, {}
    attribute_files = {
        f"attributes-{year}.parquet": history.filter(years == year)
        for year in years.unique().sort().to_list()
    }
    transactions = transactions_frame(
        proc, st, customers["annual_income"].to_numpy(), ids, stream(2)
    )
    month = transactions["booked_at"].dt.strftime("%Y-%m")
    transaction_files = {
        f"transactions-{label}.parquet": transactions.filter(month == label)
        for label in month.unique().sort().to_list()
    }
    true_params = {
        "generator": "synthetic.bank",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "window": {
            "start_month": start,
            "end_month": end,
            "months": cal.n,
            "month_ends": [cal.month_end(t).isoformat() for t in range(cal.n)],
            "statement_time_utc": "last day of the month, 23:00:00",
        },
        "counts": {
            "customers": n_customers,
            "existing_customers": int((proc.first_month < 0).sum()),
            "opened_in_window": int((proc.first_month >= 0).sum()),
            "attribute_rows_clean": rows.height,
            "attribute_rows_written": history.height,
            "transactions": transactions.height,
            "catalogue_rows_written": catalogue.height,
        },
        "products": list(PRODUCTS),
        "catalogue": {
            p: dict(zip(("family", "line", "price_band", "need", "risk_rating"), v, strict=True))
            | {"risk_rank": product_risk_rank(p)}
            for p, v in CATALOGUE.items()
        },
        "risk_levels": {level: rank for rank, level in enumerate(RISK_LEVELS, start=1)},
        "eligibility": "a product is added only while its risk rank is at most the customer's "
        "risk rank at the start and at the end of the month",
        "tiers": _tier_truth(proc),
        "holdings": _holdings_truth(proc),
        "aum": {
            "market_factor_by_month": {cal.label(t): float(proc.market[t]) for t in range(cal.n)},
            "customers_by_path": {
                path: int((proc.aum_type == i).sum()) for i, path in enumerate(AUM_TYPES)
            },
            "declining_by_month": {
                cal.label(t): int(((proc.aum_type == 2) & (proc.decline_month <= t)).sum())
                for t in range(cal.n)
            },
        },
        "closures": {
            "by_month": {cal.label(t): int((proc.closed_month == t).sum()) for t in range(cal.n)},
            "by_path": {
                path: int(((proc.aum_type == i) & (proc.closed_month >= 0)).sum())
                for i, path in enumerate(AUM_TYPES)
            },
            "rule": "a closed account's last attribute row has AUM 0 and no products: it is "
            "mass from its closure on, and books nothing after it",
        },
        "settings": st.as_record(),
        "dirty_rate": dirty_rate,
        "attributes_as_text": as_strings,
        "dirty_rows": {"customer_attributes": attribute_dirt, "products": product_dirt},
        "uncatalogued_transactions": _uncatalogued(transactions),
    }
    latent = pl.DataFrame(
        {
            "client_id": ids,
            "existing": proc.first_month < 0,
            "first_month": pl.Series([cal.label(int(t)) for t in proc.first_month]),
            "opened_on": customers["opened_on"],
            "opening_product": pl.Series(PRODUCTS).gather(proc.opening_product),
            "initial_risk": pl.Series(RISK_LEVELS).gather(proc.initial_risk),
            "aum_type": pl.Series(AUM_TYPES).gather(proc.aum_type),
            "decline_month": pl.Series(
                [cal.label(int(t)) if t >= 0 else None for t in proc.decline_month],
                dtype=pl.String,
            ),
            "closed_month": pl.Series(
                [cal.label(int(t)) if t >= 0 else None for t in proc.closed_month],
                dtype=pl.String,
            ),
            "aum_z": proc.aum_z,
        }
    )
    return BankData(
        customers=customers,
        attribute_files=attribute_files,
        products=catalogue,
        transaction_files=transaction_files,
        true_params=true_params,
        latent=latent,
    )


def write(
    out_dir: str | Path,
    n_customers: int,
    seed: int = 42,
    start: str = DEFAULT_START_MONTH,
    end: str = DEFAULT_END_MONTH,
    dirty_rate: float = 0.0,
    settings: BankSettings | None = None,
    *,
    write_latent: bool = False,
    compression: str = "zstd",
) -> dict[str, Any]:
    """Simulate the bank and write its files (see the module docstring); files of an earlier
    run in ``attributes/`` and ``transactions/`` and ``latent.parquet`` are removed first.

    Returns:
        The ``true_params`` dictionary written to ``true_params.json``.
    """
    data = simulate(n_customers, seed, start, end, dirty_rate, settings)
    out = Path(out_dir)
    attributes_dir, transactions_dir = out / "attributes", out / "transactions"
    for folder in (attributes_dir, transactions_dir):
        folder.mkdir(parents=True, exist_ok=True)
    stale = [*attributes_dir.glob("attributes-*.parquet"), out / "latent.parquet"]
    stale += transactions_dir.glob("transactions-*.parquet")
    for path in stale:
        path.unlink(missing_ok=True)
    options = {"compression": compression, "statistics": True}
    data.customers.write_parquet(out / "customers.parquet", **options)
    for name, frame in data.attribute_files.items():
        frame.write_parquet(attributes_dir / name, **options)
    for name, frame in data.transaction_files.items():
        frame.write_parquet(transactions_dir / name, **options)
    data.products.write_csv(out / "products.csv")
    if write_latent:
        data.latent.write_parquet(out / "latent.parquet", **options)
    (out / "true_params.json").write_text(json.dumps(data.true_params, indent=2) + "\n")
    return data.true_params


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point (``python -m synthetic.bank``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, required=True, help="number of customers")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--start", default=DEFAULT_START_MONTH, help="first month (YYYY-MM)")
    parser.add_argument("--end", default=DEFAULT_END_MONTH, help="last month (YYYY-MM)")
    parser.add_argument("--dirty-rate", type=float, default=0.002)
    parser.add_argument("--write-latent", action="store_true", help="also write latent.parquet")
    parser.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO)
    t0 = time.perf_counter()
    params = write(
        args.out,
        args.customers,
        seed=args.seed,
        start=args.start,
        end=args.end,
        dirty_rate=args.dirty_rate,
        write_latent=args.write_latent,
    )
    if not args.quiet:
        c = params["counts"]
        dirty = sum(params["dirty_rows"]["customer_attributes"].values())
        print(
            f"{c['customers']} customers, {c['attribute_rows_written']} attribute rows "
            f"({dirty} dirty), {c['transactions']} transactions -> {args.out} "
            f"in {time.perf_counter() - t0:.1f}s"
        )


if __name__ == "__main__":
    main()
