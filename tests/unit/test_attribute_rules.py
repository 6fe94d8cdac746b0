"""Attribute rules: checked with DuckDB's parser when settings load, evaluated over polars."""

from typing import Any

import duckdb
import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from segmentation.segments.attribute_rules import attribute_segments
from segmentation.segments.columns import FEATURE_COLUMN_TYPES
from segmentation.segments.rule_evaluation import first_match_indices, match_flags
from segmentation.segments.rule_types import connect
from segmentation.segments.settings import SegmentSettings
from segmentation.segments.sql_rules import RuleChecker
from tests.unit.segment_frames import POTENTIAL, feature_rows


def _settings_with_rule(when: str, **extra: Any) -> SegmentSettings:
    return SegmentSettings.model_validate(
        {
            **extra,
            "attributes": [
                {
                    "dimension": "probe",
                    "rules": [
                        {"name": "fine", "when": "age > 30"},
                        {"name": "suspect", "when": when},
                    ],
                }
            ],
        }
    )


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        ("1; DROP TABLE x", "`;` is not allowed"),
        ("age > 1; SELECT 1", "`;` is not allowed"),
        ("read_csv('x') IS NOT NULL", "the function read_csv() is not allowed"),
        ("read_parquet('x.parquet') IS NOT NULL", "the function read_parquet() is not allowed"),
        ("read_text('/etc/passwd') <> ''", "the function read_text() is not allowed"),
        ("glob('*')", "the function glob() is not allowed"),
        ("getenv('HOME') = 'x'", "the function getenv() is not allowed"),
        ("(SELECT 1) = 1", "a subquery is not allowed"),
        ("age IN (SELECT 1)", "a subquery is not allowed"),
        ("EXISTS (SELECT 1)", "a subquery is not allowed"),
        ("unknown_col > 1", "unknown column 'unknown_col'"),
        ("agee > 1", "unknown column 'agee'; did you mean 'age'?"),
        ("t.age > 1", "qualified column names are not allowed"),
        ("age + 1", "not boolean (its type is BIGINT)"),
        ("lower(gender)", "not boolean (its type is VARCHAR)"),
        ("age > 1, income > 2", "must be exactly one expression, found 2"),
        ("COPY features TO 'x.csv'", "starts with COPY"),
        ("ATTACH 'other.db'", "starts with ATTACH"),
        ("PRAGMA database_list", "starts with PRAGMA"),
        ("SET threads = 1", "starts with SET"),
        ("INSTALL httpfs", "starts with INSTALL"),
        ("age > 1 FROM features", "FROM is not allowed"),
        ("age > 1 WHERE true", "WHERE is not allowed"),
        ("age > 1 LIMIT 1", "LIMIT"),
        ("age > 1 UNION SELECT true", "UNION"),
        ("age > 1 AS adult", "alias"),
        ("sum(age) > 1", "the function sum() is not allowed"),
        ("row_number() OVER () > 1", "a window function is not allowed"),
        ("$1 > 1", "a query parameter is not allowed"),
        ("COLUMNS(*) > 1", "not allowed"),
        ("main.lower(gender) = 'f'", "qualified function names are not allowed"),
        ("gender > 5", "cannot be evaluated on the known columns"),
        ("age >", "not a valid SQL expression"),
        ("age > 1 /* unterminated", "not a valid SQL expression"),
        ("   ", "the expression is empty"),
    ],
)
def test_bad_rules_are_rejected_when_settings_load(when: str, problem: str) -> None:
    with pytest.raises(ValidationError) as raised:
        _settings_with_rule(when)
    message = str(raised.value)
    assert "attribute dimension 'probe', rule 'suspect'" in message
    assert problem in message
    assert "rule 'fine'" not in message


@pytest.mark.parametrize(
    "when",
    [
        "age BETWEEN 18 AND 24",
        "lower(gender) IN ('f', 'female')",
        "gender LIKE 'f%' OR gender ILIKE 'W%'",
        "coalesce(income, 0) >= 50000",
        "income IS NULL",
        "NOT is_pareto_top",
        "CASE WHEN age < 30 THEN income > 1000 ELSE income > 5000 END",
        "CAST(age AS DOUBLE) / 10 > 3.5",
        "date_diff('day', signup_date, snapshot_date) > 365",
        "year(signup_date) = 2020 AND month(signup_date) IN (1, 2, 3)",
        "regexp_matches(country, '^(NL|BE)$')",
        "starts_with(region, 'no') AND contains(region, 'th')",
        "round(abs(trend), 1) >= 0.5",
        "dominant_channel = 'online' -- comments are dropped",
        "true",
        "AGE > 3",
    ],
)
def test_good_rules_are_accepted(when: str) -> None:
    _settings_with_rule(when)


def test_comments_cannot_change_the_evaluated_sql() -> None:
    with RuleChecker(FEATURE_COLUMN_TYPES) as checker:
        checked = checker.check("age > 30 -- OR true")
    assert checked.sql == "(age > 30)"
    assert checked.columns == ("age",)


def test_braces_in_a_rule_text_stay_text() -> None:
    # a rule's SQL goes into the statements around it once and is not searched for
    # placeholders again, so a text constant such as '{rows}' is compared as written
    with RuleChecker({"region": pl.String()}) as checker:
        checked = checker.check("region = '{rows}' OR region = '{x}'")
    flags = match_flags(pl.DataFrame({"region": ["{rows}", "{x}", "north", None]}), [checked])
    assert flags.get_column("match_0").to_list() == [True, True, False, False]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as raised:
        SegmentSettings.model_validate(
            {
                "attributes": [
                    {"dimension": "a", "rules": [{"name": "x", "when": "nope > 1"}]},
                    {"dimension": "b", "rules": [{"name": "y", "when": "glob('*')"}]},
                    {"dimension": "c", "column": "no_such_column"},
                ]
            }
        )
    message = str(raised.value)
    assert "attribute dimension 'a', rule 'x'" in message
    assert "attribute dimension 'b', rule 'y'" in message
    assert "attribute dimension 'c': unknown column 'no_such_column'" in message


def test_declared_extra_columns_can_be_used() -> None:
    bank_rule = "assets_total >= 1000000"
    with pytest.raises(ValidationError, match="unknown column 'assets_total'"):
        _settings_with_rule(bank_rule)
    settings = _settings_with_rule(bank_rule, extra_columns={"assets_total": "float"})
    assert settings.extra_columns == {"assets_total": "float"}


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"dimension": "Age Band", "column": "age"}, "use lower-case letters"),
        ({"dimension": "a"}, "give either `rules` or `column`"),
        ({"dimension": "a", "column": "age", "rules": []}, "give either `rules` or `column`"),
        ({"dimension": "a", "rules": []}, "`rules` is empty"),
        (
            {"dimension": "a", "rules": [{"name": "x", "when": "true"}] * 2},
            "duplicate rule names x",
        ),
        ({"dimension": "a", "column": "age", "colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_malformed_dimensions_are_rejected(config: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        SegmentSettings.model_validate({"attributes": [config]})


def test_extra_columns_must_not_shadow_features() -> None:
    with pytest.raises(ValidationError, match="'age' is already a feature column"):
        SegmentSettings.model_validate({"extra_columns": {"age": "integer"}})


def test_first_matching_rule_wins_and_default_catches_the_rest() -> None:
    settings = SegmentSettings.model_validate(
        {
            "extra_columns": {"assets_total": "float", "risk_preference": "text"},
            "attributes": [
                {
                    "dimension": "age_band",
                    "rules": [
                        {"name": "young", "when": "age < 30"},
                        {"name": "adult", "when": "age < 65"},
                        {"name": "also_young", "when": "age < 30"},
                    ],
                    "default": "unknown",
                },
                {
                    "dimension": "wealth",
                    "rules": [
                        {"name": "high_net_worth", "when": "assets_total >= 1000000"},
                        {"name": "cautious", "when": "risk_preference = 'low'"},
                    ],
                    "default": "other",
                },
                {"dimension": "gender", "column": "gender", "default": "not given"},
            ],
        }
    )
    features = feature_rows(
        [
            {"customer_id": "a", "age": 25, "assets_total": 2e6, "risk_preference": "low"},
            {"customer_id": "b", "age": 40, "assets_total": 10.0, "risk_preference": "low"},
            {"customer_id": "c", "age": 70, "assets_total": None, "risk_preference": None},
            {**POTENTIAL, "customer_id": "d", "age": None, "gender": None},
        ],
        extra_schema={"assets_total": pl.Float64(), "risk_preference": pl.String()},
    )
    labelled = attribute_segments(features, settings)
    assert labelled.columns == [
        "snapshot_date",
        "customer_id",
        "attr_age_band",
        "attr_wealth",
        "attr_gender",
    ]
    assert labelled.select("attr_age_band", "attr_wealth", "attr_gender").rows() == [
        ("young", "high_net_worth", "f"),
        ("adult", "cautious", "f"),
        ("unknown", "other", "f"),  # NULL conditions count as no match
        ("unknown", "other", "not given"),
    ]


def test_a_rule_column_missing_from_the_frame_is_a_clear_error() -> None:
    settings = _settings_with_rule("products_held > 2", extra_columns={"products_held": "integer"})
    with pytest.raises(KeyError, match="products_held"):
        attribute_segments(feature_rows([{"customer_id": "a"}]), settings)


def test_rules_cannot_reach_files_even_if_a_check_were_missed() -> None:
    con = connect()
    try:
        with pytest.raises(duckdb.Error, match="disabled"):
            con.execute("SELECT count(*) FROM read_csv('/etc/passwd')").fetchall()
    finally:
        con.close()


def test_rows_sharing_values_get_the_results_of_evaluating_each_row() -> None:
    # Rules run once per distinct combination of the columns they read; the results joined
    # back must be what evaluating every row gives, nulls and the column-free rule included.
    rng = np.random.default_rng(0)
    rows = 3_000
    frame = pl.DataFrame(
        {
            "age": rng.integers(15, 80, rows),
            "gender": rng.choice(["f", "m", "x"], rows),
            "income": rng.choice([0.0, 10.0, 55_000.0], rows),
        }
    ).with_columns(
        pl.when(pl.int_range(rows) % 7 == 0).then(None).otherwise(pl.col("age")).alias("age"),
        pl.when(pl.int_range(rows) % 11 == 0)
        .then(None)
        .otherwise(pl.col("gender"))
        .alias("gender"),
    )
    whens = [
        "age BETWEEN 25 AND 34",
        "gender = 'f' AND age >= 40",
        "coalesce(gender, 'none') = 'none' OR age IS NULL",
        "income > 50000 AND age < 30",
        "1 < 2",
    ]
    with RuleChecker({"age": pl.Int64(), "gender": pl.String(), "income": pl.Float64()}) as checker:
        rules = [checker.check(when) for when in whens]
    items = [f"coalesce(({rule.sql}), false) AS match_{i}" for i, rule in enumerate(rules)]
    con = connect()
    try:
        con.register("rows", frame.with_row_index("row"))
        expected = con.execute(f"SELECT {', '.join(items)} FROM rows ORDER BY row").pl()
    finally:
        con.close()
    # without the float column the rows share values: evaluated per distinct (age, gender)
    shared = [rules[0], rules[1], rules[2], rules[4]]
    assert match_flags(frame, shared).equals(
        expected.select(pl.col("match_0", "match_1", "match_2"), pl.col("match_4").alias("match_3"))
    )
    assert match_flags(frame, rules).equals(expected)
    first = first_match_indices(frame, {"a": rules[:2], "b": rules[2:4], "none": []})
    assert first.columns == ["a", "b", "none"]
    assert first.get_column("none").null_count() == rows
