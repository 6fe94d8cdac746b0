"""Report assets: charts of the newest snapshot in the UI and a static HTML segment report."""

from datetime import UTC, datetime
from typing import Any

import dagster as dg

from assets.engine import engine_kinds, on_engine
from assets.resources import Warehouse
from segmentation.config import SegmentationConfig
from segmentation.reports.html_report import Chart, png_data_uri, render_report, write_report
from segmentation.reports.segment_report import build_report, report_path
from segmentation.reports.snapshot import NoSnapshotError, read_report_snapshot


def _image_markdown(chart: Chart) -> dg.MarkdownMetadataValue:
    return dg.MetadataValue.md(f"![{chart.title}]({png_data_uri(chart.png)})")


def _report_snapshot(con: Any) -> Any:
    try:
        return read_report_snapshot(con)
    except NoSnapshotError as error:
        raise dg.Failure(str(error)) from None


def build_report_assets(engine: str = "duckdb") -> list[dg.AssetsDefinition]:
    """The report asset; on Spark it reads the lake's marts."""

    @dg.asset(
        key=["reports", "segment_report"],
        deps=[
            ["marts", "customer_segments"],
            ["marts", "segment_summary"],
            ["marts", "segment_migration"],
            ["marts", "strategy_assignments"],
        ],
        group_name="reports",
        kinds=engine_kinds({"matplotlib", "html"}, engine),
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    @on_engine(engine)
    def segment_report(
        context: dg.AssetExecutionContext,
        warehouse: Warehouse,
        settings: dg.ResourceParam[SegmentationConfig],
        spark: Any = None,
    ) -> dg.MaterializeResult:
        """Charts of the newest snapshot (segment sizes, the RFM grid, the RFM migration matrix of
        the latest snapshot pair, the CLV distribution), shown in this asset's metadata, and a
        static HTML report with the charts and the key tables, written next to the serving copy
        (``segment_report.html``)."""
        if spark is not None:
            from assets import spark_stages  # imports PySpark: the Spark path only

            # the marts the report reads, collected from the lake (small but one month)
            with spark_stages.report_tables(spark, settings) as con:
                snapshot = _report_snapshot(con)
        else:
            with warehouse.connect() as con:
                snapshot = _report_snapshot(con)
        report = build_report(snapshot, generated_at=datetime.now(UTC))
        path = write_report(report_path(settings), render_report(report))
        context.log.info(f"segment report for {snapshot.latest} written to {path}")
        charts = report.charts
        return dg.MaterializeResult(
            metadata={
                "latest_snapshot": str(snapshot.latest),
                "report_path": dg.MetadataValue.path(str(path)),
                "report_bytes": path.stat().st_size,
                "segment_sizes": _image_markdown(charts[0]),
                "rfm_grid": _image_markdown(charts[1]),
                "migration_matrix": _image_markdown(charts[2]),
                "clv_distribution": _image_markdown(charts[3]),
            }
        )

    return [segment_report]


[segment_report] = build_report_assets()
