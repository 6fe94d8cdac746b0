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


class CustomerFeaturesContract(CustomerBehaviourContract):
    """Everything a segment or strategy needs: behaviour, CLV, value and lifecycle."""

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
