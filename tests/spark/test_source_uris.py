"""Sources given as a URI: listed through Spark's Hadoop file system, their bytes read by
Spark's binaryFile source and staged by the library inside the tasks. A ``file:`` URI goes
through Hadoop's ``FileSystem`` as ``s3a://`` or ``hdfs://`` do (their jars are not installed
here): the landing from a ``file:`` URI glob equals the DuckDB landing of the same local files,
row for row, with ``source_file`` the URI."""

import glob
from dataclasses import replace
from pathlib import Path

import duckdb
import polars as pl
import pytest

from segmentation.config import ConfigError, load_config, pii_source_columns
from segmentation.engines.spark.lake import read_table
from segmentation.engines.spark.landing import QUARANTINE, land_source
from segmentation.engines.spark.source_uris import (
    MAX_FILE_BYTES,
    list_source_files,
    uri_column_order,
)
from segmentation.raw import landing as duckdb_landing
from segmentation.raw.source_files import SourceError
from tests.conftest import config_mapping, write_config_file
from tests.generated import transactions_source
from tests.spark.conftest import LANDED_AT
from tests.spark.test_landing import _damaged_csv_files

pytestmark = pytest.mark.spark

ORDER = ["source_file", "source_row"]


def _written(folder: Path, mapping: dict) -> Path:
    folder.mkdir(exist_ok=True)
    return write_config_file(folder, mapping)


def _uri(path: Path | str) -> str:
    return f"file://{path}"


def _sources(data: Path, folder: Path) -> None:
    """Damaged CSV (malformed records, columns reversed, gzip cut off), a Parquet file whose
    name holds a space and parentheses, an empty export, and what no glob may take: a hidden file
    and a folder."""
    folder.mkdir()
    _damaged_csv_files(data, folder)
    frame = pl.read_parquet(data / "transactions" / "*.parquet")
    frame[:700].write_parquet(folder / "e (1).parquet")
    (folder / "d-empty.csv").write_bytes(b"")
    (folder / ".hidden.csv").write_text("not,a,source\n")
    (folder / "sub").mkdir()
    (folder / "sub" / "f.csv").write_text("not,a,source\n")


def test_a_file_uri_glob_lands_as_the_duckdb_landing_of_the_same_files(
    spark, dirty_generated: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    _sources(dirty_generated, folder)
    source = transactions_source(dirty_generated) | {
        "path": str(folder / "*"),
        "timestamp_format": "%Y-%m-%d %H:%M:%S",
        "pii_columns": ["customer_id", "country"],
        "max_reject_rate": 0.5,
    }
    local = load_config(_written(tmp_path, config_mapping(source)))
    on_spark = load_config(
        _written(
            tmp_path / "spark",
            config_mapping(source | {"path": _uri(folder / "*")})
            | {"engine": "spark", "spark": {"lake": str(tmp_path / "lake")}},
        )
    )
    assert on_spark.sources.transactions.path == _uri(folder / "*")
    masked = pii_source_columns(local, "transactions")
    con = duckdb.connect()
    expected = duckdb_landing.land_source(
        con, "transactions", local.sources.transactions, LANDED_AT, masked=masked
    )
    lake = str(tmp_path / "lake")
    report = land_source(
        spark, lake, "transactions", on_spark.sources.transactions, LANDED_AT, masked=masked
    )

    # the same files in the same order, each named by its URI
    assert report.files == [_uri(name) for name in expected.files]
    assert [Path(name).name for name in expected.files] == [
        "a.csv",
        "b.csv",
        "c.csv.gz",
        "d-empty.csv",
        "e (1).parquet",
    ]
    renamed = {
        "files": [_uri(name) for name in expected.files],
        "rejected_by_file": {_uri(k): v for k, v in expected.rejected_by_file.items()},
        "notes": {_uri(k): v for k, v in expected.notes.items()},
        "stale_staging_removed": 0,
    }
    assert report == replace(expected, **renamed)
    as_uri = pl.concat_str(pl.lit("file://"), pl.col("source_file")).alias("source_file")
    expected_landed = con.execute("SELECT * FROM raw.transactions").pl()
    expected_landed = expected_landed.with_columns(as_uri).sort(ORDER)
    expected_rejected = con.execute("SELECT * FROM quality.rejected_rows").pl()
    expected_rejected = expected_rejected.with_columns(as_uri).sort(ORDER)
    landed = pl.from_arrow(read_table(spark, lake, "raw.transactions").toArrow())
    rejected = pl.from_arrow(read_table(spark, lake, QUARANTINE).toArrow())
    assert isinstance(landed, pl.DataFrame) and isinstance(rejected, pl.DataFrame)
    rejected = rejected.select(expected_rejected.columns).sort(ORDER)
    assert landed.sort(ORDER).equals(expected_landed)
    assert landed.schema == expected_landed.schema
    assert rejected.equals(expected_rejected)
    reasons = dict(rejected.group_by("reason").len().iter_rows())
    for reason in ("malformed_record", "unbalanced_quote", "nul_byte", "truncated_file"):
        assert reasons.get(reason, 0) > 0, reason
    assert reasons["duplicate_row"] >= 50


@pytest.mark.parametrize(
    "pattern", ["*", "*.csv", "?.csv", "[ab].csv", "[!a]*.csv", "*/*.csv", ".*", "a.csv"]
)
def test_a_uri_glob_matches_what_python_matches_locally(spark, tmp_path: Path, pattern) -> None:
    for name in ("a.csv", "b.csv", "ab.csv", "_u.csv", ".h.csv", "x[1].csv"):
        (tmp_path / name).write_text("x\n")
    for folder in ("sub", ".hid"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "c.csv").write_text("x\n")
    local = [
        name
        for name in sorted(glob.glob(str(tmp_path / pattern), recursive=True))
        if Path(name).is_file()
    ]
    listed = list_source_files(spark, "transactions", _uri(tmp_path / pattern))
    assert [file.name for file in listed] == [_uri(name) for name in local]
    assert [file.length for file in listed] == [2] * len(local)


def test_a_file_spark_would_skip_is_refused_before_any_write(
    spark, dirty_generated: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    frame = pl.read_parquet(dirty_generated / "transactions" / "*.parquet")
    frame[:100].write_parquet(folder / "a.parquet")
    frame[100:200].write_parquet(folder / "_b.parquet")
    source = transactions_source(dirty_generated) | {"path": _uri(folder / "*.parquet")}
    settings = load_config(
        _written(
            tmp_path,
            config_mapping(source) | {"engine": "spark", "spark": {"lake": str(tmp_path / "l")}},
        )
    ).sources.transactions
    lake = tmp_path / "lake"
    with pytest.raises(SourceError, match=r"skips file://.*/_b\.parquet .*rename"):
        land_source(spark, str(lake), "transactions", settings, LANDED_AT)
    assert not (lake / "raw").exists()


def test_a_file_too_large_for_a_row_is_refused_before_any_task(spark, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x\n")
    with open(tmp_path / "big.csv", "wb") as big:
        big.truncate(MAX_FILE_BYTES)  # sparse: no disk used
    with pytest.raises(SourceError, match=r"split these files .*big\.csv \(2,146,435,072 bytes\)"):
        list_source_files(spark, "transactions", _uri(tmp_path / "*.csv"))


def test_a_file_system_spark_cannot_reach_fails_with_hadoops_reason(spark) -> None:
    # no hadoop-aws jars here (they come from Maven): the object store's file system is absent
    with pytest.raises(SourceError, match=r"cannot list s3a://bucket/tx/\*\.csv: .*hadoop-aws"):
        list_source_files(spark, "transactions", "s3a://bucket/tx/*.csv")


def test_headers_are_read_from_the_first_bytes_and_errors_name_the_uri(
    spark, dirty_generated: Path, tmp_path: Path
) -> None:
    settings = load_config(
        _written(
            tmp_path,
            config_mapping(transactions_source(dirty_generated) | {"path": _uri(tmp_path / "x")})
            | {"engine": "spark", "spark": {"lake": str(tmp_path / "lake")}},
        )
    ).sources.transactions
    mapped = [name for name in settings.columns.model_dump().values() if name]
    wide = [*reversed(mapped), *(f"extra_column_{i:05d}" for i in range(9000))]  # > 64 KiB
    (tmp_path / "wide.csv").write_text(",".join(wide) + "\n" + ",".join(["1"] * len(wide)) + "\n")
    (tmp_path / "x-bad.csv").write_text("a,b\n1,2\n")
    wide_file, bad_file = list_source_files(spark, "transactions", _uri(tmp_path / "*.csv"))
    assert uri_column_order(spark, "transactions", settings, [wide_file]) == wide
    with pytest.raises(SourceError, match=r"file://.*/x-bad\.csv has no column") as error:
        uri_column_order(spark, "transactions", settings, [bad_file, wide_file])
    assert "source-head-" not in str(error.value)
    # a later file's header is checked by its task, with the same message
    lake = str(tmp_path / "lake")
    both = settings.model_copy(update={"path": _uri(tmp_path / "*.csv")})
    with pytest.raises(SourceError, match=r"file://.*/x-bad\.csv has no column") as error:
        land_source(spark, lake, "transactions", both, LANDED_AT)
    assert "landing-" not in str(error.value)
    assert not Path(lake, "raw").exists()


def test_a_uri_source_needs_the_spark_engine_and_no_recursive_glob(tmp_path: Path) -> None:
    uri = "s3a://bucket/transactions/*.parquet"
    mapping = config_mapping()
    mapping["sources"]["transactions"]["path"] = uri
    with pytest.raises(ConfigError, match=r"sources\.transactions\.path: s3a://.* only the Spark"):
        load_config(_written(tmp_path / "duckdb", mapping))
    on_spark = mapping | {"engine": "spark", "spark": {"lake": "s3a://bucket/lake"}}
    config = load_config(_written(tmp_path / "spark", on_spark))
    assert config.sources.transactions.path == uri
    on_spark["sources"]["transactions"]["path"] = "s3a://bucket/**/*.parquet"
    with pytest.raises(ConfigError, match=r"no recursive \*\*"):
        load_config(_written(tmp_path / "deep", on_spark))
