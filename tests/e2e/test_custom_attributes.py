"""Bank-style custom attributes flow from the customers source to attribute segments."""

from pathlib import Path

import duckdb
import pytest

from segmentation.config import load_config
from segmentation.settings_base import ConfigError
from tests.conftest import config_mapping, sample_transactions, write_config_file, write_csv
from tests.e2e.test_pipeline import materialize

CUSTOMERS_HEADER = ["id", "joined", "Total Assets", "Risk", "Products", "Private"]
# sample customers 12346 and 12348... are in the committed sample (ids divisible by 3)
CUSTOMERS = [
    ["12348", "2009-06-01", "2500000", "high", "4", "yes"],
    ["12351", "2009-06-01", "40000", "low", "1", "no"],
    ["12357", "2009-06-01", "", "medium", "2", "no"],
    ["99999", "2009-06-01", "lots", "low", "1", "no"],  # rejected: unparseable number
    ["99998", "2009-06-01", "10", "low", "1.5", "no"],  # rejected: not an integer
    ["99997", "2009-06-01", "10", "low", "1", "maybe"],  # rejected: not a boolean
]
SEGMENTS = {
    "extra_columns": {
        "assets_total": "float",
        "risk_preference": "text",
        "products_held": "integer",
        "private_banking": "boolean",
    },
    "attributes": [
        {
            "dimension": "wealth",
            "rules": [
                {"name": "high_net_worth", "when": "assets_total >= 1000000"},
                {"name": "mass_affluent", "when": "assets_total >= 10000"},
            ],
            "default": "other",
        },
        {"dimension": "risk", "column": "risk_preference", "default": "unknown"},
        {
            "dimension": "product_depth",
            "rules": [{"name": "multi_product", "when": "products_held >= 2 OR private_banking"}],
            "default": "single_or_none",
        },
    ],
}


def _config(tmp_path: Path, segments: dict, mapping: dict) -> Path:
    customers = write_csv(tmp_path / "customers.csv", CUSTOMERS_HEADER, CUSTOMERS)
    sources = {
        "transactions": sample_transactions(),
        "customers": {
            "path": str(customers),
            "max_reject_rate": 1.0,
            "columns": {"customer_id": "id", "signup_date": "joined", **mapping},
        },
    }
    snapshots = {"start": "2011-01", "end": "2011-03"}
    raw = config_mapping(snapshots=snapshots, sources=sources, segments=segments)
    return write_config_file(tmp_path, raw)


MAPPING = {
    "assets_total": "Total Assets",
    "risk_preference": "Risk",
    "products_held": "Products",
    "private_banking": "Private",
}


def test_custom_attributes_reach_attribute_segments(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, SEGMENTS, MAPPING))
    materialize(config, "2011-03")
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        landed = con.execute(
            "SELECT customer_id, assets_total, products_held, private_banking "
            "FROM raw.customers ORDER BY 1"
        ).fetchall()
        rejected = con.execute(
            "SELECT reason, count(*) FROM quality.rejected_rows WHERE source = 'customers' "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
        labels = con.execute(
            "SELECT customer_id, attr_wealth, attr_risk, attr_product_depth "
            "FROM marts.customer_segments WHERE customer_id IN ('12348', '12351', '12357') "
            "ORDER BY 1"
        ).fetchall()
        others = con.execute(
            "SELECT DISTINCT attr_wealth FROM marts.customer_segments "
            "WHERE customer_id NOT IN ('12348', '12351', '12357')"
        ).fetchall()
        feature_columns = {
            row[0] for row in con.execute("DESCRIBE features.customer_features").fetchall()
        }
    assert landed == [
        ("12348", 2500000.0, 4, True),
        ("12351", 40000.0, 1, False),
        ("12357", None, 2, False),
    ]
    assert rejected == [("unparseable_number", 2), ("unparseable_value", 1)]
    assert labels == [
        ("12348", "high_net_worth", "high", "multi_product"),
        ("12351", "mass_affluent", "low", "single_or_none"),
        ("12357", "other", "medium", "multi_product"),
    ]
    assert others == [("other",)]
    assert {"assets_total", "risk_preference", "products_held"} <= feature_columns
    assert not {"email", "phone", "name"} & feature_columns


@pytest.mark.parametrize(
    ("segments", "mapping", "expected"),
    [
        (
            {"extra_columns": {}},
            MAPPING,
            "sources.customers.columns.assets_total: unknown key",
        ),
        (
            {"extra_columns": {**SEGMENTS["extra_columns"], "tenure_band": "text"}},
            MAPPING,
            "segments.extra_columns.tenure_band: not mapped",
        ),
        (
            {
                **SEGMENTS,
                "attributes": [
                    {"dimension": "w", "rules": [{"name": "x", "when": "asset_total > 1"}]}
                ],
            },
            MAPPING,
            "asset_total",
        ),
    ],
    ids=["undeclared-attribute", "declared-but-unmapped", "rule-names-unknown-column"],
)
def test_custom_attribute_config_errors(
    tmp_path: Path, segments: dict, mapping: dict, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_config(_config(tmp_path, segments, mapping))
