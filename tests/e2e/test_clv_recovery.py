"""The CLV models recover a known truth through the real pipeline path.

100,000 customers are drawn by ``synthetic.generate.write`` from an exact BG/NBD purchase
process and a Gamma-Gamma spend process (seasonality 0, no dirty rows, 2010-01-01..2011-12-31,
fixed seed), written to Parquet, landed with ``land_source`` into a DuckDB file, summarised
by ``behaviour_as_of`` and fitted by ``clv_for_snapshot``, exactly as the assets do.

Why low daily purchase rates. The pipeline follows the literature's convention of counting
distinct purchase DAYS: two orders on one calendar day are one purchase. The generator places
purchases in continuous time, so with fast buyers a real second purchase often falls on the
same day and is merged away; the fit then sees fewer, more regular repeat purchases from the
heaviest customers. With the generator's defaults (r=0.5, alpha=15: one purchase per 30 days on
average, 3.4% of repeat purchases on the day of the previous one) this biases alpha by +11.9%,
and Gamma-Gamma p by -7.1% and gamma by +9.5% (merged days have doubled spend); measured at
seed 1. This is a property of the day convention, not an error of the fit, so the check uses
a process in which same-day repeats are rare.

Why these parameters. The first candidate, r=3, alpha=300, a=0.8, b=5 (one purchase per 100
days, 0.7% same-day share), keeps r and alpha within ~4%, but a and b are poorly identified by
two years of so few purchases: their asymptotic standard errors at 100k customers are 4.4% and
5.2% (observed information), on top of a day-convention bias of about -4%; at seeds 1-5 and 7,
four of six fits had a or b more than 5% off (up to 9.8%). A 5% check there is a coin flip.
With r=4, alpha=300 (one purchase per 75 days while alive, same-day share 0.8%) and a=1,
b=1.5 (a dropout chance of 0.4 after each repeat purchase, so dropout is well observed), and
Gamma-Gamma p=6, q=4, gamma=15 (the generator's defaults), the seed-to-seed standard deviation
of every estimate is 0.7-2.4% (seeds 1-10), with a remaining day-convention bias of about +2%
on alpha. 5% is thus about two standard deviations: it holds at the fixed seed below (chosen
before looking) and at 8 of the 10 seeds tried (the misses: alpha +5.5%, gamma +5.0%). If the
seed or the generator changes, look at the seed-to-seed spread before touching the tolerance.

Measured at seed 20111231 (as of 2011-12-31): r +0.9%, alpha +2.6%, a -1.9%, b -3.7%,
p -0.4%, q +0.4%, gamma +1.2%.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pytest
import yaml

from segmentation.btyd import BGNBD_PARAMS, bgnbd_conditional_expected_purchases
from segmentation.config import SegmentationConfig, load_config, month_as_of
from segmentation.features.behaviour import behaviour_as_of
from segmentation.features.clv import SnapshotClv, clv_for_snapshot
from segmentation.raw.landing import LandingReport, land_source
from synthetic.generate import write
from tests.conftest import LANDING_NOW, config_mapping
from tests.generated import GENERATED_SNAPSHOTS, customers_source, transactions_source

pytestmark = pytest.mark.slow

SEED = 20111231
CUSTOMERS = 100_000
TRUE_PARAMS = {
    "bgnbd": {"r": 4.0, "alpha": 300.0, "a": 1.0, "b": 1.5},
    "gamma_gamma": {"p": 6.0, "q": 4.0, "gamma": 15.0},
}
TOLERANCE = 0.05
CALIBRATION_FROM = "2011-06"
CALIBRATION_TO = "2011-12"


@dataclass(frozen=True)
class Landed:
    con: duckdb.DuckDBPyConnection
    config: SegmentationConfig
    true_params: dict[str, Any]
    reports: dict[str, LandingReport]


@pytest.fixture(scope="session")
def landed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Landed]:
    root = tmp_path_factory.mktemp("clv_recovery")
    data = root / "data"
    write(
        data,
        CUSTOMERS,
        seed=SEED,
        start="2010-01-01",
        end="2011-12-31",
        seasonality=0.0,
        dirty_rate=0.0,
        params=TRUE_PARAMS,
    )
    raw_config = config_mapping(transactions_source(data), snapshots=GENERATED_SNAPSHOTS)
    raw_config["sources"]["customers"] = customers_source(data)
    config_path = root / "config.yaml"
    config_path.write_text(yaml.safe_dump(raw_config, sort_keys=False))
    config = load_config(config_path)
    config.warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(config.warehouse))
    reports = {
        "transactions": land_source(con, "transactions", config.sources.transactions, LANDING_NOW),
        "customers": land_source(con, "customers", config.sources.customers, LANDING_NOW),
    }
    true_params = json.loads((data / "true_params.json").read_text())
    yield Landed(con=con, config=config, true_params=true_params, reports=reports)
    con.close()


def _behaviour(landed: Landed, partition_key: str) -> pl.DataFrame:
    features = landed.config.features
    return behaviour_as_of(
        landed.con,
        month_as_of(partition_key),
        features.lifecycle.lost_recency_days,
        features.dominant_channel_share,
    )


def _fit(landed: Landed, behaviour: pl.DataFrame, partition_key: str) -> SnapshotClv:
    return clv_for_snapshot(
        behaviour, month_as_of(partition_key).date(), landed.config.features.clv
    )


def _fitted(result: SnapshotClv, model: str) -> dict[str, float]:
    rows = result.params.filter(pl.col("model") == model).iter_rows(named=True)
    return {row["parameter"]: row["value"] for row in rows}


@pytest.fixture(scope="session")
def december(landed: Landed) -> SnapshotClv:
    return _fit(landed, _behaviour(landed, "2011-12"), "2011-12")


@pytest.fixture(scope="session")
def june_behaviour(landed: Landed) -> pl.DataFrame:
    return _behaviour(landed, CALIBRATION_FROM)


def test_every_generated_row_lands(landed: Landed) -> None:
    counts = landed.true_params["counts"]
    transactions, customers = landed.reports["transactions"], landed.reports["customers"]
    assert transactions.rejected_rows == 0
    assert transactions.landed_rows == counts["rows_written"]
    assert customers.rejected_rows == 0
    assert customers.landed_rows == CUSTOMERS


def test_fitted_parameters_are_within_5_percent_of_the_truth(
    landed: Landed, december: SnapshotClv
) -> None:
    assert december.degenerate_reason is None
    truth = landed.true_params
    assert truth["seasonality"]["exact_bgnbd_in_calendar_time"] is True
    errors = {}
    for model in ("bgnbd", "gamma_gamma"):
        fitted = _fitted(december, model)
        assert fitted["converged"] == 1.0, model
        for name, true_value in truth[model].items():
            errors[f"{model}.{name}"] = fitted[name] / true_value - 1.0
    assert set(errors) == {
        "bgnbd.r",
        "bgnbd.alpha",
        "bgnbd.a",
        "bgnbd.b",
        "gamma_gamma.p",
        "gamma_gamma.q",
        "gamma_gamma.gamma",
    }
    too_far = {name: f"{error:+.2%}" for name, error in errors.items() if abs(error) >= TOLERANCE}
    assert too_far == {}, f"relative errors: { {k: f'{v:+.2%}' for k, v in errors.items()} }"


def _frequency_group(x: pl.Expr) -> pl.Expr:
    return (
        pl.when(x <= 2)
        .then(x.cast(pl.Utf8))
        .when(x <= 4)
        .then(pl.lit("3-4"))
        .otherwise(pl.lit("5+"))
        .alias("group")
    )


def _actual_purchase_days(landed: Landed) -> pl.DataFrame:
    """Purchase days per customer in (2011-06-30, 2011-12-31], straight from raw.transactions."""
    return landed.con.execute(
        """
        SELECT customer_id, count(DISTINCT order_ts::DATE) AS actual
        FROM raw.transactions
        WHERE NOT is_return AND order_ts > $start AND order_ts <= $end
        GROUP BY customer_id
        """,
        {"start": month_as_of(CALIBRATION_FROM), "end": month_as_of(CALIBRATION_TO)},
    ).pl()


def test_predicted_purchases_match_the_next_half_year(
    landed: Landed, june_behaviour: pl.DataFrame
) -> None:
    """Fit as of 2011-06-30, predict each buyer's purchase days up to 2011-12-31, compare.

    Measured at the fixed seed: 68,768 buyers, 50,728 predicted vs 49,980 actual purchase
    days (+1.5%); mean per buyer by frequency group, predicted vs actual: x=0 (12,214 buyers)
    1.293 vs 1.268 (+2.0%), x=1 (29,331) 0.335 vs 0.325 (+3.1%), x=2 (11,893) 0.583 vs 0.575
    (+1.4%), x=3-4 (9,555) 0.901 vs 0.891 (+1.0%), x>=5 (5,775) 1.655 vs 1.661 (-0.4%). Every
    group has thousands of buyers, so the 10% tolerance holds for the sparse groups too.
    """
    behaviour = june_behaviour
    fit = _fit(landed, behaviour, CALIBRATION_FROM)
    assert fit.degenerate_reason is None
    params = {name: _fitted(fit, "bgnbd")[name] for name in BGNBD_PARAMS}
    horizon = (month_as_of(CALIBRATION_TO).date() - month_as_of(CALIBRATION_FROM).date()).days
    assert horizon == 184

    buyers = behaviour.filter(pl.col("purchase_days") > 0)
    x, t_x, age = (
        buyers.get_column(name).to_numpy().astype(np.float64)
        for name in ("frequency", "recency", "age_days")
    )
    predicted = bgnbd_conditional_expected_purchases(params, horizon, x, t_x, age)
    compared = (
        buyers.select("customer_id", "frequency")
        .with_columns(pl.Series("predicted", predicted))
        .join(_actual_purchase_days(landed), on="customer_id", how="left")
        .with_columns(pl.col("actual").fill_null(0))
    )

    total_predicted = compared.get_column("predicted").sum()
    total_actual = compared.get_column("actual").sum()
    assert total_actual > 10_000
    assert abs(total_predicted / total_actual - 1.0) < 0.05

    groups = (
        compared.group_by(_frequency_group(pl.col("frequency")))
        .agg(
            pl.len().alias("buyers"),
            pl.col("predicted").mean(),
            pl.col("actual").mean(),
        )
        .with_columns((pl.col("predicted") / pl.col("actual") - 1.0).alias("error"))
        .sort("group")
    )
    assert groups.get_column("group").to_list() == ["0", "1", "2", "3-4", "5+"]
    assert groups.get_column("buyers").min() >= 1_000
    off = groups.filter(pl.col("error").abs() >= 0.10)
    assert off.height == 0, str(groups)


def test_the_calibration_snapshot_only_uses_what_was_known_then(
    landed: Landed, june_behaviour: pl.DataFrame
) -> None:
    as_of = month_as_of(CALIBRATION_FROM)
    (buyers,) = landed.con.execute(
        "SELECT count(DISTINCT customer_id) FROM raw.transactions "
        "WHERE NOT is_return AND order_ts <= $as_of",
        {"as_of": as_of},
    ).fetchone()
    assert june_behaviour.get_column("snapshot_date").unique().to_list() == [date(2011, 6, 30)]
    assert june_behaviour.filter(pl.col("purchase_days") > 0).height == buyers
    assert june_behaviour.get_column("last_purchase_date").max() <= as_of.date()
    assert june_behaviour.height < CUSTOMERS
