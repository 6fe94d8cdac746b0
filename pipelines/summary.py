"""`python -m pipelines.summary`: where the warehouse is and what the last run put in it."""

import shutil

from rich.console import Console
from rich.table import Table

from segmentation.config import SegmentationConfig, load_config
from segmentation.engines.spark.lake_serving import lake_summary
from segmentation.engines.spark.preflight import local_lake
from segmentation.engines.spark.session import start_session
from segmentation.reports.run_summary import warehouse_summary
from segmentation.strategies.settings import rules_using


def print_summary(config: SegmentationConfig, console: Console | None = None) -> None:
    """Print the warehouse (with ``engine: spark``, the lake) and serving paths and a table per
    section that has data."""
    # piped output (make run | tee) gets the width of a wide terminal, not rich's 80 columns
    out = console or Console(width=shutil.get_terminal_size((120, 24)).columns)
    spark_lake = config.spark.lake if config.engine == "spark" else None
    if spark_lake is None:
        out.print(f"[bold]Warehouse[/bold]: {config.warehouse}")
    else:
        out.print(f"[bold]Lake (engine: spark)[/bold]: {spark_lake}")
    out.print(f"[bold]Serving copy for BI tools[/bold]: {config.serving}")
    # the playbook rules that offer the next best product: the cross-sell counts are theirs
    cross_sell = (
        rules_using(config.playbook, "next_best_product", config.segments)
        if config.playbook is not None
        else None
    )
    if spark_lake is None:
        sections = warehouse_summary(config.warehouse, cross_sell)
    elif local_lake(spark_lake) is None:
        # a lake on another file system (s3a://...) is read through Spark
        sections = lake_summary(spark_lake, cross_sell, start_session(config.spark))
    else:
        sections = lake_summary(spark_lake, cross_sell)
    if sections is None:
        where = "warehouse" if spark_lake is None else "lake"
        out.print(f"[yellow]The {where} does not exist yet: run `make run`.[/yellow]")
        return
    for section in sections:
        table = Table(
            title=section.title,
            title_justify="left",
            caption=section.note or None,
            caption_justify="left",
        )
        for column in section.columns:
            table.add_column(column)
        for row in section.rows:
            table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
        out.print(table)


if __name__ == "__main__":
    print_summary(load_config())
