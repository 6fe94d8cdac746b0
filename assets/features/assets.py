"""Feature assets: point-in-time monthly snapshots, one row per customer.

Partition ``2011-03`` is the state as of 2011-03-31 23:59:59.999999, computed only from
transactions with ``order_ts`` on or before that instant. A backfill of many months runs as one
run (single-run backfill policy) and computes each month from its own as-of instant.
"""

import dagster as dg
import polars as pl

from assets.features.behaviour import behaviour_for_snapshots
from assets.features.clv import clv_for_snapshot
from assets.features.contracts import (
    ClvModelParamsContract,
    CustomerBehaviourContract,
    CustomerClvContract,
    CustomerFeaturesContract,
)
from assets.features.lifecycle import lifecycle_stage
from assets.features.value import value_features
from assets.metadata import column_counts_table, column_schema, contract_type, preview
from pipelines.config import SegmentationConfig, custom_attributes
from pipelines.partitions import snapshot_dates
from pipelines.resources import Warehouse

FEATURE_KINDS = {"duckdb", "polars"}


def _snapshot_metadata(frame: pl.DataFrame, contract: type) -> dict:
    return {
        "dagster/row_count": frame.height,
        "dagster/column_schema": column_schema(contract),
        "snapshots": frame.get_column("snapshot_date").n_unique() if frame.height else 0,
        "preview": preview(frame),
    }


def build_feature_assets(
    partitions_def: dg.PartitionsDefinition,
) -> list[dg.AssetsDefinition]:
    """The feature assets for the configured monthly partitions."""
    partitioning = {
        "partitions_def": partitions_def,
        "backfill_policy": dg.BackfillPolicy.single_run(),
    }
    common = {**partitioning, "group_name": "features"}

    @dg.asset(
        key=["features", "customer_behaviour"],
        deps=[["raw", "transactions"], ["raw", "customers"]],
        kinds=FEATURE_KINDS,
        dagster_type=contract_type(CustomerBehaviourContract),
        **common,
    )
    def customer_behaviour(
        context: dg.AssetExecutionContext,
        warehouse: Warehouse,
        settings: dg.ResourceParam[SegmentationConfig],
    ) -> pl.DataFrame:
        """Behaviour of every known customer as of each snapshot: recency, frequency (purchase
        days, orders), monetary (gross and net revenue, average order value), trailing 30/90/365
        days, tenure, days between purchases, trend, return rate, channel mix and dominant
        channel, product breadth, active months, and the BTYD inputs (frequency, recency, age)."""
        features = settings.features
        custom = list(custom_attributes(settings))
        # every month of a backfill from one scan of the transactions
        with warehouse.connect() as con:
            frame = behaviour_for_snapshots(
                con,
                snapshot_dates(context),
                features.lifecycle.lost_recency_days,
                features.dominant_channel_share,
                custom,
            )
        context.add_output_metadata(
            _snapshot_metadata(frame, CustomerBehaviourContract)
            | {"customers_by_dominant_channel": column_counts_table(frame, "dominant_channel")}
        )
        return frame

    @dg.multi_asset(
        outs={
            "customer_clv": dg.AssetOut(
                key=["features", "customer_clv"],
                dagster_type=contract_type(CustomerClvContract),
                kinds=FEATURE_KINDS | {"scipy"},
                group_name="features",
                description="Per customer and snapshot: probability alive, expected purchases "
                "in the next 30/90/365 days, expected spend per purchase and 12-month CLV "
                "(BG/NBD + Gamma-Gamma, or the simple fallback on degenerate snapshots).",
            ),
            "clv_model_params": dg.AssetOut(
                key=["marts", "clv_model_params"],
                dagster_type=contract_type(ClvModelParamsContract),
                kinds={"duckdb", "scipy"},
                group_name="marts",
                description="Every fitted BTYD parameter per snapshot and model (bgnbd, "
                "pareto_nbd, gamma_gamma), with log-likelihood, customers used, converged flag "
                "and time unit.",
            ),
        },
        ins={"customer_behaviour": dg.AssetIn(key=["features", "customer_behaviour"])},
        **partitioning,
    )
    def customer_clv(
        context: dg.AssetExecutionContext,
        customer_behaviour: pl.DataFrame,
        settings: dg.ResourceParam[SegmentationConfig],
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Fit BG/NBD (and Pareto/NBD) and Gamma-Gamma by maximum likelihood per snapshot."""
        clv_frames, param_frames, fits = [], [], []
        for (snapshot,), behaviour in customer_behaviour.partition_by(
            "snapshot_date", as_dict=True, maintain_order=True
        ).items():
            result = clv_for_snapshot(behaviour, snapshot, settings.features.clv)
            clv_frames.append(result.customers)
            param_frames.append(result.params)
            fits.append(result.summary)
            if result.degenerate_reason:
                context.log.warning(f"{snapshot}: {result.degenerate_reason}; simple CLV used")
        clv = pl.concat(clv_frames)
        params = pl.concat(param_frames)
        context.add_output_metadata(
            _snapshot_metadata(clv, CustomerClvContract)
            | {"fits": preview(pl.DataFrame(fits), rows=50)},
            output_name="customer_clv",
        )
        context.add_output_metadata(
            _snapshot_metadata(params, ClvModelParamsContract), output_name="clv_model_params"
        )
        return clv, params

    @dg.asset(
        key=["features", "customer_features"],
        ins={
            "customer_behaviour": dg.AssetIn(key=["features", "customer_behaviour"]),
            "customer_clv": dg.AssetIn(key=["features", "customer_clv"]),
        },
        kinds=FEATURE_KINDS,
        dagster_type=contract_type(CustomerFeaturesContract),
        **common,
    )
    def customer_features(
        context: dg.AssetExecutionContext,
        customer_behaviour: pl.DataFrame,
        customer_clv: pl.DataFrame,
        settings: dg.ResourceParam[SegmentationConfig],
    ) -> pl.DataFrame:
        """Everything a segment or a strategy needs, one row per snapshot and customer:
        behaviour, CLV, value tier (high / mid / low by revenue quantile), ABC class by Pareto
        share, and the lifecycle stage."""
        joined = customer_behaviour.join(
            customer_clv, on=["snapshot_date", "customer_id"], how="left", validate="1:1"
        )
        valued = value_features(joined, settings.features.value)
        frame = valued.with_columns(lifecycle_stage(valued, settings.features.lifecycle)).sort(
            ["snapshot_date", "customer_id"]
        )
        frame = frame.select(
            *CustomerFeaturesContract.to_schema().columns.keys(), *custom_attributes(settings)
        )
        latest = frame.filter(pl.col("snapshot_date") == pl.col("snapshot_date").max())
        context.add_output_metadata(
            _snapshot_metadata(frame, CustomerFeaturesContract)
            | {
                "latest_snapshot": str(latest.get_column("snapshot_date").max()),
                "latest_lifecycle_stages": column_counts_table(latest, "lifecycle_stage"),
                "latest_value_tiers": column_counts_table(latest, "value_tier"),
            }
        )
        return frame

    return [customer_behaviour, customer_clv, customer_features]
