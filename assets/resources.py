"""Resources: the DuckDB warehouse and the IO manager that writes frames to it atomically."""

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from segmentation.config import SegmentationConfig, month_end
from segmentation.keys import SNAPSHOT_COLUMN
from segmentation.warehouse import read_partitions, replace_partitions, replace_table

# The storage format of a warehouse file this pipeline creates (an existing file keeps its own):
# DuckDB 1.5's writes the 10M-row transactions table with ~20% less CPU than the default, which
# older readers can open. BI tools read the serving copy, written in an older format.
WAREHOUSE_STORAGE_VERSION = "v1.5.0"
# DuckDB's message when another process holds the file's lock: transient, worth waiting out.
LOCK_CONFLICT = "Could not set lock"


class Warehouse(dg.ConfigurableResource):
    """The DuckDB file the pipeline writes. One writer at a time: runs use the in-process executor.

    ``memory_limit`` and ``temp_directory`` let DuckDB spill large joins and sorts to disk instead
    of running out of memory. Opening the file while another process holds its lock (another
    run, a script, a BI tool pointed at the warehouse instead of the serving copy) is retried
    with backoff for up to ``lock_timeout_seconds`` before the lock error is raised.
    """

    path: str
    memory_limit: str | None = None
    temp_directory: str | None = None
    threads: int | None = None
    lock_timeout_seconds: float = 120.0

    def _open(self, read_only: bool, settings: dict[str, str | int]) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.lock_timeout_seconds
        delay = 0.25
        while True:
            try:
                return duckdb.connect(self.path, read_only=read_only, config=settings)
            except duckdb.IOException as error:
                if LOCK_CONFLICT not in str(error) or time.monotonic() + delay > deadline:
                    raise
                dg.get_dagster_logger().warning(
                    f"warehouse {self.path} is locked by another process; retrying in {delay:g}s"
                )
            time.sleep(delay)
            delay = min(delay * 2, 10.0)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        settings: dict[str, str | int] = {
            "storage_compatibility_version": WAREHOUSE_STORAGE_VERSION
        }
        if self.memory_limit:
            settings["memory_limit"] = self.memory_limit
        if self.temp_directory:
            settings["temp_directory"] = self.temp_directory
        if self.threads:
            settings["threads"] = self.threads
        spill = Path(self.temp_directory or f"{self.path}.tmp")
        spill_existed = spill.exists()
        con = self._open(read_only, settings)
        try:
            yield con
        finally:
            con.close()
            if not spill_existed:
                # landing and behaviour create DuckDB's spill directory for their scratch files
                # (segmentation.warehouse.scratch_directory), and DuckDB only removes one it created
                with suppress(OSError):  # not empty: DuckDB's, or still in use
                    spill.rmdir()


def warehouse_for(config: SegmentationConfig) -> Warehouse:
    """The warehouse resource of a loaded configuration, with its DuckDB settings."""
    settings = config.duckdb
    return Warehouse(
        path=str(config.warehouse),
        memory_limit=settings.memory_limit,
        temp_directory=str(settings.temp_directory) if settings.temp_directory else None,
        threads=settings.threads,
    )


def table_name(key: dg.AssetKey) -> str:
    """Asset key ``["marts", "customer_segments"]`` -> table ``marts.customer_segments``."""
    if len(key.path) != 2:
        raise ValueError(f"asset key {key.to_user_string()} must be [schema, table]")
    return ".".join(key.path)


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Stores polars frames as warehouse tables named after the asset key.

    Unlike the stock DuckDB IO manager, a write is one transaction (delete the run's partitions,
    insert by column name), so a failure leaves the table as it was and a re-run never duplicates.
    Monthly partitions map to the ``snapshot_date`` column (the month's last day).
    """

    warehouse: dg.ResourceDependency[Warehouse]

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame | None) -> None:
        if obj is None:
            return
        if not isinstance(obj, pl.DataFrame):
            raise TypeError(f"{context.asset_key.to_user_string()}: expected a polars DataFrame")
        table = table_name(context.asset_key)
        with self.warehouse.connect() as con:
            if context.has_asset_partitions:
                dates = [month_end(key) for key in context.asset_partition_keys]
                replace_partitions(con, table, obj, SNAPSHOT_COLUMN, dates)
            else:
                replace_table(con, table, obj)
        context.add_output_metadata({"dagster/row_count": obj.height, "table": table})

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        table = table_name(context.asset_key)
        with self.warehouse.connect(read_only=False) as con:
            if context.has_asset_partitions:
                dates = [month_end(key) for key in context.asset_partition_keys]
                return read_partitions(con, table, SNAPSHOT_COLUMN, dates)
            return read_partitions(con, table)
