"""Next best category and next best product: pairwise association rules over each snapshot's own
baskets.

A basket is what a customer has at the snapshot: the catalogued categories with positive net
spend in the category window (``features.customer_categories``), or the products held (the
list column ``segments.recommendations.products_held_column``). Over the customers of the
snapshot with a basket, the rule a -> c has support n(a, c) (customers holding both),
confidence P(c | a) and lift P(c | a) / P(c); it qualifies with support >= ``min_support`` and
lift >= ``min_lift``. A customer's candidates are the items c not in their basket that a
qualifying rule a -> c from an item a in their basket leads to, each with its best such rule
(the highest lift, which for one c is the highest confidence too). The recommendation is the
candidate ranked first by ``rank_by``: ``confidence`` (default) or ``lift``; ties: the
higher support (the better evidence), then the higher lift, then the first item by name. It is
reported with its rule's lift and support; null where no rule qualifies. A product also has
to pass the ``eligibility`` rule for the customer. The co-occurrence counts are a self-join of
the baskets in DuckDB (``sql/segments/association_counts.sql``): the work grows with the
customers times the square of their basket sizes, not with the customers times the items.
The counts are of customers, so those of disjoint sets of customers add up
(:func:`association_counts`): an engine that splits the customers sums its parts' counts and
passes them as ``counts``; each customer's candidates and pick then need only that customer's
basket (``sql/segments/association_candidates.sql``, ``association_pick.sql``).

Why confidence by default: the holdout tests (``tests/e2e/test_next_best*.py``) find that the
highest lift goes to items few customers buy, so a lift-ranked recommendation is bought no
more often than the most popular item the customer lacks, while the most likely associated item
is (docs/needs-and-recommendations.md has the numbers).
"""

from __future__ import annotations

from contextlib import ExitStack

import polars as pl

from segmentation.features.contracts import UNKNOWN_CATEGORY
from segmentation.keys import KEY_COLUMNS
from segmentation.segments.category_settings import (
    PRODUCT_RULE_COLUMNS,
    RecommendationSettings,
)
from segmentation.segments.rule_evaluation import match_flags
from segmentation.segments.rule_types import CheckedExpression, connect
from segmentation.sql_files import compose_sql, read_sql
from segmentation.warehouse import registered

PICK_SCHEMA = {
    "snapshot_date": pl.Date,
    "customer_id": pl.String,
    "item": pl.String,
    "lift": pl.Float64,
    "support": pl.Int64,
}
# a candidate also carries its rule's confidence, which the pick ranks by
CANDIDATE_SCHEMA = {**PICK_SCHEMA, "confidence": pl.Float64}
# the rules' counts per snapshot (sql/segments/association_counts.sql): both items null, n;
# the antecedent alone, n(a); both, n(a, c)
COUNT_SCHEMA = {
    "snapshot_date": pl.Date,
    "antecedent": pl.String,
    "consequent": pl.String,
    "customers": pl.Int64,
}
_COUNT_ROWS = "association_count_rows"


def _candidates_sql(counts: pl.DataFrame | None) -> str:
    """association_candidates.sql with the counts of its own baskets, or of ``counts``
    (registered as ``association_count_rows``)."""
    source = "association_count_rows.sql" if counts is not None else "association_counts.sql"
    return compose_sql("segments/association_candidates.sql", counts=read_sql(f"segments/{source}"))


def _basket_frames(baskets: pl.DataFrame, counts: pl.DataFrame | None) -> dict[str, pl.DataFrame]:
    frames = {"basket_rows": baskets.select(*KEY_COLUMNS, "item")}
    if counts is not None:
        frames[_COUNT_ROWS] = counts.select(list(COUNT_SCHEMA)).cast(COUNT_SCHEMA)  # type: ignore[arg-type]
    return frames


def association_counts(baskets: pl.DataFrame) -> pl.DataFrame:
    """The counts of the association rules of ``baskets`` (snapshot_date, customer_id, item):
    per snapshot, n, every n(a) and every n(a, c) (see ``COUNT_SCHEMA``). The counts of baskets
    of disjoint sets of customers add up, row by row, to the counts of all of them.

    Returns:
        snapshot_date, antecedent, consequent, customers; sorted by those keys.
    """
    con = connect()
    try:
        with registered(con, "basket_rows", baskets.select(*KEY_COLUMNS, "item")):
            frame = con.execute(read_sql("segments/association_counts.sql")).pl()
    finally:
        con.close()
    return frame.cast(COUNT_SCHEMA).sort(  # type: ignore[arg-type]
        "snapshot_date", "antecedent", "consequent", nulls_last=False
    )


def _picks(
    candidates_sql: str,
    frames: dict[str, pl.DataFrame],
    parameters: dict[str, object] | None = None,
) -> pl.DataFrame:
    """Run ``association_pick.sql`` over ``candidates_sql`` with ``frames`` registered by
    name."""
    query = compose_sql("segments/association_pick.sql", candidates=candidates_sql)
    con = connect()
    try:
        with ExitStack() as views:
            for name, frame in frames.items():
                views.enter_context(registered(con, name, frame))
            result = con.execute(query, parameters or {}).pl()
    finally:
        con.close()
    return result.cast(PICK_SCHEMA)  # type: ignore[arg-type]


def _thresholds(settings: RecommendationSettings) -> dict[str, object]:
    return {"min_support": settings.min_support, "min_lift": settings.min_lift}


def _ranking(settings: RecommendationSettings) -> dict[str, object]:
    return {"rank_by": settings.rank_by}


def association_candidates(
    baskets: pl.DataFrame,
    settings: RecommendationSettings,
    counts: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Every item each customer could be recommended, with the best qualifying rule leading to
    it (see the module docstring).

    Args:
        baskets: snapshot_date, customer_id, item: one row per item a customer has (repeats
            count once; a null item is no item).
        settings: min_support and min_lift.
        counts: The rules' counts (:func:`association_counts`) of a population holding these
            baskets; default: the counts of ``baskets`` themselves.

    Returns:
        snapshot_date, customer_id, item, lift, support, confidence; sorted by those keys and
        item.
    """
    con = connect()
    try:
        with ExitStack() as views:
            for name, frame in _basket_frames(baskets, counts).items():
                views.enter_context(registered(con, name, frame))
            frame = con.execute(_candidates_sql(counts), _thresholds(settings)).pl()
    finally:
        con.close()
    return frame.cast(CANDIDATE_SCHEMA).sort(*KEY_COLUMNS, "item")  # type: ignore[arg-type]


def pick_recommendations(
    baskets: pl.DataFrame,
    settings: RecommendationSettings,
    eligible: pl.DataFrame | None = None,
    counts: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The recommendation of every customer with one: the best candidate of the baskets' rules
    by ``settings.rank_by`` (see the module docstring). With ``eligible`` (rows of
    :func:`association_candidates` that passed an eligibility rule), the best of those.
    ``counts``: as :func:`association_candidates`'s.

    Returns:
        snapshot_date, customer_id, item, lift, support; sorted by snapshot and customer.
    """
    if eligible is None:
        return _picks(
            _candidates_sql(counts),
            _basket_frames(baskets, counts),
            _thresholds(settings) | _ranking(settings),
        )
    return _picks(
        read_sql("segments/eligible_candidates.sql"),
        {"eligible_candidates": eligible.select(list(CANDIDATE_SCHEMA))},
        _ranking(settings),
    )


def _aligned(keys: pl.DataFrame, picks: pl.DataFrame, prefix: str) -> pl.DataFrame:
    """The picks as the ``<prefix>``, ``<prefix>_lift``, ``<prefix>_support`` columns of the
    rows of ``keys``, in its row order (null without a pick)."""
    renamed = picks.rename(
        {"item": prefix, "lift": f"{prefix}_lift", "support": f"{prefix}_support"}
    )
    joined = keys.select(KEY_COLUMNS).join(
        renamed, on=list(KEY_COLUMNS), how="left", maintain_order="left"
    )
    return joined.select(prefix, f"{prefix}_lift", f"{prefix}_support")


def category_baskets(categories: pl.DataFrame) -> pl.DataFrame:
    """The category basket of each customer: the catalogued categories with positive net spend
    in the window (``features.customer_categories`` rows)."""
    return categories.filter(
        (pl.col("category") != UNKNOWN_CATEGORY) & (pl.col("spend") > 0)
    ).select(*KEY_COLUMNS, pl.col("category").alias("item"))


def next_best_categories(
    keys: pl.DataFrame,
    categories: pl.DataFrame | None,
    settings: RecommendationSettings,
    counts: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``next_best_category``, ``_lift`` and ``_support`` of every row of ``keys``
    (snapshot_date, customer_id), in its order; null without ``categories`` (no products
    source) and where no rule qualifies. ``counts``: the rules' counts of the whole population
    (:func:`association_counts` of its category baskets) when ``categories`` holds a part of
    it; default: the counts of ``categories``' baskets."""
    if categories is None:
        picks = pl.DataFrame(schema=PICK_SCHEMA)
    else:
        picks = pick_recommendations(category_baskets(categories), settings, counts=counts)
    return _aligned(keys, picks, "next_best_category")


def product_baskets(features: pl.DataFrame, column: str) -> pl.DataFrame:
    """The product basket of each customer: the items of the list column ``column``.

    Raises:
        KeyError: The features lack the column.
        TypeError: The column is not a list of text.
    """
    if column not in features.columns:
        raise KeyError(
            f"recommendations.products_held_column '{column}' is not a column of the features"
        )
    dtype = features.schema[column]
    if not isinstance(dtype, pl.List):
        raise TypeError(
            f"recommendations.products_held_column '{column}' holds {dtype}, not a list of products"
        )
    return (
        features.select(*KEY_COLUMNS, pl.col(column).cast(pl.List(pl.String)).alias("item"))
        .explode("item")
        .filter(pl.col("item").is_not_null())
    )


def _eligible(
    candidates: pl.DataFrame,
    features: pl.DataFrame,
    products: pl.DataFrame | None,
    rule: CheckedExpression,
) -> pl.DataFrame:
    """The candidates for which ``rule`` holds, over the customer's columns and the candidate
    product's ``product_*`` columns (null for a product the catalogue does not list)."""
    product_columns = [name for name in rule.columns if name in PRODUCT_RULE_COLUMNS]
    customer_columns = [name for name in rule.columns if name not in PRODUCT_RULE_COLUMNS]
    rows = candidates.join(
        features.select(*KEY_COLUMNS, *customer_columns),
        on=list(KEY_COLUMNS),
        how="left",
        maintain_order="left",
    )
    if product_columns:
        catalogue = (
            products
            if products is not None
            else pl.DataFrame(schema=dict.fromkeys(PRODUCT_RULE_COLUMNS.values(), pl.String))
        )
        catalogue = catalogue.select(
            pl.col("product_id").alias("item"),
            *(
                pl.col(PRODUCT_RULE_COLUMNS[name]).cast(pl.String).alias(name)
                for name in product_columns
                if name != "product_id"
            ),
        )
        rows = rows.join(catalogue, on="item", how="left", maintain_order="left")
        if "product_id" in product_columns:
            rows = rows.with_columns(pl.col("item").alias("product_id"))
    flags = match_flags(rows, [rule])
    return candidates.filter(flags.get_column("match_0"))


def next_best_products(
    features: pl.DataFrame,
    settings: RecommendationSettings,
    products: pl.DataFrame | None = None,
    eligibility: CheckedExpression | None = None,
    counts: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``next_best_product``, ``_lift`` and ``_support`` of every row of ``features``, in its
    order: over the products held (``settings.products_held_column``; all null without it),
    offering only products that pass ``eligibility`` (the checked
    ``settings.eligibility``) for the customer.

    Args:
        features: ``features.customer_features`` rows with the held-products list column and
            every customer column the eligibility rule uses.
        settings: The recommendation settings.
        products: ``raw.products`` (product_id, category, subcategory, price_level,
            need_level, risk_level) for the rule's ``product_*`` columns; without it they are
            null, so a rule that needs them recommends nothing.
        eligibility: The checked eligibility rule, None for none.
        counts: The rules' counts of the whole population (:func:`association_counts` of its
            product baskets) when ``features`` holds a part of it; default: the counts of
            ``features``' baskets.
    """
    column = settings.products_held_column
    if column is None:
        return _aligned(features, pl.DataFrame(schema=PICK_SCHEMA), "next_best_product")
    baskets = product_baskets(features, column)
    if eligibility is None:
        picks = pick_recommendations(baskets, settings, counts=counts)
    else:
        candidates = association_candidates(baskets, settings, counts)
        eligible = _eligible(candidates, features, products, eligibility)
        picks = pick_recommendations(baskets, settings, eligible)
    return _aligned(features, picks, "next_best_product")
