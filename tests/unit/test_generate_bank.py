"""Tests of the generated bank (:mod:`synthetic.bank`): the files' layout, byte-identical output
for a seed, the dirty rows and their counts, and the truth recovered from the files alone: the
tiers and tier moves exactly, the adoption counts exactly, the product affinity lifts within a
statistically justified tolerance."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

from synthetic import bank
from synthetic.bank_params import (
    PRODUCTS,
    RISK_LEVELS,
    TIER_THRESHOLDS,
    TIERS,
    BankSettings,
)
from tests.conftest import PROJECT_ROOT
from tests.unit.bank_history import (
    ATTRIBUTE_REASONS,
    RANK,
    affinity_estimates,
    holds,
    landed_history,
    month_ends,
    open_months,
    params_of,
    states,
    transitions,
)

WINDOW_MONTHS = 24
# the affinity test: lifts are compared on the log scale within this many standard errors
Z_TOLERANCE = 4.0


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,500 customers with dirty rows and the latent file."""
    out = tmp_path_factory.mktemp("bank_small")
    bank.write(out, 1_500, seed=3, dirty_rate=0.003, write_latent=True)
    return out


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30,000 customers: enough adds for the affinity lifts (see the affinity test)."""
    out = tmp_path_factory.mktemp("bank_large")
    bank.write(out, 30_000, seed=2024, dirty_rate=0.002)
    return out


@pytest.fixture(scope="module")
def large_state(large: Path) -> tuple[dict, pl.DataFrame]:
    """The large run's true parameters and its states at each month end, from the files."""
    params = params_of(large)
    landed, _ = landed_history(large)
    return params, states(landed, month_ends(params))


# ---------------------------------------------------------------------------------------------
# layout, determinism, dirty rows


def test_files_have_the_documented_layout(small: Path) -> None:
    params = params_of(small)
    assert sorted(p.name for p in (small / "attributes").iterdir()) == [
        "attributes-2009.parquet",
        "attributes-2010.parquet",
        "attributes-2011.parquet",
    ]
    months = [f"{y}-{m:02d}" for y in (2010, 2011) for m in range(1, 13)]
    assert sorted(p.name for p in (small / "transactions").iterdir()) == [
        f"transactions-{m}.parquet" for m in months
    ]
    customers = pl.read_parquet(small / "customers.parquet")
    assert customers.columns == [
        "client_id",
        "opened_on",
        "date_of_birth",
        "gender",
        "annual_income",
        "country",
        "region",
    ]
    assert customers["client_id"].to_list() == [f"B{i:06d}" for i in range(1, 1_501)]
    assert (customers["date_of_birth"] < customers["opened_on"]).all()
    history = pl.read_parquet(sorted((small / "attributes").glob("*.parquet")))
    assert history.schema == pl.Schema(
        {
            "client_id": pl.String,
            "changed_at": pl.String,
            "aum": pl.String,
            "risk": pl.String,
            "products": pl.List(pl.String),
            "aum_change_3m": pl.String,
        }
    )
    assert set(history["risk"].unique()) == set(RISK_LEVELS)
    assert set(history["products"].explode().drop_nulls().unique()) == set(PRODUCTS)
    transactions = pl.read_parquet(sorted((small / "transactions").glob("*.parquet")))
    assert transactions.columns == [
        "txn_id",
        "client_id",
        "booked_at",
        "txn_type",
        "product",
        "amount",
        "channel",
    ]
    assert transactions["txn_id"].to_list() == [
        f"T{i:010d}" for i in range(1, transactions.height + 1)
    ]
    assert transactions["booked_at"].is_sorted()
    assert transactions["booked_at"].min() >= dt.datetime(2010, 1, 1)
    assert transactions["booked_at"].max() < dt.datetime(2012, 1, 1)
    assert set(transactions["client_id"]) <= set(customers["client_id"])
    # no booking before the account's opening day
    first = transactions.group_by("client_id").agg(pl.col("booked_at").min().dt.date())
    opened = first.join(customers, on="client_id")
    assert (opened["booked_at"] >= opened["opened_on"]).all()
    assert params["counts"]["transactions"] == transactions.height
    assert params["counts"]["attribute_rows_written"] == history.height
    assert (small / "latent.parquet").exists()
    latent = pl.read_parquet(small / "latent.parquet")
    assert latent["client_id"].to_list() == customers["client_id"].to_list()
    declining = latent.filter(pl.col("aum_type") == "declining")
    assert declining["decline_month"].null_count() == 0
    assert latent.filter(pl.col("aum_type") != "declining")["decline_month"].null_count() == (
        latent.height - declining.height
    )


def test_catalogue_with_risk_ranks_and_its_dirty_rows(small: Path) -> None:
    raw = pl.read_csv(small / "products.csv", infer_schema=False)
    assert raw.columns == ["product_code", "family", "line", "price_band", "need", "risk_rating"]
    distinct = raw.unique(maintain_order=True)
    duplicates = raw.height - distinct.height
    missing_id = distinct.filter(pl.col("product_code").is_null())
    rest = distinct.filter(pl.col("product_code").is_not_null())
    missing_category = rest.filter(pl.col("family").is_null())
    rest = rest.filter(pl.col("family").is_not_null())
    conflicting = rest.filter(pl.col("product_code").is_duplicated())
    landed = rest.filter(~pl.col("product_code").is_duplicated())
    assert params_of(small)["dirty_rows"]["products"] == {
        "duplicate_row": duplicates,
        "missing_product_id": missing_id.height,
        "missing_category": missing_category.height,
        "conflicting_product_rows": conflicting.height,
    }
    assert duplicates == missing_id.height == missing_category.height == 1
    assert conflicting.height == 2
    # what lands is the catalogue of the six products, each with a risk rank
    assert landed["product_code"].to_list() == list(PRODUCTS)
    ranks = landed["risk_rating"].str.strip_prefix("R").cast(pl.Int64).to_list()
    assert ranks == [RANK[p] for p in PRODUCTS]
    recorded = params_of(small)["catalogue"]
    assert {p: recorded[p]["risk_rank"] for p in PRODUCTS} == RANK
    # the transactions book only catalogued products, besides the one uncatalogued kind
    transactions = pl.read_parquet(sorted((small / "transactions").glob("*.parquet")))
    outside = transactions.filter(~pl.col("product").is_in(list(PRODUCTS)))
    recorded_out = params_of(small)["uncatalogued_transactions"]
    assert outside["product"].unique().to_list() == recorded_out["product_ids"]
    assert outside.height == recorded_out["rows"] > 0
    assert recorded_out["net_amount"] == pytest.approx(outside["amount"].sum(), abs=0.005)


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    bank.write(tmp_path / "a", 800, seed=9, dirty_rate=0.01, write_latent=True)
    bank.write(tmp_path / "b", 800, seed=9, dirty_rate=0.01, write_latent=True)
    files = sorted(p for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 3 + 24 + 4
    for path in files:
        twin = tmp_path / "b" / path.relative_to(tmp_path / "a")
        assert path.read_bytes() == twin.read_bytes(), path.name
    bank.write(tmp_path / "c", 800, seed=10, dirty_rate=0.01)
    name = Path("attributes") / "attributes-2010.parquet"
    assert (tmp_path / "c" / name).read_bytes() != (tmp_path / "a" / name).read_bytes()


def test_dirty_rows_are_counted_and_the_rest_is_the_clean_history(small: Path) -> None:
    landed, rejected = landed_history(small)
    recorded = params_of(small)["dirty_rows"]["customer_attributes"]
    assert rejected == recorded
    assert set(recorded) == set(ATTRIBUTE_REASONS)
    assert min(recorded.values()) >= 1
    # the same seed without dirt: typed columns, and exactly the rows that land
    clean = bank.simulate(1_500, seed=3, dirty_rate=0.0).attributes
    assert clean.schema["changed_at"] == pl.Datetime("us")
    assert clean.schema["aum"] == pl.Float64
    assert_frame_equal(landed, clean)


def test_history_holds_whole_states_on_distinct_instants(small: Path) -> None:
    landed, _ = landed_history(small)
    assert landed.select(pl.struct("client_id", "changed_at").is_unique().all()).item()
    assert params_of(small)["counts"]["attribute_rows_clean"] == landed.height
    # AUM 0 only on a closure: each closed account's last row, with nothing held
    last = landed.sort("changed_at").group_by("client_id").last()
    closures = landed.filter(pl.col("aum") == 0)
    assert closures["client_id"].is_unique().all()
    assert closures.join(last, on=["client_id", "changed_at"], how="anti").is_empty()
    assert (closures["products"].list.len() == 0).all()
    assert closures["aum_change_3m"].null_count() == closures.height
    latent = pl.read_parquet(small / "latent.parquet")
    closed = latent.filter(pl.col("closed_month").is_not_null())["client_id"]
    assert sorted(closures["client_id"]) == sorted(closed)
    assert closures.height == sum(params_of(small)["closures"]["by_month"].values()) > 0
    # nothing is booked after a closure
    transactions = pl.read_parquet(sorted((small / "transactions").glob("*.parquet")))
    after = transactions.join(
        closures.select("client_id", pl.col("changed_at").alias("closed_at")), on="client_id"
    ).filter(pl.col("booked_at") > pl.col("closed_at"))
    assert after.is_empty()


# ---------------------------------------------------------------------------------------------
# the truth, recovered from the files


def test_tiers_and_tier_moves_are_recovered_exactly(
    large_state: tuple[dict, pl.DataFrame],
) -> None:
    params, state = large_state
    truth = params["tiers"]
    labels = truth["by_customer_months"]
    window = state.filter(pl.col("k") >= 1)
    counts = window.group_by("k", "tier").len()
    for k, label in enumerate(labels, start=1):
        got = {TIERS[t]: 0 for t in range(len(TIERS))}
        for row in counts.filter(pl.col("k") == k).iter_rows(named=True):
            got[TIERS[row["tier"]]] = row["len"]
        assert got == truth["customers_by_month"][label], label
    moves = transitions(state).filter(pl.col("k") >= 2)
    total = {a: dict.fromkeys(TIERS, 0) for a in TIERS}
    for row in moves.group_by("tier_start", "tier_end").len().iter_rows(named=True):
        total[TIERS[row["tier_start"]]][TIERS[row["tier_end"]]] = row["len"]
    assert total == truth["moves_total"]
    off_diagonal = sum(total[a][b] for a in TIERS for b in TIERS if a != b)
    assert off_diagonal > 500  # the tiers do move
    for k in (2, 13, WINDOW_MONTHS):
        month = moves.filter(pl.col("k") == k)
        matrix = {a: dict.fromkeys(TIERS, 0) for a in TIERS}
        for row in month.group_by("tier_start", "tier_end").len().iter_rows(named=True):
            matrix[TIERS[row["tier_start"]]][TIERS[row["tier_end"]]] = row["len"]
        assert matrix == truth["moves_by_month"][labels[k - 1]]
    # each customer's tier at each month end
    codes = (
        window.sort("k")
        .group_by("client_id")
        .agg(pl.col("k"), pl.col("tier"))
        .iter_rows(named=True)
    )
    rebuilt = {}
    for row in codes:
        text = ["."] * len(labels)
        for k, tier in zip(row["k"], row["tier"], strict=True):
            text[k - 1] = str(tier)
        rebuilt[row["client_id"]] = "".join(text)
    assert rebuilt == truth["by_customer"]
    shares = truth["shares_by_month"][labels[-1]]
    assert shares["mass"] > shares["premier"] > shares["wealth"] > shares["private_banking"] > 0


def test_adoption_counts_and_holdings_are_recovered_exactly(
    large_state: tuple[dict, pl.DataFrame],
) -> None:
    params, state = large_state
    months = transitions(state)
    recorded = params["holdings"]["adoption_counts"]
    closing = (pl.col("aum_start") > 0) & (pl.col("aum_end") == 0)
    assert months.filter(closing).height == recorded["account_closures"]["all"] > 0
    # a closed account stays closed, without products
    assert months.filter((pl.col("aum_start") == 0) & (pl.col("aum_end") > 0)).is_empty()
    assert months.filter((pl.col("aum_end") == 0) & (pl.col("mask_end") != 0)).is_empty()
    months = months.filter((pl.col("aum_start") > 0) & (pl.col("aum_end") > 0))
    risk_floor = pl.min_horizontal("risk_start", "risk_end")
    for j, product in enumerate(PRODUCTS):
        held_start = holds("mask_start", j)
        held_end = holds("mask_end", j)
        trial = ~held_start & (risk_floor >= RANK[product])
        got = months.select(
            trials=trial.sum(),
            adds=(trial & held_end).sum(),
            closes=(held_start & ~held_end).sum(),
            # nothing is added outside the risk preference
            unsuitable=(~held_start & held_end & ~trial).sum(),
        ).row(0, named=True)
        assert got["unsuitable"] == 0, product
        for key in ("trials", "adds", "closes"):
            assert got[key] == recorded[key][product], (key, product)
    changes = months.filter(pl.col("risk_start") != pl.col("risk_end")).height
    assert changes == recorded["risk_changes"]["all"]
    # holders and the holding lift at the last month end
    at_end = params["holdings"]["at_end"]
    last = state.filter((pl.col("k") == WINDOW_MONTHS) & (pl.col("aum") > 0))
    held = np.stack([(last["mask"].to_numpy() >> j) & 1 for j in range(len(PRODUCTS))], axis=1)
    pair = held.T @ held
    assert last.height == at_end["customers"]
    for i, a in enumerate(PRODUCTS):
        assert {b: int(pair[i, j]) for j, b in enumerate(PRODUCTS)} == at_end["pair_holders"][a]


def test_product_affinity_lifts_are_recovered(large_state: tuple[dict, pl.DataFrame]) -> None:
    """The generator adds product b with probability base * tier multiplier * the product of
    the lifts of the products held: within a stratum of equal tier and equal other holdings,
    the risk ratio of an add between holding a and not is exactly lift[a][b].  The
    Mantel-Haenszel estimate over those strata is consistent for it, with the Greenland-Robins
    standard error; each lift must lie within 4 standard errors on the log scale (30 lifts: a
    false alarm has a chance of about 30 * 6e-5 = 0.2%), and the strong affinities must be
    told apart from no affinity at all."""
    params, state = large_state
    lifts = params["settings"]["affinity"]
    estimates = affinity_estimates(open_months(transitions(state)))
    for (a, b), (estimate, se) in estimates.items():
        true = lifts[a][b]
        z = (math.log(estimate) - math.log(true)) / se
        assert abs(z) < Z_TOLERANCE, (a, b, estimate, true, se)
        if true >= 1.5:
            # the strong affinities are seen: 1 lies outside the same interval
            assert math.log(estimate) - Z_TOLERANCE * se > 0, (a, b, estimate, se)
    assert len(estimates) == 30


def test_deposits_less_withdrawals_are_the_aum_change_less_the_market(small: Path) -> None:
    params = params_of(small)
    landed, _ = landed_history(small)
    months = transitions(states(landed, month_ends(params)))
    beta = [params["settings"]["beta"][level] for level in RISK_LEVELS]
    market = list(params["aum"]["market_factor_by_month"].values())
    transactions = pl.read_parquet(sorted((small / "transactions").glob("*.parquet")))
    flows = (
        transactions.filter(pl.col("txn_type").is_in(["deposit", "withdrawal"]))
        .with_columns(
            k=(pl.col("booked_at").dt.year() - 2010) * 12 + pl.col("booked_at").dt.month(),
            cents=(pl.col("amount") * 100).round(0).cast(pl.Int64),
        )
        .group_by("client_id", "k")
        .agg(pl.col("cents").sum())
    )
    joined = months.join(flows, on=["client_id", "k"], how="left").with_columns(
        pl.col("cents").fill_null(0)
    )
    start = (joined["aum_start"] * 100).round(0).cast(pl.Int64).to_numpy()
    end = (joined["aum_end"] * 100).round(0).cast(pl.Int64).to_numpy()
    b = np.asarray(beta)[joined["risk_start"].to_numpy() - 1]
    m = np.asarray(market)[joined["k"].to_numpy() - 1]
    market_part = np.round(start * np.expm1(b * m)).astype(np.int64)
    open_ = (start > 0) & (end > 0)
    np.testing.assert_array_equal(
        joined["cents"].to_numpy()[open_], (end - start - market_part)[open_]
    )
    assert open_.sum() > 20_000
    # a closing account withdraws everything
    closing = (start > 0) & (end == 0)
    assert closing.sum() > 10
    np.testing.assert_array_equal(joined["cents"].to_numpy()[closing], -start[closing])


def test_falling_aum_flag_finds_the_declining_customers(small: Path) -> None:
    """config/bank.yaml's falling-AUM rule (aum_change_3m <= -0.15, the win-back target) at the
    month ends from three statements into a decline, against the steady customers (open
    accounts: a closed one has no change)."""
    params = params_of(small)
    landed, _ = landed_history(small)
    latent = pl.read_parquet(small / "latent.parquet")
    decline_k = (pl.col("decline_month").str.slice(0, 4).cast(pl.Int64) - 2010) * 12 + pl.col(
        "decline_month"
    ).str.slice(5, 2).cast(pl.Int64)
    flags = (
        states(landed, month_ends(params))
        .filter((pl.col("k") >= 1) & (pl.col("aum") > 0))
        .join(latent.select("client_id", "aum_type", "decline_month"), on="client_id")
        .with_columns(
            falling=(pl.col("aum_change_3m") <= -0.15).fill_null(False),
            months_declining=pl.col("k") - decline_k,
        )
    )
    declining = flags.filter(pl.col("months_declining") >= 2)
    steady = flags.filter(pl.col("aum_type") == "steady")
    assert declining.height > 500
    recall = declining["falling"].mean()
    false_alarms = steady["falling"].mean()
    assert recall > 0.8, recall
    assert false_alarms < 0.05, false_alarms


# ---------------------------------------------------------------------------------------------
# settings, command line, configuration


def test_settings_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="add probability reaches"):
        bank.simulate(10, settings=BankSettings(add_base=(0.5,) * 6))
    with pytest.raises(ValueError, match="risk_shares"):
        bank.simulate(10, settings=BankSettings(risk_shares=(0.5, 0.5, 0.5)))
    with pytest.raises(ValueError, match="n_customers"):
        bank.simulate(0)
    with pytest.raises(ValueError, match="end month"):
        bank.simulate(10, start="2011-01", end="2010-12")


def test_cli_writes_every_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bank"
    bank.main(["--customers", "400", "--out", str(out), "--seed", "5", "--write-latent"])
    printed = capsys.readouterr().out
    assert "400 customers" in printed and str(out) in printed
    assert (out / "latent.parquet").exists()
    params = params_of(out)
    assert params["seed"] == 5 and params["dirty_rate"] == 0.002
    assert params["tiers"]["thresholds"] == TIER_THRESHOLDS
    assert len(params["tiers"]["by_customer"]) == 400
    # a second run without the latent file leaves no stale one behind
    bank.main(["--customers", "300", "--out", str(out), "-q"])
    assert not (out / "latent.parquet").exists()
    assert params_of(out)["counts"]["customers"] == 300
    assert capsys.readouterr().out == ""


def test_bank_config_maps_the_generated_columns(small: Path) -> None:
    """config/bank.yaml (which loads once the attribute and product sources exist) names the
    generated files and columns."""
    config = yaml.safe_load((PROJECT_ROOT / "config" / "bank.yaml").read_text())
    sources = config["sources"]
    heads = {
        "transactions": pl.read_parquet(small / "transactions" / "transactions-2010-01.parquet"),
        "customers": pl.read_parquet(small / "customers.parquet"),
        "customer_attributes": pl.read_parquet(small / "attributes" / "attributes-2010.parquet"),
        "products": pl.read_csv(small / "products.csv"),
    }
    for key, frame in heads.items():
        source = sources[key]
        assert source["path"].startswith("../data/bank/"), key
        pattern = source["path"].removeprefix("../data/bank/")
        assert list(small.glob(pattern)), (key, pattern)
        mapped = {v for v in source["columns"].values() if v is not None}
        assert mapped <= set(frame.columns), (key, mapped - set(frame.columns))
    assert sources["customer_attributes"]["valid_from"] == "changed_at"
    extra = config["segments"]["extra_columns"]
    attributes = sources["customer_attributes"]["columns"]
    assert {k for k in attributes if k != "customer_id"} <= set(extra)
    assert extra["products_held"] == "list"
    tiers = next(d for d in config["segments"]["attributes"] if d["dimension"] == "wealth_tier")
    thresholds = {rule["name"]: rule["when"] for rule in tiers["rules"]}
    for tier, cut in TIER_THRESHOLDS.items():
        assert thresholds[tier] == f"assets_total >= {int(cut)}"
    assert tiers["default"] == "mass"
    playbook = yaml.safe_load(
        (PROJECT_ROOT / "config" / Path(config["strategies"]["playbook"]).name).read_text()
    )
    names = [rule["name"] for rule in playbook["rules"]]
    assert names[0] == "private_banking_relationship_manager"
    assert playbook["rules"][0]["capacity"] >= 1
    assert playbook["rules"][-1]["when"] == "true"
