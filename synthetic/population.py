"""What the generated customers and transactions are drawn from and look like: the channels,
countries, genders and industries with their shares, the widths of the ids, and the schemas of
the two tables."""

from __future__ import annotations

import polars as pl

#: Digits of an order id, and the fewest of a customer id (more when there are more customers).
ORDER_ID_WIDTH = 10
MIN_CUSTOMER_ID_WIDTH = 6

#: Transaction channels (index = code used internally).
CHANNELS: tuple[str, ...] = ("online", "store", "agent")
#: Acquisition channels and their shares.
ACQUISITION_CHANNELS: tuple[str, ...] = ("online", "store", "agent", "referral", "partner")
ACQUISITION_WEIGHTS: tuple[float, ...] = (0.45, 0.30, 0.10, 0.10, 0.05)
#: Distribution of the preferred transaction channel (online, store, agent) per acquisition
#: channel (rows in the order of ``ACQUISITION_CHANNELS``).
PREFERRED_CHANNEL_GIVEN_ACQUISITION: tuple[tuple[float, float, float], ...] = (
    (0.80, 0.15, 0.05),
    (0.20, 0.75, 0.05),
    (0.15, 0.15, 0.70),
    (0.50, 0.40, 0.10),
    (0.35, 0.20, 0.45),
)
#: (country, region, weight).  Region is a function of the country.
COUNTRIES: tuple[tuple[str, str, float], ...] = (
    ("United Kingdom", "UK & Ireland", 0.38),
    ("Ireland", "UK & Ireland", 0.05),
    ("Germany", "Western Europe", 0.10),
    ("France", "Western Europe", 0.09),
    ("Netherlands", "Western Europe", 0.05),
    ("Belgium", "Western Europe", 0.04),
    ("Switzerland", "Western Europe", 0.03),
    ("Spain", "Southern Europe", 0.05),
    ("Italy", "Southern Europe", 0.04),
    ("Portugal", "Southern Europe", 0.03),
    ("Norway", "Nordics", 0.03),
    ("Sweden", "Nordics", 0.03),
    ("United States", "North America", 0.05),
    ("Australia", "Asia-Pacific", 0.03),
)
GENDERS: tuple[str, ...] = ("F", "M", "X")
GENDER_WEIGHTS: tuple[float, ...] = (0.50, 0.47, 0.03)
CONSUMER_INDUSTRY = "consumer"
#: Industries of business customers and their shares among business customers.
B2B_INDUSTRIES: tuple[tuple[str, float], ...] = (
    ("retail", 0.28),
    ("wholesale", 0.15),
    ("hospitality", 0.14),
    ("services", 0.14),
    ("manufacturing", 0.10),
    ("healthcare", 0.07),
    ("education", 0.06),
    ("public sector", 0.06),
)

TRANSACTION_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "order_id": pl.String(),
    "order_ts": pl.Datetime("us"),
    "product_id": pl.String(),
    "quantity": pl.Int32(),
    "unit_price": pl.Float64(),
    "amount": pl.Float64(),
    "channel": pl.String(),
    "country": pl.String(),
}
CUSTOMER_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "name": pl.String(),
    "email": pl.String(),
    "phone": pl.String(),
    "signup_date": pl.Date(),
    "birth_date": pl.Date(),
    "gender": pl.String(),
    "income": pl.Float64(),
    "region": pl.String(),
    "country": pl.String(),
    "industry": pl.String(),
    "acquisition_channel": pl.String(),
}
