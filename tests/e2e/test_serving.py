"""The serving copy: exactly the marts, commented, swapped in atomically, free of personal data.

One module fixture lands the real sample plus a small customers file with fake names, e-mails and
phones, and materializes two partitions one run after another while two other processes read
the serving file through SQLAlchemy, as a BI tool would. The other tests publish from that
warehouse again (serving asset only), which takes well under a second each.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
import yaml

import segmentation.serving.publish as publish
from assets.serving.assets import MART_KEYS, SERVING_KEY, serving_marts
from pipelines.build_definitions import build_definitions
from segmentation.config import PSEUDONYM_SECRET_ENV_VAR, SegmentationConfig, load_config
from segmentation.serving.dictionary import (
    MART_CONTRACTS,
    column_description,
    table_description,
)
from tests.conftest import PROJECT_ROOT, config_mapping, sample_transactions, write_csv
from tests.e2e.test_pipeline import materialize

PARTITIONS = ["2011-02", "2011-03"]
SECRET = "test-pseudonym-secret"
# Customer ids of the sample (divisible by 3) with fake personal data on reserved example
# domains and fictional numbers.
PII_CUSTOMERS = [
    ["12348", "Ada Quillfeather", "ada.quillfeather@example.com", "+44 20 7946 0348", "f"],
    ["12351", "Bartholomew Zyx", "b.zyx@example.org", "+1 202 555 0151", "m"],
    ["12357", "Chloé Östergren", "chloe.ostergren@example.net", "555-0157", "f"],
]
PII_VALUES = [value for row in PII_CUSTOMERS for value in row[1:4]]
READER_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Published:
    config: SegmentationConfig
    readers: dict[str, list[dict]]


def _config_yaml(customers: Path) -> dict:
    return config_mapping(
        sources={
            "transactions": sample_transactions(),
            "customers": {
                "path": str(customers),
                "columns": {
                    "customer_id": "id",
                    "name": "full_name",
                    "email": "email_address",
                    "phone": "phone_number",
                    "gender": "gender",
                },
            },
        },
        # k-means is not what these tests are about, and it is the slowest step
        segments={"clusters": {"enabled": False}},
    )


def _start_reader(folder: Path, serving: Path, mode: str) -> tuple[subprocess.Popen, Path]:
    out = folder / f"reader_{mode}.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.e2e.serving_reader",
            str(serving),
            str(folder / "stop"),
            str(out),
            mode,
        ],
        cwd=PROJECT_ROOT,
    )
    return process, out


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Published:
    folder = tmp_path_factory.mktemp("serving")
    customers = write_csv(
        folder / "customers.csv",
        ["id", "full_name", "email_address", "phone_number", "gender"],
        PII_CUSTOMERS,
    )
    (folder / "config.yaml").write_text(yaml.safe_dump(_config_yaml(customers)))
    config = load_config(folder / "config.yaml")
    readers = {mode: _start_reader(folder, config.serving, mode) for mode in ("fresh", "held")}
    try:
        for partition in PARTITIONS:
            assert materialize(config, partition).success
        for _ in range(2):  # republishing the same content while they read
            assert _publish_serving_only(config).success
    finally:
        (folder / "stop").touch()
        for process, _ in readers.values():
            try:
                process.wait(timeout=READER_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
    return Published(
        config, {mode: json.loads(out.read_text()) for mode, (_, out) in readers.items()}
    )


def _publish_serving_only(config: SegmentationConfig, **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize([serving_marts], resources=build_definitions(config).resources, **kwargs)


def _serving_config(write_config, retail_transactions, published: Published, **overrides):
    return write_config(
        retail_transactions,
        warehouse=str(published.config.warehouse),
        serving="serving/serving.duckdb",
        **overrides,
    )


def _tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() "
        "WHERE database_name = current_database() ORDER BY ALL"
    ).fetchall()


def _counts(path: Path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            f"{schema}.{table}": con.execute(f"SELECT count(*) FROM {schema}.{table}").fetchone()[0]
            for schema, table in _tables(con)
            if schema == "marts"
        }


def test_the_serving_asset_depends_on_every_mart(write_config, retail_transactions) -> None:
    graph = build_definitions(write_config(retail_transactions)).resolve_asset_graph()
    marts = {key for key in graph.get_all_asset_keys() if key.path[0] == "marts"}
    node = graph.get(SERVING_KEY)
    assert set(MART_KEYS) == marts == set(node.parent_keys)
    assert node.partitions_def is None
    assert node.backfill_policy == dg.BackfillPolicy.single_run()


def test_the_serving_file_holds_exactly_the_commented_marts(published: Published) -> None:
    config = published.config
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        warehouse_marts = [t for t in _tables(con) if t[0] == "marts"]
    assert {table for _, table in warehouse_marts} == set(MART_CONTRACTS)
    with duckdb.connect(str(config.serving), read_only=True) as con:
        assert _tables(con) == warehouse_marts
        views = con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone()
        assert views == (0,)
        tags = con.execute(
            "SELECT tags FROM duckdb_databases() WHERE database_name = current_database()"
        ).fetchone()[0]
        assert tags["storage_version"] == f"{publish.STORAGE_VERSION}+"  # readable by DuckDB 1.4
        tables = dict(
            con.execute(
                "SELECT table_name, comment FROM duckdb_tables() "
                "WHERE database_name = current_database()"
            ).fetchall()
        )
        columns = con.execute(
            "SELECT table_name, column_name, comment FROM duckdb_columns() "
            "WHERE database_name = current_database()"
        ).fetchall()
    assert _counts(config.serving) == _counts(config.warehouse)
    assert tables == {table: table_description(table) for table in MART_CONTRACTS}
    for table, column, comment in columns:
        assert comment and comment == column_description(table, column), (table, column)
    attributes = {c for t, c, _ in columns if t == "customer_segments" and c.startswith("attr_")}
    assert attributes == {"attr_age_band", "attr_gender", "attr_region", "attr_channel"}
    leftovers = [p.name for p in config.serving.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_readers_always_see_a_complete_snapshot(published: Published) -> None:
    with duckdb.connect(str(published.config.serving), read_only=True) as con:
        final = [
            [str(day), n]
            for day, n in con.execute(
                "SELECT snapshot_date, count(*) FROM marts.customer_segments GROUP BY 1 ORDER BY 1"
            ).fetchall()
        ]
    assert len(final) == len(PARTITIONS)
    # what the file holds after the k-th run: the first k snapshots
    complete = [
        [[day, n, n, n, len(MART_CONTRACTS)] for day, n in final[:k]]
        for k in range(1, len(final) + 1)
    ]
    for mode, seen in published.readers.items():
        errors = [entry["error"] for entry in seen if "error" in entry]
        assert errors == [], mode
        states = [entry["state"] for entry in seen]
        assert len(states) >= 20, (mode, len(states))
        positions = [complete.index(state) for state in states]  # ValueError: torn snapshot
        assert positions == sorted(positions), mode
        if mode == "held":
            assert len(set(positions)) == 1  # an open connection keeps its snapshot
        else:
            assert len(set(positions)) >= 2  # new connections see new publishes


@dg.asset(key=["marts", "clv_backtest"])
def _failing_mart() -> None:
    """Stands in for a mart whose step fails."""
    raise RuntimeError("upstream step failed")


@pytest.mark.parametrize("failing", ["upstream", "install", "_copy_table"])
def test_a_failed_run_keeps_the_old_file(
    published: Published, write_config, retail_transactions, monkeypatch, failing: str
) -> None:
    config = _serving_config(write_config, retail_transactions, published)
    assert _publish_serving_only(config).success
    before = config.serving.read_bytes()
    modified = config.serving.stat().st_mtime_ns

    def fail(*args, **kwargs):
        raise RuntimeError("disk on fire")

    if failing == "upstream":
        resources = build_definitions(config).resources
        result = dg.materialize(
            [_failing_mart, serving_marts], resources=resources, raise_on_error=False
        )
    else:  # after the temporary file is complete, or halfway through writing it
        monkeypatch.setattr(publish, failing, fail)
        result = _publish_serving_only(config, raise_on_error=False)
    assert not result.success
    assert SERVING_KEY not in {e.asset_key for e in result.get_asset_materialization_events()}
    assert config.serving.read_bytes() == before
    assert config.serving.stat().st_mtime_ns == modified
    assert sorted(p.name for p in config.serving.parent.iterdir()) == ["serving.duckdb"]


def _text_matches(con: duckdb.DuckDBPyConnection, table: str, value: str) -> int:
    """Rows of ``table`` whose text (every column, cast to text) contains ``value``."""
    return con.execute(
        f"SELECT count(*) FROM {table} AS row WHERE contains(lower(row::VARCHAR), lower(?))",
        [value],
    ).fetchone()[0]


def test_personal_data_stays_in_the_raw_layer(published: Published) -> None:
    config = published.config
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        landed = {row[0] for row in con.execute("SELECT customer_id FROM raw.customers").fetchall()}
        assert landed == {row[0] for row in PII_CUSTOMERS}
        assert all(_text_matches(con, "raw.customers", value) == 1 for value in PII_VALUES)
        derived = [f"{s}.{t}" for s, t in _tables(con) if s in {"features", "marts"}]
        for table in derived:
            assert [v for v in PII_VALUES if _text_matches(con, table, v)] == [], table
    with duckdb.connect(str(config.serving), read_only=True) as con:
        published_ids = con.execute(
            "SELECT DISTINCT customer_id FROM marts.customer_segments WHERE customer_id IN ?",
            [sorted(landed)],
        ).fetchall()
        assert len(published_ids) == len(PII_CUSTOMERS)  # their rows are there, their PII is not
        for _, table in _tables(con):
            assert [v for v in PII_VALUES if _text_matches(con, f"marts.{table}", v)] == [], table


def test_pseudonymized_ids_are_keyed_hashes_consistent_across_tables(
    published: Published, write_config, retail_transactions, monkeypatch
) -> None:
    monkeypatch.setenv(PSEUDONYM_SECRET_ENV_VAR, SECRET)
    config = _serving_config(write_config, retail_transactions, published, pseudonymize=True)
    assert _publish_serving_only(config).success
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        raw_ids = pl.DataFrame(
            con.execute(
                "SELECT customer_id FROM raw.transactions UNION SELECT customer_id FROM "
                "raw.customers"
            ).fetchall(),
            schema=["customer_id"],
            orient="row",
        )
        plain = con.execute("SELECT * FROM marts.strategy_assignments ORDER BY ALL").pl()
    with duckdb.connect(str(config.serving), read_only=True) as con:
        con.register("raw_ids", raw_ids)
        for _, table in _tables(con):
            text_columns = [
                column
                for column, kind in con.execute(
                    f"SELECT column_name, data_type FROM duckdb_columns() "
                    f"WHERE database_name = current_database() AND table_name = '{table}'"
                ).fetchall()
                if kind == "VARCHAR"
            ]
            for column in text_columns:
                leaked = con.execute(
                    f'SELECT count(*) FROM marts.{table} WHERE "{column}" IN '
                    f"(SELECT customer_id FROM raw_ids)"
                ).fetchone()[0]
                assert leaked == 0, (table, column)
        per_table = {
            table: con.execute(
                f"SELECT DISTINCT snapshot_date, customer_id FROM marts.{table} ORDER BY ALL"
            ).fetchall()
            for table in ("customer_segments", "strategy_assignments")
        }
        hidden = con.execute("SELECT * FROM marts.strategy_assignments ORDER BY ALL").pl()
        comment = con.execute(
            "SELECT comment FROM duckdb_columns() WHERE table_name = 'customer_segments' "
            "AND column_name = 'customer_id'"
        ).fetchone()[0]
    assert per_table["customer_segments"] == per_table["strategy_assignments"]
    assert all(re.fullmatch(r"[0-9a-f]{24}", cid) for _, cid in per_table["customer_segments"])
    # exactly HMAC-SHA256 of the id (Python's hmac as the reference), row for row
    expected = plain.with_columns(
        pl.col("customer_id").map_elements(
            lambda cid: publish.pseudonym(SECRET.encode(), cid), return_dtype=pl.String
        )
    )
    assert hidden.sort(hidden.columns).equals(expected.sort(expected.columns))
    assert "HMAC-SHA256" in comment


def test_hmac_in_sql_equals_python_hmac() -> None:
    ids = ["12348", "", "Zoë\\x41 'quoted'", "x" * 300]
    for secret in (b"k", b"s" * 64, b"long key " * 20):
        inner, outer = publish.hmac_pad_keys(secret)
        with duckdb.connect() as con:
            con.execute("CREATE TABLE t AS SELECT unnest(?::VARCHAR[]) AS customer_id", [ids])
            got = con.execute(
                f"SELECT {publish.pseudonym_sql('customer_id')} FROM t",
                {"inner_key": inner, "outer_key": outer},
            ).fetchall()
        assert [row[0] for row in got] == [publish.pseudonym(secret, cid) for cid in ids]


@pytest.mark.parametrize("value", [None, ""], ids=["missing", "empty"])
def test_pseudonymizing_without_the_secret_fails_naming_the_variable(
    published: Published, write_config, retail_transactions, monkeypatch, value: str | None
) -> None:
    name = "SERVING_TEST_PSEUDONYM_KEY"
    # loading the config already refuses a missing secret (tests/unit/test_config_guards.py);
    # the asset checks again, for a run whose environment lost it after the config loaded
    monkeypatch.setenv(name, SECRET)
    config = _serving_config(
        write_config,
        retail_transactions,
        published,
        pseudonymize=True,
        pseudonymize_secret_env=name,
    )
    if value is None:
        monkeypatch.delenv(name, raising=False)
    else:
        monkeypatch.setenv(name, value)
    with pytest.raises(dg.Failure, match=name):
        _publish_serving_only(config)
    assert not config.serving.parent.exists() or not any(config.serving.parent.iterdir())
