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


TIERS = "Latest snapshot: customers per tier"
TIER_MOVES = "Moves between tier values, 2011-11-30 to 2011-12-31"
OFFERS = "Latest snapshot: customers per next best product"


@pytest.fixture
def bank() -> duckdb.DuckDBPyConnection:
    """Two snapshots of four customers with a tier dimension, their migration and the
    strategies of the latest one."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute(
        "CREATE TABLE marts.customer_segments AS SELECT * FROM (VALUES "
        "(DATE '2011-11-30', 'a', 'Loyal', 'mass', NULL), "
        "(DATE '2011-11-30', 'b', 'Loyal', 'mass', 'loan'), "
        "(DATE '2011-11-30', 'c', 'Loyal', 'premier', NULL), "
        "(DATE '2011-12-31', 'a', 'Loyal', 'premier', 'fund'), "
        "(DATE '2011-12-31', 'b', 'Loyal', 'mass', 'fund'), "
        "(DATE '2011-12-31', 'c', 'Lost', 'mass', 'loan'), "
        "(DATE '2011-12-31', 'd', 'New', 'mass', NULL)"
        ") AS t(snapshot_date, customer_id, rfm_segment, attr_tier, next_best_product)"
    )
    # as segment_migration writes it: customers present at both snapshots, stays included
    con.execute(
        "CREATE TABLE marts.segment_migration AS SELECT * FROM (VALUES "
        "(DATE '2011-11-30', DATE '2011-12-31', 'attr_tier', 'mass', 'mass', 1), "
        "(DATE '2011-11-30', DATE '2011-12-31', 'attr_tier', 'mass', 'premier', 1), "
        "(DATE '2011-11-30', DATE '2011-12-31', 'attr_tier', 'premier', 'mass', 1), "
        "(DATE '2011-11-30', DATE '2011-12-31', 'rfm_segment', 'Loyal', 'Loyal', 2)"
        ") AS t(from_snapshot, to_snapshot, dimension, from_segment, to_segment, customers)"
    )
    con.execute(
        "CREATE TABLE marts.strategy_assignments AS SELECT * FROM (VALUES "
        "(DATE '2011-12-31', 'a', 'offer', 'cross_sell', false), "
        "(DATE '2011-12-31', 'b', 'offer', 'cross_sell', true), "
        "(DATE '2011-12-31', 'c', 'call', 'win_back', false), "
        "(DATE '2011-12-31', 'd', 'newsletter', 'service', false)"
        ") AS t(snapshot_date, customer_id, strategy, matched_rule, is_control)"
    )
    return con


def _by_title(con: duckdb.DuckDBPyConnection, rules=None) -> dict:
    return {section.title: section for section in summary_sections(con, rules)}


def test_attribute_dimensions_show_their_values_and_moves(bank) -> None:
    sections = _by_title(bank)
    assert sections[TIERS].columns == ("tier", "customers")
    assert sections[TIERS].rows == [("mass", 3), ("premier", 1)]
    moves = sections[TIER_MOVES]
    assert moves.columns == ("from tier", "to tier", "customers")
    assert moves.rows == [("mass", "premier", 1), ("premier", "mass", 1)]
    assert moves.note == "2 customers moved, 1 kept their tier"
    # in the summary's order: after the segments' sections, before the strategies'
    titles = list(sections)
    assert titles.index(TIERS) == titles.index(TIER_MOVES) - 1
    assert titles.index(TIER_MOVES) < titles.index("Latest snapshot: customers per strategy")


def test_cross_sell_counts_the_customers_its_rules_assigned(bank) -> None:
    offers = _by_title(bank, ("cross_sell",))[OFFERS]
    assert offers.columns == (
        "next best product",
        "customers",
        "cross-sell assigned",
        "of which control",
    )
    assert offers.rows == [("fund", 2, 2, 1), ("loan", 1, 0, 0)]
    assert offers.note == "cross-sell: the playbook rule(s) cross_sell"
    # no rule reads next_best_product: nobody is assigned a cross-sell
    none = _by_title(bank, ())[OFFERS]
    assert none.rows == [("fund", 2, 0, 0), ("loan", 1, 0, 0)]
    assert none.note == "no playbook rule uses next_best_product"
    # without the playbook the counts per product only
    unknown = _by_title(bank)[OFFERS]
    assert unknown.columns == ("next best product", "customers")
    assert unknown.rows == [("fund", 2), ("loan", 1)]


def test_a_dimension_without_values_or_migration_shows_what_it_has(bank) -> None:
    # the migration has not reached the latest snapshot: the values only
    bank.execute("DELETE FROM marts.segment_migration WHERE to_snapshot = DATE '2011-12-31'")
    sections = _by_title(bank)
    assert TIERS in sections and TIER_MOVES not in sections
    bank.execute("DROP TABLE marts.segment_migration")
    assert TIERS in _by_title(bank) and TIER_MOVES not in _by_title(bank)
    # a dimension no longer configured: its column is null at the latest snapshot
    bank.execute(
        "UPDATE marts.customer_segments SET attr_tier = NULL WHERE snapshot_date = '2011-12-31'"
    )
    assert not [title for title in _by_title(bank) if "tier" in title]


def test_many_values_end_in_one_row_for_the_rest(bank) -> None:
    bank.execute(
        "INSERT INTO marts.customer_segments SELECT DATE '2011-12-31', 'x' || i, 'Loyal', "
        "'band_' || lpad(i::VARCHAR, 2, '0'), NULL FROM range(30) AS r(i)"
    )
    rows = _by_title(bank)[TIERS].rows
    assert len(rows) == 20
    assert rows[0] == ("mass", 3)
    assert rows[-1] == ("(13 more values)", 13)  # 32 values: 19 shown
    assert sum(n for _, n in rows) == 34


def test_without_attributes_and_next_best_products_the_sections_are_as_before(con) -> None:
    con.execute(
        "INSERT INTO marts.customer_segments VALUES "
        "('2011-12-31', 'a', 'Loyal', 'unknown', 'unknown', NULL, 'unknown', NULL)"
    )
    con.execute("ALTER TABLE marts.customer_segments ADD COLUMN next_best_product VARCHAR")
    con.execute(
        "CREATE TABLE marts.strategy_assignments AS SELECT DATE '2011-12-31' AS "
        "snapshot_date, 'a' AS customer_id, 'x' AS strategy, 'r' AS matched_rule, "
        "false AS is_control"
    )
    titles = list(_by_title(con, ("r",)))
    assert titles == [
        "Latest snapshot: customers per RFM segment",
        "Latest snapshot: customers per strategy",
    ]
