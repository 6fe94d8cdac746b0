"""Contracts of the features layer: one row per snapshot and customer, no personal data."""

from datetime import date

import pandera.polars as pa
import polars as pl

CHANNELS = ("online", "store", "agent")
DOMINANT_CHANNELS = (*CHANNELS, "mixed", "unknown")
VALUE_TIERS = ("high", "mid", "low")
ABC_CLASSES = ("A", "B", "C")
LIFECYCLE_STAGES = (
    "potential",
    "new",
    "growing",
    "mature",
    "declining",
    "at_risk",
    "lost",
    "won_back",
)
CLV_METHODS = ("bgnbd_gamma_gamma", "simple_fallback", "none")
NPS_CLASSES = ("promoter", "passive", "detractor")


def _f(description: str, **kwargs: object) -> object:
    return pa.Field(nullable=True, description=description, **kwargs)


class CustomerBehaviourContract(pa.DataFrameModel):
    """Behaviour (RFM and more) of every known customer as of the snapshot date."""

    snapshot_date: date = pa.Field(description="As-of date: the month's last day, inclusive.")
    customer_id: str = pa.Field(description="Customer id.")
    signup_date: date = _f("When the customer became known (customers source).")
    age: pl.Int64 = _f("Age in whole years at the snapshot date (from the birth date).", ge=0)
    gender: str = _f("Gender (customers source).")
    income: pl.Float64 = _f("Yearly income (customers source).")
    region: str = _f("Region (customers source).")
    country: str = _f("Country (customers source).")
    industry: str = _f("Industry (customers source).")
    acquisition_channel: str = _f("How the customer was won (customers source).")
    first_purchase_date: date = _f("First day with a purchase (not a return).")
    last_purchase_date: date = _f("Last day with a purchase on or before the snapshot.")
    recency_days: pl.Int64 = _f("Days from the last purchase day to the snapshot date.", ge=0)
    tenure_days: pl.Int64 = _f("Days from the first purchase day to the snapshot date.", ge=0)
    purchase_days: pl.Int64 = pa.Field(ge=0, description="Distinct days with a purchase.")
    orders: pl.Int64 = pa.Field(ge=0, description="Distinct purchase orders.")
    return_orders: pl.Int64 = pa.Field(ge=0, description="Distinct return/cancellation orders.")
    gross_revenue: pl.Float64 = pa.Field(description="Sum of purchase amounts (returns excluded).")
    net_revenue: pl.Float64 = pa.Field(description="Sum of all amounts, returns netted.")
    avg_order_value: pl.Float64 = _f("Gross revenue per purchase order.")
    orders_30d: pl.Int64 = pa.Field(ge=0, description="Purchase orders in the last 30 days.")
    orders_90d: pl.Int64 = pa.Field(ge=0, description="Purchase orders in the last 90 days.")
    orders_365d: pl.Int64 = pa.Field(ge=0, description="Purchase orders in the last 365 days.")
    revenue_30d: pl.Float64 = pa.Field(description="Net revenue in the last 30 days.")
    revenue_90d: pl.Float64 = pa.Field(description="Net revenue in the last 90 days.")
    revenue_365d: pl.Float64 = pa.Field(description="Net revenue in the last 365 days.")
    revenue_prev_90d: pl.Float64 = pa.Field(description="Net revenue 91-180 days back.")
    trend: pl.Float64 = pa.Field(
        ge=-1.0,
        le=1.0,
        description="(revenue_90d - revenue_prev_90d) / (|revenue_90d| + |revenue_prev_90d|); 0 "
        "when both are 0. Above 0: rising.",
    )
    mean_days_between: pl.Float64 = _f("Mean days between consecutive purchase days.")
    std_days_between: pl.Float64 = _f("Sample standard deviation of those gaps.")
    return_rate: pl.Float64 = pa.Field(
        ge=0.0, description="Returned amount / gross revenue (0 without purchases)."
    )
    share_online: pl.Float64 = pa.Field(
        ge=0.0, le=1.0, description="Share of purchase orders online."
    )
    share_store: pl.Float64 = pa.Field(
        ge=0.0, le=1.0, description="Share of purchase orders in store."
    )
    share_agent: pl.Float64 = pa.Field(
        ge=0.0, le=1.0, description="Share of purchase orders via agent."
    )
    dominant_channel: str = pa.Field(
        isin=list(DOMINANT_CHANNELS),
        description="The channel with >= the configured share of orders, else 'mixed'; "
        "'unknown' when the source has no channel.",
    )
    product_breadth: pl.Int64 = pa.Field(ge=0, description="Distinct products bought.")
    active_months: pl.Int64 = pa.Field(
        ge=0, description="Distinct calendar months with a purchase."
    )
    frequency: pl.Int64 = pa.Field(
        ge=0, description="BTYD frequency: repeat purchase days (purchase_days - 1)."
    )
    recency: pl.Int64 = _f("BTYD recency: days from the first to the last purchase day.", ge=0)
    age_days: pl.Int64 = _f("BTYD age T: days from the first purchase day to the snapshot.", ge=0)
    repeat_spend_mean: pl.Float64 = _f(
        "Mean gross spend of the repeat purchase days (first day excluded): Gamma-Gamma input."
    )
    days_since_won_back: pl.Int64 = _f(
        "Days since the latest purchase that came after the customer had been lost at an "
        "earlier month end (recency past the lost threshold); null if never.",
        ge=0,
    )

    class Config:
        # custom customer attributes declared in the config (segments.extra_columns) follow
        strict = False
        unique = ["snapshot_date", "customer_id"]


class CustomerClvContract(pa.DataFrameModel):
    """Buy-till-you-die predictions per customer and snapshot."""

    snapshot_date: date = pa.Field(description="As-of date: the month's last day, inclusive.")
    customer_id: str = pa.Field(description="Customer id.")
    p_alive: pl.Float64 = _f("Probability the customer is still active (BG/NBD).", ge=0, le=1)
    expected_purchases_30d: pl.Float64 = _f("Expected purchase days in the next 30 days.", ge=0)
    expected_purchases_90d: pl.Float64 = _f("Expected purchase days in the next 90 days.", ge=0)
    expected_purchases_365d: pl.Float64 = _f("Expected purchase days in the next 365 days.", ge=0)
    expected_spend: pl.Float64 = _f("Expected spend per purchase day (Gamma-Gamma).")
    clv_12m: pl.Float64 = _f("Discounted margin over the CLV horizon (default 12 months).")
    clv_method: str = pa.Field(
        isin=list(CLV_METHODS),
        description="How clv_12m was computed: 'bgnbd_gamma_gamma', 'simple_fallback' "
        "(degenerate snapshot) or 'none' (never purchased).",
    )

    class Config:
        strict = True
        unique = ["snapshot_date", "customer_id"]


class ClvModelParamsContract(pa.DataFrameModel):
    """Every fitted model parameter per snapshot, plus fit diagnostics, in long form."""

    snapshot_date: date = pa.Field(description="As-of date of the fit.")
    model: str = pa.Field(
        isin=["bgnbd", "pareto_nbd", "gamma_gamma"], description="Model name as in the papers."
    )
    parameter: str = pa.Field(
        description="Parameter name as in the papers (r, alpha, a, b / r, alpha, s, beta / "
        "p, q, gamma) or log_likelihood, n_customers, converged (1/0), time_unit_days."
    )
    value: pl.Float64 = pa.Field(nullable=True, description="The value (NaN when not fitted).")

    class Config:
        strict = True
        unique = ["snapshot_date", "model", "parameter"]


class EngagementColumns(pa.DataFrameModel):
    """The engagement and feedback columns, as ``features.customer_engagement`` holds them and
    ``features.customer_features`` ends with them. Engagement columns are null when no events
    source is configured, feedback columns when no feedback source is; with the source
    configured a customer without any of it has counts of 0 and nulls elsewhere. Windows are the
    snapshot date and the days before it (``features.engagement``, ``features.feedback``)."""

    visits_90d: pl.Int64 = _f("Visits in the engagement window (default 90 days).", ge=0)
    product_views_90d: pl.Int64 = _f("Product views in the engagement window.", ge=0)
    cart_adds_90d: pl.Int64 = _f("Cart adds in the engagement window.", ge=0)
    email_sends_90d: pl.Int64 = _f("E-mails delivered in the engagement window.", ge=0)
    email_opens_90d: pl.Int64 = _f("E-mail opens in the engagement window.", ge=0)
    email_clicks_90d: pl.Int64 = _f("E-mail clicks in the engagement window.", ge=0)
    email_open_rate_90d: pl.Float64 = _f(
        "Opens / sends in the window, at most 1; null without sends.", ge=0.0, le=1.0
    )
    email_click_rate_90d: pl.Float64 = _f(
        "Clicks / opens in the window, at most 1; null without opens.", ge=0.0, le=1.0
    )
    days_since_last_engagement: pl.Int64 = _f(
        "Days from the last day with an event other than an unsubscribe or an e-mail send to "
        "the snapshot date; null if none.",
        ge=0,
    )
    abandoned_carts_90d: pl.Int64 = _f(
        "Cart adds in the window not followed by a purchase on their day or the next 7 days "
        "(features.engagement.cart_followup_days), counted once those days have passed.",
        ge=0,
    )
    is_unsubscribed: bool = _f("An unsubscribe on or before the snapshot date.")
    latest_nps: pl.Float64 = _f(
        "The score (0-10) of the customer's latest NPS answer; null without one.", ge=0, le=10
    )
    nps_class: str = _f(
        "promoter (default 9-10), passive (7-8) or detractor (0-6) by latest_nps (thresholds: "
        "features.feedback); null without one.",
        isin=list(NPS_CLASSES),
    )
    avg_csat_180d: pl.Float64 = _f(
        "Mean CSAT score over the CSAT window (default 180 days), on the source's scale; null "
        "without one."
    )
    complaints_90d: pl.Int64 = _f("Complaints in the complaint window (default 90 days).", ge=0)
    days_since_last_feedback: pl.Int64 = _f(
        "Days from the last day with feedback of any kind to the snapshot date; null if none.",
        ge=0,
    )


class _SnapshotCustomer(pa.DataFrameModel):
    snapshot_date: date = pa.Field(description="As-of date: the month's last day, inclusive.")
    customer_id: str = pa.Field(description="Customer id.")


class CustomerEngagementContract(EngagementColumns, _SnapshotCustomer):
    """Engagement (events) and voice of the customer (feedback) of every customer of
    ``features.customer_behaviour`` as of the snapshot date."""

    class Config:
        strict = True
        unique = ["snapshot_date", "customer_id"]


class _BehaviourClvValueLifecycle(CustomerBehaviourContract):
    """The columns of ``features.customer_features`` before the engagement columns."""

    p_alive: pl.Float64 = _f("Probability the customer is still active (BG/NBD).", ge=0, le=1)
    expected_purchases_30d: pl.Float64 = _f("Expected purchase days in the next 30 days.", ge=0)
    expected_purchases_90d: pl.Float64 = _f("Expected purchase days in the next 90 days.", ge=0)
    expected_purchases_365d: pl.Float64 = _f("Expected purchase days in the next 365 days.", ge=0)
    expected_spend: pl.Float64 = _f("Expected spend per purchase day (Gamma-Gamma).")
    clv_12m: pl.Float64 = _f("Discounted margin over the CLV horizon (default 12 months).")
    clv_method: str = pa.Field(isin=list(CLV_METHODS), description="How clv_12m was computed.")
    value_tier: str = pa.Field(
        isin=list(VALUE_TIERS), description="high / mid / low by net-revenue quantile."
    )
    abc_class: str = pa.Field(
        isin=list(ABC_CLASSES), description="A: top customers making 80% of revenue, B: next 15%."
    )
    revenue_share: pl.Float64 = pa.Field(ge=0, le=1, description="Share of positive net revenue.")
    cumulative_revenue_share: pl.Float64 = pa.Field(
        ge=0, le=1.000001, description="Cumulative share, customers by revenue descending."
    )
    is_pareto_top: bool = pa.Field(description="In the ABC class A (the Pareto top).")
    lifecycle_stage: str = pa.Field(
        isin=list(LIFECYCLE_STAGES), description="Exactly one lifecycle stage (see README)."
    )


UNKNOWN_CATEGORY = "unknown"


class CustomerCategoriesContract(pa.DataFrameModel):
    """The category mix: per snapshot, customer and catalogue category, what the customer
    spent on it in the category window (``features.categories.window_days``, default 365
    days); a row for every category with a transaction in the window. Empty without a
    products source."""

    snapshot_date: date = pa.Field(description="As-of date: the month's last day, inclusive.")
    customer_id: str = pa.Field(description="Customer id.")
    category: str = pa.Field(
        str_length={"min_value": 1},
        description="The catalogue category of the products (sources.products); 'unknown' for "
        "products the catalogue does not list (and rows without a product id).",
    )
    spend: pl.Float64 = pa.Field(
        description="Net spend on the category in the window: purchases minus returns."
    )
    orders: pl.Int64 = pa.Field(
        ge=0, description="Purchase orders in the window with an item of the category."
    )
    spend_share: pl.Float64 = _f(
        "The category's positive spend / the customer's positive spend over all categories in "
        "the window (a category with net returns counts 0); null when that is 0.",
        ge=0.0,
        le=1.0,
    )
    core_spend: pl.Float64 = pa.Field(
        description="Net spend on the category's items whose need level counts as core "
        "(segments.needs)."
    )
    basic_spend: pl.Float64 = pa.Field(
        description="Net spend on the category's items whose need level counts as basic."
    )

    class Config:
        strict = True
        unique = ["snapshot_date", "customer_id", "category"]


class CategoryColumns(pa.DataFrameModel):
    """The category columns ``features.customer_features`` ends with, from
    ``features.customer_categories`` (catalogued categories only: 'unknown' is left out). Null
    for every customer without a products source."""

    top_category: str = _f(
        "The catalogued category with the most net spend in the category window (ties: the "
        "first by name); null without positive catalogued spend."
    )
    top_category_share: pl.Float64 = _f(
        "The top category's spend_share (of all the customer's positive spend in the window).",
        ge=0.0,
        le=1.0,
    )
    category_breadth: pl.Int64 = _f(
        "Catalogued categories with positive net spend in the window.", ge=0
    )
    core_spend_share: pl.Float64 = _f(
        "Core-level spend / (core + basic-level spend) in the window (levels: segments.needs); "
        "null without spend on either.",
        ge=0.0,
        le=1.0,
    )


# the engagement columns first among the bases: pandera takes the columns of the bases in
# reverse order, so they come last (and the category columns after them)
class CustomerFeaturesContract(CategoryColumns, EngagementColumns, _BehaviourClvValueLifecycle):
    """Everything a segment or strategy needs: behaviour, CLV, value and lifecycle, engagement
    and feedback, category mix."""
