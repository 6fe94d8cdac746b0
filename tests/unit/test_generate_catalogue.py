"""Tests of the generator's product catalogue, category affinities, needs and lifestyles
(``with_categories``; :mod:`synthetic.categories`, :mod:`synthetic.products`)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

from synthetic import generate as gen
from synthetic.categories import pair_lift
from synthetic.category_settings import (
    CATEGORIES,
    LIFESTYLES,
    NEED_LEVELS,
    PRICE_LEVELS,
    SUBCATEGORIES,
    CategorySettings,
)
from synthetic.generate import simulate, write
from synthetic.products import PRODUCT_DIRTY_KINDS

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CATS = dict(with_categories=True)


def purchases(transactions: pl.DataFrame) -> pl.DataFrame:
    return transactions.filter(~pl.col("order_id").str.starts_with("C"))


def catalogue(products: pl.DataFrame) -> pl.DataFrame:
    """The clean catalogue read from ``products.csv``: a dirty copy comes right after its
    source row, so each product id's first row is its own."""
    return products.filter(pl.col("sku").is_not_null()).unique("sku", keep="first")


def category_counts(transactions: pl.DataFrame, products: pl.DataFrame) -> pl.DataFrame:
    """Purchase line items per customer and category (one column per category) and core items
    per customer, from the files."""
    lines = purchases(transactions).join(
        catalogue(products).select(pl.col("sku").alias("product_id"), "category", "need"),
        on="product_id",
        how="left",
    )
    assert lines["category"].null_count() == 0
    return lines.group_by("customer_id").agg(
        *[(pl.col("category") == c).sum().alias(c) for c in CATEGORIES],
        (pl.col("need") == "core").sum().alias("core_lines"),
        pl.len().alias("lines"),
    )


def demo_products_source() -> dict:
    """The products source config/demo.yaml holds."""
    demo = yaml.safe_load((PROJECT_ROOT / "config" / "demo.yaml").read_text())
    assert "products" in demo["sources"], "config/demo.yaml names no products source"
    return demo["sources"]["products"]


# ---------------------------------------------------------------------------------------------
# layout, dirty rows, determinism


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("categories_small")
    params = write(
        out, 3_000, seed=3, chunk_customers=1_200, dirty_rate=0.01, write_latent=True, **CATS
    )
    return out, params


def test_products_file_has_the_documented_layout(small: tuple[Path, dict]) -> None:
    out, params = small
    products = pl.read_csv(out / "products.csv", infer_schema=False)
    assert products.columns == list(gen.PRODUCT_COLUMNS)
    clean = catalogue(products).sort("sku")
    n_products = gen.Settings().n_products
    assert clean["sku"].to_list() == [f"P{i:05d}" for i in range(1, n_products + 1)]
    assert set(clean["category"]) == set(CATEGORIES)
    assert set(clean["tier"]) == set(PRICE_LEVELS) and set(clean["need"]) == set(NEED_LEVELS)
    assert all(sub in SUBCATEGORIES[c] for c, sub in clean.select("category", "sub").rows())
    per_category = clean.group_by("category").agg(
        pl.len(), (pl.col("need") == "core").sum().alias("core")
    )
    assert set(per_category["len"]) == {n_products // len(CATEGORIES)}
    assert (
        dict(per_category.select("category", "core").rows())
        == (params["categories"]["catalogue"]["core_products_per_category"])
    )
    # the price level is the third of the category's list prices a product falls in
    price = clean.with_columns(pl.col("list_price").cast(pl.Float64))
    ranges = price.group_by("category", "tier").agg(
        pl.col("list_price").min().alias("lo"), pl.col("list_price").max().alias("hi")
    )
    for category in CATEGORIES:
        tiers = {t: (lo, hi) for _, t, lo, hi in ranges.filter(category=category).rows()}
        assert tiers["budget"][1] <= tiers["standard"][0] <= tiers["standard"][1]
        assert tiers["standard"][1] <= tiers["premium"][0]
    # dearer products are more often core
    core = params["categories"]["catalogue"]["core_share_by_price_level"]
    assert core["budget"] < core["standard"] < core["premium"]
    # every product sold is in the catalogue
    tx = pl.read_parquet(out / "transactions" / "*.parquet")
    sold = tx.filter(pl.col("product_id").is_not_null())["product_id"].unique()
    assert sold.is_in(clean["sku"].implode()).all()


def test_customers_and_latent_have_the_documented_layout(small: tuple[Path, dict]) -> None:
    out, params = small
    customers = pl.read_parquet(out / "customers.parquet")
    assert customers.columns == [*gen.CUSTOMER_SCHEMA, "lifestyle"]
    answers = customers["lifestyle"]
    assert set(answers.drop_nulls()) == set(LIFESTYLES)
    assert 0.35 < answers.is_not_null().mean() < 0.45  # 0.4 answered
    latent = pl.read_parquet(out / "latent.parquet")
    profile = [f"profile_{c}" for c in CATEGORIES]
    assert set(latent["lifestyle"]) == set(LIFESTYLES)
    assert set(latent["need_class"]) == set(NEED_LEVELS)
    assert np.allclose(latent.select(profile).to_numpy().sum(axis=1), 1.0)
    answered = customers.join(latent, on="customer_id").filter(pl.col("lifestyle").is_not_null())
    own = (answered["lifestyle"] == answered["lifestyle_right"]).mean()
    assert 0.65 < own < 0.75  # survey_accuracy 0.7
    counts = params["categories"]["counts"]
    assert sum(counts[f"customers.{t}"] for t in LIFESTYLES) == customers.height
    assert counts["respondents"] == answered.height


def test_recorded_counts_are_the_files(small: tuple[Path, dict]) -> None:
    out, params = small
    truth = params["categories"]
    products = pl.read_csv(out / "products.csv", infer_schema=False)
    tx = pl.read_parquet(out / "transactions" / "*.parquet")
    # dirty transaction rows are text; the clean ones are those that parse and are unique
    clean_tx = tx.filter(
        pl.col("customer_id").is_not_null()
        & pl.col("quantity").cast(pl.Int64, strict=False).is_not_null()
        & pl.col("order_ts")
        .str.strptime(pl.Datetime, gen.TIMESTAMP_FORMAT, strict=False)
        .dt.year()
        .is_between(2010, 2011)
    ).unique(maintain_order=True)
    counts = category_counts(clean_tx, products)
    assert {c: truth["counts"][f"lines.{c}"] for c in CATEGORIES} == {
        c: counts[c].sum() for c in CATEGORIES
    }
    bought = counts.select(pl.col(CATEGORIES) > 0).to_numpy().astype(np.int64)
    both, n = bought.T @ bought, bought.shape[0]
    assert truth["counts"]["purchasers"] == n
    for i, a in enumerate(CATEGORIES):
        for j, b in enumerate(CATEGORIES):
            if i != j:
                lift = both[i, j] * n / (both[i, i] * both[j, j])
                assert truth["realized"]["customer_pair_lift"][a][b] == pytest.approx(lift)


def test_dirty_product_rows_are_counted_and_the_rest_is_clean() -> None:
    kwargs = dict(seed=13, chunk_customers=2_000, **CATS)
    dirty = simulate(4_000, dirty_rate=0.03, **kwargs)
    clean = simulate(4_000, dirty_rate=0.0, **kwargs)
    recorded = dirty.true_params["categories"]["dirty_rows"]
    assert set(recorded) == set(PRODUCT_DIRTY_KINDS) and all(recorded.values())
    assert clean.true_params["categories"]["dirty_rows"] == {}
    truth = clean.products.select("sku", pl.col("category").alias("_true_category"))
    flagged = (
        dirty.products.join(truth, on="sku", how="left", maintain_order="left")
        .with_columns(
            _missing_product_id=pl.col("sku").is_null(),
            _missing_category=pl.col("category").is_null(),
            _conflicting_values=(pl.col("category") != pl.col("_true_category")).fill_null(False),
        )
        .drop("_true_category")
    )
    flags = [c for c in flagged.columns if c.startswith("_")]
    assert flagged.select(pl.sum_horizontal(flags).max()).item() == 1
    rest = flagged.filter(~pl.any_horizontal(flags)).drop(flags)
    found = {c[1:]: int(flagged[c].sum()) for c in flags}
    found["duplicate"] = rest.height - rest.unique().height
    assert found == recorded
    assert_frame_equal(rest.unique(maintain_order=True), clean.products)
    conflicting = flagged.filter("_conflicting_values")["sku"].unique().sort().to_list()
    assert dirty.true_params["categories"]["conflicting_product_ids"] == conflicting
    # the products' dirty rows change nothing else
    assert_frame_equal(dirty.customers, clean.customers)
    assert_frame_equal(dirty.latent, clean.latent)
    ignore = ("dirty_rows", "conflicting_product_ids")
    dirty_truth, clean_truth = (
        {k: v for k, v in sim.true_params["categories"].items() if k not in ignore}
        for sim in (dirty, clean)
    )
    assert dirty_truth == clean_truth


def test_files_are_byte_identical_for_a_seed(tmp_path: Path) -> None:
    kwargs = dict(seed=4, chunk_customers=1_500, dirty_rate=0.01, write_latent=True, **CATS)
    write(tmp_path / "a", 3_000, **kwargs)
    write(tmp_path / "b", 3_000, **kwargs)
    files = sorted(p for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert {p.name for p in files} >= {"products.csv", "latent.parquet", "customers.parquet"}
    for path in files:
        twin = tmp_path / "b" / path.relative_to(tmp_path / "a")
        assert path.read_bytes() == twin.read_bytes(), path.name
    write(tmp_path / "c", 3_000, **{**kwargs, "seed": 5})
    other = tmp_path / "c" / "products.csv"
    assert other.read_bytes() != (tmp_path / "a" / "products.csv").read_bytes()


def test_categories_change_the_products_not_the_orders() -> None:
    """The orders, their timing, channels and values are drawn exactly as without categories:
    only the products, and the quantities and unit prices that follow from their list prices,
    differ (and the amounts by the rounding of a unit price to cents)."""
    kwargs = dict(seed=9, chunk_customers=2_000)
    plain = simulate(5_000, **kwargs)
    cats = simulate(5_000, **kwargs, **CATS)
    same = ["customer_id", "order_id", "order_ts", "channel", "country"]
    assert_frame_equal(cats.transactions.select(same), plain.transactions.select(same))
    on, off = purchases(cats.transactions), purchases(plain.transactions)
    rounding = 0.005 * (on["quantity"] + off["quantity"]) + 1e-9
    assert ((on["amount"] - off["amount"]).abs() <= rounding).all()
    assert (on["product_id"] != off["product_id"]).mean() > 0.8
    assert on.select(pl.struct("order_id", "product_id").is_unique().all()).item()
    assert_frame_equal(cats.customers.drop("lifestyle"), plain.customers)
    assert_frame_equal(cats.latent.select(plain.latent.columns), plain.latent)
    assert set(cats.true_params) - set(plain.true_params) == {"categories"}
    assert {k: cats.true_params[k] for k in plain.true_params} == plain.true_params
    assert plain.products.is_empty() and "lifestyle" not in plain.latent.columns


def test_without_focus_every_pair_has_the_dirichlet_lift() -> None:
    """No lifestyle focus: one Dirichlet around the base shares, whose pairs all have the lift
    c / (c + 1) < 1 (a share spent on one category is not spent on another)."""
    settings = CategorySettings(focus_weight=0.0, profile_concentration=4.0)
    share, lift = pair_lift(settings)
    assert np.allclose(share, settings.category_weights)
    off_diagonal = lift[~np.eye(len(CATEGORIES), dtype=bool)]
    assert np.allclose(off_diagonal, 4.0 / 5.0)
    # with the default focus the lifestyles' categories go together
    _, lift = pair_lift(CategorySettings())
    index = CATEGORIES.index
    assert lift[index("home"), index("garden")] > 1.5 > 0.7 > lift[index("home"), index("toys")]


def test_category_settings_out_of_range_are_refused() -> None:
    focus = (("home",), ("spaceships",), ("toys",), ("gifts",), ("food",))
    refused = {
        "adding up to 1": dict(categories=CategorySettings(lifestyle_shares=(0.5,) * 5)),
        "unknown": dict(categories=CategorySettings(lifestyle_focus=focus)),
        "survey_accuracy": dict(categories=CategorySettings(survey_accuracy=1.5)),
        "at least 240 products": dict(settings=gen.Settings(n_products=200)),
    }
    for message, kwargs in refused.items():
        with pytest.raises(ValueError, match=message):
            simulate(10, **CATS, **kwargs)
    simulate(10, settings=gen.Settings(n_products=200))  # no categories: no such need


def test_cli_writes_categories_by_default_and_can_leave_them_out(tmp_path: Path) -> None:
    gen.main(["--customers", "600", "--out", str(tmp_path / "on"), "-q", "--no-events"])
    assert (tmp_path / "on" / "products.csv").is_file()
    customers = pl.read_parquet(tmp_path / "on" / "customers.parquet")
    assert customers.columns[-1] == "lifestyle"
    on = json.loads((tmp_path / "on" / "true_params.json").read_text())
    assert on["categories"]["dirty_rows"]  # the command line's dirty rate
    off_args = ["--customers", "600", "-q", "--no-events", "--no-categories"]
    gen.main([*off_args, "--out", str(tmp_path / "off")])
    assert not (tmp_path / "off" / "products.csv").exists()
    customers = pl.read_parquet(tmp_path / "off" / "customers.parquet")
    assert customers.columns == list(gen.CUSTOMER_SCHEMA)
    assert "categories" not in json.loads((tmp_path / "off" / "true_params.json").read_text())
    # a rerun without categories removes the stale catalogue
    gen.main([*off_args, "--out", str(tmp_path / "on")])
    assert not (tmp_path / "on" / "products.csv").exists()


def test_demo_config_reads_the_products_and_the_lifestyle(small: tuple[Path, dict]) -> None:
    _, params = small
    source = params["categories"]["source"]
    products = demo_products_source()
    assert products["path"] == "../data/demo/" + source["path"]
    assert products["columns"] == source["columns"]
    demo = yaml.safe_load((PROJECT_ROOT / "config" / "demo.yaml").read_text())
    assert demo["sources"]["customers"]["columns"]["lifestyle"] == "lifestyle"
    assert demo["segments"]["extra_columns"]["lifestyle"] == {"type": "text", "pii": False}


# ---------------------------------------------------------------------------------------------
# the recorded truth, recovered from the files at 50k customers

CUSTOMERS_50K = 50_000


@pytest.fixture(scope="module")
def files_50k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("categories_50k")
    write(out, CUSTOMERS_50K, seed=8, write_latent=True, **CATS)
    return out


@pytest.fixture(scope="module")
def counts_50k(files_50k: Path) -> pl.DataFrame:
    tx = pl.read_parquet(files_50k / "transactions" / "*.parquet")
    products = pl.read_csv(files_50k / "products.csv", infer_schema=False)
    return category_counts(tx, products).sort("customer_id")


def truth(folder: Path) -> dict:
    return json.loads((folder / "true_params.json").read_text())["categories"]


@pytest.mark.slow
def test_recovers_the_category_pair_lifts(files_50k: Path, counts_50k: pl.DataFrame) -> None:
    """For customers with n >= 2 line items, ``n_a n_b / (n (n - 1))`` is an unbiased estimate
    of ``pi_a pi_b`` and ``n_a / n`` of ``pi_a``; the lift is the ratio of their means over
    customers, with its delta-method standard error (customers are independent)."""
    expected = truth(files_50k)["expected"]
    n_ab = counts_50k.filter(pl.col("lines") >= 2).select(CATEGORIES).to_numpy().astype(float)
    n = n_ab.sum(axis=1)
    assert n.size > 40_000
    share = n_ab / n[:, None]
    mu = share.mean(axis=0)
    for i, a in enumerate(CATEGORIES):
        se_share = share[:, i].std(ddof=1) / math.sqrt(n.size)
        assert abs(mu[i] - expected["line_share"][a]) < 4 * se_share, a
        for j in range(i + 1, len(CATEGORIES)):
            b = CATEGORIES[j]
            pair = n_ab[:, i] * n_ab[:, j] / (n * (n - 1))
            lift = pair.mean() / (mu[i] * mu[j])
            influence = (
                (pair - pair.mean()) / (mu[i] * mu[j])
                - lift * (share[:, i] - mu[i]) / mu[i]
                - lift * (share[:, j] - mu[j]) / mu[j]
            )
            se = influence.std(ddof=1) / math.sqrt(n.size)
            true = expected["pair_lift"][a][b]
            assert abs(lift - true) < 4 * se, (a, b, lift, true, se)
            assert 4 * se < 0.15  # sharp: lifts range from ~0.5 to ~1.8


@pytest.mark.slow
def test_recovers_the_need_classes(files_50k: Path, counts_50k: pl.DataFrame) -> None:
    expected = truth(files_50k)["expected"]
    basic_q, core_q = (expected["core_line_share"][k] for k in NEED_LEVELS)
    latent = pl.read_parquet(files_50k / "latent.parquet").select("customer_id", "need_class")
    # the latent share of core-needs customers
    core = (latent["need_class"] == "core").to_numpy().astype(float)
    share = expected["core_needs_share"]
    assert abs(core.mean() - share) < 4 * math.sqrt(share * (1 - share) / core.size)
    # per class, the share of core items among the line items (customers as clusters)
    joined = counts_50k.join(latent, on="customer_id")
    for need, q in zip(NEED_LEVELS, (basic_q, core_q), strict=True):
        mine = joined.filter(need_class=need)
        num, den = mine["core_lines"].to_numpy(), mine["lines"].to_numpy()
        ratio = num.sum() / den.sum()
        se = math.sqrt(np.sum((num - ratio * den) ** 2)) / den.sum()
        assert abs(ratio - q) < 4 * se and 4 * se < 0.01, need
    # from the files alone: a customer's core share has mean s q_core + (1 - s) q_basic
    y = (joined["core_lines"] / joined["lines"]).to_numpy()
    s_hat = (y.mean() - basic_q) / (core_q - basic_q)
    se = y.std(ddof=1) / math.sqrt(y.size) / (core_q - basic_q)
    assert abs(s_hat - share) < 4 * se and 4 * se < 0.02


@pytest.mark.slow
def test_recovers_the_lifestyle_survey(files_50k: Path, counts_50k: pl.DataFrame) -> None:
    survey = truth(files_50k)["expected"]["survey"]
    shares = truth(files_50k)["expected"]["lifestyle_shares"]
    customers = pl.read_parquet(files_50k / "customers.parquet").select("customer_id", "lifestyle")
    answered = customers.filter(pl.col("lifestyle").is_not_null())
    p = survey["response_share"]
    n = customers.height
    assert abs(answered.height / n - p) < 4 * math.sqrt(p * (1 - p) / n)
    for s in LIFESTYLES:
        # P(answer s) = sum_t share_t P(s | t)
        q = sum(shares[t] * survey["answer_given_lifestyle"][t][s] for t in LIFESTYLES)
        got = (answered["lifestyle"] == s).mean()
        assert abs(got - q) < 4 * math.sqrt(q * (1 - q) / answered.height), s
    latent = pl.read_parquet(files_50k / "latent.parquet").select("customer_id", "lifestyle")
    own = answered.join(latent, on="customer_id")
    accuracy = (own["lifestyle"] == own["lifestyle_right"]).to_numpy().astype(float)
    a = survey["accuracy"]
    assert abs(accuracy.mean() - a) < 4 * math.sqrt(a * (1 - a) / accuracy.size)

    # the answer tells the categories: per answer, the customers' mean category share
    population = truth(files_50k)["expected"]["line_share"]
    joined = counts_50k.join(answered, on="customer_id")
    for s in LIFESTYLES:
        mine = joined.filter(lifestyle=s)
        share = mine.select(CATEGORIES).to_numpy() / mine["lines"].to_numpy()[:, None]
        se = share.std(axis=0, ddof=1) / math.sqrt(share.shape[0])
        want = np.array([survey["line_share_given_answer"][s][c] for c in CATEGORIES])
        assert (np.abs(share.mean(axis=0) - want) < 4 * se).all(), s
        # and differs from the population's: the signal psychographic rules can find
        base = np.array([population[c] for c in CATEGORIES])
        assert (np.abs(want - base) / se).max() > 8, s
