"""The category mix benchmark: ``python -m benchmarks.categories --transactions 10M``.

Builds a synthetic warehouse in a scratch folder (DuckDB generates it: no files to read):
``raw.transactions`` with N rows over two years (2022-2023) for ``N / 14`` customers (about the
demo generator's rows per customer), orders of about three lines, and ``raw.products``, a
catalogue of 5,000 products in 20 categories (every 50th product missing from it: uncatalogued).
Each customer leans to two categories (seven of ten lines), so baskets share categories the way
tastes make them. Then, with the pipeline benchmark's DuckDB memory limit, it computes
``features.customer_categories`` for the 24 month ends as one backfill does (one pass over the
transactions, the months handed over one at a time) and, for the last month, the category
columns of the features, the next best category and the psychographic clusters; it prints wall
time and peak RSS per stage.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from contextlib import closing
from pathlib import Path

import duckdb
import polars as pl

from benchmarks.engagement import month_ends
from benchmarks.measure import Recorder
from benchmarks.run import DUCKDB_MEMORY_LIMIT
from segmentation.features.categories import categories_by_snapshot, category_columns
from segmentation.features.settings import CategorySettings
from segmentation.segments.category_settings import (
    NeedsSettings,
    PsychographicSettings,
    RecommendationSettings,
)
from segmentation.segments.psychographics import psychographic_classes
from segmentation.segments.recommendations import next_best_categories

SIZES = {"1M": 1_000_000, "10M": 10_000_000, "100M": 100_000_000}
ROWS_PER_CUSTOMER = 14
PRODUCTS, CATEGORIES = 5_000, 20
# statements split by blank lines (DuckDB prepares one statement at a time)
_GENERATE = """
CREATE SCHEMA IF NOT EXISTS raw

CREATE OR REPLACE TABLE raw.products AS
SELECT 'p' || i::VARCHAR AS product_id,
    'category ' || (i % $categories)::VARCHAR AS category,
    NULL::VARCHAR AS subcategory,
    ['budget', 'standard', 'premium'][(hash(i, 1) % 3)::INTEGER + 1] AS price_level,
    ['basic', 'core'][(hash(i, 2) % 2)::INTEGER + 1] AS need_level,
    NULL::VARCHAR AS risk_level
FROM range(0, $products) AS t(i)
WHERE i % 50 <> 49

CREATE OR REPLACE TABLE raw.transactions AS
WITH lines AS (
    SELECT i, i // 3 AS o, hash(i // 3, 3) % $customers AS c
    FROM range(0, $rows) AS t(i)
)
SELECT 'c' || c::VARCHAR AS customer_id,
    'O' || o::VARCHAR AS order_id,
    TIMESTAMP '2022-01-01' + to_microseconds((hash(o, 4) % 63072000000000)::BIGINT) AS order_ts,
    1.0::DOUBLE AS quantity, 20.0::DOUBLE AS unit_price,
    CASE WHEN hash(i, 5) % 20 = 0 THEN -20.0 ELSE 20.0 END::DOUBLE AS amount,
    -- seven lines of ten from one of the customer's two favourite categories
    'p' || (
        CASE
            WHEN hash(i, 6) % 10 < 7
                THEN (hash(c, 7 + hash(i, 8) % 2) % $categories)
                    + $categories * (hash(i, 9) % ($products // $categories))
            ELSE hash(i, 10) % $products
        END
    )::VARCHAR AS product_id,
    'online' AS channel, NULL::VARCHAR AS country,
    hash(i, 5) % 20 = 0 AS is_return, 'bench.parquet' AS source_file, i AS source_row
FROM lines
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", choices=SIZES, default="10M")
    parser.add_argument("--out", type=Path, help="write the stages as JSON here")
    args = parser.parse_args()
    rows = SIZES[args.transactions]
    customers = rows // ROWS_PER_CUSTOMER
    snapshots = month_ends()
    recorder = Recorder()
    with tempfile.TemporaryDirectory(prefix="categories-bench-") as folder:
        path = Path(folder) / "warehouse.duckdb"
        with duckdb.connect(str(path), config={"memory_limit": DUCKDB_MEMORY_LIMIT}) as con:
            with recorder.stage(f"generate {args.transactions} transactions") as info:
                values = {
                    "customers": customers,
                    "rows": rows,
                    "products": PRODUCTS,
                    "categories": CATEGORIES,
                }
                for statement in _GENERATE.strip().split("\n\n"):
                    used = {k: v for k, v in values.items() if f"${k}" in statement}
                    con.execute(statement, used)
                info["customers"] = customers
            last = None
            with recorder.stage(f"customer_categories, {len(snapshots)} snapshots") as info:
                months = categories_by_snapshot(
                    con, snapshots, CategorySettings(), NeedsSettings(), products_configured=True
                )
                written = 0
                with closing(months):
                    for month in months:
                        written += month.height
                        last = month
                info["rows"] = written
            assert last is not None
            keys = last.select("snapshot_date", "customer_id").unique().sort("customer_id")
            with recorder.stage("category columns, one snapshot") as info:
                columns = category_columns(keys, last)
                info["customers"] = columns.height
            with recorder.stage("next best category, one snapshot") as info:
                picks = next_best_categories(keys, last, RecommendationSettings())
                info["recommended"] = picks.height - picks.null_count().row(0)[0]
            with recorder.stage("psychographic clusters, one snapshot") as info:
                classes = psychographic_classes(keys, PsychographicSettings(), [], last)
                info["classes"] = pl.Series(classes).n_unique()
    if args.out is not None:
        args.out.write_text(json.dumps(recorder.as_json(), indent=2) + "\n")


if __name__ == "__main__":
    main()
