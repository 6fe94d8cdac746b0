"""Next best category and product: pairwise association rules over each snapshot's baskets,
checked against hand-computed lifts and a direct computation in exact fractions; thresholds,
ties, held items, snapshots apart, the eligibility rule over customer and catalogue columns."""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from itertools import product

import numpy as np
import polars as pl
import pytest

from segmentation.segments.category_settings import (
    RecommendationSettings,
    compile_eligibility,
)
from segmentation.segments.columns import FEATURE_COLUMN_TYPES
from segmentation.segments.recommendations import (
    association_candidates,
    association_counts,
    next_best_categories,
    next_best_products,
    pick_recommendations,
)
from segmentation.segments.settings import feature_column_ranges

SNAPSHOT, LATER = date(2024, 1, 31), date(2024, 2, 29)


def _baskets(rows: dict[str, list[str]], snapshot: date = SNAPSHOT) -> pl.DataFrame:
    pairs = [(customer, item) for customer, items in rows.items() for item in items]
    return pl.DataFrame(
        {
            "snapshot_date": [snapshot] * len(pairs),
            "customer_id": [customer for customer, _ in pairs],
            "item": [item for _, item in pairs],
        },
        schema={"snapshot_date": pl.Date, "customer_id": pl.String, "item": pl.String},
    )


# 20 customers hold a and b, 10 hold a and c, x holds a, y holds b: n = 32
SHOP = {
    **{f"ab{i:02}": ["a", "b"] for i in range(20)},
    **{f"ac{i:02}": ["a", "c"] for i in range(10)},
    "x": ["a"],
    "y": ["b", "b"],
}


def test_lift_and_support_of_the_best_rule() -> None:
    settings = RecommendationSettings(min_support=5, min_lift=0, rank_by="lift")
    picks = pick_recommendations(_baskets(SHOP), settings)
    by_customer = {row["customer_id"]: row for row in picks.to_dicts()}
    # a -> c: 10 * 32 / (31 * 10); a -> b: 20 * 32 / (31 * 21); b -> a: the same
    assert by_customer["ab00"]["item"] == "c"
    assert by_customer["ab00"]["lift"] == 10 * 32 / (31 * 10)
    assert by_customer["ab00"]["support"] == 10
    assert by_customer["x"]["item"] == "c"  # 1.032 beats a -> b's 0.983
    assert (by_customer["y"]["item"], by_customer["y"]["support"]) == ("a", 20)
    assert by_customer["y"]["lift"] == 20 * 32 / (21 * 31)
    # ac customers: c -> b does not exist (no one holds both), a -> b does
    assert by_customer["ac00"]["item"] == "b"


def test_confidence_ranks_the_most_likely_associated_item_first() -> None:
    # the default: x holds a; a -> b has confidence 20 / 31, a -> c 10 / 31 (but the higher
    # lift, which ranked by lift wins above)
    picks = pick_recommendations(_baskets(SHOP), RecommendationSettings(min_support=5, min_lift=0))
    by_customer = {row["customer_id"]: row for row in picks.to_dicts()}
    assert (by_customer["x"]["item"], by_customer["x"]["support"]) == ("b", 20)
    assert by_customer["x"]["lift"] == 20 * 32 / (31 * 21)
    # the ab customers have one candidate, c, whichever the ranking
    assert by_customer["ab00"]["item"] == "c"


def test_equal_confidence_goes_to_the_higher_support_then_the_higher_lift() -> None:
    # t holds a and d; a -> e and d -> c both have confidence 5 / 11 and support 5
    # (n(a) = n(d) = 11), but e is rarer (5 holders against 15), so a -> e has the higher lift
    rows = {
        **{f"ae{i}": ["a", "e"] for i in range(5)},
        **{f"dc{i}": ["d", "c"] for i in range(5)},
        **{f"c{i}": ["c"] for i in range(10)},
        **{f"a{i}": ["a"] for i in range(5)},
        **{f"d{i}": ["d"] for i in range(5)},
        "t": ["a", "d"],
    }
    settings = RecommendationSettings(min_support=5, min_lift=0)
    candidates = association_candidates(_baskets(rows), settings).filter(
        pl.col("customer_id") == "t"
    )
    assert candidates.select("item", "confidence").rows() == [("c", 5 / 11), ("e", 5 / 11)]
    pick = pick_recommendations(_baskets(rows), settings).filter(pl.col("customer_id") == "t")
    assert pick.get_column("item").to_list() == ["e"]
    assert pick.get_column("lift").to_list() == [5 * 31 / (11 * 5)]
    # u holds a and g; a -> b: 5 of a's 10 holders, g -> h: 10 of g's 20: the same confidence,
    # the higher support wins over the name and over b's higher lift
    rows = {
        **{f"ab{i}": ["a", "b"] for i in range(5)},
        **{f"a{i}": ["a"] for i in range(4)},
        **{f"gh{i}": ["g", "h"] for i in range(10)},
        **{f"g{i}": ["g"] for i in range(9)},
        **{f"h{i}": ["h"] for i in range(10)},
        "u": ["a", "g"],
    }
    pick = pick_recommendations(_baskets(rows), settings).filter(pl.col("customer_id") == "u")
    assert pick.select("item", "support").rows() == [("h", 10)]


def test_thresholds_leave_customers_without_a_recommendation() -> None:
    settings = RecommendationSettings(min_support=5, min_lift=1.0)
    picks = pick_recommendations(_baskets(SHOP), settings)
    # a -> b and b -> a have a lift below 1: nothing for y and the ac customers
    assert set(picks.get_column("customer_id")) == {*(f"ab{i:02}" for i in range(20)), "x"}
    strict = pick_recommendations(_baskets(SHOP), RecommendationSettings(min_support=11))
    assert strict.is_empty()


def test_ties_go_to_the_higher_support_then_the_first_item_by_name() -> None:
    # n = 20, n(a) = 13; c and d: 4 holders, all with a; e: 8 holders, all with a: the rules
    # a -> c, a -> d and a -> e all have the lift 20 / 13
    rows = {
        **{f"acd{i}": ["a", "c", "d"] for i in range(4)},
        **{f"ae{i}": ["a", "e"] for i in range(8)},
        "z": ["a"],
        **{f"o{i}": ["o"] for i in range(7)},
    }
    settings = RecommendationSettings(min_support=1)
    candidates = association_candidates(_baskets(rows), settings)
    assert candidates.filter(pl.col("customer_id") == "z").select(
        "item", "lift", "support"
    ).rows() == [("c", 20 / 13, 4), ("d", 20 / 13, 4), ("e", 20 / 13, 8)]
    picks = {
        row["customer_id"]: (row["item"], row["support"])
        for row in pick_recommendations(_baskets(rows), settings).to_dicts()
    }
    # the same lift: the higher support wins over the name
    assert picks["z"] == ("e", 8)
    # the same lift and support: the first by name
    assert picks["ae0"] == ("c", 4)
    assert picks["acd0"] == ("e", 8)


def _direct(
    rows: dict[str, list[str]], min_support: int, min_lift: float, rank_by: str = "confidence"
) -> dict:
    """The recommendation of every customer, computed with exact fractions."""
    baskets = {customer: set(items) for customer, items in rows.items() if items}
    n = len(baskets)
    holders = {}
    for customer, items in baskets.items():
        for item in items:
            holders.setdefault(item, set()).add(customer)
    rules = {}
    for a, c in product(holders, holders):
        support = len(holders[a] & holders[c]) if a != c else 0
        lift = Fraction(support * n, len(holders[a]) * len(holders[c]))
        if a != c and support >= min_support and lift >= Fraction(min_lift):
            rules[(a, c)] = (lift, support, Fraction(support, len(holders[a])))
    picks = {}
    for customer, items in baskets.items():
        best = None
        for (a, c), (lift, support, confidence) in rules.items():
            if a in items and c not in items:
                first = confidence if rank_by == "confidence" else lift
                key = (first, support, lift, [-ord(ch) for ch in c])
                if best is None or key > best[0]:
                    best = (key, c, lift, support)
        if best is not None:
            picks[customer] = (best[1], float(best[2]), best[3])
    return picks


def test_random_baskets_get_the_directly_computed_recommendation() -> None:
    rng = np.random.default_rng(11)
    items = [f"i{k}" for k in range(9)]
    # two kinds of customers with their own tastes: items of a taste go together
    tastes = rng.dirichlet(np.ones(len(items)) * 0.5, size=2)
    rows = {
        f"c{i:03}": [items[k] for k in rng.choice(len(items), rng.integers(0, 5), p=tastes[i % 2])]
        for i in range(400)
    }
    got = {}
    for rank_by in ("confidence", "lift"):
        settings = RecommendationSettings(min_support=6, min_lift=0.9, rank_by=rank_by)
        picks = pick_recommendations(_baskets(rows), settings)
        got[rank_by] = {
            row["customer_id"]: (row["item"], row["lift"], row["support"])
            for row in picks.to_dicts()
        }
        assert got[rank_by] == _direct(rows, 6, 0.9, rank_by)
    # the two rankings pick differently for some customers: each comparison above means something
    assert sum(got["confidence"][c] != got["lift"][c] for c in got["lift"]) >= 10
    assert min(len(picks) for picks in got.values()) > 100


def test_snapshots_are_apart_and_the_columns_follow_the_keys() -> None:
    early = _baskets(SHOP)
    # at the later snapshot only the ac customers and x remain
    late = _baskets({k: v for k, v in SHOP.items() if k.startswith("ac") or k == "x"}, LATER)
    categories = (
        pl.concat([early, late])
        .rename({"item": "category"})
        .with_columns(pl.lit(1.0).alias("spend"))
    )
    keys = pl.DataFrame(
        {
            "snapshot_date": [SNAPSHOT, SNAPSHOT, LATER, LATER],
            "customer_id": ["x", "nobody", "x", "ac00"],
        }
    )
    columns = next_best_categories(keys, categories, RecommendationSettings(min_support=5))
    assert columns.columns == [
        "next_best_category",
        "next_best_category_lift",
        "next_best_category_support",
    ]
    # later: n = 11, n(a) = 11, n(c) = 10: a -> c has lift 1 (x gets c), nothing for ac00
    assert columns.rows() == [
        ("c", 10 * 32 / (31 * 10), 10),
        (None, None, None),
        ("c", 1.0, 10),
        (None, None, None),
    ]
    assert next_best_categories(keys, None, RecommendationSettings()).null_count().row(0) == (
        4,
        4,
        4,
    )


def test_negative_spend_and_unknown_are_not_in_a_category_basket() -> None:
    categories = pl.DataFrame(
        {
            "snapshot_date": [SNAPSHOT] * 6,
            "customer_id": ["a", "a", "b", "b", "c", "c"],
            "category": ["home", "unknown", "home", "garden", "home", "garden"],
            "spend": [5.0, 9.0, 5.0, 1.0, 5.0, -1.0],
        }
    )
    keys = pl.DataFrame({"snapshot_date": [SNAPSHOT] * 3, "customer_id": ["a", "b", "c"]})
    columns = next_best_categories(keys, categories, RecommendationSettings(min_support=1))
    # baskets: a {home}, b {home, garden}, c {home}: home -> garden, lift 1
    assert columns.get_column("next_best_category").to_list() == ["garden", None, "garden"]


BANK = {
    "customer_id": ["p1", "p2", "p3", "p4", "p5", "p6", "p7"],
    "risk_preference": ["aggressive", "balanced", "conservative", None, "balanced", "x", "y"],
    "products_held": [
        ["deposit", "fund"],
        ["deposit", "fund"],
        ["deposit", "fund", "loan"],
        ["deposit"],
        ["deposit"],
        ["deposit", "loan"],
        [],
    ],
}
CATALOGUE = pl.DataFrame(
    {
        "product_id": ["deposit", "fund", "loan"],
        "category": ["savings", "investment", "credit"],
        "subcategory": [None, None, None],
        "price_level": [None, None, None],
        "need_level": ["basic", "core", "core"],
        "risk_level": ["1", "3", "2"],
    },
    schema_overrides={"subcategory": pl.String, "price_level": pl.String},
)
RISK_RULE = (
    "TRY_CAST(product_risk_level AS INTEGER) <= CASE risk_preference WHEN 'conservative' "
    "THEN 1 WHEN 'balanced' THEN 2 WHEN 'aggressive' THEN 3 END"
)


def _bank(**settings) -> tuple[pl.DataFrame, RecommendationSettings]:
    features = pl.DataFrame(BANK).with_columns(pl.lit(SNAPSHOT).alias("snapshot_date"))
    return features, RecommendationSettings(
        min_support=1, products_held_column="products_held", **settings
    )


def test_next_best_product_from_the_holdings() -> None:
    features, settings = _bank()
    columns = next_best_products(features, settings)
    # n = 6 (p7 holds nothing); deposit -> fund: 3 * 6 / (6 * 3) = 1, deposit -> loan = 1;
    # fund -> loan: 1 * 6 / (3 * 2) = 1; ties on lift go to support: fund (3) over loan (2)
    assert columns.get_column("next_best_product").to_list() == [
        "loan",
        "loan",
        None,
        "fund",
        "fund",
        "fund",
        None,
    ]
    without = next_best_products(features, RecommendationSettings())
    assert without.null_count().row(0) == (7, 7, 7)


def _eligibility(rule: str):
    known = {**FEATURE_COLUMN_TYPES, "risk_preference": pl.String(), "products_held": pl.String()}
    return compile_eligibility(
        RecommendationSettings(eligibility=rule, products_held_column="products_held"),
        known,
        feature_column_ranges(),
    )


def test_an_ineligible_product_is_never_recommended() -> None:
    features, settings = _bank()
    columns = next_best_products(features, settings, CATALOGUE, _eligibility(RISK_RULE))
    # fund has risk 3: only for the aggressive; loan (2) for the balanced and aggressive;
    # null or unknown preferences get nothing
    # p5 (balanced, deposit): fund is ineligible, loan is the next best rule
    assert columns.get_column("next_best_product").to_list() == [
        "loan",
        "loan",
        None,
        None,
        "loan",
        None,
        None,
    ]
    features = features.with_columns(
        pl.when(pl.col("customer_id") == "p4")
        .then(pl.lit("balanced"))
        .otherwise(pl.col("risk_preference"))
        .alias("risk_preference")
    )
    columns = next_best_products(features, settings, CATALOGUE, _eligibility(RISK_RULE))
    assert columns.row(3) == ("loan", 1.0, 2)
    # without the catalogue the product columns are null: nothing is eligible
    nothing = next_best_products(features, settings, None, _eligibility(RISK_RULE))
    assert nothing.get_column("next_best_product").null_count() == 7


def test_an_eligibility_rule_on_the_product_id_alone() -> None:
    features, settings = _bank()
    columns = next_best_products(features, settings, None, _eligibility("product_id <> 'fund'"))
    assert columns.get_column("next_best_product").to_list()[3:6] == ["loan", "loan", None]


def test_a_held_column_that_is_not_a_list_is_refused() -> None:
    features, settings = _bank()
    with pytest.raises(TypeError, match="holds String, not a list of products"):
        next_best_products(features.with_columns(pl.lit("x").alias("products_held")), settings)
    with pytest.raises(KeyError, match="is not a column of the features"):
        next_best_products(features.drop("products_held"), settings)


@pytest.mark.parametrize("rank_by", ["confidence", "lift"])
def test_the_summed_counts_of_split_customers_give_each_part_the_whole_populations_picks(
    rank_by: str,
) -> None:
    """The counts of disjoint sets of customers add up: each part's picks with the summed
    counts are the picks of all baskets at once (as an engine splitting the customers computes
    them), while a part's own counts alone give other rules."""
    rows = {**SHOP, **{f"bc{i:02}": ["b", "c"] for i in range(6)}, "z": ["c"]}
    later = _baskets({f"ab{i:02}": ["a", "b"] for i in range(8)} | {"q": ["a"]}, LATER)
    baskets = pl.concat([_baskets(rows), later])
    settings = RecommendationSettings(min_support=5, min_lift=0, rank_by=rank_by)
    whole = pick_recommendations(baskets, settings)
    first = pl.col("customer_id").is_in([name for name in rows if name < "ac05"] + ["q"])
    parts = [baskets.filter(first), baskets.filter(~first)]
    counts = (
        pl.concat([association_counts(part) for part in parts])
        .group_by("snapshot_date", "antecedent", "consequent")
        .agg(pl.col("customers").sum())
    )
    assert counts.sort(counts.columns).equals(association_counts(baskets).sort(counts.columns))
    split = pl.concat([pick_recommendations(part, settings, counts=counts) for part in parts])
    assert whole.height > 30
    assert split.sort("snapshot_date", "customer_id").equals(whole)
    own = pl.concat([pick_recommendations(part, settings) for part in parts])
    assert not own.sort("snapshot_date", "customer_id").equals(whole)
