"""The config is checked before any write: paths that would destroy data, settings DuckDB refuses,
a missing pseudonym secret, personal data passed through as labels, and how errors print."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from segmentation.config import PSEUDONYM_SECRET_ENV_VAR, load_config
from segmentation.serving.marker import write_marker
from segmentation.settings_base import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAGSTER = Path(sys.executable).parent / "dagster"
TRANSACTIONS = "id,ts,amt\n1,2011-01-01,2\n"


def _write(folder: Path, raw: dict) -> Path:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def valid(tmp_path: Path) -> dict:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text(TRANSACTIONS)
    return {
        "warehouse": "wh/segmentation.duckdb",
        "serving": "wh/serving.duckdb",
        "snapshots": {"start": "2011-01", "end": "2011-03"},
        "sources": {
            "transactions": {
                "path": "data/*.csv",
                "columns": {"customer_id": "id", "order_ts": "ts", "amount": "amt"},
            }
        },
    }


def _refused(tmp_path: Path, raw: dict) -> str:
    with pytest.raises(ConfigError) as error:
        load_config(_write(tmp_path, raw))
    message = str(error.value)
    assert message.startswith(f"invalid configuration in {tmp_path / 'config.yaml'}:")
    return message


def _make_duckdb(path: Path, marked: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA marts; CREATE TABLE marts.mine AS SELECT 42 AS answer")
        if marked:
            write_marker(con, con.execute("SELECT current_database()").fetchone()[0])


# --- the serving path ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "serving",
    ["wh/segmentation.duckdb", "wh/../wh/segmentation.duckdb", "link/segmentation.duckdb"],
    ids=["same-path", "dotted-path", "through-a-symlink"],
)
def test_serving_equal_to_the_warehouse_is_refused(
    tmp_path: Path, valid: dict, serving: str
) -> None:
    (tmp_path / "wh").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "wh")
    _make_duckdb(tmp_path / "wh" / "segmentation.duckdb")
    message = _refused(tmp_path, {**valid, "serving": serving})
    assert "serving:" in message and "is the warehouse file" in message
    with duckdb.connect(str(tmp_path / "wh" / "segmentation.duckdb"), read_only=True) as con:
        assert con.execute("SELECT answer FROM marts.mine").fetchone() == (42,)


def test_serving_equal_to_the_warehouse_is_refused_before_either_exists(
    tmp_path: Path, valid: dict
) -> None:
    message = _refused(tmp_path, {**valid, "serving": valid["warehouse"]})
    assert "is the warehouse file" in message
    assert not (tmp_path / "wh").exists()


def test_a_hard_link_to_the_warehouse_is_refused(tmp_path: Path, valid: dict) -> None:
    _make_duckdb(tmp_path / "wh" / "segmentation.duckdb")
    os.link(tmp_path / "wh" / "segmentation.duckdb", tmp_path / "wh" / "serving.duckdb")
    assert "is the warehouse file" in _refused(tmp_path, valid)


@pytest.mark.parametrize("key", ["serving", "warehouse"])
def test_a_source_file_is_refused_as_serving_or_warehouse(
    tmp_path: Path, valid: dict, key: str
) -> None:
    source = tmp_path / "data" / "a.csv"
    message = _refused(tmp_path, {**valid, key: "data/a.csv"})
    assert f"{key}: {source} is the source file {source} (sources.transactions.path)" in message
    assert source.read_text() == TRANSACTIONS


@pytest.mark.parametrize("key", ["serving", "warehouse"])
def test_a_path_the_source_glob_would_match_is_refused(
    tmp_path: Path, valid: dict, key: str
) -> None:
    valid["sources"]["transactions"]["path"] = "data/**/*"
    message = _refused(tmp_path, {**valid, key: "data/out/file.duckdb"})
    assert f"{key}: {tmp_path / 'data/out/file.duckdb'} matches sources.transactions.path" in (
        message
    )


def test_a_customers_source_file_is_refused_as_serving(tmp_path: Path, valid: dict) -> None:
    (tmp_path / "customers.csv").write_text("id,email\n1,a@example.com\n")
    valid["sources"]["customers"] = {"path": "customers.csv", "columns": {"customer_id": "id"}}
    message = _refused(tmp_path, {**valid, "serving": "customers.csv"})
    assert "(sources.customers.path)" in message
    assert (tmp_path / "customers.csv").read_text() == "id,email\n1,a@example.com\n"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"a,b\n1,2\n", "is not a DuckDB database"),
        (b"", "is not a DuckDB database"),
        (None, "is a DuckDB database without this pipeline's marker _segmentation.serving_copy()"),
    ],
    ids=["csv", "empty", "foreign-duckdb"],
)
def test_an_existing_file_that_is_no_serving_copy_is_refused(
    tmp_path: Path, valid: dict, content: bytes | None, problem: str
) -> None:
    serving = tmp_path / "wh" / "serving.duckdb"
    if content is None:
        _make_duckdb(serving)
    else:
        serving.parent.mkdir()
        serving.write_bytes(content)
    before = serving.read_bytes()
    message = _refused(tmp_path, valid)
    assert f"serving: {serving} {problem}" in message
    assert "Point `serving` to a new file" in message
    assert serving.read_bytes() == before


def test_the_config_file_itself_is_refused_as_serving(tmp_path: Path, valid: dict) -> None:
    assert "is not a DuckDB database" in _refused(tmp_path, {**valid, "serving": "config.yaml"})


def test_a_marked_serving_copy_is_accepted(tmp_path: Path, valid: dict) -> None:
    _make_duckdb(tmp_path / "wh" / "serving.duckdb", marked=True)
    config = load_config(_write(tmp_path, valid))
    assert config.serving == tmp_path / "wh" / "serving.duckdb"
    assert config.serving_overwrite_foreign_changes is False


# --- settings DuckDB and the environment must accept -------------------------------------------


@pytest.mark.parametrize(
    ("delimiter", "accepted"),
    [(";", True), ("\t", True), ("|", True), (";;", False), ('"', False), ("\n", False)],
    ids=["semicolon", "tab", "pipe", "two-characters", "quote", "newline"],
)
def test_the_delimiter_is_one_character_other_than_a_quote_or_newline(
    tmp_path: Path, valid: dict, delimiter: str, accepted: bool
) -> None:
    valid["sources"]["transactions"]["delimiter"] = delimiter
    if accepted:
        assert load_config(_write(tmp_path, valid)).sources.transactions.delimiter == delimiter
    else:
        assert "sources.transactions.delimiter" in _refused(tmp_path, valid)


def test_a_memory_limit_duckdb_refuses_is_refused_at_load(tmp_path: Path, valid: dict) -> None:
    message = _refused(tmp_path, {**valid, "duckdb": {"memory_limit": "1KB"}})
    assert "duckdb.memory_limit: DuckDB refuses '1KB': Out of Memory Error" in message
    assert not (tmp_path / "wh").exists()


def test_an_absurd_thread_count_is_refused_at_load(tmp_path: Path, valid: dict) -> None:
    assert "duckdb.threads" in _refused(tmp_path, {**valid, "duckdb": {"threads": 100_000}})


@pytest.mark.parametrize("value", [None, ""], ids=["missing", "empty"])
def test_pseudonymizing_without_the_secret_is_refused_at_load(
    tmp_path: Path, valid: dict, monkeypatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv(PSEUDONYM_SECRET_ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(PSEUDONYM_SECRET_ENV_VAR, value)
    message = _refused(tmp_path, {**valid, "pseudonymize": True})
    assert "pseudonymize_secret_env: pseudonymize is true but the environment variable " in (
        message
    )
    assert PSEUDONYM_SECRET_ENV_VAR in message
    monkeypatch.setenv(PSEUDONYM_SECRET_ENV_VAR, "a-secret")
    assert load_config(_write(tmp_path, {**valid, "pseudonymize": True})).pseudonymize


# --- personal data never passes through as a label ---------------------------------------------


def _with_customers(valid: dict, tmp_path: Path, columns: dict, extra: dict, attributes: list):
    (tmp_path / "customers.csv").write_text("id,mail,code\n1,a@example.com,X1\n")
    valid["sources"]["customers"] = {"path": "customers.csv", "columns": columns}
    valid["segments"] = {"extra_columns": extra, "attributes": attributes}
    return valid


@pytest.mark.parametrize(
    ("columns", "extra"),
    [
        ({"customer_id": "id", "contact": "code"}, {"contact": {"type": "text", "pii": True}}),
        ({"customer_id": "id", "email": "mail", "contact": "mail"}, {"contact": "text"}),
    ],
    ids=["declared-pii", "plain-text-mapped-to-the-email-column"],
)
def test_a_passthrough_dimension_over_personal_data_is_refused(
    tmp_path: Path, valid: dict, columns: dict, extra: dict
) -> None:
    raw = _with_customers(
        valid, tmp_path, columns, extra, [{"dimension": "who", "column": "contact"}]
    )
    message = _refused(tmp_path, raw)
    assert "attribute dimension 'who': column 'contact' holds personal data" in message


def test_a_standard_attribute_read_from_the_email_column_is_refused_as_passthrough(
    tmp_path: Path, valid: dict
) -> None:
    raw = _with_customers(
        valid,
        tmp_path,
        {"customer_id": "id", "email": "mail", "region": "mail"},
        {},
        [{"dimension": "region", "column": "region"}],
    )
    assert "attribute dimension 'region': column 'region' holds personal data" in (
        _refused(tmp_path, raw)
    )


@pytest.mark.parametrize(
    ("columns", "dimension_column"),
    [
        ({"customer_id": "id"}, "customer_id"),
        ({"customer_id": "id", "region": "id"}, "region"),
    ],
    ids=["the-id-itself", "an-attribute-read-from-the-id-column"],
)
def test_with_pseudonyms_a_passthrough_over_the_customer_id_is_refused(
    tmp_path: Path,
    valid: dict,
    monkeypatch: pytest.MonkeyPatch,
    columns: dict,
    dimension_column: str,
) -> None:
    # the serving copy pseudonymizes customer_id; as labels the ids would be published in clear
    monkeypatch.setenv(PSEUDONYM_SECRET_ENV_VAR, "a-secret")
    raw = _with_customers(
        valid, tmp_path, columns, {}, [{"dimension": "who", "column": dimension_column}]
    )
    assert load_config(_write(tmp_path, raw)).segments.attributes  # allowed without pseudonyms
    raw["pseudonymize"] = True
    assert f"attribute dimension 'who': column '{dimension_column}' holds personal data" in (
        _refused(tmp_path, raw)
    )


def test_rules_over_personal_data_are_allowed(tmp_path: Path, valid: dict) -> None:
    raw = _with_customers(
        valid,
        tmp_path,
        {"customer_id": "id", "contact": "code"},
        {"contact": {"type": "text", "pii": True}},
        [{"dimension": "has_code", "rules": [{"name": "yes", "when": "contact IS NOT NULL"}]}],
    )
    config = load_config(_write(tmp_path, raw))
    assert config.segments.pii_extra_columns() == {"contact"}


# --- how a config error prints on the command line ---------------------------------------------


def _run(args: list[str], config: Path, home: Path) -> subprocess.CompletedProcess:
    home.mkdir(exist_ok=True)
    env = os.environ | {"SEGMENTATION_CONFIG": str(config), "DAGSTER_HOME": str(home)}
    env.pop("SEGMENTATION_TRACEBACK", None)
    return subprocess.run(
        args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "command",
    [
        [
            str(DAGSTER), "asset", "materialize", "-m", "pipelines.definitions",
            "--select", "*", "--partition", "2011-03",
        ],
        [sys.executable, "-m", "pipelines.summary"],
    ],
    ids=["dagster-asset-materialize", "summary"],
)  # fmt: skip
def test_a_config_error_prints_the_message_alone(
    tmp_path: Path, valid: dict, command: list[str]
) -> None:
    config = _write(tmp_path, {**valid, "warehose": "typo.duckdb"})
    result = _run(command, config, tmp_path / "home")
    assert result.returncode == 1
    expected = f"invalid configuration in {config}:\n  warehose: unknown key\n"
    assert result.stderr.endswith(expected), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "wh").exists()


def test_held_products_holding_personal_data_are_not_recommended_to_others(
    tmp_path: Path, valid: dict
) -> None:
    raw = _with_customers(
        valid,
        tmp_path,
        {"customer_id": "id", "held": "code"},
        {"held": {"type": "list", "pii": True}},
        [],
    )
    raw["segments"]["recommendations"] = {"products_held_column": "held"}
    assert "recommendations.products_held_column: 'held' holds personal data" in (
        _refused(tmp_path, raw)
    )
    raw["segments"]["extra_columns"] = {"held": "list"}
    assert load_config(_write(tmp_path, raw)).segments.recommendations.products_held_column == (
        "held"
    )
