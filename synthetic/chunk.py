"""One chunk of customers, simulated from its own random stream: sign-ups, BG/NBD purchases,
Gamma-Gamma order values split over line items, cancellations, customer attributes and the
latent truth."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy import special

from synthetic import names
from synthetic.catalogue import Catalogue
from synthetic.categories import (
    CategoryCatalogue,
    draw_customer_mix,
    draw_line_products,
    mix_counts,
    mix_latent,
    survey_answers,
)
from synthetic.dirty import DIRTY_KINDS, add_dirty_rows
from synthetic.population import (
    ACQUISITION_CHANNELS,
    ACQUISITION_WEIGHTS,
    B2B_INDUSTRIES,
    CHANNELS,
    CONSUMER_INDUSTRY,
    COUNTRIES,
    CUSTOMER_SCHEMA,
    GENDER_WEIGHTS,
    GENDERS,
    ORDER_ID_WIDTH,
    PREFERRED_CHANNEL_GIVEN_ACQUISITION,
    TRANSACTION_SCHEMA,
)
from synthetic.process import Process
from synthetic.settings import SECONDS_PER_DAY, GeneratorConfig
from synthetic.voice import EventsSink, simulate_voice


@dataclass
class Chunk:
    """What one chunk of customers produced, and its counts for ``true_params.json``
    (``events``, ``feedback``, ``voice_counts`` and ``category_counts`` stay empty unless the
    run draws them)."""

    customers: pl.DataFrame
    transactions: pl.DataFrame
    latent: pl.DataFrame
    counts: dict[str, int]
    events: list[pl.DataFrame] = field(default_factory=list)
    feedback: pl.DataFrame = field(default_factory=pl.DataFrame)
    voice_counts: dict[str, float] = field(default_factory=dict)
    category_counts: dict[str, float] = field(default_factory=dict)


def _categorical(rng: np.random.Generator, weights: tuple[float, ...], n: int) -> np.ndarray:
    cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(cdf) - 1)


def _segment_starts(counts: np.ndarray) -> np.ndarray:
    return np.cumsum(counts) - counts


def _zfill(values: np.ndarray, width: int, prefix: str = "") -> pl.Series:
    s = pl.Series(values.astype(np.int64)).cast(pl.String).str.zfill(width)
    return prefix + s if prefix else s


def _popular_products(
    rng: np.random.Generator,
    cat: Catalogue,
    n_products: int,
    target: np.ndarray,
    n_lines_o: np.ndarray,
    line_ord: np.ndarray,
    line_start: np.ndarray,
) -> np.ndarray:
    """Each line item's product: Zipf popularity restricted to products whose list price is
    at most ``1.5 * target`` (price-sorted catalogue, so the eligible set is a prefix)."""
    n_lines = target.size
    n_eligible = np.maximum(np.searchsorted(cat.sorted_price, 1.5 * target, side="right"), 1)
    cdf_cap = cat.sorted_cdf[n_eligible - 1]
    pos = np.searchsorted(cat.sorted_cdf, rng.random(n_lines) * cdf_cap, side="right")
    pos = np.minimum(pos, n_eligible - 1)
    del n_eligible, cdf_cap
    # one line per product and order (so that clean rows are never exact duplicates): a line
    # repeating a product of an earlier line of its order moves to the next pricier product
    line_no = np.arange(n_lines) - line_start[line_ord]
    for _ in range(n_products):
        dup = np.zeros(n_lines, dtype=bool)
        for lag in range(1, int(n_lines_o.max(initial=1))):
            dup[lag:] |= (pos[lag:] == pos[:-lag]) & (line_no[lag:] >= lag)
        if not dup.any():
            break
        pos[dup] = (pos[dup] + 1) % n_products
    return cat.price_order[pos]


def simulate_chunk(
    cfg: GeneratorConfig,
    cat: Catalogue,
    chunk_index: int,
    first_number: int,
    n: int,
    order_offset: int,
    events_sink: EventsSink | None = None,
    cc: CategoryCatalogue | None = None,
) -> Chunk:
    """Simulate customers ``first_number .. first_number + n - 1`` and their transactions
    (and events and feedback if the run asks for them; with ``events_sink`` each block of
    events goes there as soon as it is drawn instead of into the chunk; with the catalogue's
    categories ``cc`` each customer's line items follow a category profile)."""
    prm, st, season = cfg.params, cfg.settings, cfg.season
    ss = np.random.SeedSequence(cfg.seed, spawn_key=(1, chunk_index))
    rng_attr, rng_proc, rng_order, rng_cancel, rng_dirty = (
        np.random.default_rng(s) for s in ss.spawn(5)
    )
    window_s = cfg.window_days * SECONDS_PER_DAY
    numbers = np.arange(first_number, first_number + n, dtype=np.int64)
    mix = None if cc is None else draw_customer_mix(cfg, chunk_index, n)

    # ---- acquisition and first purchase --------------------------------------------------
    op_window = float(season.to_operational(np.array([float(cfg.window_days)]))[0])
    t_signup = season.to_calendar(rng_attr.random(n) * op_window)
    signup_day = np.clip(np.floor(t_signup), 0, cfg.window_days - 1).astype(np.int64)
    potential = rng_attr.random(n) < cfg.potential_share
    same_day = rng_attr.random(n) < st.same_day_first_purchase
    delay = np.minimum(rng_attr.geometric(st.delay_geometric_p, n), st.max_delay_days)
    delay = np.where(same_day, 0, delay)
    # time of day of the first purchase: daytime peak and evening peak
    evening = rng_attr.random(n) < 0.35
    day_hour = 13.0 + 2.5 * rng_attr.standard_normal(n)
    hour = np.where(evening, 19.5 + 1.5 * rng_attr.standard_normal(n), day_hour)
    tod_s = np.floor(np.mod(hour, 24.0) * 3600.0).astype(np.int64)
    first_s = (signup_day + delay) * SECONDS_PER_DAY + tod_s  # seconds since window start
    purchaser = ~potential & (first_s < window_s)

    # ---- BG/NBD latent traits and repeat purchases ----------------------------------------
    lam = rng_proc.gamma(prm.r, 1.0 / prm.alpha, n)
    p_drop = np.clip(rng_proc.beta(prm.a, prm.b, n), 1e-12, 1.0)
    nu = rng_proc.gamma(prm.q, 1.0 / prm.gamma, n)
    dropout_after = rng_proc.geometric(p_drop)  # dies right after this repeat purchase
    first_t = first_s / SECONDS_PER_DAY
    first_tau = season.to_operational(first_t)
    t_obs_op = np.where(purchaser, op_window - first_tau, 0.0)
    n_poisson = rng_proc.poisson(lam * t_obs_op)
    n_repeat = np.minimum(n_poisson, dropout_after)
    remainder = rng_proc.standard_gamma((n_poisson - n_repeat + 1).astype(np.float64))
    gaps = rng_proc.standard_exponential(int(n_repeat.sum()))
    alive_at_end = purchaser & (n_poisson < dropout_after)
    last_s = first_s.copy()

    rep_cust = np.repeat(np.arange(n), n_repeat)
    csum = np.concatenate(([0.0], np.cumsum(gaps)))
    rep_start = _segment_starts(n_repeat)
    s_k = csum[1:] - csum[rep_start][rep_cust]
    s_m = csum[rep_start + n_repeat] - csum[rep_start]
    u_k = s_k / (s_m + remainder)[rep_cust]
    off_op = u_k * t_obs_op[rep_cust]
    if season.amplitude == 0.0:
        rep_s = first_s[rep_cust] + np.floor(off_op * SECONDS_PER_DAY).astype(np.int64)
    else:
        rep_t = season.to_calendar(first_tau[rep_cust] + off_op)
        rep_s = np.floor(rep_t * SECONDS_PER_DAY).astype(np.int64)
        rep_s = np.maximum(rep_s, first_s[rep_cust])
    rep_s = np.minimum(rep_s, window_s - 1)
    has_repeat = n_repeat > 0
    last_s[has_repeat] = rep_s[(rep_start + n_repeat - 1)[has_repeat]]

    # ---- orders, numbered in timestamp order (ties: customer number, then sequence) -------
    n_orders_c = np.where(purchaser, 1 + n_repeat, 0)
    n_orders = int(n_orders_c.sum())
    ord_cust = np.repeat(np.arange(n), n_orders_c)
    is_first = np.zeros(n_orders, dtype=bool)
    is_first[_segment_starts(n_orders_c)[purchaser]] = True
    ord_s = np.empty(n_orders, dtype=np.int64)
    ord_s[is_first] = first_s[purchaser]
    ord_s[~is_first] = rep_s
    del is_first, rep_s, rep_cust, s_k, u_k, off_op, gaps, csum
    order_perm = np.argsort(ord_s, kind="stable")
    ord_s = ord_s[order_perm]
    ord_cust = ord_cust[order_perm]
    del order_perm

    # channel: preferred channel tied to the acquisition channel, plus channel loyalty
    acq = _categorical(rng_attr, ACQUISITION_WEIGHTS, n)
    pref_cdf = np.cumsum(np.asarray(PREFERRED_CHANNEL_GIVEN_ACQUISITION), axis=1)
    pref = (rng_order.random(n)[:, None] > pref_cdf[acq][:, :-1]).sum(axis=1)
    pure = rng_order.random(n) < st.pure_channel_share
    loyalty = np.where(pure, 1.0, rng_order.beta(*st.loyalty_beta, n))
    on_pref = rng_order.random(n_orders) < loyalty[ord_cust]
    other = (pref[ord_cust] + 1 + (rng_order.random(n_orders) < 0.5)) % 3
    ord_channel = np.where(on_pref, pref[ord_cust], other).astype(np.int8)
    del on_pref, other

    # Gamma-Gamma order value, split over Zipf-popular line items; since orders are in
    # timestamp order, line items come out sorted by (order_ts, order_id, line number)
    order_value = rng_order.gamma(prm.p, 1.0 / nu[ord_cust])
    extra = rng_order.poisson(st.extra_lines_mean, n_orders)
    n_lines_o = 1 + np.minimum(extra, st.max_lines - 1)
    n_lines = int(n_lines_o.sum())
    line_ord = np.repeat(np.arange(n_orders), n_lines_o)
    line_start = _segment_starts(n_lines_o)
    share = rng_order.standard_gamma(st.line_share_shape, n_lines)
    share /= np.bincount(line_ord, weights=share, minlength=n_orders)[line_ord]
    target = order_value[line_ord] * share
    del share, order_value
    if mix is None or cc is None:
        prod = _popular_products(
            rng_order, cat, st.n_products, target, n_lines_o, line_ord, line_start
        )
    else:
        # the categories' own stream: every draw above (and below) is what it is without them
        prod, line_category, line_need = draw_line_products(
            cc,
            cfg.categories,
            mix,
            ord_cust[line_ord],
            target,
            line_ord,
            line_start,
            st.max_lines,
        )
    qty = np.clip(np.rint(target / cat.price[prod]), 1, st.max_quantity).astype(np.int64)
    unit_c = np.maximum(np.rint(target * 100.0 / qty), 1).astype(np.int64)
    del target

    # ---- cancellations ------------------------------------------------------------------
    c_ord = np.flatnonzero(rng_cancel.random(n_orders) < st.cancel_rate)
    c_line = line_start[c_ord] + np.floor(rng_cancel.random(c_ord.size) * n_lines_o[c_ord])
    c_line = c_line.astype(np.int64)
    c_qty = 1 + np.floor(rng_cancel.random(c_ord.size) * qty[c_line]).astype(np.int64)
    lo, hi = st.cancel_delay_days
    c_delay = np.floor((lo + (hi - lo) * rng_cancel.random(c_ord.size)) * SECONDS_PER_DAY)
    c_s = ord_s[c_ord] + c_delay.astype(np.int64)
    keep = c_s < window_s
    c_perm = np.lexsort((c_ord[keep], c_s[keep]))
    c_line, c_qty, c_s = c_line[keep][c_perm], c_qty[keep][c_perm], c_s[keep][c_perm]
    n_cancel = int(c_s.size)

    # ---- assemble rows: merge the (few) cancellations into the sorted line items ----------
    line_s = ord_s[line_ord]
    n_rows = n_lines + n_cancel
    is_cancel = np.zeros(n_rows, dtype=bool)
    is_cancel[np.searchsorted(line_s, c_s, side="right") + np.arange(n_cancel)] = True
    r_line = np.empty(n_rows, dtype=np.int64)
    r_line[~is_cancel] = np.arange(n_lines)
    r_line[is_cancel] = c_line
    r_s = np.empty(n_rows, dtype=np.int64)
    r_s[~is_cancel] = line_s
    r_s[is_cancel] = c_s
    r_qty = np.empty(n_rows, dtype=np.int64)
    r_qty[~is_cancel] = qty
    r_qty[is_cancel] = -c_qty
    del line_s, qty
    r_ord = line_ord[r_line]
    r_cust = ord_cust[r_ord]
    r_unit = unit_c[r_line]

    # ---- customer attributes ------------------------------------------------------------
    customer_id = _zfill(numbers, cfg.id_width, "C").alias("customer_id")
    country_idx = _categorical(rng_attr, tuple(c[2] for c in COUNTRIES), n)
    country_s = pl.Series([c[0] for c in COUNTRIES], dtype=pl.String)
    region_s = pl.Series([c[1] for c in COUNTRIES], dtype=pl.String)
    gender = _categorical(rng_attr, GENDER_WEIGHTS, n)
    first_names = pl.Series(names.FIRST_NAMES_F + names.FIRST_NAMES_M, dtype=pl.String)
    n_f, n_m = len(names.FIRST_NAMES_F), len(names.FIRST_NAMES_M)
    u_name = rng_attr.random(n)
    first_idx = np.where(
        gender == 0,
        np.floor(u_name * n_f),
        np.where(gender == 1, n_f + np.floor(u_name * n_m), np.floor(u_name * (n_f + n_m))),
    ).astype(np.int64)
    last_idx = rng_attr.integers(0, len(names.LAST_NAMES), n)
    domain_idx = rng_attr.integers(0, len(names.EMAIL_DOMAINS), n)
    phone_tail = rng_attr.integers(0, 100, n)
    age = st.age_min + (st.age_max - st.age_min) * rng_attr.beta(*st.age_beta, n)
    signup_epoch_day = (cfg.start - dt.date(1970, 1, 1)).days + signup_day
    birth_epoch_day = signup_epoch_day - np.ceil(age * 365.25).astype(np.int64)
    # income: log-normal, Gaussian-copula correlated with the customer's mean order value
    z_spend = -special.ndtri(np.clip(special.gammainc(prm.q, prm.gamma * nu), 1e-15, 1 - 1e-15))
    rho = st.income_spend_corr
    z_inc = rho * z_spend + math.sqrt(1.0 - rho * rho) * rng_attr.standard_normal(n)
    income = np.round(np.exp(math.log(st.income_median) + st.income_sigma * z_inc), 2)
    # industry: business customers are more frequent buyers and come through agents/partners
    u_rate = special.gammainc(prm.r, prm.alpha * lam)
    p_b2b = st.b2b_base + st.b2b_rate_slope * u_rate + st.b2b_agent_partner * np.isin(acq, (2, 4))
    is_b2b = rng_attr.random(n) < p_b2b
    b2b_idx = _categorical(rng_attr, tuple(w for _, w in B2B_INDUSTRIES), n)
    industries = pl.Series([CONSUMER_INDUSTRY] + [i for i, _ in B2B_INDUSTRIES], dtype=pl.String)
    industry_idx = np.where(is_b2b, 1 + b2b_idx, 0)

    first_name = first_names.gather(first_idx)
    last_name = pl.Series(names.LAST_NAMES, dtype=pl.String).gather(last_idx)
    customers = pl.DataFrame(
        {
            "customer_id": customer_id,
            "_first": first_name,
            "_last": last_name,
            "_num": pl.Series(numbers).cast(pl.String),
            "_domain": pl.Series(names.EMAIL_DOMAINS, dtype=pl.String).gather(domain_idx),
            "_phone": _zfill(phone_tail, 2),
            "signup_date": pl.Series(signup_epoch_day.astype(np.int32)).cast(pl.Date),
            "birth_date": pl.Series(birth_epoch_day.astype(np.int32)).cast(pl.Date),
            "gender": pl.Series(GENDERS, dtype=pl.String).gather(gender),
            "income": income,
            "region": region_s.gather(country_idx),
            "country": country_s.gather(country_idx),
            "industry": industries.gather(industry_idx),
            "acquisition_channel": pl.Series(ACQUISITION_CHANNELS).gather(acq),
        }
    ).select(
        "customer_id",
        pl.concat_str(["_first", "_last"], separator=" ").alias("name"),
        pl.concat_str(
            [
                pl.col("_first").str.to_lowercase(),
                pl.lit("."),
                pl.col("_last").str.to_lowercase(),
                pl.col("_num"),
                pl.lit("@"),
                pl.col("_domain"),
            ]
        ).alias("email"),
        ("+1-555-01" + pl.col("_phone")).alias("phone"),
        *list(CUSTOMER_SCHEMA)[4:],
    )
    if mix is not None:
        customers = customers.with_columns(survey_answers(mix))

    # ---- transactions frame -------------------------------------------------------------
    ts_us = (cfg.start_epoch_s + r_s) * 1_000_000
    order_digits = _zfill(order_offset + 1 + r_ord, ORDER_ID_WIDTH)
    transactions = pl.DataFrame(
        {
            "customer_id": customer_id.gather(r_cust),
            "order_id": order_digits,
            "order_ts": pl.Series(ts_us).cast(pl.Datetime("us")),
            "product_id": cat.ids.gather(prod[r_line]),
            "quantity": pl.Series(r_qty.astype(np.int32)),
            "unit_price": r_unit / 100.0,
            "amount": (r_qty * r_unit) / 100.0,
            "channel": pl.Series(CHANNELS, dtype=pl.String).gather(ord_channel[r_ord]),
            "country": country_s.gather(country_idx[r_cust]),
        },
        schema=TRANSACTION_SCHEMA,
    )
    if n_cancel:
        transactions = transactions.with_columns(
            pl.when(pl.Series(is_cancel))
            .then("C" + pl.col("order_id"))
            .otherwise(pl.col("order_id"))
            .alias("order_id")
        )

    dirty_counts = dict.fromkeys(DIRTY_KINDS, 0)
    if cfg.dirty_rate > 0.0:
        transactions, dirty_counts = add_dirty_rows(transactions, rng_dirty, cfg.dirty_rate)

    # ---- latent truth -------------------------------------------------------------------
    first_ts_us = np.where(purchaser, (cfg.start_epoch_s + first_s) * 1_000_000, 0)
    last_ts_us = np.where(purchaser, (cfg.start_epoch_s + last_s) * 1_000_000, 0)
    latent = pl.DataFrame(
        {
            "customer_id": customer_id,
            "is_potential": potential,
            "is_purchaser": purchaser,
            "first_purchase_ts": pl.Series(first_ts_us).cast(pl.Datetime("us")),
            "last_purchase_ts": pl.Series(last_ts_us).cast(pl.Datetime("us")),
            "t_x_days": (last_s - first_s) / SECONDS_PER_DAY,
            "T_days": (window_s - first_s) / SECONDS_PER_DAY,
            "T_operational": t_obs_op,
            "lam": lam,
            "p_dropout": p_drop,
            "nu": nu,
            "dropout_after": dropout_after,
            "n_repeat": np.where(purchaser, n_repeat, 0),
            "alive_at_end": alive_at_end,
            "preferred_channel": pl.Series(CHANNELS, dtype=pl.String).gather(pref),
            "channel_loyalty": loyalty,
        }
    ).with_columns(
        pl.when(pl.col("is_purchaser")).then(pl.col(c)).alias(c)
        for c in (
            "first_purchase_ts",
            "last_purchase_ts",
            "t_x_days",
            "T_days",
            "T_operational",
            "alive_at_end",
        )
    )

    counts = {
        "customers": n,
        "potential_customers": int(potential.sum()),
        "late_signups_without_purchase": int((~potential & ~purchaser).sum()),
        "purchasing_customers": int(purchaser.sum()),
        "orders": n_orders,
        "repeat_orders": int(n_orders - purchaser.sum()),
        "line_items": n_lines,
        "cancellations": n_cancel,
        "transactions": n_lines + n_cancel,
        "dirty_rows_total": int(sum(dirty_counts.values())),
        "rows_written": transactions.height,
        "alive_at_end": int(alive_at_end.sum()),
        **{f"dirty_{k}": v for k, v in dirty_counts.items()},
    }
    chunk = Chunk(customers, transactions, latent, counts)
    if mix is not None:
        chunk.latent = pl.concat([latent, mix_latent(mix)], how="horizontal")
        chunk.category_counts = mix_counts(mix, ord_cust[line_ord], line_category, line_need)
    if cfg.with_voice:
        # drawn after everything above and from streams of its own: the purchases stay put
        proc = Process(
            customer_id=customer_id,
            signup_s=signup_day * SECONDS_PER_DAY,
            potential=potential,
            purchaser=purchaser,
            first_s=first_s,
            dead=purchaser & ~alive_at_end,
            last_s=last_s,
            lam=lam,
            p_dropout=p_drop,
            order_customer=ord_cust,
            order_s=ord_s,
            order_channel=ord_channel,
            order_lines=n_lines_o,
            order_first_line=line_start,
            line_product=prod,
        )
        voice = simulate_voice(cfg, cat, chunk_index, proc, events_sink)
        chunk.latent = pl.concat([latent, voice.latent], how="horizontal")
        chunk.events, chunk.feedback, chunk.voice_counts = (
            voice.events,
            voice.feedback,
            voice.counts,
        )
    return chunk
