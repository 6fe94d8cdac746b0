"""The serving asset: after every successful run, the marts are published for BI tools."""

from typing import Any

import dagster as dg

from assets.engine import engine_kinds, on_engine, spark_lake
from assets.resources import Warehouse
from segmentation.config import SegmentationConfig, pseudonym_secret
from segmentation.serving.dictionary import MART_CONTRACTS, MARTS_SCHEMA
from segmentation.serving.guard import ServingFileError
from segmentation.serving.publish import (
    STORAGE_VERSION,
    PublishResult,
    publish_marts,
    warehouse_tables,
)
from segmentation.settings_base import ConfigError

SERVING_KEY = dg.AssetKey(["serving", "marts"])
MART_KEYS = [dg.AssetKey([MARTS_SCHEMA, table]) for table in MART_CONTRACTS]


def _metadata(result: PublishResult, skipped: list[str]) -> dict:
    tables = dg.MetadataValue.table(
        records=[
            dg.TableRecord(
                {"table": f"{MARTS_SCHEMA}.{t.name}", "rows": t.rows, "columns": t.columns}
            )
            for t in result.tables
        ],
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("table", "string"),
                dg.TableColumn("rows", "int"),
                dg.TableColumn("columns", "int"),
            ]
        ),
    )
    undescribed = [
        f"{MARTS_SCHEMA}.{t.name}.{column}"
        for t in result.tables
        for column in t.undescribed_columns
    ]
    return {
        "path": dg.MetadataValue.path(str(result.path)),
        "size_bytes": result.size_bytes,
        "size_mb": round(result.size_bytes / 1e6, 3),
        "tables": tables,
        "published_at": dg.MetadataValue.timestamp(result.published_at),
        "pseudonymized": result.pseudonymized,
        "storage_version": STORAGE_VERSION,
        "publish_seconds": round(result.seconds, 3),
        "not_published": ", ".join(skipped) or "none",
        "columns_without_description": ", ".join(undescribed) or "none",
        "fingerprint": result.fingerprint,
        "discarded_foreign_changes": "; ".join(result.discarded_changes) or "none",
        "removed_temporary_files": ", ".join(result.removed_temporaries) or "none",
    }


def build_serving_assets(engine: str = "duckdb") -> list[dg.AssetsDefinition]:
    """The serving asset; on Spark it publishes the lake's marts."""

    @dg.asset(
        key=SERVING_KEY,
        deps=MART_KEYS,
        group_name="serving",
        kinds=engine_kinds({"duckdb"}, engine),
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    @on_engine(engine)
    def serving_marts(
        context: dg.AssetExecutionContext,
        warehouse: Warehouse,
        settings: dg.ResourceParam[SegmentationConfig],
        spark: Any = None,
    ) -> dg.MaterializeResult:
        """The marts tables, and only them, copied to the serving file (config key `serving`)
        that BI tools open read-only, with every table and column commented from the contracts.
        Built under a temporary name and moved into place atomically: open readers keep their
        snapshot, new ones see the new file, and a failed run leaves the previous copy. With
        `pseudonymize: true` customer ids are replaced by keyed HMAC-SHA256 pseudonyms. The copy
        is read-only: changes a client wrote to it stop the publish unless
        `serving_overwrite_foreign_changes: true`. On Spark the copy is published from the
        lake's marts."""
        try:
            secret = pseudonym_secret(settings)
        except ConfigError as error:
            raise dg.Failure(description=str(error)) from None
        tables = list(MART_CONTRACTS)
        if spark is not None:
            result, skipped = _publish_lake(settings, tables, secret, spark.spark_session), []
        else:
            result, skipped = _publish_warehouse(warehouse, settings, tables, secret)
        _log_publish(context, result, skipped)
        return dg.MaterializeResult(metadata=_metadata(result, skipped))

    return [serving_marts]


def _publish_lake(
    settings: SegmentationConfig, tables: list[str], secret: bytes | None, session: Any
) -> PublishResult:
    """The lake's marts published (``publish_lake``): read by DuckDB on this machine, or by
    the Spark ``session`` when the lake is on another file system (``s3a://``...)."""
    from segmentation.engines.spark.lake_serving import publish_lake
    from segmentation.engines.spark.preflight import local_lake

    try:
        return publish_lake(
            spark_lake(settings),
            settings.serving,
            tables,
            secret=secret,
            overwrite_foreign_changes=settings.serving_overwrite_foreign_changes,
            spark=session if local_lake(settings.spark.lake) is None else None,
        )
    except ServingFileError as error:
        raise dg.Failure(description=str(error)) from None


def _publish_warehouse(
    warehouse: Warehouse, settings: SegmentationConfig, tables: list[str], secret: bytes | None
) -> tuple[PublishResult, list[str]]:
    """The warehouse's marts published; the marts tables no asset writes (not published)."""
    with warehouse.connect() as con:
        skipped = [
            f"{MARTS_SCHEMA}.{t}" for t in warehouse_tables(con, MARTS_SCHEMA) if t not in tables
        ]
        try:
            result = publish_marts(
                con,
                settings.serving,
                tables,
                secret=secret,
                overwrite_foreign_changes=settings.serving_overwrite_foreign_changes,
            )
        except ServingFileError as error:
            raise dg.Failure(description=str(error)) from None
    return result, skipped


def _log_publish(
    context: dg.AssetExecutionContext, result: PublishResult, skipped: list[str]
) -> None:
    """The publish's notes, cleanups and discarded changes in the run's log."""
    for note in result.notes:
        context.log.info(note)
    if result.removed_temporaries:
        context.log.info(
            f"removed temporary files of an earlier, interrupted publish: "
            f"{', '.join(result.removed_temporaries)}"
        )
    if result.discarded_changes:
        context.log.warning(
            "discarded changes made to the serving copy since the last publish "
            f"(serving_overwrite_foreign_changes is true): {'; '.join(result.discarded_changes)}"
        )
    if skipped:
        context.log.warning(
            f"not published (no asset of this pipeline writes them): {', '.join(skipped)}"
        )
    context.log.info(
        f"published {len(result.tables)} tables to {result.path} "
        f"({result.size_bytes / 1e6:.1f} MB) in {result.seconds:.1f} s"
    )


[serving_marts] = build_serving_assets()
