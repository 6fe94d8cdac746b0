"""Hostile values and files at the parsing level: offsets, time zones, decimal commas, column
order, masking, record splitting and the messages a bad file gets."""

import csv
import gzip
import io
import json
import random
import time
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from segmentation.config import load_config
from segmentation.raw import staging
from segmentation.raw.columns import MASKED_VALUES, RAW_VALUES, ROW_HASH, ROW_NUMBER
from segmentation.raw.csv_records import prepare_csv
from segmentation.raw.parsing import parse_customers, parse_transactions, raw_values
from segmentation.raw.source_files import SourceError, check_header
from segmentation.settings_base import ConfigError
from tests.conftest import (
    LANDING_NOW,
    RETAIL_COLUMNS,
    RETAIL_HEADER,
    config_mapping,
    sample_transactions,
    write_config_file,
)

COLUMNS = {"customer_id": "cid", "order_ts": "ts", "amount": "amt"}


def _frame(values: dict[str, list]) -> pl.LazyFrame:
    rows = len(next(iter(values.values())))
    return pl.DataFrame(
        {**values, "source_row": list(range(1, rows + 1)), "source_file": ["f"] * rows}
    ).lazy()


def _timestamps(texts: list[str], fmt: str | None = None, timezone: str = "UTC") -> list:
    frame = _frame({"cid": ["1"] * len(texts), "ts": texts, "amt": ["1"] * len(texts)})
    parsed = parse_transactions(frame, COLUMNS, fmt, LANDING_NOW, timezone=timezone).collect()
    return parsed.get_column("order_ts").to_list()


@pytest.mark.parametrize("fmt", [None, "%Y-%m-%d %H:%M:%S"])
def test_timestamps_with_offsets_parse_to_utc(fmt: str | None) -> None:
    texts = [
        "2011-03-05 10:00:00+08:00",
        "2011-03-05T02:00:00Z",
        "2011-03-04 21:00:00-0500",
        "2011-03-05T10:00:00.250+08:00",
        "2011-03-05 02:00:00",
    ]
    expected = [datetime(2011, 3, 5, 2)] * 3 + [datetime(2011, 3, 5, 2, 0, 0, 250000)]
    assert _timestamps(texts, fmt) == [*expected, datetime(2011, 3, 5, 2)]


def test_a_percent_z_format_gives_utc_not_a_crash() -> None:
    texts = ["05/03/2011 10:00 +0800", "05/03/2011 10:00 -01:00", "05/03/2011 10:00"]
    assert _timestamps(texts, "%d/%m/%Y %H:%M %z") == [
        datetime(2011, 3, 5, 2),
        datetime(2011, 3, 5, 11),
        None,
    ]


def test_naive_timestamps_are_local_times_of_the_configured_zone() -> None:
    texts = [
        "2011-06-01 12:00:00",  # summer: UTC+2
        "2011-01-01 12:00:00",  # winter: UTC+1
        "2011-03-27 02:30:00",  # skipped by the clocks: does not exist
        "2011-10-30 02:30:00",  # happens twice: the first is taken
        "2011-06-01 12:00:00+00:00",  # an offset wins over the zone
    ]
    assert _timestamps(texts, timezone="Europe/Berlin") == [
        datetime(2011, 6, 1, 10),
        datetime(2011, 1, 1, 11),
        None,
        datetime(2011, 10, 30, 0, 30),
        datetime(2011, 6, 1, 12),
    ]
    frame = _frame({"cid": ["1"], "ts": ["2011-03-27 02:30:00"], "amt": ["1"]})
    parsed = parse_transactions(frame, COLUMNS, None, LANDING_NOW, timezone="Europe/Berlin")
    assert parsed.collect().get_column("reason").to_list() == ["unparseable_timestamp"]


def test_typed_timestamps_follow_the_zone_unless_they_carry_one() -> None:
    naive = pl.DataFrame({"ts": [datetime(2011, 6, 1, 12)]})
    aware = naive.with_columns(pl.col("ts").dt.replace_time_zone("Asia/Tokyo"))
    results = []
    for typed in (naive, aware):
        frame = typed.with_columns(
            cid=pl.lit("1"), amt=pl.lit(1.0), source_row=pl.lit(1), source_file=pl.lit("f")
        ).lazy()
        parsed = parse_transactions(frame, COLUMNS, None, LANDING_NOW, timezone="Europe/Berlin")
        results.append(parsed.collect().get_column("order_ts").item())
    assert results == [datetime(2011, 6, 1, 10), datetime(2011, 6, 1, 3)]


def test_dates_with_a_time_and_offset_keep_the_date_as_written() -> None:
    frame = _frame(
        {
            "id": ["c1", "c2", "c3", "c4"],
            "born": [
                "1980-02-29T23:30:00-05:00",
                "1980-02-29T00:30:00+09:00",
                "1980-02-29",
                "1980-02-29 10:00:00Z",
            ],
        }
    )
    columns = {"customer_id": "id", "birth_date": "born"}
    parsed = parse_customers(frame, columns, None, LANDING_NOW).collect()
    assert parsed.get_column("birth_date").to_list() == [date(1980, 2, 29)] * 4
    with_format = parse_customers(frame, columns, "%Y-%m-%dT%H:%M:%S%z", LANDING_NOW).collect()
    assert with_format.get_column("birth_date").to_list()[:2] == [date(1980, 2, 29)] * 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.234,56", 1234.56),
        ("12,5", 12.5),
        ("-1.000.000", -1_000_000.0),
        ("7", 7.0),
        ("1,5e3", 1500.0),
        ("inf", float("inf")),
        ("1,234.56", None),  # the other convention: not read a thousand times off
        ("1.5", None),
        ("12,5,0", None),
    ],
)
def test_decimal_comma_numbers(text: str, expected: float | None) -> None:
    frame = _frame({"cid": ["1"], "ts": ["2011-01-01"], "amt": [text]})
    parsed = parse_transactions(frame, COLUMNS, None, LANDING_NOW, decimal_comma=True).collect()
    assert parsed.get_column("amount").item() == expected
    if expected is None:
        assert parsed.get_column("reason").item() == "unparseable_number"


def test_amounts_the_exact_sums_cannot_hold_are_quarantined() -> None:
    """An amount lands exactly when DuckDB can cast it to the DECIMAL(38, 10) the features sum
    it as; beyond, the row is quarantined, whether the amount is given or quantity * unit_price."""
    largest = 9.999999999999997e27
    amounts = [largest, -largest, 1e28, -1e28, 1e300, 12.5]
    frame = _frame({"cid": ["1"] * 6, "ts": ["2011-01-01"] * 6, "amt": [repr(a) for a in amounts]})
    parsed = parse_transactions(frame, COLUMNS, None, LANDING_NOW).collect()
    with duckdb.connect() as con:
        for amount, reason in zip(amounts, parsed.get_column("reason"), strict=True):
            try:
                con.execute("SELECT ?::DOUBLE::DECIMAL(38, 10)", [amount])
                castable = True
            except duckdb.ConversionException:
                castable = False
            assert (reason is None) == castable, amount
            assert reason in (None, "amount_out_of_range")
    columns = {"customer_id": "cid", "order_ts": "ts", "quantity": "q", "unit_price": "p"}
    lines = _frame(
        {"cid": ["1", "2"], "ts": ["2011-01-01"] * 2, "q": ["1e20", "2"], "p": ["1e10"] * 2}
    )
    parsed = parse_transactions(lines, columns, None, LANDING_NOW).collect()
    assert parsed.get_column("reason").to_list() == ["amount_out_of_range", None]


def test_the_row_hash_and_text_follow_the_first_files_column_order() -> None:
    row = ["489434", "85048", "LIGHTS", "12", "2010-12-01 07:45:00", "6.95", "13085", "UK"]
    forward = pl.DataFrame([row], schema=RETAIL_HEADER, orient="row")
    backward = forward.select(list(reversed(RETAIL_HEADER)))
    hashes, texts = [], []
    for frame in (forward, backward):
        lazy = frame.with_columns(source_row=pl.lit(1), source_file=pl.lit("f")).lazy()
        parsed = parse_transactions(
            lazy, RETAIL_COLUMNS, None, LANDING_NOW, column_order=RETAIL_HEADER
        )
        hashes.append(parsed.collect().get_column(ROW_HASH).item())
        texts.append(raw_values(lazy, RETAIL_HEADER).collect().get_column(RAW_VALUES).item())
    assert hashes[0] == hashes[1]
    assert texts[0] == texts[1]
    assert list(json.loads(texts[0])) == RETAIL_HEADER


def test_masked_values_hide_personal_columns_and_keep_nulls() -> None:
    frame = _frame({"id": ["c1", "c2"], "mail": ["a@example.com", None], "tier": ["gold", "x"]})
    text = raw_values(frame, masked=frozenset({"mail"}), mask="***").collect()
    assert [json.loads(v) for v in text.get_column(MASKED_VALUES)] == [
        {"id": "c1", "mail": "***", "tier": "gold"},
        {"id": "c2", "mail": None, "tier": "x"},
    ]
    # the real text stays beside it, for the exact duplicate comparison
    assert json.loads(text.item(0, RAW_VALUES))["mail"] == "a@example.com"


def test_a_header_naming_a_mapped_column_twice_fails() -> None:
    with pytest.raises(SourceError, match=r"more than one column named 'Customer ID'"):
        check_header([*RETAIL_HEADER, "Customer ID"], RETAIL_COLUMNS, Path("f.csv"), "x")


def test_a_header_that_is_data_is_listed_masked() -> None:
    names = ["c1", "ann@example.com", "07700900123", "Ann"]
    with pytest.raises(SourceError) as error:
        check_header(names, {"customer_id": "id"}, Path("f.csv"), "customers")
    message = str(error.value)
    assert "'c1', '***', '***', 'Ann'" in message
    assert "example" not in message and "07700" not in message


def test_a_header_read_as_one_column_points_at_the_delimiter() -> None:
    with pytest.raises(SourceError, match=r"Is sources\.transactions\.delimiter right\?"):
        check_header([";".join(RETAIL_HEADER)], RETAIL_COLUMNS, Path("f.csv"), "transactions")


def _prepare(tmp_path: Path, text: str | bytes, name: str = "f.csv", **options):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    return prepare_csv(path, ",", "utf-8", scratch, "000000", "transactions", **options)


def _rejects(prepared) -> list[tuple]:
    if not prepared.rejects:
        return []
    frame = pl.read_parquet(prepared.rejects)
    return [(row, reason, json.loads(raw)) for row, reason, raw, _ in frame.iter_rows()]


def test_a_regular_file_is_read_in_place(tmp_path: Path) -> None:
    prepared = _prepare(tmp_path, 'a,b,c\n1,"x, y",3\r\n4,"say ""hi""",6\n')
    assert (prepared.path, prepared.numbered, prepared.records) == (tmp_path / "f.csv", False, 2)


def test_an_unbalanced_quote_loses_only_its_own_line(tmp_path: Path) -> None:
    lines = ["a,b,c", '1,"open,3', *(f"{n},x,{n}" for n in range(2, 50)), '50,"y",50']
    prepared = _prepare(tmp_path, "\n".join(lines) + "\n")
    assert prepared.numbered and prepared.records == 49
    assert _rejects(prepared) == [(1, "unbalanced_quote", {"line": 2, "text": '1,"open,3'})]
    numbered = pl.read_csv(prepared.path, infer_schema=False)
    assert numbered.get_column("__source_row__").to_list() == [str(n) for n in range(2, 51)]


def test_a_quoted_field_longer_than_the_limit_counts_as_unbalanced(tmp_path: Path, monkeypatch):
    monkeypatch.setattr("segmentation.raw.csv_records.MAX_RECORD_CHARS", 100)
    long_field = "\n".join(["word " * 5] * 30)
    text = f'a,b\n1,"{long_field}"\n2,x\n'
    prepared = _prepare(tmp_path, text)
    reasons = [reason for _, reason, _ in _rejects(prepared)]
    assert reasons[0] == "unbalanced_quote"
    # every line is accounted for: the lines of the cut-off field are records of their own
    assert (prepared.records, len(reasons)) == (1, 30)


def test_many_stray_quotes_are_split_in_linear_time(tmp_path: Path) -> None:
    lines = ["a,b,c", *(f'{n},x"y,{n}' for n in range(20_000))]
    started = time.perf_counter()
    prepared = _prepare(tmp_path, "\n".join(lines) + "\n")
    assert time.perf_counter() - started < 10
    assert prepared.records == 0
    assert prepared.rejected == 20_000


# pieces of hostile CSV: quotes, delimiters, all three line breaks, NUL, non-ASCII
PIECES = ["a", "b", ",", ",", '"', '"', "\n", "\n", "\r", "\r\n", " ", "é", "\x00", '""', "1"]


@pytest.mark.parametrize("seed", range(2))
def test_random_hostile_files_number_every_record_once(tmp_path: Path, seed: int) -> None:
    """150 random files each: the rows polars reads are the records Python's csv module reads,
    and rows plus quarantine entries hold each record number once."""
    rnd = random.Random(seed)
    for case in range(150):
        body = "".join(rnd.choice(PIECES) for _ in range(rnd.randint(0, 200)))
        folder = tmp_path / f"{case}"
        folder.mkdir()
        prepared = _prepare(folder, "x,y,z\n" + body)
        read = pl.read_csv(prepared.path, infer_schema=False)
        text = prepared.path.read_text(encoding="utf-8-sig")
        expected = [row for row in csv.reader(io.StringIO(text, newline=""))][1:]
        got = [["" if value is None else value for value in row] for row in read.rows()]
        numbers = list(range(1, read.height + 1))
        if prepared.numbered:
            numbers = [int(number) for number in read.get_column(ROW_NUMBER)]
        assert got == [row for row in expected if row], (seed, case)
        assert read.width == 3 + prepared.numbered
        rejected = [number for number, *_ in _rejects(prepared)]
        assert sorted(numbers + rejected) == list(range(1, len(numbers) + len(rejected) + 1))


def test_a_damaged_gzip_stream_ends_in_one_entry(tmp_path: Path) -> None:
    body = "".join(f"{n},x,{n}\n" for n in range(5_000))
    data = bytearray(gzip.compress(("a,b,c\n" + body).encode()))
    data[len(data) // 2 :] = b"\x00" * (len(data) - len(data) // 2)
    prepared = _prepare(tmp_path, bytes(data), name="f.csv.gz")
    entries = _rejects(prepared)
    assert [reason for _, reason, _ in entries] == ["truncated_file"]
    assert entries[0][0] == prepared.records + 1
    assert 0 < prepared.records < 5_000


def test_the_quarantined_text_of_a_personal_source_is_masked(tmp_path: Path) -> None:
    prepared = _prepare(tmp_path, "id,mail\nc1,a@example.com,extra\n", mask="***")
    frame = pl.read_parquet(prepared.rejects)
    assert json.loads(frame.item(0, MASKED_VALUES)) == {"line": 2, "text": "***"}


def test_a_contract_violation_names_columns_and_checks_not_values() -> None:
    frame = pl.DataFrame(
        {
            "customer_id": ["ann@example.com"],
            "order_id": ["1"],
            "order_ts": [datetime(1960, 1, 1)],
            "quantity": [1.0],
            "unit_price": [1.0],
            "amount": [1.0],
            "product_id": ["p"],
            "channel": [None],
            "country": ["UK"],
            "is_return": [False],
            "source_file": ["f"],
            "source_row": [1],
            "reason": [None],
        },
        schema_overrides={"channel": pl.Utf8, "reason": pl.Utf8},
    )
    with pytest.raises(staging.ContractViolation) as error:
        staging._check_contract("transactions", frame)
    assert "order_ts" in str(error.value)
    assert "1960" not in str(error.value)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("delimiter", ";;", "expected one ASCII character"),
        ("delimiter", '"', "expected one ASCII character"),
        ("encoding", "klingon", "unknown text encoding 'klingon'"),
        ("encoding", "rot13", "unknown text encoding 'rot13'"),
        ("timezone", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_source_keys_are_checked_when_the_config_loads(
    tmp_path: Path, key: str, value: str, message: str
) -> None:
    source = {**sample_transactions(), key: value}
    with pytest.raises(ConfigError) as error:
        load_config(write_config_file(tmp_path, config_mapping(source)))
    assert f"sources.transactions.{key}: " in str(error.value)
    assert message in str(error.value)


def test_source_keys_have_documented_defaults(tmp_path: Path) -> None:
    config = load_config(write_config_file(tmp_path, config_mapping()))
    source = config.sources.transactions
    assert (source.encoding, source.decimal_comma, source.timezone) == ("utf-8", False, "UTC")
    assert source.allow_removed_files is False
