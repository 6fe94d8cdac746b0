"""Settings of the segments layer (the ``segments:`` key of the pipeline configuration).

Every key has a documented default, unknown keys are rejected, and every attribute rule is
parsed and checked when the settings are built (see
:mod:`segmentation.segments.sql_rules`): a bad rule stops the configuration from loading,
with a message naming the dimension, the rule and the problem. Example::

    segments:
      extra_columns: {assets_total: float, risk_preference: text, products_held: list}
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
      # labels from the events and feedback sources (all 'unknown' without those sources)
      intent: {active_window_days: 90, refusing_after_days: 180}
      engagement: {medium_min: 10, high_min: 30}
      satisfaction: {csat_dissatisfied_max: 2, csat_satisfied_min: 4,
                     dissatisfied_min_complaints: 1}
      # labels from the product catalogue and the holdings (segmentation.segments.category_settings)
      needs: {level_column: need_level, core_min_share: 0.6, basic_max_share: 0.2}
      recommendations: {min_support: 20, min_lift: 1.0, products_held_column: null}
      psychographics: {rules: [], default: unknown, clusters: {enabled: true, k_max: 6}}
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from functools import cache
from typing import Annotated, Literal

import pandera.polars as pa
import polars as pl
from pydantic import Field, field_validator, model_validator

from segmentation.features.contracts import CustomerFeaturesContract
from segmentation.segments.category_settings import (
    NeedsSettings,
    PsychographicSettings,
    RecommendationSettings,
    compile_eligibility,
    compile_psychographic_rules,
    held_column_problems,
)
from segmentation.segments.columns import (
    FEATURE_COLUMN_TYPES,
    ColumnKind,
    feature_columns_with,
)
from segmentation.segments.rule_types import CheckedExpression, ColumnRange, RuleProblem
from segmentation.segments.sql_rules import RuleChecker
from segmentation.settings_base import Strict

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
_Probability = Annotated[float, Field(ge=0.0, le=1.0)]
_Days = Annotated[int, Field(ge=0)]
_Label = Annotated[str, Field(min_length=1, max_length=100)]


class RfmSettings(Strict):
    """Which feature columns the F and M quintile scores rank.

    Attributes:
        monetary: ``net_revenue`` (default: what the customer is worth after returns) or
            ``gross_revenue``.
        frequency: ``orders`` (default: distinct purchase orders) or ``purchase_days``.
    """

    monetary: Literal["net_revenue", "gross_revenue"] = "net_revenue"
    frequency: Literal["orders", "purchase_days"] = "orders"


class LoyaltySettings(Strict):
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


class ChurnRiskSettings(Strict):
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


class AttributeRule(Strict):
    """One named rule of an attribute dimension: the label and its SQL boolean condition."""

    name: _Label
    when: Annotated[str, Field(min_length=1)]


class AttributeDimension(Strict):
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


class ClusterSettings(Strict):
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


class IntentSettings(Strict):
    """Purchase intent labels (``intent_class``), checked in this order: ``unknown`` without an
    events source, ``active``, ``refusing``, else ``hesitant``."""

    active_window_days: Annotated[int, Field(ge=1)] = Field(
        default=90,
        description="`active`: a purchase in the last this many days (`recency_days` below it; "
        "at 90 the same as `orders_90d > 0`). Checked first, so an active buyer who "
        "unsubscribed from e-mail stays `active` (the playbook reads `is_unsubscribed`).",
    )
    refusing_after_days: Annotated[int, Field(ge=1)] = Field(
        default=180,
        description="`refusing`: unsubscribed, or neither an engagement event "
        "(`days_since_last_engagement`) nor a purchase (`recency_days`) in more than this many "
        "days (never counts as more). Everyone else is `hesitant`: engaged in the window "
        "without a purchase, or lapsing but not yet refusing.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> IntentSettings:
        if self.refusing_after_days < self.active_window_days:
            raise ValueError(
                f"refusing_after_days ({self.refusing_after_days}) must not be below "
                f"active_window_days ({self.active_window_days})"
            )
        return self


class EngagementLevelSettings(Strict):
    """Engagement labels (``engagement_level``) from the engagement events of the features
    window (``features.engagement.window_days``): visits + product views + cart adds + e-mail
    clicks. ``unknown`` without an events source, ``none`` at 0, ``high`` / ``medium`` from
    these thresholds, ``low`` below ``medium_min``."""

    medium_min: Annotated[int, Field(ge=1)] = Field(
        default=10,
        description="`medium` from this many engagement events in the window (below: `low`, "
        "0: `none`). A shopping session is a visit and a few product views (about 4 events), "
        "so 10 is two to three sessions in 90 days: about one a month.",
    )
    high_min: Annotated[int, Field(ge=2)] = Field(
        default=30,
        description="`high` from this many engagement events in the window: seven or more "
        "sessions in 90 days, about one every two weeks.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> EngagementLevelSettings:
        if self.high_min <= self.medium_min:
            raise ValueError(
                f"high_min ({self.high_min}) must be above medium_min ({self.medium_min})"
            )
        return self


class SatisfactionSettings(Strict):
    """Satisfaction labels (``satisfaction_class``) from NPS, CSAT and complaints, checked in
    this order: ``unknown`` (no feedback of any kind), ``dissatisfied``, ``satisfied``, else
    ``neutral``. The CSAT thresholds are on the source's CSAT scale
    (``sources.feedback.csat_scale``, default 1-5)."""

    csat_dissatisfied_max: float = Field(
        default=2.0,
        description="`dissatisfied` when the average CSAT of the CSAT window "
        "(`avg_csat_180d`) is at most this (also: a detractor's latest NPS, or complaints).",
    )
    csat_satisfied_min: float = Field(
        default=4.0,
        description="`satisfied` when the average CSAT is at least this, or the latest NPS is "
        "a promoter's, and there was no complaint in the complaint window.",
    )
    dissatisfied_min_complaints: Annotated[int, Field(ge=1)] = Field(
        default=1,
        description="`dissatisfied` from this many complaints in the complaint window "
        "(`complaints_90d`).",
    )

    @model_validator(mode="after")
    def _ordered(self) -> SatisfactionSettings:
        if self.csat_satisfied_min <= self.csat_dissatisfied_max:
            raise ValueError(
                f"csat_satisfied_min ({self.csat_satisfied_min}) must be above "
                f"csat_dissatisfied_max ({self.csat_dissatisfied_max})"
            )
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


class ExtraColumn(Strict):
    """A custom customer attribute's type, and whether it holds personal data.

    ``pii: true`` marks a column that identifies a person (an e-mail, a postcode, a national id):
    its values are masked in the quarantine's ``raw_values``, and it may be used in rules but
    never passed through as a label (labels reach the serving copy).
    """

    type: ColumnKind
    pii: bool = False


class SegmentSettings(Strict):
    """Settings of the segments layer; see the module docstring for the YAML shape.

    Attributes:
        extra_columns: Customer attribute columns beyond the standard features that rules may
            use, as ``name: text|integer|float|boolean|date|list`` (``list``: a list of text,
            e.g. products held) or ``name: {type: text, pii: true}`` for a column holding
            personal data. Each is mapped by the customers source, the attribute history, or
            both.
        rfm: Columns the RFM scores rank.
        loyalty: Loyalty label thresholds.
        churn_risk: Churn-risk label thresholds.
        attributes: Attribute dimensions. The default (age band, gender, region, dominant
            channel) applies when the key is absent; ``attributes: []`` turns them off.
        clusters: K-means cluster settings.
    """

    extra_columns: dict[str, ColumnKind | ExtraColumn] = Field(default_factory=dict)
    rfm: RfmSettings = RfmSettings()
    loyalty: LoyaltySettings = LoyaltySettings()
    churn_risk: ChurnRiskSettings = ChurnRiskSettings()
    attributes: list[AttributeDimension] = Field(default_factory=_default_attributes)
    clusters: ClusterSettings = ClusterSettings()
    intent: IntentSettings = Field(
        default_factory=IntentSettings,
        description="Purchase intent labels (`intent_class`: active, hesitant, refusing, "
        "unknown without an events source).",
    )
    engagement: EngagementLevelSettings = Field(
        default_factory=EngagementLevelSettings,
        description="Engagement labels (`engagement_level`: high, medium, low, none, unknown "
        "without an events source).",
    )
    satisfaction: SatisfactionSettings = Field(
        default_factory=SatisfactionSettings,
        description="Satisfaction labels (`satisfaction_class`: satisfied, neutral, "
        "dissatisfied, unknown without feedback).",
    )
    needs: NeedsSettings = Field(
        default_factory=NeedsSettings,
        description="Needs classes (`needs_class`: core, basic, mixed, unknown without a "
        "products source or levelled spend) and the levels `core_spend_share` counts.",
    )
    recommendations: RecommendationSettings = Field(
        default_factory=RecommendationSettings,
        description="Next best category and product (`next_best_category`, "
        "`next_best_product`): pairwise association rules over the snapshot's baskets.",
    )
    psychographics: PsychographicSettings = Field(
        default_factory=PsychographicSettings,
        description="Psychographic classes (`psychographic_class`): rules over the customer "
        "columns, or clusters of the category mix.",
    )

    @field_validator("extra_columns")
    @classmethod
    def _new_identifiers(
        cls, value: dict[str, ColumnKind | ExtraColumn]
    ) -> dict[str, ColumnKind | ExtraColumn]:
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
        problems = passthrough_pii_problems(self, self.pii_extra_columns())
        problems += held_column_problems(self.recommendations, self.extra_column_kinds())
        if problems:
            raise ValueError("\n  ".join(problems))
        compile_attribute_rules(self)
        known, ranges = self.known_columns(), feature_column_ranges()
        compile_psychographic_rules(self.psychographics, known, ranges)
        compile_eligibility(self.recommendations, known, ranges)
        return self

    def extra_column_kinds(self) -> dict[str, ColumnKind]:
        """Custom attribute -> its type (text, integer, float, boolean, date, list)."""
        return {
            name: spec.type if isinstance(spec, ExtraColumn) else spec
            for name, spec in self.extra_columns.items()
        }

    def pii_extra_columns(self) -> frozenset[str]:
        """The custom attributes declared ``pii: true``."""
        return frozenset(
            name
            for name, spec in self.extra_columns.items()
            if isinstance(spec, ExtraColumn) and spec.pii
        )

    def known_columns(self) -> dict[str, pl.DataType]:
        """Every column attribute rules may reference, with its polars dtype."""
        return feature_columns_with(self.extra_column_kinds())

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
    with RuleChecker(known, feature_column_ranges()) as checker:
        for attribute in settings.attributes:
            if attribute.column is not None and attribute.column not in known:
                problems.append(
                    f"attribute dimension '{attribute.dimension}': unknown column "
                    f"'{attribute.column}' (declare extra customer columns under extra_columns)"
                )
            checked: list[CheckedExpression] = []
            for rule in attribute.rules or []:
                label = f"attribute dimension '{attribute.dimension}', rule '{rule.name}'"
                try:
                    checked.append(replace(checker.check(rule.when), label=label))
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


# pandera's inclusive value bounds (str_length, for one, bounds a length, not the value; a
# strict bound is left out, as its end would be a sample the column cannot hold)
_LOWER_BOUNDS = frozenset({"greater_than_or_equal_to"})
_UPPER_BOUNDS = frozenset({"less_than_or_equal_to"})


def contract_ranges(contract: type[pa.DataFrameModel]) -> dict[str, ColumnRange]:
    """Column -> the bounds and allowed values its pandera contract declares (checked columns
    only), so rules are test-evaluated on values the column can actually hold."""
    ranges: dict[str, ColumnRange] = {}
    for name, column in contract.to_schema().columns.items():
        minimum = maximum = None
        allowed = None
        for check in column.checks:
            statistics = check.statistics or {}
            if check.name in _LOWER_BOUNDS and statistics.get("min_value") is not None:
                minimum = float(statistics["min_value"])
            if check.name in _UPPER_BOUNDS and statistics.get("max_value") is not None:
                maximum = float(statistics["max_value"])
            if check.name == "isin":
                allowed = tuple(statistics["allowed_values"])
        if minimum is not None or maximum is not None or allowed is not None:
            ranges[name] = ColumnRange(minimum, maximum, allowed)
    return ranges


@cache
def feature_column_ranges() -> dict[str, ColumnRange]:
    """The ranges of the ``features.customer_features`` columns attribute rules may use."""
    return contract_ranges(CustomerFeaturesContract)


def passthrough_pii_problems(settings: SegmentSettings, pii_columns: Iterable[str]) -> list[str]:
    """One problem per passthrough dimension over a column holding personal data: its values
    would become labels, and labels reach the marts and the serving copy."""
    pii = set(pii_columns)
    return [
        f"attribute dimension '{attribute.dimension}': column '{attribute.column}' holds "
        "personal data, and a passthrough dimension would copy its values as labels into the "
        "marts and the serving copy; label it with rules over the column instead"
        for attribute in settings.attributes
        if attribute.column is not None and attribute.column in pii
    ]
