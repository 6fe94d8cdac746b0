"""Settings of the segments layer (the ``segments:`` key of the pipeline configuration).

Every key has a documented default, unknown keys are rejected, and every attribute rule is
parsed and checked when the settings are built (see :mod:`assets.segments.sql_rules`): a bad rule
stops the configuration from loading, with a message naming the dimension, the rule and the
problem. Example::

    segments:
      extra_columns: {assets_total: float, risk_preference: text, products_held: integer}
      rfm: {monetary: net_revenue, frequency: orders}
      loyalty: {min_repeat_purchases: 2, min_p_alive: 0.5, max_recency_days: 180}
      churn_risk: {high_p_alive: 0.3, medium_p_alive: 0.6,
                   high_recency_days: 180, medium_recency_days: 90}
      attributes:
        - dimension: age_band
          rules:
            - {name: "18-24", when: "age BETWEEN 18 AND 24"}
            - {name: "25+", when: "age >= 25"}
          default: unknown          # label when no rule matches (first matching rule wins)
        - dimension: region         # a passthrough dimension: the column's value is the label
          column: region
          default: unknown          # label when the column is null
        - dimension: wealth
          rules: [{name: high_net_worth, when: "assets_total >= 1000000"}]
          default: other
      clusters: {enabled: true, k_min: 3, k_max: 8, sample_size: 20000, seed: 42}
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from assets.segments.columns import (
    FEATURE_COLUMN_TYPES,
    ColumnKind,
    feature_columns_with,
)
from assets.segments.sql_rules import CheckedExpression, RuleChecker, RuleProblem

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
_Probability = Annotated[float, Field(ge=0.0, le=1.0)]
_Days = Annotated[int, Field(ge=0)]
_Label = Annotated[str, Field(min_length=1, max_length=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RfmSettings(_Strict):
    """Which feature columns the F and M quintile scores rank.

    Attributes:
        monetary: ``net_revenue`` (default: what the customer is worth after returns) or
            ``gross_revenue``.
        frequency: ``orders`` (default: distinct purchase orders) or ``purchase_days``.
    """

    monetary: Literal["net_revenue", "gross_revenue"] = "net_revenue"
    frequency: Literal["orders", "purchase_days"] = "orders"


class LoyaltySettings(_Strict):
    """Loyalty labels: ``lost``, ``loyal`` or ``hesitant`` (checked in that order).

    * ``lost``: lifecycle stage ``lost``.
    * ``loyal``: at least ``min_repeat_purchases`` repeat purchase days (BTYD ``frequency``) and
      still alive: ``p_alive >= min_p_alive``, or, where ``p_alive`` is null,
      ``recency_days <= max_recency_days``.
    * ``hesitant``: everyone else, including customers who never purchased.
    """

    min_repeat_purchases: Annotated[int, Field(ge=1)] = 2
    min_p_alive: _Probability = 0.5
    max_recency_days: _Days = 180


class ChurnRiskSettings(_Strict):
    """Churn risk labels from ``p_alive`` and ``recency_days`` (a customer who never purchased
    gets ``no_purchase``).

    ``high`` when ``p_alive < high_p_alive`` or ``recency_days > high_recency_days``; else
    ``medium`` when ``p_alive < medium_p_alive`` or ``recency_days > medium_recency_days``; else
    ``low``. Where ``p_alive`` is null only the recency thresholds apply. Recency is checked even
    when ``p_alive`` is known because BG/NBD gives one-time buyers ``p_alive = 1``.
    """

    high_p_alive: _Probability = 0.3
    medium_p_alive: _Probability = 0.6
    high_recency_days: _Days = 180
    medium_recency_days: _Days = 90

    @model_validator(mode="after")
    def _ordered(self) -> ChurnRiskSettings:
        if self.high_p_alive > self.medium_p_alive:
            raise ValueError("high_p_alive must not be above medium_p_alive")
        if self.medium_recency_days > self.high_recency_days:
            raise ValueError("medium_recency_days must not be above high_recency_days")
        return self


class AttributeRule(_Strict):
    """One named rule of an attribute dimension: the label and its SQL boolean condition."""

    name: _Label
    when: Annotated[str, Field(min_length=1)]


class AttributeDimension(_Strict):
    """An attribute dimension: ordered rules (first match wins) or a passthrough column.

    Attributes:
        dimension: Lower-case identifier; the segments table gets a column ``attr_<dimension>``.
        rules: Ordered named rules; each customer gets the name of the first rule that is true.
        column: Instead of rules: the label is this column's value as text.
        default: Label when no rule matches (or the passthrough column is null).
    """

    dimension: str
    rules: list[AttributeRule] | None = None
    column: str | None = None
    default: _Label = "unknown"

    @field_validator("dimension")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError(f"dimension {value!r}: use lower-case letters, digits and _")
        return value

    @model_validator(mode="after")
    def _rules_or_column(self) -> AttributeDimension:
        if (self.rules is None) == (self.column is None):
            raise ValueError(f"dimension {self.dimension!r}: give either `rules` or `column`")
        if self.rules is not None:
            if not self.rules:
                raise ValueError(f"dimension {self.dimension!r}: `rules` is empty")
            names = [rule.name for rule in self.rules]
            duplicates = sorted({name for name in names if names.count(name) > 1})
            if duplicates:
                raise ValueError(
                    f"dimension {self.dimension!r}: duplicate rule names {', '.join(duplicates)}"
                )
        return self


class ClusterSettings(_Strict):
    """K-means clusters of purchasers on standardised log1p RFM + CLV features.

    Attributes:
        enabled: When false every purchaser gets ``Not Clustered``.
        k_min: Smallest number of clusters tried.
        k_max: Largest number of clusters tried; the k with the best silhouette score wins.
        sample_size: Purchasers sampled (seeded) per snapshot to fit and choose k.
        silhouette_sample_size: Points the silhouette score is computed on (it is quadratic).
        seed: Seed of the sample, of k-means and of the silhouette sample.
    """

    enabled: bool = True
    k_min: Annotated[int, Field(ge=2, le=20)] = 3
    k_max: Annotated[int, Field(ge=2, le=20)] = 8
    sample_size: Annotated[int, Field(ge=100)] = 20_000
    silhouette_sample_size: Annotated[int, Field(ge=100)] = 5_000
    seed: int = 42

    @model_validator(mode="after")
    def _ordered(self) -> ClusterSettings:
        if self.k_min > self.k_max:
            raise ValueError("k_min must not be above k_max")
        return self


def _default_attributes() -> list[AttributeDimension]:
    return [
        AttributeDimension(
            dimension="age_band",
            rules=[
                AttributeRule(name="under_25", when="age < 25"),
                AttributeRule(name="25-34", when="age BETWEEN 25 AND 34"),
                AttributeRule(name="35-44", when="age BETWEEN 35 AND 44"),
                AttributeRule(name="45-54", when="age BETWEEN 45 AND 54"),
                AttributeRule(name="55-64", when="age BETWEEN 55 AND 64"),
                AttributeRule(name="65+", when="age >= 65"),
            ],
        ),
        AttributeDimension(dimension="gender", column="gender"),
        AttributeDimension(dimension="region", column="region"),
        AttributeDimension(dimension="channel", column="dominant_channel"),
    ]


class SegmentSettings(_Strict):
    """Settings of the segments layer; see the module docstring for the YAML shape.

    Attributes:
        extra_columns: Customer attribute columns beyond the standard features that rules may
            use, as ``name: text|integer|float|boolean|date``.
        rfm: Columns the RFM scores rank.
        loyalty: Loyalty label thresholds.
        churn_risk: Churn-risk label thresholds.
        attributes: Attribute dimensions. The default (age band, gender, region, dominant
            channel) applies when the key is absent; ``attributes: []`` turns them off.
        clusters: K-means cluster settings.
    """

    extra_columns: dict[str, ColumnKind] = Field(default_factory=dict)
    rfm: RfmSettings = RfmSettings()
    loyalty: LoyaltySettings = LoyaltySettings()
    churn_risk: ChurnRiskSettings = ChurnRiskSettings()
    attributes: list[AttributeDimension] = Field(default_factory=_default_attributes)
    clusters: ClusterSettings = ClusterSettings()

    @field_validator("extra_columns")
    @classmethod
    def _new_identifiers(cls, value: dict[str, ColumnKind]) -> dict[str, ColumnKind]:
        for name in value:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
                raise ValueError(f"extra column {name!r} is not a plain identifier")
            if name in FEATURE_COLUMN_TYPES:
                raise ValueError(f"extra column {name!r} is already a feature column")
        return value

    @model_validator(mode="after")
    def _rules_are_valid(self) -> SegmentSettings:
        dimensions = [attribute.dimension for attribute in self.attributes]
        duplicates = sorted({name for name in dimensions if dimensions.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate attribute dimensions: {', '.join(duplicates)}")
        compile_attribute_rules(self)
        return self

    def known_columns(self) -> dict[str, pl.DataType]:
        """Every column attribute rules may reference, with its polars dtype."""
        return feature_columns_with(self.extra_columns)

    def attribute_dimensions(self) -> list[str]:
        """The attribute dimension names, in configuration order."""
        return [attribute.dimension for attribute in self.attributes]


def compile_attribute_rules(settings: SegmentSettings) -> dict[str, list[CheckedExpression]]:
    """Check every attribute rule; returns dimension -> checked rules (rule dimensions only).

    Raises:
        ValueError: Listing every rejected rule as ``attribute dimension '<d>', rule '<r>'
            (`<when>`): <problem>``, and every unknown passthrough column.
    """
    problems: list[str] = []
    compiled: dict[str, list[CheckedExpression]] = {}
    known = settings.known_columns()
    with RuleChecker(known) as checker:
        for attribute in settings.attributes:
            if attribute.column is not None and attribute.column not in known:
                problems.append(
                    f"attribute dimension '{attribute.dimension}': unknown column "
                    f"'{attribute.column}' (declare extra customer columns under extra_columns)"
                )
            checked: list[CheckedExpression] = []
            for rule in attribute.rules or []:
                try:
                    checked.append(checker.check(rule.when))
                except RuleProblem as problem:
                    problems.append(
                        f"attribute dimension '{attribute.dimension}', rule '{rule.name}' "
                        f"(`{rule.when.strip()}`): {problem}"
                    )
            if attribute.rules is not None:
                compiled[attribute.dimension] = checked
    if problems:
        raise ValueError("invalid segment rules:\n  " + "\n  ".join(problems))
    return compiled
