"""Settings of the features layer (the ``features:`` key of the pipeline configuration):
value tiers, CLV and lifecycle thresholds, engagement and feedback windows, the category
window; every key has a documented default."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from segmentation.settings_base import Strict

_Share = Annotated[float, Field(gt=0.0, lt=1.0)]
_Days = Annotated[int, Field(ge=1)]


class ValueSettings(Strict):
    """Value tiers by net-revenue quantile and ABC classes by cumulative revenue share."""

    high_tier_quantile: _Share = 0.8
    mid_tier_quantile: _Share = 0.5
    abc_a_share: _Share = 0.8
    abc_b_share: _Share = 0.95

    @model_validator(mode="after")
    def _ordered(self) -> ValueSettings:
        if self.mid_tier_quantile >= self.high_tier_quantile:
            raise ValueError("mid_tier_quantile must be below high_tier_quantile")
        if self.abc_a_share >= self.abc_b_share:
            raise ValueError("abc_a_share must be below abc_b_share")
        return self


class ClvSettings(Strict):
    """Customer lifetime value: BG/NBD + Gamma-Gamma fitted per snapshot."""

    margin: Annotated[float, Field(gt=0.0, le=1.0)] = 0.3
    monthly_discount_rate: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.01
    horizon_months: Annotated[int, Field(ge=1, le=120)] = 12
    min_repeat_buyers: Annotated[int, Field(ge=1)] = 50
    fit_pareto_nbd: bool = False


class LifecycleSettings(Strict):
    """Thresholds of the lifecycle stages (days; probabilities from BG/NBD)."""

    new_window_days: _Days = 90
    won_back_window_days: _Days = 90
    at_risk_recency_days: _Days = 180
    at_risk_p_alive: _Share = 0.5
    lost_recency_days: _Days = 365
    lost_p_alive: _Share = 0.2
    mature_tenure_days: _Days = 365
    trend_threshold: _Share = 0.3

    @model_validator(mode="after")
    def _ordered(self) -> LifecycleSettings:
        if self.at_risk_recency_days >= self.lost_recency_days:
            raise ValueError("at_risk_recency_days must be below lost_recency_days")
        if self.lost_p_alive >= self.at_risk_p_alive:
            raise ValueError("lost_p_alive must be below at_risk_p_alive")
        return self


class EngagementSettings(Strict):
    """Engagement features from the events source (``sources.events``): trailing window and
    when a cart add counts as abandoned."""

    window_days: _Days = Field(
        default=90,
        description="Days of the trailing window of the engagement counts and rates (the "
        "`*_90d` columns): the snapshot date and the days before it.",
    )
    cart_followup_days: _Days = Field(
        default=7,
        description="A cart add is abandoned when neither its own day (after the add) nor "
        "this many following days saw a purchase by the customer; it counts once the last "
        "of those days has ended by the snapshot.",
    )


_NpsScore = Annotated[int, Field(ge=1, le=10)]


class FeedbackSettings(Strict):
    """Feedback features from the feedback source (``sources.feedback``): windows and the NPS
    classes."""

    csat_window_days: _Days = Field(
        default=180, description="Days of the trailing window `avg_csat_180d` averages over."
    )
    complaint_window_days: _Days = Field(
        default=90, description="Days of the trailing window `complaints_90d` counts in."
    )
    nps_promoter_min: _NpsScore = Field(
        default=9, description="Lowest NPS score (0-10) of a promoter."
    )
    nps_passive_min: _NpsScore = Field(
        default=7,
        description="Lowest NPS score of a passive; scores below it are detractors.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> FeedbackSettings:
        if self.nps_passive_min >= self.nps_promoter_min:
            raise ValueError("nps_passive_min must be below nps_promoter_min")
        return self


class CategorySettings(Strict):
    """Category mix from the products source (``sources.products``): the spend of each
    customer per catalogue category over a trailing window."""

    window_days: _Days = Field(
        default=365,
        description="Days of the trailing window of `features.customer_categories` (spend, "
        "orders and shares per category) and of the category columns of "
        "`features.customer_features`: the snapshot date and the days before it.",
    )


class FeatureSettings(Strict):
    """Settings of the features layer; every key has a documented default."""

    dominant_channel_share: Annotated[float, Field(gt=0.5, le=1.0)] = 0.7
    value: ValueSettings = ValueSettings()
    clv: ClvSettings = ClvSettings()
    lifecycle: LifecycleSettings = LifecycleSettings()
    engagement: EngagementSettings = EngagementSettings()
    feedback: FeedbackSettings = FeedbackSettings()
    categories: CategorySettings = Field(
        default_factory=CategorySettings,
        description="The category mix from the products source (`features.customer_categories`"
        " and the category columns of `features.customer_features`; empty and null without "
        "it).",
    )
