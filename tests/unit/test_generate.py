"""Tests of the seeded synthetic data generator (:mod:`synthetic.generate`)."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from scipy.special import hyp2f1

from synthetic import generate as gen
from synthetic.generate import DIRTY_KINDS, Simulation, simulate, write
from synthetic.season import Season

END_EXCLUSIVE = dt.datetime(2012, 1, 1)


@pytest.fixture(scope="module")
def sim() -> Simulation:
    """Default settings (seasonality 0.2), several chunks."""
    return simulate(6_000, seed=11, chunk_customers=2_500)


@pytest.fixture(scope="module")
def sim_exact() -> Simulation:
    """Seasonality 0: exactly BG/NBD / Gamma-Gamma in calendar days."""
    return simulate(40_000, seed=2024, seasonality=0.0)


def purchases(transactions: pl.DataFrame) -> pl.DataFrame:
    return transactions.filter(~pl.col("order_id").str.starts_with("C"))


def orders(transactions: pl.DataFrame) -> pl.DataFrame:
    return (
        purchases(transactions)
        .group_by("order_id")
        .agg(
            pl.col("customer_id").first(),
            pl.col("order_ts").first(),
            pl.col("amount").sum(),
            pl.col("customer_id").n_unique().alias("n_cust"),
            pl.col("order_ts").n_unique().alias("n_ts"),
            pl.col("channel").n_unique().alias("n_channel"),
        )
    )


def bgnbd_expected_repeats(t: np.ndarray, r: float, alpha: float, a: float, b: float):
    """E[X(t)] of the BG/NBD (Fader, Hardie & Lee 2005, eq. 9); requires a != 1."""
    z = t / (alpha + t)
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))


# ---------------------------------------------------------------------------------------------
# determinism


def test_same_seed_gives_identical_frames(sim: Simulation) -> None:
    again = simulate(6_000, seed=11, chunk_customers=2_500)
    assert_frame_equal(sim.customers, again.customers)
    assert_frame_equal(sim.transactions, again.transactions)
    assert_frame_equal(sim.latent, again.latent)
    assert sim.true_params == again.true_params


def test_different_seed_gives_different_data(sim: Simulation) -> None:
    other = simulate(6_000, seed=12, chunk_customers=2_500)
    assert not sim.customers.equals(other.customers)
    assert not sim.transactions.equals(other.transactions)
    assert other.true_params["seed"] == 12


def test_chunked_write_equals_in_memory_simulation(tmp_path: Path) -> None:
    kwargs = dict(seed=5, seasonality=0.3, dirty_rate=0.01, chunk_customers=1_500)
    params = write(tmp_path / "a", 4_000, **kwargs)
    mem = simulate(4_000, **kwargs)

    parts = sorted((tmp_path / "a" / "transactions").glob("part-*.parquet"))
    assert [p.name for p in parts] == [f"part-{i:05d}.parquet" for i in range(3)]
    tx = pl.concat([pl.read_parquet(p) for p in parts])
    assert_frame_equal(tx, mem.transactions)
    assert_frame_equal(pl.read_parquet(tmp_path / "a" / "customers.parquet"), mem.customers)
    stored = json.loads((tmp_path / "a" / "true_params.json").read_text())
    assert stored == params == mem.true_params
    assert stored["counts"]["rows_written"] == tx.height
    assert stored["counts"]["customers"] == 4_000

    # same arguments -> byte-identical files
    write(tmp_path / "b", 4_000, **kwargs)
    for p in [*parts, tmp_path / "a" / "customers.parquet", tmp_path / "a" / "true_params.json"]:
        twin = tmp_path / "b" / p.relative_to(tmp_path / "a")
        assert p.read_bytes() == twin.read_bytes(), p.name


def test_customer_numbering_continues_across_chunks() -> None:
    small = simulate(2_300, seed=3, chunk_customers=1_000)
    assert small.customers["customer_id"].to_list() == [f"C{i:06d}" for i in range(1, 2_301)]
    order_no = orders(small.transactions)["order_id"].cast(pl.Int64).sort()
    assert order_no.to_list() == list(range(1, order_no.len() + 1))


# ---------------------------------------------------------------------------------------------
# structural validity


def test_schemas(sim: Simulation) -> None:
    assert sim.customers.schema == pl.Schema(gen.CUSTOMER_SCHEMA)
    assert sim.transactions.schema == pl.Schema(gen.TRANSACTION_SCHEMA)


def test_potential_customers_never_purchase(sim: Simulation) -> None:
    latent = sim.latent
    potential = latent.filter("is_potential")["customer_id"]
    share = potential.len() / latent.height
    assert 0.06 < share < 0.10
    assert not sim.transactions["customer_id"].is_in(potential.implode()).any()
    buyers = sim.transactions["customer_id"].unique()
    expected = latent.filter("is_purchaser")["customer_id"]
    assert buyers.sort().to_list() == expected.sort().to_list()
    assert sim.true_params["counts"]["purchasing_customers"] == buyers.len()
    assert sim.true_params["counts"]["potential_customers"] == potential.len()


def test_referential_integrity_and_window(sim: Simulation) -> None:
    tx = sim.transactions
    assert tx["customer_id"].is_in(sim.customers["customer_id"].implode()).all()
    assert tx["order_ts"].min() >= dt.datetime(2010, 1, 1)
    assert tx["order_ts"].max() < END_EXCLUSIVE
    assert (tx["order_ts"].dt.microsecond() == 0).all()
    first = (
        purchases(tx)
        .group_by("customer_id")
        .agg(pl.col("order_ts").min().alias("first"))
        .join(sim.customers.select("customer_id", "signup_date"), on="customer_id")
    )
    assert (first["first"].dt.date() >= first["signup_date"]).all()
    # customers keep arriving: first purchases in every quarter of the window
    quarters = first["first"].dt.year() * 10 + first["first"].dt.quarter()
    assert quarters.n_unique() == 8
    # the same country on transactions and customers
    joined = tx.join(sim.customers.select("customer_id", "country"), on="customer_id")
    assert (joined["country"] == joined["country_right"]).all()


def test_orders_and_amounts(sim: Simulation) -> None:
    tx = sim.transactions
    per_order = orders(tx)
    assert (per_order["n_cust"] == 1).all()
    assert (per_order["n_ts"] == 1).all()
    assert (per_order["n_channel"] == 1).all()
    assert per_order.height == sim.true_params["counts"]["orders"]
    assert (purchases(tx)["quantity"] > 0).all()
    assert (tx["unit_price"] >= 0.01).all()
    # amount == quantity * unit_price to the cent, prices in whole cents
    assert ((tx["unit_price"] * 100).round(6) % 1 == 0).all()
    assert ((tx["quantity"] * tx["unit_price"] - tx["amount"]).abs() < 1e-6).all()
    # clean rows are unique and sorted by timestamp within each chunk (= Parquet part)
    assert tx.is_unique().all()
    chunk = (pl.col("customer_id").str.slice(1).cast(pl.Int64) - 1) // 2_500
    parts = tx.with_columns(chunk.alias("chunk")).partition_by("chunk", maintain_order=True)
    assert len(parts) == 3
    assert all(part["order_ts"].is_sorted() for part in parts)
    assert tx.select(pl.struct("order_id", "product_id").is_unique().all()).item()
    lines = purchases(tx).group_by("order_id").len()["len"]
    assert lines.min() >= 1 and lines.max() <= gen.Settings().max_lines
    assert set(tx["channel"].unique()) == set(gen.CHANNELS)


def test_cancellations(sim: Simulation) -> None:
    tx = sim.transactions
    cancels = tx.filter(pl.col("order_id").str.starts_with("C"))
    n_orders = sim.true_params["counts"]["orders"]
    assert cancels.height == sim.true_params["counts"]["cancellations"]
    assert 0.01 < cancels.height / n_orders < 0.03
    assert (cancels["quantity"] < 0).all() and (cancels["amount"] < 0).all()
    assert cancels["order_id"].is_unique().all()
    original = purchases(tx).rename({"order_ts": "orig_ts", "quantity": "orig_qty"})
    matched = cancels.with_columns(pl.col("order_id").str.slice(1)).join(
        original, on=["order_id", "customer_id", "product_id", "unit_price", "channel"]
    )
    assert matched.height == cancels.height
    delay = matched["order_ts"] - matched["orig_ts"]
    assert (delay >= dt.timedelta(hours=12)).all() and (delay <= dt.timedelta(days=14)).all()
    assert (-matched["quantity"] <= matched["orig_qty"]).all()


def test_customer_attributes(sim: Simulation) -> None:
    c = sim.customers
    assert c["customer_id"].is_unique().all()
    assert c["email"].is_unique().all()
    assert c["email"].str.contains(r"^[a-z]+\.[a-z]+\d+@example\.(com|org|net)$").all()
    assert c["phone"].str.contains(r"^\+1-555-01\d\d$").all()
    assert c["name"].str.contains(r"^[A-Z][a-z]+ [A-Z][A-Za-z]+$").all()
    age_days = (c["signup_date"] - c["birth_date"]).dt.total_days()
    assert age_days.min() >= 18 * 365 and age_days.max() <= 86 * 365.25
    assert c["signup_date"].min() >= dt.date(2010, 1, 1)
    assert c["signup_date"].max() <= dt.date(2011, 12, 31)
    assert set(c["gender"].unique()) == {"F", "M", "X"}
    assert (c["income"] > 0).all()
    region_of = {country: region for country, region, _ in gen.COUNTRIES}
    pairs = c.select("country", "region").unique().rows()
    assert all(region_of[country] == region for country, region in pairs)
    assert c["country"].n_unique() == len(gen.COUNTRIES)
    assert set(c["acquisition_channel"].unique()) == set(gen.ACQUISITION_CHANNELS)
    industries = c["industry"].value_counts(normalize=True)
    consumer = industries.filter(pl.col("industry") == "consumer")["proportion"].item()
    assert 0.6 < consumer < 0.9 and industries.height == 1 + len(gen.B2B_INDUSTRIES)


def test_channel_mix(sim: Simulation) -> None:
    per_order = purchases(sim.transactions).unique("order_id").select("customer_id", "channel")
    pref = sim.latent.select("customer_id", "preferred_channel")
    joined = per_order.join(pref, on="customer_id")
    on_pref = (joined["channel"] == joined["preferred_channel"]).mean()
    assert 0.75 < on_pref < 0.95
    n_channels = joined.group_by("customer_id").agg(pl.col("channel").n_unique())["channel"]
    assert (n_channels == 1).any() and (n_channels >= 2).mean() > 0.1


# ---------------------------------------------------------------------------------------------
# dirty rows


def test_dirty_rows_are_counted_and_the_rest_is_clean() -> None:
    kwargs = dict(seed=9, chunk_customers=2_000)
    dirty = simulate(5_000, dirty_rate=0.01, **kwargs)
    clean = simulate(5_000, dirty_rate=0.0, **kwargs)
    tx = dirty.transactions
    assert all(dtype == pl.String for dtype in tx.schema.values())
    expected = dirty.true_params["dirty_rows"]
    assert set(expected) == set(DIRTY_KINDS)
    assert all(expected[k] > 0 for k in DIRTY_KINDS)
    assert sum(expected.values()) == tx.height - clean.transactions.height
    assert dirty.true_params["counts"]["dirty_rows_total"] == sum(expected.values())

    ts = pl.col("order_ts").str.strptime(pl.Datetime("us"), gen.TIMESTAMP_FORMAT, strict=False)
    flagged = tx.with_columns(
        _missing=pl.col("customer_id").is_null(),
        _bad_ts=ts.is_null(),
        _future=ts.dt.year() >= 2099,
        _old=ts.dt.year() < 1970,
        _bad_qty=pl.col("quantity").cast(pl.Int64, strict=False).is_null(),
    )
    found = {
        "missing_customer_id": flagged["_missing"].sum(),
        "bad_timestamp": flagged["_bad_ts"].sum(),
        "future_timestamp": flagged["_future"].sum(),
        "pre_1970_timestamp": flagged["_old"].sum(),
        "bad_quantity": flagged["_bad_qty"].sum(),
    }
    flags = ["_missing", "_bad_ts", "_future", "_old", "_bad_qty"]
    one_flag_each = flagged.select(pl.sum_horizontal(flags).max()).item()
    assert one_flag_each == 1  # every corrupted row has exactly one defect
    rest = flagged.filter(~pl.any_horizontal(flags)).drop(flags)
    found["duplicate"] = rest.height - rest.unique().height
    assert found == expected

    # what is left after removing the dirty rows is exactly the clean data, rendered as text
    cleaned = rest.unique(maintain_order=True)
    assert_frame_equal(cleaned, gen.transactions_as_strings(clean.transactions))
    # dirty rows do not change the clean data or the other counts
    assert_frame_equal(dirty.customers, clean.customers)
    for key in ("orders", "transactions", "cancellations", "purchasing_customers"):
        assert dirty.true_params["counts"][key] == clean.true_params["counts"][key]


def test_typed_round_trip_of_string_rendering(sim: Simulation) -> None:
    text = gen.transactions_as_strings(sim.transactions)
    back = text.with_columns(
        pl.col("order_ts").str.strptime(pl.Datetime("us"), gen.TIMESTAMP_FORMAT),
        pl.col("quantity").cast(pl.Int32),
        pl.col("unit_price").cast(pl.Float64),
        pl.col("amount").cast(pl.Float64),
    )
    assert_frame_equal(back, sim.transactions)


# ---------------------------------------------------------------------------------------------
# the stochastic process


def test_true_params_file_contents(sim: Simulation) -> None:
    tp = sim.true_params
    defaults = gen.ProcessParams()
    assert tp["bgnbd"] == {"r": defaults.r, "alpha": defaults.alpha, "a": defaults.a, "b": 5.0}
    assert tp["gamma_gamma"] == {"p": defaults.p, "q": defaults.q, "gamma": defaults.gamma}
    assert tp["time_unit"] == "days"
    assert tp["window"] == {
        "start": "2010-01-01",
        "end": "2011-12-31",
        "end_exclusive": "2012-01-01",
        "days": 730,
    }
    assert tp["seasonality"]["amplitude"] == 0.2 and tp["seed"] == 11
    c = tp["counts"]
    assert c["customers"] == sim.customers.height == 6_000
    assert c["transactions"] == sim.transactions.height == c["line_items"] + c["cancellations"]
    assert c["repeat_orders"] == c["orders"] - c["purchasing_customers"]
    assert c["customers"] == (
        c["potential_customers"] + c["purchasing_customers"] + c["late_signups_without_purchase"]
    )
    json.dumps(tp)  # machine readable


def test_params_override() -> None:
    nested = simulate(500, seed=1, params={"bgnbd": {"r": 0.7}, "gamma_gamma": {"gamma": 20}})
    flat = simulate(500, seed=1, params={"r": 0.7, "gamma": 20})
    assert nested.true_params["bgnbd"]["r"] == 0.7
    assert nested.true_params["gamma_gamma"]["gamma"] == 20
    assert_frame_equal(nested.transactions, flat.transactions)
    with pytest.raises(ValueError, match="unknown"):
        simulate(10, params={"beta": 1.0})
    with pytest.raises(ValueError):
        simulate(10, seasonality=1.0)


def test_repeat_purchases_match_bgnbd_expectation(sim_exact: Simulation) -> None:
    """Mean repeat count and P(no repeat) agree with the closed forms of the BG/NBD."""
    tp = sim_exact.true_params["bgnbd"]
    r, alpha, a, b = tp["r"], tp["alpha"], tp["a"], tp["b"]
    per_customer = (
        orders(sim_exact.transactions)
        .group_by("customer_id")
        .agg((pl.len() - 1).alias("x"), pl.col("order_ts").min().alias("first"))
        .with_columns(T=(pl.lit(END_EXCLUSIVE) - pl.col("first")).dt.total_seconds() / 86_400)
    )
    x = per_customer["x"].to_numpy().astype(float)
    t_obs = per_customer["T"].to_numpy()
    assert len(x) > 30_000

    expected = bgnbd_expected_repeats(t_obs, r, alpha, a, b)
    se = np.std(x - expected, ddof=1) / math.sqrt(len(x))
    assert abs(x.mean() - expected.mean()) < 4 * se
    assert 4 * se < 0.05 * expected.mean()  # the test is sharp: a 5% error would fail it

    # no dropout at the first purchase: P(X(T) = 0) = (alpha / (alpha + T)) ** r
    p0 = (alpha / (alpha + t_obs)) ** r
    zero = (x == 0).astype(float)
    se0 = math.sqrt(np.sum(p0 * (1 - p0))) / len(x)
    assert abs(zero.mean() - p0.mean()) < 4 * se0
    assert 4 * se0 < 0.05 * p0.mean()

    # observation lengths in the latent truth are the ones used here
    latent = sim_exact.latent.filter("is_purchaser").sort("customer_id")
    joined = per_customer.sort("customer_id")
    assert np.allclose(latent["T_days"].to_numpy(), joined["T"].to_numpy())
    assert (latent["n_repeat"].to_numpy() == joined["x"].to_numpy()).all()


def test_order_values_match_gamma_gamma(sim_exact: Simulation) -> None:
    """Each customer's mean order value has expectation p * gamma / (q - 1); customers are
    independent, so the average over customers has an honest standard error."""
    gg = sim_exact.true_params["gamma_gamma"]
    per_customer = (
        orders(sim_exact.transactions).group_by("customer_id").agg(pl.col("amount").mean())
    )["amount"].to_numpy()
    expected = gg["p"] * gg["gamma"] / (gg["q"] - 1)
    se = per_customer.std(ddof=1) / math.sqrt(len(per_customer))
    assert abs(per_customer.mean() - expected) < 4 * se
    assert 4 * se < 0.05 * expected


def test_revenue_is_concentrated(sim_exact: Simulation) -> None:
    revenue = (
        sim_exact.transactions.group_by("customer_id").agg(pl.col("amount").sum())["amount"]
    ).to_numpy()
    revenue = np.sort(revenue)[::-1]
    top = revenue[: len(revenue) // 5].sum() / revenue.sum()
    assert 0.6 < top < 0.8


def test_purchases_per_customer_are_realistic(sim_exact: Simulation) -> None:
    lat = sim_exact.latent.filter("is_purchaser")
    two_years = lat.filter(pl.col("T_days") > 700)["n_repeat"].mean() + 1
    assert 7 < two_years < 12
    assert 4 < lat["n_repeat"].mean() + 1 < 8


def test_seasonality_peaks_in_november_december() -> None:
    def q4_share(sim_: Simulation) -> float:
        ts = orders(sim_.transactions)["order_ts"]
        return float(ts.dt.month().is_in([11, 12]).mean())

    flat = simulate(8_000, seed=4, seasonality=0.0)
    seasonal = simulate(8_000, seed=4, seasonality=0.5)
    assert q4_share(seasonal) > q4_share(flat) + 0.05
    assert (seasonal.transactions["order_ts"] < END_EXCLUSIVE).all()


@pytest.mark.parametrize("amplitude", [0.0, 0.2, 0.9])
def test_time_warp_is_inverted_exactly(amplitude: float) -> None:
    season = Season(amplitude, 334.0, 365.25)
    t = np.linspace(0.0, 730.0, 50_001)
    tau = season.to_operational(t)
    assert np.all(np.diff(tau) > 0)
    assert np.max(np.abs(season.to_calendar(tau) - t)) < 1e-9
    assert abs(season.to_operational(np.array([365.25]))[0] - 365.25) < 1e-9


# ---------------------------------------------------------------------------------------------
# CLI


def test_cli_writes_all_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    gen.main(["--customers", "800", "--out", str(out), "--chunk-customers", "300", "-q"])
    assert "800 customers" in capsys.readouterr().out
    params = json.loads((out / "true_params.json").read_text())
    assert params["dirty_rate"] == 0.002 and params["transactions_all_strings"]
    assert len(list((out / "transactions").glob("part-*.parquet"))) == 3
    customers = pl.read_parquet(out / "customers.parquet")
    assert customers.height == 800
    assert list(customers.columns) == list(gen.CUSTOMER_SCHEMA)
    tx = pl.read_parquet(out / "transactions" / "*.parquet")
    assert tx.height == params["counts"]["rows_written"]
