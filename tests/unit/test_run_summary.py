"""The run summary's intent and satisfaction sections: shown when the labels say something,
left out when every customer is unknown (no events or feedback source) or the warehouse predates
the labels, so the summary of a run without those sources is as it was."""

import duckdb
import pytest

from segmentation.reports.run_summary import summary_sections

INTENT = "Latest snapshot: customers per intent class and engagement level"
SATISFACTION = "Latest snapshot: customers per satisfaction class"


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute(
        "CREATE TABLE marts.customer_segments ("
        "snapshot_date DATE, customer_id VARCHAR, rfm_segment VARCHAR, intent_class VARCHAR, "
        "engagement_level VARCHAR, nps_class VARCHAR, satisfaction_class VARCHAR, "
        "complaints_90d BIGINT)"
    )
    return con


def _sections(con: duckdb.DuckDBPyConnection) -> dict:
    return {section.title: section.rows for section in summary_sections(con)}


def test_the_latest_snapshots_labels_are_counted(con) -> None:
    con.execute(
        "INSERT INTO marts.customer_segments VALUES "
        "('2011-11-30', 'a', 'Loyal', 'hesitant', 'low', 'detractor', 'dissatisfied', 1), "
        "('2011-12-31', 'a', 'Loyal', 'active', 'high', 'promoter', 'satisfied', 0), "
        "('2011-12-31', 'b', 'Loyal', 'active', 'high', 'detractor', 'dissatisfied', 2), "
        "('2011-12-31', 'c', 'Lost', 'refusing', 'none', NULL, 'unknown', NULL)"
    )
    sections = _sections(con)
    assert sections[INTENT] == [("active", "high", 2), ("refusing", "none", 1)]
    assert sections[SATISFACTION] == [
        ("dissatisfied", 1, 0, 1, 1),
        ("satisfied", 1, 1, 0, 0),
        ("unknown", 1, 0, 0, 0),
    ]


def test_without_the_sources_the_sections_are_left_out(con) -> None:
    con.execute(
        "INSERT INTO marts.customer_segments VALUES "
        "('2011-12-31', 'a', 'Loyal', 'unknown', 'unknown', NULL, 'unknown', NULL)"
    )
    sections = _sections(con)
    assert INTENT not in sections and SATISFACTION not in sections


def test_a_warehouse_written_before_the_labels_has_no_such_sections() -> None:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute(
        "CREATE TABLE marts.customer_segments AS "
        "SELECT DATE '2011-12-31' AS snapshot_date, 'a' AS customer_id, 'Loyal' AS rfm_segment"
    )
    sections = _sections(con)
    assert INTENT not in sections and SATISFACTION not in sections
    assert "Latest snapshot: customers per RFM segment" in sections
