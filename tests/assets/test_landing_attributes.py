"""Landing the attribute history and the product catalogue: every row lands or is quarantined with
its reason, CSV and Parquet alike, list columns included, personal values masked, with the
guards every source has; without the sources, empty tables."""

import json
import os
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
import pytest

from assets.raw.assets import (
    raw_customer_attributes,
    raw_customers,
    raw_products,
    raw_transactions,
)
from assets.raw.checks import raw_checks
from assets.resources import Warehouse
from pipelines.build_definitions import build_definitions
from pipelines.sensors import SENSOR_NAME
from segmentation.config import (
    SegmentationConfig,
    custom_attributes,
    load_config,
    pii_source_columns,
)
from segmentation.raw.landing import RejectRateExceeded, land_source
from segmentation.raw.removed_files import RemovedFilesError
from segmentation.reports.run_summary import summary_sections
from segmentation.settings_base import ConfigError
from tests.conftest import LANDING_NOW, config_mapping, write_config_file, write_csv

HEADER = ["id", "changed", "aum", "risk", "products", "born", "income", "mail", "vip", "note"]
COLUMNS = {
    "customer_id": "id",
    "assets_total": "aum",
    "risk_preference": "risk",
    "products_held": "products",
    "birth_date": "born",
    "income": "income",
    "email": "mail",
    "private_banking": "vip",
}
EXTRA = {
    "assets_total": "float",
    "risk_preference": "text",
    "products_held": "list",
    "private_banking": "boolean",
    "national_id": {"type": "text", "pii": True},
}
GOOD = ["c1", "2011-01-01", "1000", "balanced", "deposit|fund", "1980-05-01", "50000", "a@x.org"]
GOOD += ["no", "first"]
# every kind of bad attribute row next to good ones; the first failing check gives the reason
ROWS: list[tuple[list[str], str | None]] = [
    (GOOD, None),
    (GOOD, "duplicate_row"),
    # the same values written differently: lands once
    (
        ["c1", "2011-01-01 00:00", "1000.0", "balanced", "deposit| fund |", "1980-05-01"]
        + ["50000", "a@x.org", "no", "re-export"],
        "duplicate_row",
    ),
    (["c1", "2011-02-01", "1500", "balanced", "", "1980-05-01", "", "", "yes", ""], None),
    (["c2", "2011-02-01", "5", "x", "", "", "", "b@x.org", "", ""], "conflicting_attribute_rows"),
    (["c2", "2011-02-01", "6", "x", "", "", "", "b@x.org", "", ""], "conflicting_attribute_rows"),
    (["c2", "2011-03-01", "|", "x", "|", "", "", "", "", ""], "unparseable_number"),
    (["c3", "2011-03-01", "7", "", "|", "", "", "", "", ""], None),
    (["", "2011-03-01", "7", "x", "", "", "", "", "", ""], "missing_customer_id"),
    (["c4", "", "7", "x", "", "", "", "", "", ""], "missing_timestamp"),
    (["c4", "01/03/2011", "7", "x", "", "", "", "", "", ""], "unparseable_timestamp"),
    (["c4", "1969-12-31", "7", "x", "", "", "", "", "", ""], "timestamp_before_1970"),
    (["c4", "2099-01-01", "7", "x", "", "", "", "", "", ""], "timestamp_in_future"),
    (["c4", "2011-03-01", "7", "x", "", "31.02.1980", "", "", "", ""], "unparseable_date"),
    (["c4", "2011-03-01", "lots", "x", "", "", "", "", "", ""], "unparseable_number"),
    (["c4", "2011-03-01", "7", "x", "", "", "", "", "maybe", ""], "unparseable_value"),
    (["c4", "2011-03-01", "7", "x", "", "", "-5", "", "", ""], "non_finite_number"),
    (["c4", "2011-03-01", "7", "x", "", "2099-01-01", "", "", "", ""], "date_in_future"),
]
PRODUCT_HEADER = ["sku", "cat", "sub", "tier", "need", "risk", "supplier"]
PRODUCTS: list[tuple[list[str], str | None]] = [
    (["P1", "grocery", "dairy", "budget", "basic", "", "acme"], None),
    (["P1", "grocery", "dairy", "budget", "basic", "", "acme"], "duplicate_row"),
    # the same landed values, another supplier (not landed): lands once
    ([" P1", "grocery ", "dairy", "budget", "basic", "", "other"], "duplicate_row"),
    (["P2", "fashion", "", "premium", "core", "", ""], "conflicting_product_rows"),
    (["P2", "beauty", "", "premium", "core", "", ""], "conflicting_product_rows"),
    (["", "fashion", "", "", "", "", ""], "missing_product_id"),
    (["P3", " ", "", "", "", "", ""], "missing_category"),
    (["F1", "fund", "equity", "", "", "4", ""], None),
]


def _history(path: Path, **keys: Any) -> dict[str, Any]:
    return {"path": str(path), "valid_from": "changed", "columns": COLUMNS, **keys}


def _products(path: Path, **keys: Any) -> dict[str, Any]:
    columns = {"product_id": "sku", "category": "cat", "subcategory": "sub"}
    columns |= {"price_level": "tier", "need_level": "need", "risk_level": "risk"}
    return {"path": str(path), "columns": columns, **keys}


def _config(
    folder: Path, extra: dict | None = None, **sources: dict[str, Any]
) -> SegmentationConfig:
    """The sample transactions plus ``sources``, warehouse in ``folder``; ``national_id`` (a
    PII extra) comes from a customers source so that every declared extra is mapped."""
    customers = write_csv(folder / "customers.csv", ["cid", "nid"], [["c1", "X-1"]])
    if extra is None:
        # without a history, only the customers source's extra is mapped
        extra = EXTRA if "customer_attributes" in sources else {"national_id": EXTRA["national_id"]}
    raw = config_mapping(
        snapshots={"start": "2010-12", "end": "2011-12"}, segments={"extra_columns": extra}
    )
    raw["sources"]["customers"] = {
        "path": str(customers),
        "columns": {"customer_id": "cid", "national_id": "nid"},
    }
    raw["sources"].update(sources)
    return load_config(write_config_file(folder, raw))


def _land(con: duckdb.DuckDBPyConnection, config: SegmentationConfig, source: str):
    return land_source(
        con,
        source,
        getattr(config.sources, source),
        LANDING_NOW,
        custom_attributes(config, source),
        masked=pii_source_columns(config, source),
    )


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


@pytest.fixture
def con(tmp_path: Path):
    connection = duckdb.connect(str(tmp_path / "test.duckdb"))
    yield connection
    connection.close()


def _every_row_once(con: duckdb.DuckDBPyConnection, source: str, rows: int) -> None:
    numbers = _rows(
        con,
        f"SELECT source_row FROM raw.{source} UNION ALL "
        f"SELECT source_row FROM quality.rejected_rows WHERE source = '{source}' ORDER BY 1",
    )
    assert [n for (n,) in numbers] == list(range(1, rows + 1))


def test_every_attribute_row_lands_or_is_quarantined_with_its_reason(tmp_path: Path, con) -> None:
    path = write_csv(tmp_path / "attributes" / "a.csv", HEADER, [r for r, _ in ROWS])
    config = _config(tmp_path, customer_attributes=_history(path, max_reject_rate=1.0))
    report = _land(con, config, "customer_attributes")

    expected = Counter(reason for _, reason in ROWS if reason is not None)
    assert report.rejected_by_reason == dict(expected)
    assert report.landed_rows == 3
    _every_row_once(con, "customer_attributes", len(ROWS))
    columns = [(name, kind) for name, kind, *_ in _rows(con, "DESCRIBE raw.customer_attributes")]
    # key, standard attributes in raw.customers' order, custom ones in declaration order
    assert columns == [
        ("customer_id", "VARCHAR"),
        ("valid_from", "TIMESTAMP"),
        ("birth_date", "DATE"),
        ("income", "DOUBLE"),
        ("email", "VARCHAR"),
        ("assets_total", "DOUBLE"),
        ("risk_preference", "VARCHAR"),
        ("products_held", "VARCHAR[]"),
        ("private_banking", "BOOLEAN"),
        ("source_file", "VARCHAR"),
        ("source_row", "BIGINT"),
    ]
    landed = _rows(
        con,
        "SELECT * EXCLUDE (source_file) FROM raw.customer_attributes ORDER BY source_row",
    )
    assert landed == [
        ("c1", datetime(2011, 1, 1), date(1980, 5, 1), 50000.0, "a@x.org", 1000.0, "balanced")
        + (["deposit", "fund"], False, 1),
        # an empty list cell is null: not known
        ("c1", datetime(2011, 2, 1), date(1980, 5, 1), None, None, 1500.0, "balanced")
        + (None, True, 4),
        # a cell of separators only is an empty list: holds nothing
        ("c3", datetime(2011, 3, 1), None, None, None, 7.0, None, [], None, 8),
    ]
    checks = dict(_rows(con, 'SELECT DISTINCT reason, "check" FROM quality.rejected_rows'))
    assert checks["conflicting_attribute_rows"] == (
        "one set of values per customer and valid_from (rows that disagree are all rejected)"
    )
    assert checks["timestamp_in_future"] == "valid_from is not after the landing run"


def test_personal_values_of_the_history_are_masked_in_the_quarantine(tmp_path: Path, con) -> None:
    path = write_csv(tmp_path / "attributes" / "a.csv", HEADER, [r for r, _ in ROWS])
    # the national id is a PII extra mapped by the history too; the note is listed as PII
    columns = COLUMNS | {"national_id": "note"}
    source = _history(path, max_reject_rate=1.0, pii_columns=["risk"]) | {"columns": columns}
    config = _config(tmp_path, customer_attributes=source)
    assert pii_source_columns(config, "customer_attributes") == {"mail", "note", "risk"}
    _land(con, config, "customer_attributes")
    values = [
        json.loads(text)
        for (text,) in _rows(
            con,
            "SELECT raw_values FROM quality.rejected_rows WHERE source = 'customer_attributes' "
            "ORDER BY source_row",
        )
    ]
    assert values[0] == dict(zip(HEADER, GOOD, strict=True)) | {
        "mail": "***",
        "note": "***",
        "risk": "***",
    }
    assert all(row["mail"] in (None, "***") for row in values)
    assert not any("a@x.org" in text or "b@x.org" in text for text in map(str, values))
    # the note is now landed: the re-export of c1's first row disagrees with it (both rejected)
    reasons = _rows(
        con,
        "SELECT source_row, reason FROM quality.rejected_rows WHERE source_row <= 3 ORDER BY 1",
    )
    assert reasons == [
        (1, "conflicting_attribute_rows"),
        (2, "duplicate_row"),
        (3, "conflicting_attribute_rows"),
    ]


def test_parquet_list_columns_and_typed_instants_land_natively(tmp_path: Path, con) -> None:
    path = tmp_path / "attributes.parquet"
    pl.DataFrame(
        {
            "id": [1001, 1002, 1003, 1004],
            "changed": pl.Series(
                [
                    datetime(2011, 4, 1, 0, 30),
                    datetime(2011, 3, 1),
                    datetime(2011, 3, 1),
                    None,
                ]
            ).dt.replace_time_zone("Europe/Berlin"),
            "aum": [10.5, None, 3.0, 1.0],
            "products": [[" fund", "loan", ""], [], None, ["x"]],
            "risk": pl.Series(["aggressive", None, "balanced", "x"], dtype=pl.Categorical),
        }
    ).write_parquet(path)
    columns = {"customer_id": "id", "assets_total": "aum", "products_held": "products"}
    columns |= {"risk_preference": "risk"}
    source = {"path": str(path), "valid_from": "changed", "columns": columns}
    extra = {name: EXTRA[name] for name in ("assets_total", "risk_preference", "products_held")}
    extra["national_id"] = EXTRA["national_id"]
    config = _config(tmp_path, extra, customer_attributes=source | {"max_reject_rate": 1.0})
    report = _land(con, config, "customer_attributes")
    assert report.rejected_by_reason == {"missing_timestamp": 1}
    assert _rows(
        con,
        "SELECT customer_id, valid_from, assets_total, products_held, risk_preference "
        "FROM raw.customer_attributes ORDER BY customer_id",
    ) == [
        # a zoned instant converts to UTC: 00:30 in Berlin is 22:30 UTC the day before
        ("1001", datetime(2011, 3, 31, 22, 30), 10.5, ["fund", "loan"], "aggressive"),
        ("1002", datetime(2011, 2, 28, 23, 0), None, [], None),
        ("1003", datetime(2011, 2, 28, 23, 0), 3.0, None, "balanced"),
    ]
    [(values,)] = _rows(con, "SELECT raw_values FROM quality.rejected_rows")
    assert json.loads(values)["products"] == ["x"]


def test_naive_instants_are_read_in_the_sources_time_zone(tmp_path: Path, con) -> None:
    rows = [["c1", "2011-04-01 00:30", "1", "", "", "", "", "", "", ""]]
    rows += [["c2", "2011-04-01T00:30:00+00:00", "1", "", "", "", "", "", "", ""]]
    path = write_csv(tmp_path / "a.csv", HEADER, rows)
    source = _history(path, timezone="Europe/Berlin")
    _land(con, _config(tmp_path, customer_attributes=source), "customer_attributes")
    assert _rows(con, "SELECT customer_id, valid_from FROM raw.customer_attributes ORDER BY 1") == [
        ("c1", datetime(2011, 3, 31, 22, 30)),
        # an offset in the data wins over the source's time zone
        ("c2", datetime(2011, 4, 1, 0, 30)),
    ]


def test_a_custom_list_separator_splits_the_cells(tmp_path: Path, con) -> None:
    rows = [["c1", "2011-01-01", "1", "", "fund ; loan;;", "", "", "", "", ""]]
    path = write_csv(tmp_path / "a.csv", HEADER, rows)
    source = _history(path, list_separator=";")
    _land(con, _config(tmp_path, customer_attributes=source), "customer_attributes")
    assert _rows(con, "SELECT products_held FROM raw.customer_attributes") == [(["fund", "loan"],)]


def test_every_catalogue_row_lands_or_is_quarantined_with_its_reason(tmp_path: Path, con) -> None:
    path = write_csv(tmp_path / "products.csv", PRODUCT_HEADER, [r for r, _ in PRODUCTS])
    config = _config(tmp_path, products=_products(path, max_reject_rate=1.0))
    report = _land(con, config, "products")
    expected = Counter(reason for _, reason in PRODUCTS if reason is not None)
    assert report.rejected_by_reason == dict(expected)
    _every_row_once(con, "products", len(PRODUCTS))
    assert _rows(con, "SELECT * EXCLUDE (source_file) FROM raw.products") == [
        ("F1", "fund", "equity", None, None, "4", 8),
        ("P1", "grocery", "dairy", "budget", "basic", None, 1),
    ]
    [(values,)] = _rows(con, "SELECT raw_values FROM quality.rejected_rows WHERE source_row = 3")
    assert json.loads(values)["supplier"] == "other"


def test_over_the_reject_rate_nothing_is_written(tmp_path: Path, con) -> None:
    rows = [r for r, why in ROWS if why in (None, "conflicting_attribute_rows")]
    path = write_csv(tmp_path / "a.csv", HEADER, rows)
    with pytest.raises(RejectRateExceeded) as error:
        _land(con, _config(tmp_path, customer_attributes=_history(path)), "customer_attributes")
    assert "customer_attributes: 2 of 5 rows rejected" in str(error.value)
    assert "conflicting_attribute_rows: 2" in str(error.value)
    assert _rows(con, "SELECT table_name FROM information_schema.tables") == []


def test_a_rerun_replaces_exactly_what_it_wrote(tmp_path: Path, con) -> None:
    history = write_csv(tmp_path / "a.csv", HEADER, [r for r, _ in ROWS])
    catalogue = write_csv(tmp_path / "p.csv", PRODUCT_HEADER, [r for r, _ in PRODUCTS])
    config = _config(
        tmp_path,
        customer_attributes=_history(history, max_reject_rate=1.0),
        products=_products(catalogue, max_reject_rate=1.0),
    )
    first = [_land(con, config, source) for source in ("customer_attributes", "products")]
    tables = ("raw.customer_attributes", "raw.products")
    before = {t: con.execute(f"SELECT * FROM {t} ORDER BY source_row").pl() for t in tables}
    quarantine = "SELECT * EXCLUDE (rejected_at) FROM quality.rejected_rows ORDER BY ALL"
    rejected = con.execute(quarantine).pl()
    second = [_land(con, config, source) for source in ("customer_attributes", "products")]
    assert second == first
    for table in tables:
        assert con.execute(f"SELECT * FROM {table} ORDER BY source_row").pl().equals(before[table])
    assert con.execute(quarantine).pl().equals(rejected)


def _row(source: str, key: str) -> list[str]:
    """A good row of ``source`` for the customer or product ``key``."""
    if source == "products":
        return [key, "grocery"] + [""] * (len(PRODUCT_HEADER) - 2)
    return [key, "2011-05-01", "1"] + [""] * (len(HEADER) - 3)


@pytest.mark.parametrize("source", ["customer_attributes", "products"])
def test_a_removed_or_shrunk_file_stops_the_landing(tmp_path: Path, con, source: str) -> None:
    header = PRODUCT_HEADER if source == "products" else HEADER
    block = _products if source == "products" else _history
    folder = tmp_path / source
    first = write_csv(folder / "1.csv", header, [_row(source, "k1"), _row(source, "k2")])
    second = write_csv(folder / "2.csv", header, [_row(source, "k3")])
    config = _config(tmp_path, **{source: block(folder / "*.csv")})
    assert _land(con, config, source).landed_rows == 3
    second.unlink()
    with pytest.raises(RemovedFilesError) as error:
        _land(con, config, source)
    assert f"{second} (1 rows before)" in str(error.value)
    assert f"sources.{source}.allow_removed_files: true" in str(error.value)
    write_csv(second, header, [_row(source, "k3")])
    write_csv(first, header, [_row(source, "k1")])
    with pytest.raises(RemovedFilesError) as error:
        _land(con, config, source)
    assert f"{first} (2 rows before, 1 now)" in str(error.value)
    assert _rows(con, f"SELECT count(*) FROM raw.{source}") == [(3,)]
    allowed = _config(tmp_path, **{source: block(folder / "*.csv", allow_removed_files=True)})
    assert _land(con, allowed, source).removed_files == {str(first): (2, 1)}
    assert _rows(con, f"SELECT count(*) FROM raw.{source}") == [(2,)]


def _resources(config: SegmentationConfig) -> dict[str, Any]:
    return {"warehouse": Warehouse(path=str(config.warehouse)), "settings": config}


def _checks(*keys: str) -> list[dg.AssetChecksDefinition]:
    wanted = {dg.AssetKey(["raw", key]) for key in keys}
    return [check for check in raw_checks if {k.asset_key for k in check.check_keys} <= wanted]


def test_without_the_sources_the_tables_exist_empty(tmp_path: Path) -> None:
    history = write_csv(tmp_path / "a.csv", HEADER, [r for r, _ in ROWS])
    catalogue = write_csv(tmp_path / "p.csv", PRODUCT_HEADER, [r for r, _ in PRODUCTS])
    configured = _config(
        tmp_path,
        customer_attributes=_history(history, max_reject_rate=1.0),
        products=_products(catalogue, max_reject_rate=1.0),
    )
    assets = [raw_customer_attributes, raw_products, *_checks("customer_attributes", "products")]
    assert dg.materialize(assets, resources=_resources(configured)).success
    # the sources are taken out of the config: their rows and quarantine go with them
    result = dg.materialize(assets, resources=_resources(_config(tmp_path)))
    assert result.success
    for name in ("customer_attributes", "products"):
        [materialization] = result.asset_materializations_for_node(f"raw__{name}")
        assert materialization.metadata["note"].value == f"no {name} source configured"
        assert materialization.metadata["dagster/row_count"].value == 0
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 2 and all(check.passed for check in checks)
    with duckdb.connect(str(configured.warehouse), read_only=True) as con:
        assert _rows(con, "SELECT count(*) FROM quality.rejected_rows") == [(0,)]
        described = {
            table: [(name, kind) for name, kind, *_ in _rows(con, f"DESCRIBE raw.{table}")]
            for table in ("customer_attributes", "products")
        }
        assert _rows(con, "SELECT count(*) FROM raw.products") == [(0,)]
    assert described["customer_attributes"] == [
        ("customer_id", "VARCHAR"),
        ("valid_from", "TIMESTAMP"),
        ("source_file", "VARCHAR"),
        ("source_row", "BIGINT"),
    ]
    assert [name for name, _ in described["products"]] == [
        "product_id",
        "category",
        "subcategory",
        "price_level",
        "need_level",
        "risk_level",
        "source_file",
        "source_row",
    ]


def test_the_assets_record_the_landing_and_hide_personal_data(tmp_path: Path) -> None:
    history = write_csv(tmp_path / "a.csv", HEADER, [r for r, _ in ROWS])
    catalogue = write_csv(tmp_path / "p.csv", PRODUCT_HEADER, [r for r, _ in PRODUCTS])
    config = _config(
        tmp_path,
        customer_attributes=_history(history, max_reject_rate=1.0),
        products=_products(catalogue, max_reject_rate=1.0),
    )
    assets = [raw_customer_attributes, raw_products, *_checks("customer_attributes", "products")]
    result = dg.materialize(assets, resources=_resources(config))
    assert result.success
    [history_event] = result.asset_materializations_for_node("raw__customer_attributes")
    metadata = {key: value.value for key, value in history_event.metadata.items()}
    assert (metadata["source_rows"], metadata["landed_rows"]) == (len(ROWS), 3)
    assert (metadata["customers"], metadata["rows_per_customer_max"]) == (2, 2)
    assert metadata["rows_per_customer_mean"] == 1.5
    assert metadata["valid_from_range"] == "2011-01-01 00:00:00 .. 2011-03-01 00:00:00"
    reasons = {r.data["reason"]: r.data["rows"] for r in metadata["rejected_by_reason"].records}
    assert reasons["conflicting_attribute_rows"] == 2
    # the preview leaves personal data out
    assert "a@x.org" not in metadata["preview"] and "email" not in metadata["preview"]
    assert "| balanced |" in metadata["preview"]
    [product_event] = result.asset_materializations_for_node("raw__products")
    products = {key: value.value for key, value in product_event.metadata.items()}
    assert (products["products"], products["categories"]) == (2, 2)
    per_category = {
        r.data["category"]: r.data["rows"] for r in products["products_per_category"].records
    }
    assert per_category == {"fund": 1, "grocery": 1}
    checks = result.get_asset_check_evaluations()
    assert {c.asset_key.path[1] for c in checks if c.passed} == {"customer_attributes", "products"}


def test_the_definitions_land_watch_and_check_both_sources(tmp_path: Path) -> None:
    folder = tmp_path / "attributes"
    _settled(write_csv(folder / "2011-03.csv", HEADER, [GOOD]))
    catalogue = _settled(write_csv(tmp_path / "p.csv", PRODUCT_HEADER, [PRODUCTS[0][0]]))
    config = _config(
        tmp_path, customer_attributes=_history(folder / "*.csv"), products=_products(catalogue)
    )
    defs = build_definitions(config)
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"raw/customer_attributes", "raw/products"} <= keys
    behaviour = graph.get(dg.AssetKey(["features", "customer_behaviour"]))
    assert dg.AssetKey(["raw", "customer_attributes"]) in behaviour.parent_keys
    checks = {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys}
    assert {("raw/customer_attributes", "contract"), ("raw/products", "contract")} <= checks
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    assert str(folder / "*.csv") in (sensor.description or "")
    assert str(catalogue) in (sensor.description or "")


def _settled(path: Path) -> Path:
    """Make a file look copied an hour ago: the sensor waits for files still changing."""
    an_hour_ago = path.stat().st_mtime - 3600
    os.utime(path, (an_hour_ago, an_hour_ago))
    return path


def test_the_summary_shows_both_only_when_they_landed(tmp_path: Path) -> None:
    history = write_csv(tmp_path / "a.csv", HEADER, [r for r, _ in ROWS])
    catalogue = write_csv(tmp_path / "p.csv", PRODUCT_HEADER, [r for r, _ in PRODUCTS])
    config = _config(
        tmp_path,
        customer_attributes=_history(history, max_reject_rate=1.0),
        products=_products(catalogue, max_reject_rate=1.0),
    )
    unconfigured = _resources(_config(tmp_path))
    assert dg.materialize([raw_transactions, raw_customers], resources=unconfigured).success
    with duckdb.connect(str(config.warehouse)) as con:
        before = summary_sections(con)
    assets = [raw_customer_attributes, raw_products]
    assert dg.materialize(assets, resources=unconfigured).success
    with duckdb.connect(str(config.warehouse)) as con:
        assert summary_sections(con) == before
    assert dg.materialize(assets, resources=_resources(config)).success
    with duckdb.connect(str(config.warehouse)) as con:
        landed = summary_sections(con)[0]
    assert landed.rows[-2:] == [("raw.customer_attributes", 3), ("raw.products", 2)]


@pytest.mark.parametrize(
    ("columns", "extra", "message"),
    [
        (
            COLUMNS | {"aum_band": "x"},
            EXTRA,
            "sources.customer_attributes.columns.aum_band: neither a standard customer column",
        ),
        (
            {"customer_id": "id"},
            EXTRA,
            "map at least one attribute besides customer_id",
        ),
        (
            COLUMNS | {"valid_from": "changed"},
            EXTRA,
            "columns.valid_from: not an attribute",
        ),
        (
            {"customer_id": "id", "region": "r"},
            {"assets_total": "float", "national_id": EXTRA["national_id"]},
            "segments.extra_columns.assets_total: not mapped to a source column under "
            "sources.customers.columns or sources.customer_attributes.columns",
        ),
    ],
)
def test_bad_attribute_mappings_stop_the_load_naming_the_key(
    tmp_path: Path, columns: dict, extra: dict, message: str
) -> None:
    path = write_csv(tmp_path / "a.csv", HEADER, [GOOD])
    with pytest.raises(ConfigError) as error:
        _config(tmp_path, extra, customer_attributes=_history(path) | {"columns": columns})
    assert message in str(error.value)


def test_an_extra_mapped_by_the_history_alone_is_enough(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", HEADER, [GOOD])
    config = _config(tmp_path, customer_attributes=_history(path))
    assert custom_attributes(config, "customers") == {"national_id": "text"}
    assert set(custom_attributes(config, "customer_attributes")) == set(EXTRA) - {"national_id"}


def test_a_customers_source_lands_a_list_attribute_from_its_cells(tmp_path: Path, con) -> None:
    customers = write_csv(
        tmp_path / "customers.csv", ["cid", "held"], [["c1", "fund; loan"], ["c2", ""]]
    )
    raw = config_mapping(segments={"extra_columns": {"products_held": "list"}})
    raw["sources"]["customers"] = {
        "path": str(customers),
        "list_separator": ";",
        "columns": {"customer_id": "cid", "products_held": "held"},
    }
    config = load_config(write_config_file(tmp_path, raw))
    _land(con, config, "customers")
    assert _rows(con, "SELECT customer_id, products_held FROM raw.customers ORDER BY 1") == [
        ("c1", ["fund", "loan"]),
        ("c2", None),
    ]
