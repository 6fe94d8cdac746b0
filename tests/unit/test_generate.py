"""Tests of the seeded synthetic data generator (:mod:`synthetic.generate`)."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal
from scipy.special import hyp2f1

from segmentation.config import load_config
from synthetic import generate as gen
from synthetic.engagement import EVENT_KINDS, EVENT_VALUES
from synthetic.feedback import FEEDBACK_KINDS
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
    # categories are on by default on the command line: the lifestyle survey comes last
    assert list(customers.columns) == [*gen.CUSTOMER_SCHEMA, "lifestyle"]
    assert (out / "products.csv").is_file()
    tx = pl.read_parquet(out / "transactions" / "*.parquet")
    assert tx.height == params["counts"]["rows_written"]


# ---------------------------------------------------------------------------------------------
# events and feedback beside the purchases

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# the last commit whose generator wrote no events or feedback: its transactions and customers
# files are the reference the generator must still reproduce byte for byte
BEFORE_EVENTS_COMMIT = "084315e1275841fe4d3a49d9f815e9db7cb4c348"
VOICE = dict(with_events=True, with_feedback=True)
EVENT_FILE = re.compile(r"events-(\d{4}-\d{2})-(\d{5})-(\d{3})\.parquet")


@pytest.fixture(scope="module")
def voice_sim() -> Simulation:
    """Events and feedback over several chunks, no dirty rows."""
    return simulate(6_000, seed=21, chunk_customers=2_500, **VOICE)


def typed_feedback(feedback: pl.DataFrame) -> pl.DataFrame:
    return feedback.with_columns(
        pl.col("date").str.strptime(pl.Datetime("us"), gen.TIMESTAMP_FORMAT),
        pl.col("score").cast(pl.Float64),
    )


def ratio_and_se(num: np.ndarray, den: np.ndarray) -> tuple[float, float]:
    """sum(num) / sum(den) over independent customers, with its linearised standard error."""
    ratio = num.sum() / den.sum()
    n = len(num)
    se = math.sqrt(np.sum((num - ratio * den) ** 2) * n / (n - 1)) / den.sum()
    return float(ratio), se


def test_voice_files_have_the_documented_layout(tmp_path: Path) -> None:
    params = write(tmp_path, 3_000, seed=3, chunk_customers=1_200, dirty_rate=0.01, **VOICE)
    files = sorted((tmp_path / "events").iterdir())
    parts = [EVENT_FILE.fullmatch(p.name) for p in files]
    assert all(parts)
    months = {f"{y}-{m:02d}" for y in (2010, 2011) for m in range(1, 13)}
    assert {m.group(1) for m in parts if m} == months
    assert {m.group(2) for m in parts if m} == {"00000", "00001", "00002"}
    for path in files:
        assert pl.read_parquet_schema(path) == gen.EVENT_SCHEMA
    events = pl.read_parquet(tmp_path / "events" / "*.parquet")
    assert events.height == params["engagement"]["counts"]["rows_written"]
    feedback = pl.read_csv(tmp_path / "feedback.csv", infer_schema=False)
    assert feedback.columns == list(gen.FEEDBACK_COLUMNS)
    assert feedback.height == params["feedback"]["counts"]["rows_written"]
    # the files hold what the in-memory simulation holds: events by chunk, block and month
    mem = simulate(3_000, seed=3, chunk_customers=1_200, dirty_rate=0.01, **VOICE)
    chunk_block_month = [(m.group(2), m.group(3), m.group(1)) for m in parts if m]
    by_block = [p for _, p in sorted(zip(chunk_block_month, files, strict=True))]
    assert_frame_equal(pl.concat([pl.read_parquet(p) for p in by_block]), mem.events)
    assert_frame_equal(feedback, mem.feedback)
    assert mem.true_params == params

    # the bundled demo config reads exactly these files, columns and values
    demo = yaml.safe_load((PROJECT_ROOT / "config" / "demo.yaml").read_text())["sources"]
    for name, key in (("events", "engagement"), ("feedback", "feedback")):
        source = params[key]["source"]
        assert demo[name]["path"] == "../data/demo/" + source["path"]
        assert {k: v for k, v in demo[name].items() if k != "path"} == {
            k: v for k, v in source.items() if k != "path"
        }
    (tmp_path / "config").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "demo").symlink_to(tmp_path)
    # as bundled, but for the catalogue: these files are drawn without it
    bundled = yaml.safe_load((PROJECT_ROOT / "config" / "demo.yaml").read_text())
    del bundled["sources"]["products"]
    (tmp_path / "config" / "demo.yaml").write_text(yaml.safe_dump(bundled, sort_keys=False))
    config = load_config(tmp_path / "config" / "demo.yaml")
    assert config.sources.events is not None and config.sources.feedback is not None
    assert len(config.sources.events.files()) == len(files)
    assert set(config.sources.events.event_types.lookup()) <= set(events["event"].unique())


def test_voice_files_are_byte_identical_for_a_seed(tmp_path: Path) -> None:
    kwargs = dict(seed=4, chunk_customers=1_500, dirty_rate=0.01, write_latent=True, **VOICE)
    write(tmp_path / "a", 3_000, **kwargs)
    write(tmp_path / "b", 3_000, **kwargs)
    files = sorted(p for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert {p.name for p in files} >= {"feedback.csv", "latent.parquet", "true_params.json"}
    for path in files:
        twin = tmp_path / "b" / path.relative_to(tmp_path / "a")
        assert path.read_bytes() == twin.read_bytes(), path.name
    assert {p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*")} == {
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
    }


def test_voice_leaves_customers_and_transactions_as_they_were() -> None:
    kwargs = dict(seed=9, chunk_customers=2_000, dirty_rate=0.01)
    plain = simulate(5_000, **kwargs)
    for voiced in (
        simulate(5_000, **kwargs, **VOICE),
        simulate(5_000, **kwargs, **VOICE, satisfaction_effect=False),
    ):
        assert_frame_equal(voiced.customers, plain.customers)
        assert_frame_equal(voiced.transactions, plain.transactions)
        assert_frame_equal(voiced.latent.select(plain.latent.columns), plain.latent)
        assert set(voiced.true_params) - set(plain.true_params) == {
            "satisfaction",
            "engagement",
            "feedback",
        }
        assert {k: voiced.true_params[k] for k in plain.true_params} == plain.true_params
    assert "satisfaction_class" not in plain.latent.columns and plain.events.is_empty()


def test_transactions_match_the_generator_before_events(tmp_path: Path) -> None:
    found = subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "cat-file", "-e", f"{BEFORE_EVENTS_COMMIT}^{{commit}}"],
        capture_output=True,
    )
    if found.returncode != 0:
        pytest.skip("not a git checkout holding the commit before events")
    archive = subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "archive", BEFORE_EVENTS_COMMIT, "synthetic"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tmp_path / "before", filter="data")
    args = ["--customers", "2500", "--seed", "42", "--chunk-customers", "1000", "-q"]
    subprocess.run(
        [sys.executable, "-m", "synthetic.generate", *args, "--out", str(tmp_path / "old")],
        cwd=tmp_path / "before",
        env={**os.environ, "PYTHONPATH": str(tmp_path / "before")},
        check=True,
        capture_output=True,
    )
    # events and feedback on by default; categories change the products, so they are left out
    gen.main([*args, "--no-categories", "--out", str(tmp_path / "new")])
    assert (tmp_path / "new" / "feedback.csv").is_file()
    old = sorted((tmp_path / "old").rglob("*.parquet"))
    assert sorted(str(p.relative_to(tmp_path / "old")) for p in old) == [
        "customers.parquet",
        *(f"transactions/part-0000{i}.parquet" for i in range(3)),
    ]
    for path in old:
        twin = tmp_path / "new" / path.relative_to(tmp_path / "old")
        assert path.read_bytes() == twin.read_bytes(), path.name
    before = json.loads((tmp_path / "old" / "true_params.json").read_text())
    after = json.loads((tmp_path / "new" / "true_params.json").read_text())
    assert {k: after[k] for k in before} == before


def test_events_follow_the_purchases(voice_sim: Simulation) -> None:
    ev, tx, lat = voice_sim.events, voice_sim.transactions, voice_sim.latent
    assert ev.schema == pl.Schema(gen.EVENT_SCHEMA)
    assert ev.is_unique().all()
    assert ev["user_id"].is_in(voice_sim.customers["customer_id"].implode()).all()
    assert ev["ts"].min() >= dt.datetime(2010, 1, 1) and ev["ts"].max() < END_EXCLUSIVE
    counts = voice_sim.true_params["engagement"]["counts"]
    values = dict(zip(EVENT_KINDS, EVENT_VALUES, strict=True))
    assert {k: ev.filter(pl.col("event") == values[k]).height for k in EVENT_KINDS} == {
        k: counts[k] for k in EVENT_KINDS
    }
    by_kind = {k: ev.filter(pl.col("event") == v) for k, v in values.items()}
    email_kinds = ("email_send", "email_open", "email_click", "unsubscribe")
    email = pl.concat([by_kind[k] for k in email_kinds])
    assert (email["channel"] == "email").all() and email["campaign"].is_not_null().all()
    assert email["sku"].is_null().all()
    shop = pl.concat([by_kind["product_view"], by_kind["add_to_cart"]])
    assert shop["sku"].is_not_null().all() and shop["campaign"].is_null().all()
    assert set(shop["channel"].unique()) == {"web", "app"}
    assert by_kind["visit"]["sku"].is_null().all()
    assert set(by_kind["visit"]["channel"].unique()) == {"web", "app", "store", "agent"}

    # every line of an online order was put in the cart minutes before the order
    lines = purchases(tx).filter(
        (pl.col("channel") == "online") & (pl.col("order_ts") >= dt.datetime(2010, 1, 1, 1))
    )
    carts = by_kind["add_to_cart"].select(
        pl.col("user_id").alias("customer_id"), "ts", pl.col("sku").alias("product_id")
    )
    carted = lines.join(carts, on=["customer_id", "product_id"]).filter(
        (pl.col("ts") < pl.col("order_ts"))
        & (pl.col("ts") >= pl.col("order_ts") - dt.timedelta(hours=1))
    )
    assert carted.select("order_id", "product_id").unique().height == lines.height
    # a store or agent order comes with a visit in that channel
    offline = purchases(tx).filter(pl.col("channel") != "online").unique("order_id")
    visits = by_kind["visit"].select(pl.col("user_id").alias("customer_id"), "ts", "channel")
    seen = offline.join(visits, on="customer_id").filter(
        (pl.col("channel_right") == pl.col("channel"))
        & (pl.col("ts") < pl.col("order_ts"))
        & (pl.col("ts") >= pl.col("order_ts") - dt.timedelta(hours=1))
    )
    assert seen["order_id"].n_unique() == offline.height
    # everyone's signup is a visit; browsers who never buy browse and never buy
    assert set(by_kind["visit"]["user_id"].unique()) == set(voice_sim.customers["customer_id"])
    never = lat.filter("is_potential")["customer_id"]
    assert never.len() > 300 and not tx["customer_id"].is_in(never.implode()).any()
    assert by_kind["product_view"]["user_id"].is_in(never.implode()).any()


def test_feedback_follows_orders(voice_sim: Simulation) -> None:
    fb = typed_feedback(voice_sim.feedback)
    counts = voice_sim.true_params["feedback"]["counts"]
    assert {k: fb.filter(pl.col("type") == k).height for k in FEEDBACK_KINDS} == {
        k: counts[k] for k in FEEDBACK_KINDS
    }
    scored = {"nps": (0, 10), "csat": (1, 5), "review": (1, 5)}
    for kind, (lo, hi) in scored.items():
        score = fb.filter(pl.col("type") == kind)["score"]
        assert score.is_not_null().all() and score.min() >= lo and score.max() <= hi
        assert (score == score.round()).all()
    complaints = fb.filter(pl.col("type") == "complaint")
    assert complaints["score"].is_null().all() and complaints["topic"].is_not_null().all()
    # every answer follows one of its customer's orders within the kind's longest delay
    settings = gen.FeedbackSettings()
    longest = {
        "nps": settings.nps_delay_days[1],
        "csat": settings.csat_delay_days[1],
        "review": settings.review_delay_days[1],
        "complaint": settings.complaint_delay_days[1],
    }
    order_ts = orders(voice_sim.transactions).select("customer_id", "order_ts").sort("order_ts")
    matched = fb.sort("date").join_asof(
        order_ts,
        left_on="date",
        right_on="order_ts",
        by_left="cust",
        by_right="customer_id",
        check_sortedness=False,  # sorted by date above; polars cannot check it within groups
    )
    delay = (matched["date"] - matched["order_ts"]).dt.total_seconds() / 86_400
    limit = matched["type"].replace_strict(longest, return_dtype=pl.Float64)
    assert delay.is_not_null().all() and (delay <= limit).all()


def test_satisfaction_effect_is_switchable() -> None:
    def mean_p(effect: bool) -> dict[str, float]:
        latent = simulate(12_000, seed=5, with_feedback=True, satisfaction_effect=effect).latent
        means = latent.group_by("satisfaction_class").agg(pl.col("p_dropout").mean())
        return dict(means.iter_rows())

    on, off = mean_p(True), mean_p(False)
    assert on["detractor"] / on["promoter"] > 1.7
    assert 0.9 < off["detractor"] / off["promoter"] < 1.1


def test_voice_settings_out_of_range_are_refused() -> None:
    refused = {
        "out of reach": dict(feedback=gen.FeedbackSettings(detractor_dropout_factor=50.0)),
        "adding up to 1": dict(feedback=gen.FeedbackSettings(class_shares=(0.5, 0.5, 0.5))),
        "nps_weights": dict(feedback=gen.FeedbackSettings(nps_weights=((1.0,) * 11,) * 2)),
        "browse_to_buy": dict(engagement=gen.EngagementSettings(browse_to_buy=1.0)),
        "unsubscribe_share": dict(
            engagement=gen.EngagementSettings(unsubscribe_share=(0.1, 0.1, 1.5))
        ),
    }
    for message, kwargs in refused.items():
        with pytest.raises(ValueError, match=message):
            simulate(10, **VOICE, **kwargs)


def test_dirty_voice_rows_are_counted_and_the_rest_is_clean() -> None:
    kwargs = dict(seed=13, chunk_customers=2_000, **VOICE)
    dirty = simulate(4_000, dirty_rate=0.03, **kwargs)
    clean = simulate(4_000, dirty_rate=0.0, **kwargs)

    ev = dirty.events.with_columns(
        _missing_customer_id=pl.col("user_id").is_null(),
        _missing_timestamp=pl.col("ts").is_null(),
        _unknown_event_type=~pl.col("event").is_in(list(EVENT_VALUES)),
        _future_timestamp=pl.col("ts").dt.year() >= 2099,
        _pre_1970_timestamp=pl.col("ts").dt.year() < 1970,
    )
    assert_counted(ev, dirty.true_params["engagement"]["dirty_rows"], clean.events)

    number = pl.col("score").cast(pl.Float64, strict=False)
    kind = pl.col("type")
    fb = dirty.feedback.with_columns(
        _missing_customer_id=pl.col("cust").is_null(),
        _bad_timestamp=pl.col("date")
        .str.strptime(pl.Datetime("us"), gen.TIMESTAMP_FORMAT, strict=False)
        .is_null(),
        _unknown_kind=~kind.is_in(list(FEEDBACK_KINDS)),
        _nps_out_of_range=(kind == "nps")
        & ((number > 10) | (number < 0) | (number != number.round())),
        _csat_out_of_range=(kind == "csat") & ((number > 5) | (number < 1)),
        _missing_score=(kind == "nps") & pl.col("score").is_null(),
        _bad_score=pl.col("score").is_not_null() & number.is_null(),
    ).with_columns(pl.col(c).fill_null(False) for c in ("_nps_out_of_range", "_csat_out_of_range"))
    assert_counted(fb, dirty.true_params["feedback"]["dirty_rows"], clean.feedback)
    assert dirty.true_params["satisfaction"] == clean.true_params["satisfaction"]


def assert_counted(frame: pl.DataFrame, recorded: dict[str, int], clean: pl.DataFrame) -> None:
    """Each flagged row has one defect, the flags and the duplicates add up to the recorded
    counts, and what is left is exactly the clean data."""
    flags = [c for c in frame.columns if c.startswith("_")]
    assert frame.select(pl.sum_horizontal(flags).max()).item() == 1
    rest = frame.filter(~pl.any_horizontal(flags)).drop(flags)
    found = {c[1:]: int(frame[c].sum()) for c in flags}
    found["duplicate"] = rest.height - rest.unique().height
    assert found == recorded and all(v > 0 for v in recorded.values())
    assert_frame_equal(rest.unique(maintain_order=True), clean)


def test_cli_events_and_feedback_can_be_left_out(tmp_path: Path) -> None:
    gen.main(["--customers", "600", "--out", str(tmp_path / "on"), "-q"])
    gen.main(
        ["--customers", "600", "--out", str(tmp_path / "off"), "-q", "--no-events", "--no-feedback"]
    )
    assert list((tmp_path / "on" / "events").glob("events-*.parquet"))
    assert (tmp_path / "on" / "feedback.csv").is_file()
    assert not (tmp_path / "off" / "events").exists()
    assert not (tmp_path / "off" / "feedback.csv").exists()
    off = json.loads((tmp_path / "off" / "true_params.json").read_text())
    assert not {"satisfaction", "engagement", "feedback"} & set(off)
    # a rerun into the same folder without events removes the stale ones
    gen.main(
        ["--customers", "600", "--out", str(tmp_path / "on"), "-q", "--no-events", "--no-feedback"]
    )
    assert not list((tmp_path / "on" / "events").glob("*"))
    assert not (tmp_path / "on" / "feedback.csv").exists()


# ---------------------------------------------------------------------------------------------
# the recorded truth of events and feedback, recovered from the files at 50k customers

CUSTOMERS_50K = 50_000
WINDOW_END = pl.lit(END_EXCLUSIVE)


@pytest.fixture(scope="module")
def voice_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("voice_50k")
    write(out, CUSTOMERS_50K, seed=8, write_latent=True, **VOICE)
    return out


def scan_events(folder: Path, *kinds: str) -> pl.LazyFrame:
    values = dict(zip(EVENT_KINDS, EVENT_VALUES, strict=True))
    return pl.scan_parquet(folder / "events" / "*.parquet").filter(
        pl.col("event").is_in([values[k] for k in kinds])
    )


def truth(folder: Path) -> dict:
    return json.loads((folder / "true_params.json").read_text())


def latent_of(folder: Path) -> pl.DataFrame:
    return pl.read_parquet(folder / "latent.parquet")


@pytest.mark.slow
def test_recovers_the_unsubscribe_share(voice_files: Path) -> None:
    expected = truth(voice_files)["engagement"]["expected"]
    recipients = scan_events(voice_files, "email_send").select("user_id").unique().collect()
    leavers = scan_events(voice_files, "unsubscribe").select("user_id").unique().collect()
    n = recipients.height
    assert n > 0.75 * CUSTOMERS_50K
    share = leavers.height / n
    p = expected["unsubscribe_share"]
    se = math.sqrt(p * (1 - p) / n)
    assert abs(share - p) < 4 * se and 4 * se < 0.1 * p
    # detractors unsubscribe more: the shares per latent class
    by_class = (
        recipients.join(latent_of(voice_files), left_on="user_id", right_on="customer_id")
        .with_columns(pl.col("user_id").is_in(leavers["user_id"].implode()).alias("left"))
        .group_by("satisfaction_class")
        .agg(pl.col("left").mean(), pl.len())
    )
    for cls, share_c, n_c in by_class.iter_rows():
        p_c = expected["unsubscribe_share_by_class"][cls]
        assert abs(share_c - p_c) < 4 * math.sqrt(p_c * (1 - p_c) / n_c), cls


@pytest.mark.slow
def test_recovers_email_open_and_click_rates(voice_files: Path) -> None:
    """opens / deliveries and clicks / opens while engaged (before the dropout or a
    never-buyer's lost interest), over deliveries whose opens fall inside the window."""
    expected = truth(voice_files)["engagement"]["expected"]
    latent = latent_of(voice_files).select("customer_id", "disengaged_ts")
    sends = (
        scan_events(voice_files, "email_send")
        .join(latent.lazy(), left_on="user_id", right_on="customer_id")
        .filter(
            (pl.col("ts") < pl.col("disengaged_ts")).fill_null(True)
            & (pl.col("ts") < END_EXCLUSIVE - dt.timedelta(days=7))
        )
        .select("user_id", "campaign")
    )
    # a customer gets a campaign once and opens or clicks it at most once
    keys = ["user_id", "campaign"]
    opened = scan_events(voice_files, "email_open").select(*keys, o=pl.lit(1))
    clicked = scan_events(voice_files, "email_click").select(*keys, c=pl.lit(1))
    per_customer = (
        sends.join(opened, on=keys, how="left")
        .join(clicked, on=keys, how="left")
        .group_by("user_id")
        .agg(pl.len().alias("sends"), pl.col("o").sum(), pl.col("c").sum())
        .collect()
    )
    sends_n, opens_n, clicks_n = (
        per_customer[c].to_numpy().astype(float) for c in ("sends", "o", "c")
    )
    rate, se = ratio_and_se(opens_n, sends_n)
    assert abs(rate - expected["email_open_rate"]) < 4 * se < 0.05 * rate
    rate, se = ratio_and_se(clicks_n, opens_n)
    assert abs(rate - expected["email_click_rate"]) < 4 * se < 0.1 * rate


@pytest.mark.slow
def test_recovers_browse_to_buy(voice_files: Path) -> None:
    """While a purchaser is alive (first purchase to dropout or window end), repeat purchases /
    visits is the chance that a session ends in a purchase."""
    c = truth(voice_files)["engagement"]["expected"]["browse_to_buy"]
    alive = (
        latent_of(voice_files)
        .filter("is_purchaser")
        .select(
            "customer_id",
            "first_purchase_ts",
            pl.col("disengaged_ts").fill_null(END_EXCLUSIVE).alias("until"),
        )
    )
    tx = pl.read_parquet(voice_files / "transactions" / "*.parquet")
    repeats = orders(tx).group_by("customer_id").agg((pl.len() - 1).alias("repeats"))
    visits = (
        scan_events(voice_files, "visit")
        .join(alive.lazy(), left_on="user_id", right_on="customer_id")
        .filter((pl.col("ts") > pl.col("first_purchase_ts")) & (pl.col("ts") <= pl.col("until")))
        .group_by("user_id")
        .agg(pl.len().alias("visits"))
        .collect()
    )
    per_customer = (
        alive.join(repeats, on="customer_id", how="left")
        .join(visits, left_on="customer_id", right_on="user_id", how="left")
        .fill_null(0)
    )
    rate, se = ratio_and_se(
        per_customer["repeats"].to_numpy().astype(float),
        per_customer["visits"].to_numpy().astype(float),
    )
    assert abs(rate - c) < 4 * se < 0.05 * c


@pytest.mark.slow
def test_engagement_fades_after_dropout(voice_files: Path) -> None:
    """Browsing after the dropout decays as exp(-days / fade_days): visits in the first
    fade_days after it are e times those in the next fade_days."""
    fade = dt.timedelta(days=truth(voice_files)["engagement"]["settings"]["fade_days"])
    dead = (
        latent_of(voice_files)
        .filter(pl.col("is_purchaser") & (pl.col("disengaged_ts") < END_EXCLUSIVE - 2 * fade))
        .select("customer_id", "disengaged_ts")
    )
    after = pl.col("ts") - pl.col("disengaged_ts")
    counts = (
        scan_events(voice_files, "visit")
        .join(dead.lazy(), left_on="user_id", right_on="customer_id", how="right")
        .group_by("customer_id")
        .agg(
            ((after > dt.timedelta(0)) & (after <= fade)).sum().alias("first"),
            ((after > fade) & (after <= 2 * fade)).sum().alias("second"),
        )
        .collect()
    )
    assert counts.height > 15_000
    rate, se = ratio_and_se(
        counts["first"].to_numpy().astype(float), counts["second"].to_numpy().astype(float)
    )
    assert abs(rate - math.e) < 4 * se < 0.1 * math.e


@pytest.mark.slow
def test_recovers_the_detractor_dropout_factor(voice_files: Path) -> None:
    tp = truth(voice_files)["satisfaction"]
    latent = latent_of(voice_files)
    stats = dict(
        (row[0], row[1:])
        for row in latent.group_by("satisfaction_class")
        .agg(
            pl.col("p_dropout").mean().alias("mean"),
            pl.col("p_dropout").var().alias("var"),
            pl.len(),
        )
        .iter_rows()
    )
    shares = {k: v[2] / latent.height for k, v in stats.items()}
    for cls, share in tp["class_shares"].items():
        assert abs(shares[cls] - share) < 4 * math.sqrt(share * (1 - share) / latent.height)
    (m_d, v_d, n_d), (m_p, v_p, n_p) = stats["detractor"], stats["promoter"]
    ratio = m_d / m_p
    se = ratio * math.sqrt(v_d / n_d / m_d**2 + v_p / n_p / m_p**2)
    assert abs(ratio - tp["dropout_ratio_detractor_promoter"]) < 4 * se < 0.1 * ratio
    assert tp["dropout_ratio_detractor_promoter"] == pytest.approx(2.0)
    realized = tp["realized"]
    assert realized["detractor"]["mean_p_dropout"] == pytest.approx(m_d)
    assert realized["mean_p_ratio_detractor_promoter"] == pytest.approx(ratio)
    # among purchasers alive at a month end, detractors drop out within the month more often
    assert realized["monthly_dropout_ratio_detractor_promoter"] > 1.4


@pytest.mark.slow
def test_records_the_monthly_dropout_by_answered_class(voice_files: Path) -> None:
    """The recorded truth that the marts' dropout by ``nps_class`` is checked against
    (tests/e2e/test_voice_recovery.py), recomputed from the files: per month end, purchasers
    alive at it (first purchase before it, the dropout, at the last purchase, not) by the class
    of their latest NPS answer before it, and how many dropped out before the next month end."""
    recorded = truth(voice_files)["satisfaction"]["realized"]["by_answered_class"]
    assert recorded["months"] == [f"{y}-{m:02d}" for y in (2010, 2011) for m in range(1, 13)][:-1]
    purchasers = (
        latent_of(voice_files)
        .filter("is_purchaser")
        .select(
            "customer_id",
            "first_purchase_ts",
            pl.when(~pl.col("alive_at_end")).then(pl.col("last_purchase_ts")).alias("dropout"),
        )
    )
    answers = (
        typed_feedback(pl.read_csv(voice_files / "feedback.csv", infer_schema=False))
        .filter(pl.col("type") == "nps")
        .select(
            pl.col("cust").alias("customer_id"),
            "date",
            pl.when(pl.col("score") >= 9)
            .then(pl.lit("promoter"))
            .when(pl.col("score") >= 7)
            .then(pl.lit("passive"))
            .otherwise(pl.lit("detractor"))
            .alias("shown"),
        )
    )
    month_ends = [dt.datetime(2010 + m // 12, m % 12 + 1, 1) for m in range(1, 25)]
    found: dict[str, dict[str, list[int]]] = {
        name: {"alive_month_ends": [], "dropouts_next_month": []}
        for name in ("promoter", "passive", "detractor")
    }
    for end, following in zip(month_ends[:-1], month_ends[1:], strict=True):
        latest = (
            answers.filter(pl.col("date") < end)
            .group_by("customer_id")
            .agg(pl.col("shown").sort_by("date").last())
        )
        alive = purchasers.filter(
            (pl.col("first_purchase_ts") < end) & (pl.col("dropout") >= end).fill_null(True)
        ).join(latest, on="customer_id")
        per_class = dict(
            (row[0], row[1:])
            for row in alive.group_by("shown")
            .agg(pl.len(), (pl.col("dropout") < following).sum())
            .iter_rows()
        )
        for name, lists in found.items():
            n, dropped = per_class.get(name, (0, 0))
            lists["alive_month_ends"].append(n)
            lists["dropouts_next_month"].append(dropped)
    for name, lists in found.items():
        for key, values in lists.items():
            assert recorded[name][key] == values, (name, key)
    # detractors, as their answers show them, drop out faster (1.54-1.64 at 50,000 customers)
    assert recorded["monthly_dropout_ratio_detractor_promoter"] > 1.3


@pytest.mark.slow
def test_recovers_feedback_rates_and_scores(voice_files: Path) -> None:
    tp = truth(voice_files)["feedback"]
    settings = tp["settings"]
    latent = latent_of(voice_files).select("customer_id", "satisfaction_class")
    fb = typed_feedback(pl.read_csv(voice_files / "feedback.csv", infer_schema=False))
    fb = fb.join(latent, left_on="cust", right_on="customer_id")
    placed = orders(pl.read_parquet(voice_files / "transactions" / "*.parquet")).join(
        latent, on="customer_id"
    )
    # answers per order: each order's answer lands a uniform delay later, if inside the window
    left_days = (WINDOW_END - pl.col("order_ts")).dt.total_seconds() / 86_400
    rates = {
        "nps": pl.lit(tp["expected"]["answers_per_order"]["nps"]),
        "csat": pl.lit(tp["expected"]["answers_per_order"]["csat"]),
        "review": pl.lit(tp["expected"]["answers_per_order"]["review"]),
        "complaint": pl.col("satisfaction_class").replace_strict(
            tp["expected"]["complaints_per_order"], return_dtype=pl.Float64
        ),
    }
    for kind, rate in rates.items():
        lo, hi = settings[f"{kind}_delay_days"]
        inside = ((left_days - lo) / (hi - lo)).clip(0.0, 1.0)
        p = placed.select((rate * inside).alias("p"))["p"].to_numpy()
        observed = fb.filter(pl.col("type") == kind).height
        assert abs(observed - p.sum()) < 4 * math.sqrt(np.sum(p * (1 - p))), kind
    # the class an NPS answer shows, and the mean CSAT, per latent class
    nps = fb.filter(pl.col("type") == "nps").with_columns(
        pl.when(pl.col("score") >= 9)
        .then(pl.lit("promoter"))
        .when(pl.col("score") >= 7)
        .then(pl.lit("passive"))
        .otherwise(pl.lit("detractor"))
        .alias("shown")
    )
    for latent_class, shown in tp["expected"]["nps_class_shown_given_latent"].items():
        mine = nps.filter(pl.col("satisfaction_class") == latent_class)
        p = shown[latent_class]
        share = (mine["shown"] == latent_class).mean()
        assert abs(share - p) < 4 * math.sqrt(p * (1 - p) / mine.height), latent_class
    csat = (
        fb.filter(pl.col("type") == "csat")
        .group_by("satisfaction_class")
        .agg(pl.col("score").mean().alias("mean"), pl.col("score").std().alias("sd"), pl.len())
    )
    for cls, mean, sd, n in csat.iter_rows():
        assert abs(mean - tp["expected"]["mean_csat"][cls]) < 4 * sd / math.sqrt(n), cls
