"""RFM scores, the R x FM grid and the named segments."""

from pathlib import Path

import polars as pl
import pytest

from segmentation.segments.rfm import (
    NO_PURCHASE,
    RFM_SEGMENTS,
    fm_score,
    load_rfm_grid,
    quintile_score,
    rfm_segment_table,
    score_rfm,
)
from segmentation.segments.settings import RfmSettings
from tests.unit.segment_frames import (
    NEXT_SNAPSHOT,
    POTENTIAL,
    SNAPSHOT,
    feature_rows,
    random_features,
)

# The published (overlapping) ranges of the 11-segment grid: every cell must lie in its range.
PUBLISHED_RANGES = {
    "Champions": ((4, 5), (4, 5)),
    "Loyal": ((2, 5), (3, 5)),
    "Potential Loyalist": ((3, 5), (1, 3)),
    "New": ((4, 5), (1, 1)),
    "Promising": ((3, 4), (1, 1)),
    "Need Attention": ((2, 3), (2, 3)),
    "About to Sleep": ((2, 3), (1, 2)),
    "At Risk": ((1, 2), (2, 5)),
    "Can't Lose Them": ((1, 1), (4, 5)),
    "Hibernating": ((1, 2), (1, 2)),
    "Lost": ((1, 2), (1, 2)),
}


def _tiny() -> pl.DataFrame:
    # Hand-computed: average ranks r among n = 5 purchasers, score = floor(5 (r - 0.5) / 5) + 1.
    # R ranks -recency: e 1, d 2, b/c 3.5, a 5 -> e 1, d 2, b/c 4, a 5.
    # F ranks orders: b/c 1.5, d 3, e 4, a 5 -> b/c 2, d 3, e 4, a 5.
    # M ranks net_revenue: b 1, c 2, d 3, e 4, a 5 -> scores equal to the ranks.
    return feature_rows(
        [
            {"customer_id": "a", "recency_days": 1, "orders": 5, "net_revenue": 100.0},
            {"customer_id": "b", "recency_days": 10, "orders": 1, "net_revenue": 10.0},
            {"customer_id": "c", "recency_days": 10, "orders": 1, "net_revenue": 20.0},
            {"customer_id": "d", "recency_days": 50, "orders": 2, "net_revenue": 30.0},
            {"customer_id": "e", "recency_days": 100, "orders": 3, "net_revenue": 40.0},
            {**POTENTIAL, "customer_id": "f"},
        ]
    )


def test_scores_cells_and_segments_on_a_tiny_frame() -> None:
    scored = score_rfm(_tiny())
    assert scored.select("customer_id", "r_score", "f_score", "m_score").rows() == [
        ("a", 5, 5, 5),
        ("b", 4, 2, 1),
        ("c", 4, 2, 2),
        ("d", 2, 3, 3),
        ("e", 1, 4, 4),
        ("f", None, None, None),
    ]
    assert scored.get_column("rfm_cell").to_list() == ["555", "421", "422", "233", "144", None]
    assert scored.get_column("rfm_segment").to_list() == [
        "Champions",
        "Potential Loyalist",  # R 4, FM round_half_up(1.5) = 2
        "Potential Loyalist",  # R 4, FM 2
        "At Risk",  # R 2, FM 3
        "Can't Lose Them",  # R 1, FM 4
        NO_PURCHASE,
    ]


def test_ten_distinct_values_fill_each_quintile_twice() -> None:
    frame = feature_rows(
        [
            {"customer_id": f"c{i}", "recency_days": 10 * i, "orders": i + 1, "net_revenue": i}
            for i in range(10)
        ]
    )
    scored = score_rfm(frame)
    for column in ("r_score", "f_score", "m_score"):
        counts = scored.get_column(column).value_counts().sort(column)
        assert counts.get_column("count").to_list() == [2, 2, 2, 2, 2]
    # c0 is the most recent but buys least.
    assert scored.row(0, named=True)["rfm_cell"] == "511"


@pytest.mark.parametrize(
    ("purchasers", "expected"),
    [(1, 3), (2, 3), (7, 3)],
)
def test_equal_values_get_equal_middle_scores(purchasers: int, expected: int) -> None:
    frame = feature_rows([{"customer_id": f"c{i}"} for i in range(purchasers)])
    scored = score_rfm(frame)
    assert scored.get_column("f_score").unique().to_list() == [expected]
    assert scored.get_column("r_score").unique().to_list() == [expected]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shuffling_rows_does_not_change_scores(seed: int) -> None:
    frame = random_features(300, seed=7)
    expected = score_rfm(frame)
    shuffled = score_rfm(frame.sample(fraction=1.0, shuffle=True, seed=seed))
    assert shuffled.equals(expected)


def test_snapshots_are_scored_independently() -> None:
    first = _tiny()
    second = first.with_columns(
        pl.lit(NEXT_SNAPSHOT).alias("snapshot_date"),
        (-pl.col("net_revenue")).alias("net_revenue"),
    )
    scored = score_rfm(pl.concat([second, first]))
    by_snapshot = scored.partition_by("snapshot_date", as_dict=True)
    assert by_snapshot[(first["snapshot_date"][0],)].equals(score_rfm(first))
    reversed_m = by_snapshot[(NEXT_SNAPSHOT,)].get_column("m_score").to_list()
    assert reversed_m == [1, 5, 4, 3, 2, None]


def _scores_by_ranking(frame: pl.DataFrame, settings: RfmSettings) -> pl.DataFrame:
    """The scores straight from their definition: ranks over each snapshot's purchasers."""
    purchasers = frame.filter(pl.col("recency_days").is_not_null()).select(
        "snapshot_date",
        "customer_id",
        quintile_score(-pl.col("recency_days")).alias("r_score"),
        quintile_score(pl.col(settings.frequency).fill_null(0)).alias("f_score"),
        quintile_score(pl.col(settings.monetary).fill_null(0.0)).alias("m_score"),
    )
    return (
        frame.select("snapshot_date", "customer_id")
        .join(purchasers, on=["snapshot_date", "customer_id"], how="left")
        .sort("snapshot_date", "customer_id")
    )


@pytest.mark.parametrize("wide_orders", [False, True], ids=["counted", "ranked"])
def test_scores_match_their_rank_definition(wide_orders: bool) -> None:
    # Integer columns are scored by counting (a huge order count makes the range too wide for
    # that, so F falls back to ranking); both must equal the rank formula exactly.
    frame = random_features(2_000, seed=11, snapshots=(SNAPSHOT, NEXT_SNAPSHOT))
    if wide_orders:
        frame = frame.with_columns(
            pl.when(pl.col("customer_id") == "c00007")
            .then(10**9)
            .otherwise(pl.col("orders"))
            .alias("orders")
        )
    frame = frame.with_columns(
        pl.when(pl.col("customer_id").str.ends_with("3"))
        .then(None)
        .otherwise(pl.col("orders"))
        .alias("orders")
    )
    for settings in (RfmSettings(), RfmSettings(frequency="purchase_days")):
        scores = ["snapshot_date", "customer_id", "r_score", "f_score", "m_score"]
        assert score_rfm(frame, settings).select(scores).equals(_scores_by_ranking(frame, settings))


def test_duplicate_rows_are_refused() -> None:
    frame = _tiny()
    with pytest.raises(ValueError, match="duplicate"):
        score_rfm(pl.concat([frame, frame.head(1)]))


def test_monetary_can_rank_gross_revenue() -> None:
    frame = _tiny().with_columns(
        pl.Series("gross_revenue", [10.0, 20.0, 30.0, 40.0, 50.0, 0.0]),
    )
    scored = score_rfm(frame, RfmSettings(monetary="gross_revenue"))
    assert scored.get_column("m_score").to_list() == [1, 2, 3, 4, 5, None]


def test_the_grid_maps_all_125_score_combinations_exactly_once() -> None:
    table = rfm_segment_table()
    assert table.height == 125
    assert table.select("r_score", "f_score", "m_score").is_unique().all()
    assert {(r, f, m) for r, f, m in table.select("r_score", "f_score", "m_score").rows()} == {
        (r, f, m) for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)
    }
    assert set(table.get_column("rfm_segment")) == set(RFM_SEGMENTS)
    assert len(RFM_SEGMENTS) == 11


def test_every_grid_cell_lies_in_its_published_range() -> None:
    for (r_score, fm), name in load_rfm_grid().items():
        (r_low, r_high), (fm_low, fm_high) = PUBLISHED_RANGES[name]
        assert r_low <= r_score <= r_high, (r_score, fm, name)
        assert fm_low <= fm <= fm_high, (r_score, fm, name)


@pytest.mark.parametrize(
    ("r", "f", "m", "segment"),
    [
        (5, 5, 5, "Champions"),
        (4, 4, 5, "Champions"),
        (4, 2, 3, "Loyal"),
        (3, 4, 4, "Loyal"),
        (5, 2, 2, "Potential Loyalist"),
        (5, 1, 1, "New"),
        (4, 1, 1, "Promising"),
        (3, 3, 3, "Need Attention"),
        (3, 1, 1, "About to Sleep"),
        (2, 4, 4, "At Risk"),
        (1, 5, 5, "Can't Lose Them"),
        (2, 1, 1, "Hibernating"),
        (1, 1, 1, "Lost"),
    ],
)
def test_named_cells(r: int, f: int, m: int, segment: str) -> None:
    table = rfm_segment_table()
    found = table.filter(r_score=r, f_score=f, m_score=m).get_column("rfm_segment").item()
    assert found == segment


@pytest.mark.parametrize(("f", "m", "expected"), [(1, 1, 1), (1, 2, 2), (4, 5, 5), (2, 5, 4)])
def test_fm_score_rounds_half_up(f: int, m: int, expected: int) -> None:
    assert fm_score(f, m) == expected


def test_a_grid_with_an_unknown_name_is_rejected(tmp_path: Path) -> None:
    row = "[Lost, Lost, Lost, Lost, Lost]"
    bad = tmp_path / "grid.yaml"
    bad.write_text(
        "fm_scores: [1, 2, 3, 4, 5]\ngrid:\n"
        + "".join(f"  {r}: {row}\n" for r in (5, 4, 3, 2))
        + "  1: [Lost, Lost, Lost, Lost, Sleepy]\n"
    )
    with pytest.raises(ValueError, match="unknown segment 'Sleepy' at R = 1, FM = 5"):
        load_rfm_grid(bad)
