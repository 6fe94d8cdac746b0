"""The DuckDB engine's tables the Spark engine's tests compare with, each computed once per
test process for a landed warehouse, its snapshots and its configuration.

Most modules of tests/spark compare with the same months of the same warehouses (the session's
``retail`` and ``generated``): the behaviour, CLV, engagement, features and segments of the
real sample's 25 months were computed again by each of them. Here the first test that asks
computes them and the others get the same frames (polars frames are not changed in place; the
lists and dicts handed out are copies). The key holds the connection itself, not its id: a
module's warehouse closed and collected cannot hand its tables to another one that reuses the
address; and the whole configuration, so a test that changes a setting gets its own tables.
"""

from collections.abc import Callable
from datetime import date
from typing import TypeVar

import duckdb
import polars as pl

from segmentation.config import SegmentationConfig
from segmentation.features.clv import SnapshotClv
from segmentation.keys import BEHAVIOUR_TABLE, KEY_COLUMNS
from segmentation.monthly import (
    customer_behaviour_months,
    customer_categories_months,
    customer_clv_month,
    customer_engagement_months,
    customer_features_month,
    customer_segments_month,
)

T = TypeVar("T")

_COMPUTED: dict[tuple[str, duckdb.DuckDBPyConnection, tuple[date, ...], str], object] = {}


def once(
    kind: str,
    con: duckdb.DuckDBPyConnection,
    snapshots: list[date],
    config: SegmentationConfig,
    compute: Callable[[], T],
) -> T:
    """``compute()``'s result for the table ``kind`` of the warehouse ``con``, ``snapshots``
    and ``config``: computed on the first call, the same object afterwards."""
    key = (kind, con, tuple(sorted(snapshots)), config.model_dump_json())
    if key not in _COMPUTED:
        _COMPUTED[key] = compute()
    return _COMPUTED[key]  # type: ignore[return-value]


def behaviour_months(
    con: duckdb.DuckDBPyConnection, snapshots: list[date], config: SegmentationConfig
) -> list[pl.DataFrame]:
    """``features.customer_behaviour`` of each snapshot, in ascending order
    (``customer_behaviour_months``)."""
    return list(
        once(
            "behaviour",
            con,
            snapshots,
            config,
            lambda: list(customer_behaviour_months(con, snapshots, config)),
        )
    )


def clv_months(
    con: duckdb.DuckDBPyConnection, snapshots: list[date], config: SegmentationConfig
) -> list[SnapshotClv]:
    """``customer_clv_month`` of each snapshot's behaviour, in ascending order."""

    def compute() -> list[SnapshotClv]:
        months = sorted(snapshots)
        behaviour = behaviour_months(con, months, config)
        return [
            customer_clv_month(month, snapshot, config.features.clv)
            for snapshot, month in zip(months, behaviour, strict=True)
        ]

    return list(once("clv", con, snapshots, config, compute))


def engagement_months(
    con: duckdb.DuckDBPyConnection, snapshots: list[date], config: SegmentationConfig
) -> list[pl.DataFrame]:
    """``features.customer_engagement`` of each snapshot, in ascending order, read from a
    behaviour table as the asset's is (the table is put into the warehouse for it, then
    dropped: the landed warehouse is shared by the session's tests)."""

    def compute() -> list[pl.DataFrame]:
        behaviour = pl.concat(behaviour_months(con, snapshots, config))
        con.execute("CREATE SCHEMA IF NOT EXISTS features")
        con.register("_behaviour", behaviour.to_arrow())
        con.execute(f"CREATE OR REPLACE TABLE {BEHAVIOUR_TABLE} AS SELECT * FROM _behaviour")
        con.unregister("_behaviour")
        try:
            return list(customer_engagement_months(con, snapshots, config))
        finally:
            con.execute(f"DROP TABLE {BEHAVIOUR_TABLE}")

    return list(once("engagement", con, snapshots, config, compute))


def categories_months(
    con: duckdb.DuckDBPyConnection, snapshots: list[date], config: SegmentationConfig
) -> list[pl.DataFrame]:
    """``features.customer_categories`` of each snapshot, in ascending order."""
    return list(
        once(
            "categories",
            con,
            snapshots,
            config,
            lambda: list(customer_categories_months(con, snapshots, config)),
        )
    )


def features_months(
    con: duckdb.DuckDBPyConnection,
    snapshots: list[date],
    config: SegmentationConfig,
    with_categories: bool = False,
) -> dict[date, pl.DataFrame]:
    """Each month's ``features.customer_features`` (the category columns from
    ``categories_months`` when ``with_categories``; else null), from the months above: each
    month's CLV joined to its behaviour, its engagement when the config has events or
    feedback."""

    def compute() -> dict[date, pl.DataFrame]:
        months = sorted(snapshots)
        behaviour = behaviour_months(con, months, config)
        clv = clv_months(con, months, config)
        engaged = config.sources.events is not None or config.sources.feedback is not None
        engagement: list[pl.DataFrame | None] = (
            list(engagement_months(con, months, config)) if engaged else [None] * len(months)
        )
        categories: list[pl.DataFrame | None] = (
            list(categories_months(con, months, config))
            if with_categories
            else [None] * len(months)
        )
        features = {}
        for snapshot, month, fitted, engaged_month, categorised in zip(
            months, behaviour, clv, engagement, categories, strict=True
        ):
            with_clv = month.join(
                fitted.customers, on=list(KEY_COLUMNS), how="left", maintain_order="left"
            )
            features[snapshot] = customer_features_month(
                with_clv, config, engaged_month, categorised
            )
        return features

    kind = "features+categories" if with_categories else "features"
    return dict(once(kind, con, snapshots, config, compute))


def segments_months(
    con: duckdb.DuckDBPyConnection, snapshots: list[date], config: SegmentationConfig
) -> dict[date, tuple[pl.DataFrame, pl.DataFrame]]:
    """Each month's ``marts.customer_segments`` and ``marts.segment_summary`` of
    ``features_months`` (no products source)."""

    def compute() -> dict[date, tuple[pl.DataFrame, pl.DataFrame]]:
        return {
            snapshot: customer_segments_month(month, config.segments)
            for snapshot, month in features_months(con, snapshots, config).items()
        }

    return dict(once("segments", con, snapshots, config, compute))
