"""The generator's files (``synthetic.generate.write``) as the pipeline's sources: the column
mappings and source blocks of the tests over generated data, spelled once."""

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from synthetic.products import PRODUCT_COLUMN_MAP

# the generator's transactions, named as the canonical columns
TRANSACTION_COLUMNS = (
    "customer_id",
    "order_id",
    "order_ts",
    "quantity",
    "unit_price",
    "amount",
    "product_id",
    "channel",
    "country",
)
# the generator's customers (names, e-mails and phones among them)
CUSTOMER_COLUMNS = (
    "customer_id",
    "signup_date",
    "birth_date",
    "gender",
    "income",
    "region",
    "country",
    "industry",
    "acquisition_channel",
    "email",
    "phone",
    "name",
)
# the generator's default window, one snapshot per month
GENERATED_SNAPSHOTS = {"start": "2010-01", "end": "2011-12"}


def identity(names: Iterable[str]) -> dict[str, str]:
    """A column mapping of columns named as the canonical ones."""
    return {name: name for name in names}


def transactions_source(data: Path) -> dict[str, Any]:
    """The transactions source block of the generated files in ``data``."""
    return {
        "path": str(data / "transactions" / "*.parquet"),
        "columns": identity(TRANSACTION_COLUMNS),
    }


def customers_source(data: Path) -> dict[str, Any]:
    """The customers source block of the generated files in ``data``."""
    return {"path": str(data / "customers.parquet"), "columns": identity(CUSTOMER_COLUMNS)}


def products_source(data: Path) -> dict[str, Any]:
    """The products source block of the generated catalogue in ``data``."""
    return {"path": str(data / "products.csv"), "columns": dict(PRODUCT_COLUMN_MAP)}
