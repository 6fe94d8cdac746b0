"""``features.customer_features`` as the DuckDB engine computes it, month by month, and the same
table written into a lake: the input of the Spark engine's segments and strategies tests."""

from datetime import date

import duckdb
import polars as pl

from segmentation.config import SegmentationConfig
from segmentation.engines.spark.lake import write_months
from segmentation.keys import BEHAVIOUR_TABLE, FEATURES_TABLE
from segmentation.monthly import (
    customer_behaviour_months,
    customer_clv_month,
    customer_engagement_months,
    customer_features_month,
)


def duckdb_features(
    con: duckdb.DuckDBPyConnection, snapshots: list[date], config: SegmentationConfig
) -> dict[date, pl.DataFrame]:
    """Each month's ``features.customer_features`` computed by the DuckDB engine's functions
    from the landed warehouse ``con`` (the behaviour is put into it while the engagement is
    computed, then dropped)."""
    months = sorted(snapshots)
    behaviour = dict(zip(months, customer_behaviour_months(con, months, config), strict=True))
    engagement: dict[date, pl.DataFrame | None] = dict.fromkeys(months)
    if config.sources.events is not None or config.sources.feedback is not None:
        con.execute("CREATE SCHEMA IF NOT EXISTS features")
        con.register("_behaviour", pl.concat(behaviour.values()).to_arrow())
        con.execute(f"CREATE OR REPLACE TABLE {BEHAVIOUR_TABLE} AS SELECT * FROM _behaviour")
        con.unregister("_behaviour")
        try:
            engagement.update(
                zip(months, customer_engagement_months(con, months, config), strict=True)
            )
        finally:
            con.execute(f"DROP TABLE {BEHAVIOUR_TABLE}")
    features = {}
    for snapshot in months:
        month = behaviour[snapshot]
        clv = customer_clv_month(month, snapshot, config.features.clv).customers
        with_clv = month.join(clv, on=["snapshot_date", "customer_id"], how="left")
        features[snapshot] = customer_features_month(with_clv, config, engagement[snapshot])
    return features


def write_features(spark, lake: str, features: dict[date, pl.DataFrame]) -> None:
    """The months of ``features`` written into the lake's ``features.customer_features``."""
    table = pl.concat(features.values()).to_arrow()
    write_months(spark.createDataFrame(table), lake, FEATURES_TABLE)
