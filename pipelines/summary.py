"""`python -m pipelines.summary`: where the warehouse is and what the last run put in it."""

import shutil

import duckdb
from rich.console import Console
from rich.table import Table

from segmentation.config import SegmentationConfig, load_config

# (title, query, columns); a query over a table that does not exist yet is skipped.
_SECTIONS: list[tuple[str, str, list[str]]] = [
    (
        "Rows landed",
        "SELECT 'raw.transactions', count(*) FROM raw.transactions "
        "UNION ALL SELECT 'raw.customers', count(*) FROM raw.customers",
        ["table", "rows"],
    ),
    (
        "Rows quarantined (quality.rejected_rows) by reason",
        "SELECT source, reason, count(*) FROM quality.rejected_rows "
        "GROUP BY ALL ORDER BY 1, 3 DESC",
        ["source", "reason", "rows"],
    ),
    (
        "Latest snapshot: customers per lifecycle stage",
        "SELECT snapshot_date, lifecycle_stage, count(*) FROM features.customer_features "
        "WHERE snapshot_date = (SELECT max(snapshot_date) FROM features.customer_features) "
        "GROUP BY ALL ORDER BY 3 DESC",
        ["snapshot", "lifecycle stage", "customers"],
    ),
    (
        "Latest snapshot: customers per value tier",
        "SELECT value_tier, count(*), round(sum(net_revenue), 2), round(avg(clv_12m), 2) "
        "FROM features.customer_features "
        "WHERE snapshot_date = (SELECT max(snapshot_date) FROM features.customer_features) "
        "GROUP BY ALL ORDER BY 3 DESC",
        ["value tier", "customers", "net revenue", "avg CLV 12m"],
    ),
    (
        "Latest snapshot: customers per RFM segment",
        "SELECT rfm_segment, count(*) FROM marts.customer_segments "
        "WHERE snapshot_date = (SELECT max(snapshot_date) FROM marts.customer_segments) "
        "GROUP BY ALL ORDER BY 2 DESC",
        ["RFM segment", "customers"],
    ),
    (
        "Latest snapshot: customers per strategy",
        "SELECT strategy, count(*), count(*) FILTER (WHERE is_control) "
        "FROM marts.strategy_assignments "
        "WHERE snapshot_date = (SELECT max(snapshot_date) FROM marts.strategy_assignments) "
        "GROUP BY ALL ORDER BY 2 DESC",
        ["strategy", "customers", "of which control"],
    ),
]


def print_summary(config: SegmentationConfig, console: Console | None = None) -> None:
    """Print the warehouse paths and a table per section that has data."""
    # piped output (make run | tee) gets the width of a wide terminal, not rich's 80 columns
    out = console or Console(width=shutil.get_terminal_size((120, 24)).columns)
    out.print(f"[bold]Warehouse[/bold]: {config.warehouse}")
    out.print(f"[bold]Serving copy for BI tools[/bold]: {config.serving}")
    if not config.warehouse.exists():
        out.print("[yellow]The warehouse does not exist yet: run `make run`.[/yellow]")
        return
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        for title, query, columns in _SECTIONS:
            try:
                rows = con.execute(query).fetchall()
            except duckdb.CatalogException:
                continue
            table = Table(title=title, title_justify="left")
            for column in columns:
                table.add_column(column)
            for row in rows:
                table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
            out.print(table)


if __name__ == "__main__":
    print_summary(load_config())
