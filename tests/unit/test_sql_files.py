"""SQL templates: names go in quoted and cannot turn into SQL; placeholders must match."""

from pathlib import Path

import duckdb
import pytest

from segmentation import sql_files
from segmentation.sql_files import (
    SQL_ROOT,
    compose_sql,
    quote_identifier,
    read_sql,
    render_sql,
)


def _templates() -> list[str]:
    return sorted(
        str(path.relative_to(SQL_ROOT))
        for path in SQL_ROOT.rglob("*.sql")
        if sql_files._PLACEHOLDER.search(path.read_text())
    )


@pytest.mark.parametrize("relative_path", _templates())
def test_every_template_keeps_its_placeholders_out_of_comments(relative_path: str) -> None:
    names = set(sql_files._PLACEHOLDER.findall(read_sql(relative_path)))
    assert sql_files._template(relative_path, dict.fromkeys(names, "x")) == read_sql(relative_path)


def test_a_line_break_in_a_name_cannot_end_a_comment_and_run() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE victim AS SELECT 1 AS a")
    with pytest.raises(ValueError, match="control character"):
        render_sql("quality/scan_table.sql", table="x\nDROP TABLE victim; --")
    assert con.execute("SELECT count(*) FROM victim").fetchone() == (1,)


@pytest.mark.parametrize("name", ["tab\there", "nul\x00", "del\x7f", "cr\r"])
def test_control_characters_are_refused_in_names(name: str) -> None:
    with pytest.raises(ValueError, match="control character"):
        quote_identifier(name)


def test_a_quote_in_a_name_stays_part_of_the_name() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE source_view AS SELECT 7 AS a")
    odd = 'odd"; DROP TABLE source_view; --'
    con.execute(render_sql("warehouse/create_table.sql", table=odd, source="source_view"))
    assert con.execute(render_sql("warehouse/read_table.sql", table=odd)).fetchall() == [(7,)]
    assert con.execute("SELECT count(*) FROM source_view").fetchone() == (1,)


def test_placeholders_and_names_must_match() -> None:
    with pytest.raises(KeyError, match="placeholders"):
        render_sql("warehouse/create_table.sql", table="t")
    with pytest.raises(KeyError, match="placeholders"):
        render_sql("warehouse/read_table.sql", table="t", extra="u")


def test_a_placeholder_inside_a_comment_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "commented_placeholder.sql").write_text(
        "-- reads {table}\nSELECT * FROM {table};\n"
    )
    monkeypatch.setattr(sql_files, "SQL_ROOT", tmp_path)
    with pytest.raises(ValueError, match="placeholder inside a -- comment"):
        render_sql("probe/commented_placeholder.sql", table="t")


def test_composed_sql_is_put_in_once() -> None:
    # a brace inside a checked rule's text constant is text, not another placeholder
    fragment = "region = '{table}'"
    composed = compose_sql(
        "features/create_activity_increments.sql", increments=f"SELECT {fragment}"
    )
    assert fragment in composed
