"""Settings of the labels that come from the product catalogue and the customer's holdings
(``segments.needs``, ``segments.recommendations``, ``segments.psychographics``), and the checks
of their rules. Example::

    segments:
      needs: {level_column: need_level, core_levels: [core, premium],
              basic_levels: [basic, budget], core_min_share: 0.6, basic_max_share: 0.2}
      recommendations:
        min_support: 20
        min_lift: 1.0
        products_held_column: products_held     # an extra column of type list
        eligibility: "TRY_CAST(product_risk_level AS INTEGER) <= 2"
      psychographics:
        rules: [{name: home_maker, when: "lifestyle = 'home_maker'"}]
        default: unknown
        clusters: {enabled: true, k_min: 3, k_max: 6, sample_size: 20000, seed: 42}

The rules are checked when the configuration loads, as attribute rules are (see
:mod:`segmentation.segments.sql_rules`): psychographic rules over the customer columns
(``features.customer_features`` and the declared extra columns), the eligibility rule over those
and the ``product_*`` columns of the catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Annotated, Literal

import polars as pl
from pydantic import Field, field_validator, model_validator

from segmentation.segments.rule_types import CheckedExpression, ColumnRange, RuleProblem
from segmentation.segments.sql_rules import RuleChecker
from segmentation.settings_base import Strict

_Label = Annotated[str, Field(min_length=1, max_length=100)]

# the catalogue columns (raw.products) an eligibility rule may use, as it names them
PRODUCT_RULE_COLUMNS: dict[str, str] = {
    "product_id": "product_id",
    "product_category": "category",
    "product_subcategory": "subcategory",
    "product_price_level": "price_level",
    "product_need_level": "need_level",
    "product_risk_level": "risk_level",
}
PRODUCT_COLUMN_TYPES: dict[str, pl.DataType] = {name: pl.String() for name in PRODUCT_RULE_COLUMNS}


def _levels(value: list[str]) -> list[str]:
    """Levels compared with the catalogue's values trimmed and in lower case."""
    levels = [level.strip().lower() for level in value]
    if any(not level for level in levels):
        raise ValueError("a level cannot be blank")
    return levels


class NeedsSettings(Strict):
    """Needs classes (``needs_class``: core, basic, mixed, unknown) from the share of a
    customer's spend in the category window on core-level items (``core_spend_share``)."""

    level_column: Literal["need_level", "price_level"] = Field(
        default="need_level",
        description="The catalogue column (`sources.products`) whose value says whether an "
        "item serves a core or a basic need.",
    )
    core_levels: list[str] = Field(
        default_factory=lambda: ["core", "premium"],
        min_length=1,
        description="Levels of `level_column` that count as core (compared trimmed, in lower "
        "case).",
    )
    basic_levels: list[str] = Field(
        default_factory=lambda: ["basic", "budget"],
        min_length=1,
        description="Levels that count as basic. Items with any other level, or none, count "
        "towards neither share: `core_spend_share` is core spend / (core + basic spend).",
    )
    core_min_share: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.6,
        description="`core` from this `core_spend_share` on.",
    )
    basic_max_share: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        default=0.2,
        description="`basic` up to this `core_spend_share` (at least 80% of the levelled "
        "spend on basic items at 0.2); `mixed` between the two thresholds.",
    )

    _normalised = field_validator("core_levels", "basic_levels")(_levels)

    @model_validator(mode="after")
    def _consistent(self) -> NeedsSettings:
        both = sorted(set(self.core_levels) & set(self.basic_levels))
        if both:
            raise ValueError(f"levels both core and basic: {', '.join(both)}")
        if self.basic_max_share >= self.core_min_share:
            raise ValueError(
                f"basic_max_share ({self.basic_max_share}) must be below core_min_share "
                f"({self.core_min_share})"
            )
        return self


class RecommendationSettings(Strict):
    """Next best category and product: pairwise association rules over the snapshot's baskets
    (the categories bought in the category window; the products held)."""

    min_support: Annotated[int, Field(ge=1)] = Field(
        default=20,
        description="A rule a -> c counts only when at least this many customers of the "
        "snapshot have both a and c.",
    )
    min_lift: Annotated[float, Field(ge=0.0)] = Field(
        default=1.0,
        description="A rule a -> c counts only when its lift P(c | a) / P(c) is at least this.",
    )
    rank_by: Literal["confidence", "lift"] = Field(
        default="confidence",
        description="How a customer's candidates are ranked: `confidence`, the share P(c | a) "
        "of the customers holding a that hold c too (the most likely next item among the "
        "associated ones), or `lift`, P(c | a) / P(c) (the most surprising one, which favours "
        "rare items). Either way only rules passing `min_support` and `min_lift` count, and the "
        "chosen rule's lift and support are reported.",
    )
    products_held_column: str | None = Field(
        default=None,
        description="An extra column of type `list` (`segments.extra_columns`) naming the "
        "products each customer holds at the snapshot, e.g. `products_held`; without it "
        "`next_best_product` is null.",
    )
    eligibility: Annotated[str, Field(min_length=1)] | None = Field(
        default=None,
        description="A rule over the customer columns and the catalogue's `product_*` columns "
        "(`product_id`, `product_category`, `product_subcategory`, `product_price_level`, "
        "`product_need_level`, `product_risk_level`): a product is recommended to a customer "
        "only where it is true (null: not eligible).",
    )


class PsychographicRule(Strict):
    """One named psychographic rule: the class and its SQL boolean condition."""

    name: _Label = Field(description="The class a customer matching the rule gets.")
    when: Annotated[str, Field(min_length=1)] = Field(
        description="A SQL boolean expression over the customer columns (features and extra "
        "columns, e.g. a survey's `lifestyle`)."
    )


class PsychographicClusterSettings(Strict):
    """Clusters of the category spend shares, used when there are no psychographic rules."""

    enabled: bool = Field(
        default=True,
        description="Cluster the category mix when no rule is configured (else: `unknown`).",
    )
    k_min: Annotated[int, Field(ge=2, le=20)] = Field(
        default=3, description="Smallest number of clusters tried."
    )
    k_max: Annotated[int, Field(ge=2, le=20)] = Field(
        default=6,
        description="Largest number of clusters tried; the k with the best silhouette wins.",
    )
    sample_size: Annotated[int, Field(ge=100)] = Field(
        default=20_000, description="Customers sampled (seeded) per snapshot to fit and choose k."
    )
    silhouette_sample_size: Annotated[int, Field(ge=100)] = Field(
        default=5_000, description="Points the silhouette score is computed on."
    )
    seed: int = Field(default=42, description="Seed of the samples and of k-means.")

    @model_validator(mode="after")
    def _ordered(self) -> PsychographicClusterSettings:
        if self.k_min > self.k_max:
            raise ValueError("k_min must not be above k_max")
        return self


class PsychographicSettings(Strict):
    """Psychographic classes (``psychographic_class``): the first matching rule, else (without
    rules) clusters of the category mix named from their dominant categories."""

    rules: list[PsychographicRule] = Field(
        default_factory=list,
        description="Ordered rules, first match wins; with rules, no clusters are fitted.",
    )
    default: _Label = Field(
        default="unknown",
        description="The class of a customer no rule matches.",
    )
    clusters: PsychographicClusterSettings = Field(
        default_factory=PsychographicClusterSettings,
        description="Clusters of the category spend shares, without rules.",
    )

    @model_validator(mode="after")
    def _unique_names(self) -> PsychographicSettings:
        names = [rule.name for rule in self.rules]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate psychographic rule names: {', '.join(duplicates)}")
        return self


def compile_psychographic_rules(
    settings: PsychographicSettings,
    known: Mapping[str, pl.DataType],
    ranges: Mapping[str, ColumnRange],
) -> list[CheckedExpression]:
    """Check every psychographic rule against the customer columns ``known``.

    Raises:
        ValueError: Listing every rejected rule as ``psychographic rule '<name>' (`<when>`):
            <problem>``.
    """
    problems: list[str] = []
    checked: list[CheckedExpression] = []
    with RuleChecker(known, ranges) as checker:
        for rule in settings.rules:
            label = f"psychographic rule '{rule.name}'"
            try:
                checked.append(replace(checker.check(rule.when), label=label))
            except RuleProblem as problem:
                problems.append(f"{label} (`{rule.when.strip()}`): {problem}")
    if problems:
        raise ValueError("invalid psychographic rules:\n  " + "\n  ".join(problems))
    return checked


def compile_eligibility(
    settings: RecommendationSettings,
    known: Mapping[str, pl.DataType],
    ranges: Mapping[str, ColumnRange],
) -> CheckedExpression | None:
    """Check the eligibility rule against the customer columns ``known`` and the catalogue's
    ``product_*`` columns; None without a rule.

    Raises:
        ValueError: Naming the rule and its problem.
    """
    if settings.eligibility is None:
        return None
    clash = sorted(set(known) & set(PRODUCT_COLUMN_TYPES))
    if clash:
        raise ValueError(
            f"customer columns named like catalogue columns: {', '.join(clash)} (rename them: "
            "`product_*` names are the catalogue's in the eligibility rule)"
        )
    with RuleChecker({**known, **PRODUCT_COLUMN_TYPES}, ranges) as checker:
        try:
            checked = checker.check(settings.eligibility)
        except RuleProblem as problem:
            raise ValueError(
                f"invalid recommendation eligibility rule (`{settings.eligibility.strip()}`): "
                f"{problem}"
            ) from None
    return replace(checked, label="recommendation eligibility rule")


def held_column_problems(
    settings: RecommendationSettings, extra_kinds: Mapping[str, str]
) -> list[str]:
    """What is wrong with ``products_held_column`` and ``eligibility`` given the extra columns
    declared (name -> kind)."""
    column = settings.products_held_column
    problems = []
    if column is not None and column not in extra_kinds:
        problems.append(
            f"recommendations.products_held_column: '{column}' is not declared under "
            "extra_columns (declare it with type list)"
        )
    elif column is not None and extra_kinds[column] != "list":
        problems.append(
            f"recommendations.products_held_column: '{column}' is declared as "
            f"{extra_kinds[column]}, not list"
        )
    if settings.eligibility is not None and column is None:
        problems.append(
            "recommendations.eligibility: applies to next_best_product, which needs "
            "products_held_column"
        )
    return problems
