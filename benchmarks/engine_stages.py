"""Every stage of one engine, in dependency order, in a fresh process:
``python -m benchmarks.engine_stages {duckdb,spark}`` (the orchestrator is
``benchmarks.spark_engine``).

- ``duckdb``: the DuckDB engine as a run computes it: the landing assets, the monthly assets
  for the months' partition range (``benchmarks.stages.monthly_assets``), then the evaluation
  assets and the serving copy, each asset invoked directly with the run's resources (pandera
  contract checks and warehouse writes included). The evaluation assets' frames are written as
  the run's IO manager writes them (one transaction replacing the table).
- ``spark``: the Spark engine's library functions (``segmentation.engines.spark``) on a session
  of ``--master``, each stage reading its inputs from the lake and writing its table there (the
  lake's atomic writes included), as the Spark assets do: landing, behaviour, engagement,
  categories, CLV, the value columns' reduce step, features, segments, summary, strategies,
  evaluation marts, backtest, and the serving copy published from the lake. No contract checks:
  the assets run those on Spark, this driver of the library functions does not.

Each stage records its wall time, the peak resident memory of the whole process tree (Java and
the Python workers included) and the 1-minute load average at its end. The Spark stages record
what their reduce steps received on the driver (``reduce rows``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.measure import LANDING_PART, MONTHLY_PART, Recorder
from segmentation.config import (
    SegmentationConfig,
    custom_attributes,
    load_config,
    month_end,
    pii_source_columns,
    pseudonym_secret,
)
from segmentation.serving.dictionary import MART_CONTRACTS
from segmentation.warehouse import replace_table

if TYPE_CHECKING:
    import dagster as dg

# the part of the stages after the monthly ones: evaluation marts, backtest, serving copy
WHOLE_PART = "whole"
# the marts recomputed whole each run, and the column each is partitioned by in the lake
WHOLE_TABLES = {
    "marts.segment_migration": "to_snapshot",
    "marts.segment_outcomes": "snapshot_date",
    "marts.strategy_effect": "snapshot_date",
    "marts.satisfaction_summary": "snapshot_date",
    "marts.clv_backtest": "snapshot_date",
}
LAKE = "lake"
SPARK_SERVING = "serving-spark.duckdb"
# every engine's last stage
LAST_STAGE = "serving copy"
# a few shuffle partitions per core: Spark's default of 200 is meant for a cluster
DEFAULT_SHUFFLE_PARTITIONS = 8


def _written_frames(
    asset: dg.AssetsDefinition,
    config: SegmentationConfig,
    recorder: Recorder,
    tables: list[str],
    **resources: Any,
) -> None:
    """An unpartitioned asset returning frames, invoked, its frames written as the run's IO
    manager writes them (``replace_table``), as one stage."""
    import dagster as dg

    from assets.resources import warehouse_for

    with recorder.stage(" + ".join(tables), part=WHOLE_PART) as info:
        frames = asset(
            context=dg.build_asset_context(), warehouse=warehouse_for(config), **resources
        )
        frames = frames if isinstance(frames, tuple) else (frames,)
        with warehouse_for(config).connect() as con:
            for table, frame in zip(tables, frames, strict=True):
                replace_table(con, table, frame)
                info[f"{table} rows"] = frame.height


def duckdb_engine(config: SegmentationConfig, keys: Sequence[str], recorder: Recorder) -> None:
    """The DuckDB engine's stages for the partitions ``keys``, into a fresh warehouse."""
    # Dagster and the assets are imported here: the orchestrator reads this module's constants
    import dagster as dg

    from assets.evaluation.assets import clv_backtest, satisfaction_summary, segment_evaluation
    from assets.raw.assets import raw_customers, raw_events, raw_feedback, raw_transactions
    from assets.resources import warehouse_for
    from assets.serving.assets import serving_marts
    from benchmarks.stages import _invoke, monthly_assets

    config.warehouse.unlink(missing_ok=True)
    Path(f"{config.warehouse}.wal").unlink(missing_ok=True)
    # events and feedback: the empty tables a run lands without those sources (the evaluation
    # reads raw.feedback)
    for asset in (raw_transactions, raw_customers, raw_events, raw_feedback):
        _invoke(asset, config, None, recorder, LANDING_PART)
    monthly_assets(config, keys, recorder)
    evaluation_tables = list(WHOLE_TABLES)[:3]
    _written_frames(segment_evaluation, config, recorder, evaluation_tables, settings=config)
    _written_frames(satisfaction_summary, config, recorder, ["marts.satisfaction_summary"])
    _written_frames(clv_backtest, config, recorder, ["marts.clv_backtest"])
    with recorder.stage(LAST_STAGE, part=WHOLE_PART):
        serving_marts(
            context=dg.build_asset_context(), warehouse=warehouse_for(config), settings=config
        )


def spark_engine(
    config: SegmentationConfig,
    keys: Sequence[str],
    work: Path,
    recorder: Recorder,
    master: str,
    conf: dict[str, Any],
) -> None:
    """The Spark engine's stages for the month ends of ``keys``, into a fresh lake
    ``work/lake`` and the serving file ``work/serving-spark.duckdb``."""
    from segmentation.engines.settings import SparkSettings
    from segmentation.engines.spark.backtest import clv_backtest as spark_backtest
    from segmentation.engines.spark.behaviour import customer_behaviour
    from segmentation.engines.spark.categories import customer_categories
    from segmentation.engines.spark.clv import customer_clv
    from segmentation.engines.spark.engagement import customer_engagement
    from segmentation.engines.spark.evaluation import evaluate_segments
    from segmentation.engines.spark.features import customer_features
    from segmentation.engines.spark.lake import read_table, write_months, write_table
    from segmentation.engines.spark.lake_serving import publish_lake
    from segmentation.engines.spark.landing import land_source
    from segmentation.engines.spark.segments import customer_segments
    from segmentation.engines.spark.session import start_session
    from segmentation.engines.spark.strategies import strategy_assignments
    from segmentation.engines.spark.summary import segment_summary
    from segmentation.engines.spark.value import customer_value
    from segmentation.keys import (
        ASSIGNMENTS_TABLE,
        BEHAVIOUR_TABLE,
        CATEGORIES_TABLE,
        CLV_PARAMS_TABLE,
        CLV_TABLE,
        ENGAGEMENT_TABLE,
        FEATURES_TABLE,
        SEGMENTS_TABLE,
        SNAPSHOT_COLUMN,
        SUMMARY_TABLE,
    )

    snapshots = [month_end(key) for key in keys]
    lake_path = work / LAKE
    lake = str(lake_path)
    with recorder.stage("session start"):
        spark = start_session(SparkSettings(master=master, conf=conf, lake=lake))
    # errors only: a first landing logs each missing lake table as a warning with a stack trace
    spark.sparkContext.setLogLevel("ERROR")
    # a fresh lake, once the session started: an engine that cannot start leaves the last one
    shutil.rmtree(lake_path, ignore_errors=True)

    def driver_frame(frame: Any) -> Any:
        """A frame the driver computed (polars), as a Spark frame to write into the lake."""
        return spark.createDataFrame(frame.to_arrow())

    now = datetime.now(UTC).replace(tzinfo=None)
    with recorder.stage("raw.transactions", part=LANDING_PART) as info:
        report = land_source(spark, lake, "transactions", config.sources.transactions, now)
        info["raw.transactions rows"] = report.landed_rows
    with recorder.stage("raw.customers", part=LANDING_PART) as info:
        assert config.sources.customers is not None, "the benchmark's data has customers"
        report = land_source(
            spark,
            lake,
            "customers",
            config.sources.customers,
            now,
            custom_attributes(config),
            pii_source_columns(config),
        )
        info["raw.customers rows"] = report.landed_rows
    with recorder.stage(BEHAVIOUR_TABLE, part=MONTHLY_PART):
        write_months(customer_behaviour(spark, lake, snapshots, config), lake, BEHAVIOUR_TABLE)
    with recorder.stage(ENGAGEMENT_TABLE, part=MONTHLY_PART):
        write_months(customer_engagement(spark, lake, snapshots, config), lake, ENGAGEMENT_TABLE)
    with recorder.stage(CATEGORIES_TABLE, part=MONTHLY_PART):
        write_months(customer_categories(spark, lake, snapshots, config), lake, CATEGORIES_TABLE)
    with recorder.stage(f"{CLV_TABLE} + {CLV_PARAMS_TABLE}", part=MONTHLY_PART) as info:
        clv = customer_clv(spark, lake, snapshots, config)
        write_months(clv.customers, lake, CLV_TABLE)
        write_months(driver_frame(clv.params), lake, CLV_PARAMS_TABLE)
        info["reduce rows"] = {f"clv fit input: {part}": n for part, n in clv.reduce_rows.items()}
    # the value columns' map and reduce steps (counts to the driver, exact cut points and
    # shares there); their labels are computed when the features are written
    with recorder.stage("value columns: reduce step", part=MONTHLY_PART) as info:
        value = customer_value(spark, lake, snapshots, config)
        info["reduce rows"] = {"value counts": value.reduce_rows}
    with recorder.stage(FEATURES_TABLE, part=MONTHLY_PART):
        features = customer_features(spark, lake, snapshots, config, value=value)
        write_months(features, lake, FEATURES_TABLE)
    with recorder.stage(SEGMENTS_TABLE, part=MONTHLY_PART) as info:
        segments = customer_segments(spark, lake, snapshots, config)
        write_months(segments.segments, lake, SEGMENTS_TABLE)
        info["reduce rows"] = {f"segments: {k}": n for k, n in segments.reduce_rows.items()}
    with recorder.stage(SUMMARY_TABLE, part=MONTHLY_PART) as info:
        summary = segment_summary(spark, lake, snapshots)
        write_months(driver_frame(summary.summary), lake, SUMMARY_TABLE)
        info["reduce rows"] = {"summary sums": summary.reduce_rows}
    with recorder.stage(ASSIGNMENTS_TABLE, part=MONTHLY_PART) as info:
        from pyspark.sql import functions as F

        assert config.playbook is not None, "the benchmark's config has a playbook"
        months = read_table(spark, lake, SEGMENTS_TABLE).where(
            F.col(SNAPSHOT_COLUMN).isin(*snapshots)
        )
        assignments = strategy_assignments(spark, months, config.playbook)
        write_months(assignments.assignments, lake, ASSIGNMENTS_TABLE)
        info["reduce rows"] = {f"strategies: {k}": n for k, n in assignments.reduce_rows.items()}
    evaluation_tables = list(WHOLE_TABLES)[:4]
    with recorder.stage(" + ".join(evaluation_tables), part=WHOLE_PART) as info:
        evaluation = evaluate_segments(spark, lake, config.features.feedback)
        frames = (
            evaluation.migration,
            evaluation.outcomes,
            evaluation.effects,
            evaluation.satisfaction,
        )
        for table, frame in zip(evaluation_tables, frames, strict=True):
            write_table(driver_frame(frame), lake, table, WHOLE_TABLES[table])
        info["reduce rows"] = {f"evaluation: {k}": n for k, n in evaluation.reduce_rows.items()}
        info["buckets"] = evaluation.buckets
    with recorder.stage("marts.clv_backtest", part=WHOLE_PART) as info:
        backtest = spark_backtest(spark, lake)
        write_table(driver_frame(backtest.backtest), lake, "marts.clv_backtest")
        info["reduce rows"] = {"backtest customers": backtest.reduce_rows}
        info["buckets"] = backtest.buckets
    with recorder.stage(LAST_STAGE, part=WHOLE_PART) as info:
        published = publish_lake(
            lake,
            work / SPARK_SERVING,
            list(MART_CONTRACTS),
            secret=pseudonym_secret(config),
        )
        info["tables"] = len(published.tables)
    spark.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """Run one engine's stages and write them as JSON (after every stage: a process killed
    midway keeps what it measured)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("engine", choices=["duckdb", "spark"])
    parser.add_argument("--data", type=Path, required=True, help="the generated data folder")
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (config, db)")
    parser.add_argument("--out", type=Path, required=True, help="where the stage JSON goes")
    parser.add_argument("--months", type=int, default=4)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument(
        "--shuffle-partitions", type=int, default=DEFAULT_SHUFFLE_PARTITIONS, help="Spark's"
    )
    parser.add_argument(
        "--driver-memory",
        help="Spark's spark.driver.memory: on a local master, the heap of the one JVM that runs "
        "every task (Spark's default 1g is too small for the landing at 10M)",
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*is currently in beta")
    from benchmarks.stages import snapshot_keys

    true_params = json.loads((args.data / "true_params.json").read_text())
    keys = snapshot_keys(true_params, args.months)
    result: dict[str, Any] = {"engine": args.engine, "partitions": [keys[0], keys[-1]]}

    def save(recorder: Recorder) -> None:
        result["stages"] = recorder.as_json()
        args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")

    recorder = Recorder(save, tree=True)
    config = load_config(args.work / "config.yaml")
    if args.engine == "duckdb":
        duckdb_engine(config, keys, recorder)
    else:
        conf: dict[str, Any] = {
            "spark.ui.enabled": False,
            "spark.sql.shuffle.partitions": args.shuffle_partitions,
        }
        if args.driver_memory:
            conf["spark.driver.memory"] = args.driver_memory
        result["master"] = args.master
        result["conf"] = conf
        spark_engine(config, keys, args.work, recorder, args.master, conf)
    save(recorder)


if __name__ == "__main__":
    main()
