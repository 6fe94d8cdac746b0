"""CLV for one snapshot: degenerate snapshots fall back without crashing, healthy ones fit.

The fallback numbers are checked against ``simple_clv_12m``'s documented formula, worked out by
hand: ``CLV = total_spend / max(T, 90) * 365/12 * margin * sum_{k=1..12} 1.01^-k`` (0 when the
last purchase is more than 365 days before the snapshot), with margin 0.3 and the annuity
``sum_{k=1..12} 1.01^-k = (1 - 1.01^-12) / 0.01 = 11.2551``; the expected purchases of the
fallback are the run rate ``purchase_days / max(T, 90)`` times the horizon.
"""

import math
from datetime import date
from typing import Any

import duckdb
import polars as pl
import pytest

from segmentation.config import month_as_of
from segmentation.features.behaviour import behaviour_as_of
from segmentation.features.clv import (
    SnapshotClv,
    clv_fit_input,
    clv_for_snapshot,
    clv_params,
    clv_predictions,
    fit_clv_models,
    merge_fit_inputs,
)
from segmentation.features.contracts import ClvModelParamsContract, CustomerClvContract
from segmentation.features.settings import ClvSettings
from synthetic.generate import simulate

SNAPSHOT = date(2024, 1, 31)
SETTINGS = ClvSettings()  # margin 0.3, 1% a month, 12 months, min 50 repeat buyers
ANNUITY = (1 - 1.01**-12) / 0.01  # 11.2551
DAYS_PER_MONTH = 365 / 12  # 30.4167

BEHAVIOUR_SCHEMA = {
    "snapshot_date": pl.Date,
    "customer_id": pl.Utf8,
    "purchase_days": pl.Int64,
    "frequency": pl.Int64,
    "recency": pl.Int64,
    "age_days": pl.Int64,
    "repeat_spend_mean": pl.Float64,
    "gross_revenue": pl.Float64,
}
DIAGNOSTICS = {"log_likelihood", "n_customers", "converged", "time_unit_days"}
BGNBD_ROWS = {"r", "alpha", "a", "b"} | DIAGNOSTICS
GAMMA_GAMMA_ROWS = {"p", "q", "gamma"} | DIAGNOSTICS


def _buyer(
    customer_id: str,
    purchase_days: int,
    recency: int,
    age_days: int,
    gross: float,
    repeat_spend_mean: float | None = None,
) -> dict[str, Any]:
    return {
        "snapshot_date": SNAPSHOT,
        "customer_id": customer_id,
        "purchase_days": purchase_days,
        "frequency": purchase_days - 1,
        "recency": recency,
        "age_days": age_days,
        "repeat_spend_mean": repeat_spend_mean,
        "gross_revenue": gross,
    }


def _potential(customer_id: str) -> dict[str, Any]:
    return {
        "snapshot_date": SNAPSHOT,
        "customer_id": customer_id,
        "purchase_days": 0,
        "frequency": 0,
        "recency": None,
        "age_days": None,
        "repeat_spend_mean": None,
        "gross_revenue": 0.0,
    }


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=BEHAVIOUR_SCHEMA, orient="row")


def _row(result: SnapshotClv, customer_id: str) -> dict[str, Any]:
    (row,) = result.customers.filter(pl.col("customer_id") == customer_id).to_dicts()
    return row


def _params(result: SnapshotClv) -> dict[tuple[str, str], float]:
    return {
        (row["model"], row["parameter"]): row["value"]
        for row in result.params.iter_rows(named=True)
    }


def _assert_fallback(result: SnapshotClv, reason_part: str) -> None:
    CustomerClvContract.validate(result.customers, lazy=True)
    ClvModelParamsContract.validate(result.params, lazy=True)
    buyers = result.customers.filter(pl.col("clv_method") != "none")
    assert set(buyers.get_column("clv_method")) <= {"simple_fallback"}
    assert buyers.get_column("p_alive").null_count() == buyers.height
    params = _params(result)
    assert {name for model, name in params if model == "bgnbd"} == BGNBD_ROWS
    for name in ("r", "alpha", "a", "b", "log_likelihood"):
        assert math.isnan(params[("bgnbd", name)]), name
    for name in ("p", "q", "gamma"):
        assert math.isnan(params[("gamma_gamma", name)]), name
    assert params[("bgnbd", "converged")] == 0.0
    assert params[("gamma_gamma", "converged")] == 0.0
    assert result.degenerate_reason is not None
    assert reason_part in result.degenerate_reason
    assert result.summary["method"] == "simple_fallback"
    assert result.summary["bgnbd_converged"] is False
    assert result.summary["note"] == result.degenerate_reason


# --------------------------------------------------------------------------------------------
# degenerate snapshots


def test_snapshot_without_repeat_buyers_falls_back_to_the_simple_clv() -> None:
    behaviour = _frame(
        [
            # one purchase day 200 days ago: rate 1 / 200, spend 300 per day
            _buyer("one_timer", 1, 0, 200, 300.0),
            # one purchase day 30 days ago: the 90-day tenure floor applies
            _buyer("recent", 1, 0, 30, 60.0),
            # one purchase day 400 days ago: lapsed (> 365 days without purchase)
            _buyer("lapsed", 1, 0, 400, 80.0),
            _potential("prospect"),
        ]
    )
    result = clv_for_snapshot(behaviour, SNAPSHOT, SETTINGS)
    _assert_fallback(result, "no repeat buyers")
    assert result.customers.height == 4
    assert result.summary["buyers"] == 3
    assert result.summary["repeat_buyers"] == 0

    one_timer = _row(result, "one_timer")
    # 300 / max(200, 90) * 30.4167 * 0.3 * 11.2551 = 1.5 * 30.4167 * 0.3 * 11.2551 = 154.05
    assert one_timer["clv_12m"] == pytest.approx(300 / 200 * DAYS_PER_MONTH * 0.3 * ANNUITY)
    assert one_timer["clv_12m"] == pytest.approx(154.054, abs=1e-3)
    assert one_timer["expected_spend"] == pytest.approx(300.0)  # gross / purchase days
    assert one_timer["expected_purchases_30d"] == pytest.approx(30 / 200)
    assert one_timer["expected_purchases_365d"] == pytest.approx(365 / 200)

    recent = _row(result, "recent")
    # 60 / max(30, 90) * 30.4167 * 0.3 * 11.2551 = 68.47
    assert recent["clv_12m"] == pytest.approx(60 / 90 * DAYS_PER_MONTH * 0.3 * ANNUITY)
    assert recent["clv_12m"] == pytest.approx(68.468, abs=1e-3)
    assert recent["expected_purchases_90d"] == pytest.approx(1.0)  # 1 / 90 * 90

    lapsed = _row(result, "lapsed")
    assert lapsed["clv_12m"] == 0.0
    assert lapsed["expected_purchases_365d"] == 0.0
    assert lapsed["expected_spend"] == pytest.approx(80.0)


def test_snapshot_with_too_few_repeat_buyers_falls_back() -> None:
    # 10 repeat buyers, fewer than min_repeat_buyers = 50
    rows = [_buyer(f"r{i:02d}", 3, 100, 200, 300.0, 100.0) for i in range(10)]
    rows += [_buyer(f"o{i:02d}", 1, 0, 50 + i, 40.0) for i in range(30)]
    rows += [_potential("prospect")]
    result = clv_for_snapshot(_frame(rows), SNAPSHOT, SETTINGS)
    _assert_fallback(result, "fewer than min_repeat_buyers=50")
    assert result.summary["repeat_buyers"] == 10

    repeat = _row(result, "r00")
    # 300 / 200 * 30.4167 * 0.3 * 11.2551 = 154.05; 3 purchase days in 200 days
    assert repeat["clv_12m"] == pytest.approx(154.054, abs=1e-3)
    assert repeat["expected_spend"] == pytest.approx(100.0)  # 300 / 3
    assert repeat["expected_purchases_90d"] == pytest.approx(3 / 200 * 90)
    assert repeat["p_alive"] is None


def test_snapshot_of_only_customers_who_never_bought_does_not_crash() -> None:
    behaviour = _frame([_potential("a"), _potential("b")])
    result = clv_for_snapshot(behaviour, SNAPSHOT, SETTINGS)
    _assert_fallback(result, "bgnbd:")
    assert result.customers.get_column("clv_method").to_list() == ["none", "none"]


def test_potential_customers_get_no_clv() -> None:
    behaviour = _frame([_buyer("buyer", 1, 0, 100, 50.0), _potential("prospect")])
    prospect = _row(clv_for_snapshot(behaviour, SNAPSHOT, SETTINGS), "prospect")
    assert prospect == {
        "snapshot_date": SNAPSHOT,
        "customer_id": "prospect",
        "p_alive": None,
        "expected_purchases_30d": 0.0,
        "expected_purchases_90d": 0.0,
        "expected_purchases_365d": 0.0,
        "expected_spend": None,
        "clv_12m": 0.0,
        "clv_method": "none",
    }


# --------------------------------------------------------------------------------------------
# a healthy snapshot: simulated customers through the behaviour SQL


@pytest.fixture(scope="module")
def healthy_behaviour() -> pl.DataFrame:
    """3,000 simulated customers (default BG/NBD / Gamma-Gamma process) as of 2011-12."""
    sim = simulate(3_000, seed=3, seasonality=0.0)
    transactions = sim.transactions.with_columns(
        pl.col("quantity").cast(pl.Float64),
        (pl.col("order_id").str.starts_with("C") | (pl.col("amount") < 0)).alias("is_return"),
        pl.lit("sim").alias("source_file"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("source_row"),
    )
    customers = sim.customers.with_columns(
        pl.lit("sim").alias("source_file"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("source_row"),
    )
    con = duckdb.connect()
    try:
        con.execute("CREATE SCHEMA raw")
        for table, frame in (("transactions", transactions), ("customers", customers)):
            con.register("frame", frame)
            con.execute(f"CREATE TABLE raw.{table} AS SELECT * FROM frame")
            con.unregister("frame")
        return behaviour_as_of(con, month_as_of("2011-12"), 365, 0.7)
    finally:
        con.close()


@pytest.fixture(scope="module")
def healthy(healthy_behaviour: pl.DataFrame) -> SnapshotClv:
    return clv_for_snapshot(healthy_behaviour, date(2011, 12, 31), SETTINGS)


def test_healthy_snapshot_is_fitted_with_bgnbd_and_gamma_gamma(
    healthy_behaviour: pl.DataFrame, healthy: SnapshotClv
) -> None:
    CustomerClvContract.validate(healthy.customers, lazy=True)
    assert healthy.degenerate_reason is None
    assert healthy.summary["method"] == "bgnbd_gamma_gamma"
    assert healthy.summary["repeat_buyers"] >= SETTINGS.min_repeat_buyers
    assert healthy.customers.height == healthy_behaviour.height
    methods = healthy.customers.join(
        healthy_behaviour.select("customer_id", "purchase_days"), on="customer_id"
    )
    bought = methods.get_column("purchase_days") > 0
    method = methods.get_column("clv_method")
    assert (method.filter(bought) == "bgnbd_gamma_gamma").all()
    assert (method.filter(~bought) == "none").all()
    assert (~bought).any()  # the simulation has customers who never bought


def test_healthy_predictions_are_probabilities_and_grow_with_the_horizon(
    healthy: SnapshotClv,
) -> None:
    buyers = healthy.customers.filter(pl.col("clv_method") == "bgnbd_gamma_gamma")
    checks = buyers.select(
        pl.col("p_alive").is_between(0.0, 1.0).all().alias("p_alive_in_0_1"),
        (pl.col("expected_purchases_30d") <= pl.col("expected_purchases_90d"))
        .all()
        .alias("30_le_90"),
        (pl.col("expected_purchases_90d") <= pl.col("expected_purchases_365d"))
        .all()
        .alias("90_le_365"),
        (pl.col("expected_purchases_30d") >= 0).all().alias("non_negative"),
        (pl.col("clv_12m") >= 0).all().alias("clv_non_negative"),
        (pl.col("expected_spend") > 0).all().alias("spend_positive"),
    )
    assert checks.row(0, named=True) == dict.fromkeys(checks.columns, True)
    assert buyers.null_count().row(0) == (0,) * buyers.width


def test_healthy_params_frame_has_one_row_per_model_and_parameter(healthy: SnapshotClv) -> None:
    ClvModelParamsContract.validate(healthy.params, lazy=True)
    params = _params(healthy)
    assert healthy.params.height == len(params)
    assert set(params) == {("bgnbd", name) for name in BGNBD_ROWS} | {
        ("gamma_gamma", name) for name in GAMMA_GAMMA_ROWS
    }
    assert healthy.params.get_column("snapshot_date").unique().to_list() == [date(2011, 12, 31)]
    for model in ("bgnbd", "gamma_gamma"):
        assert params[(model, "converged")] == 1.0
        assert params[(model, "time_unit_days")] == 1.0
        assert math.isfinite(params[(model, "log_likelihood")])
    assert params[("bgnbd", "n_customers")] == healthy.summary["buyers"]
    assert params[("gamma_gamma", "n_customers")] <= healthy.summary["repeat_buyers"]
    for name in ("r", "alpha", "a", "b", "p", "q", "gamma"):
        model = "bgnbd" if name in {"r", "alpha", "a", "b"} else "gamma_gamma"
        assert params[(model, name)] > 0, name


def test_pareto_nbd_rows_are_added_when_asked_for(healthy_behaviour: pl.DataFrame) -> None:
    settings = ClvSettings(fit_pareto_nbd=True)
    result = clv_for_snapshot(healthy_behaviour, date(2011, 12, 31), settings)
    ClvModelParamsContract.validate(result.params, lazy=True)
    pareto = {name for model, name in _params(result) if model == "pareto_nbd"}
    assert pareto == {"r", "alpha", "s", "beta"} | DIAGNOSTICS
    assert result.summary["method"] == "bgnbd_gamma_gamma"


def test_snapshot_of_buyers_only_gives_the_buyers_the_same_predictions(
    healthy_behaviour: pl.DataFrame, healthy: SnapshotClv
) -> None:
    """Customers who never bought enter neither the fits nor the predictions: without them the
    buyers' rows are the same, value for value."""
    buyers = healthy_behaviour.filter(pl.col("purchase_days") > 0)
    alone = clv_for_snapshot(buyers, date(2011, 12, 31), SETTINGS)
    CustomerClvContract.validate(alone.customers, lazy=True)
    assert alone.customers.height == buyers.height
    expected = healthy.customers.filter(pl.col("clv_method") != "none").sort("customer_id")
    assert alone.customers.sort("customer_id").equals(expected)
    assert alone.params.equals(healthy.params)


def test_customers_split_into_parts_give_the_same_fits_and_predictions(
    healthy_behaviour: pl.DataFrame, healthy: SnapshotClv
) -> None:
    """What the Spark engine does: each part of the customers compressed apart, the parts
    merged in another order, the models fitted once, each part predicted apart. The fit input,
    the parameters and every customer's row are those of the whole, bit for bit."""
    import numpy as np

    ids = pl.col("customer_id").hash(seed=1)
    parts = [healthy_behaviour.filter(ids % 5 == number) for number in range(5)]
    assert all(part.height for part in parts)
    whole = merge_fit_inputs([clv_fit_input(healthy_behaviour)])
    merged = merge_fit_inputs([clv_fit_input(part) for part in reversed(parts)])
    for name in ("x", "t_x", "age", "count", "spend_x", "spend_m", "spend_count"):
        assert np.array_equal(getattr(merged, name), getattr(whole, name)), name
    assert merged.customers == healthy_behaviour.height
    # compressed: fewer rows than buyers
    assert whole.x.size < whole.buyers
    fits = fit_clv_models(merged, SETTINGS)
    assert clv_params(date(2011, 12, 31), fits).equals(healthy.params)
    predicted = pl.concat([clv_predictions(part, fits, SETTINGS).customers for part in parts])
    assert predicted.sort("customer_id").equals(healthy.customers.sort("customer_id"))


def test_a_fit_input_of_another_snapshots_customers_is_a_different_fit(
    healthy_behaviour: pl.DataFrame, healthy: SnapshotClv
) -> None:
    # the comparison above can fail: dropping a tenth of the buyers moves the parameters
    kept = healthy_behaviour.filter(pl.col("customer_id").hash(seed=2) % 10 != 0)
    fits = fit_clv_models(merge_fit_inputs([clv_fit_input(kept)]), SETTINGS)
    assert not clv_params(date(2011, 12, 31), fits).equals(healthy.params)


def test_merging_no_fit_inputs_is_refused() -> None:
    with pytest.raises(ValueError, match="no fit inputs"):
        merge_fit_inputs([])
