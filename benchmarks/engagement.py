"""The engagement features benchmark: ``python -m benchmarks.engagement --events 10M``.

Builds a synthetic warehouse in a scratch folder (DuckDB generates it: no files to read):
``raw.events`` with N events over two years (2022-2023) for ``N / 40`` customers, in the event
mix of the events landing benchmark; ``raw.transactions`` (one purchase per 20 events);
``raw.feedback`` (one answer per 50 events: NPS, CSAT, complaints, reviews); and
``features.customer_behaviour``'s keys, every customer at each of the 24 month ends. Then it
computes ``features.customer_engagement`` for the 24 snapshots as one backfill does (one pass
over the events and the feedback, the months handed over one at a time), with the pipeline
benchmark's DuckDB memory limit, and prints wall time and peak RSS per stage.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from contextlib import closing
from datetime import date
from pathlib import Path

import duckdb

from benchmarks.measure import Recorder
from benchmarks.run import DUCKDB_MEMORY_LIMIT
from segmentation.features.engagement import engagement_by_snapshot
from segmentation.features.settings import EngagementSettings, FeedbackSettings
from segmentation.keys import BEHAVIOUR_TABLE

SIZES = {"1M": 1_000_000, "10M": 10_000_000, "100M": 100_000_000}
EVENTS_PER_CUSTOMER = 40
# the events mix of benchmarks.events, as cumulative per-mille thresholds; statements split by
# blank lines (DuckDB prepares one statement at a time)
_GENERATE = """
CREATE SCHEMA IF NOT EXISTS raw

CREATE SCHEMA IF NOT EXISTS features

CREATE OR REPLACE TABLE raw.events AS
SELECT 'c' || (hash(i, 1) % $customers)::VARCHAR AS customer_id,
    TIMESTAMP '2022-01-01' + to_microseconds((hash(i, 2) % 63072000000000)::BIGINT) AS event_ts,
    CASE
        WHEN hash(i, 3) % 1000 < 340 THEN 'visit'
        WHEN hash(i, 3) % 1000 < 640 THEN 'product_view'
        WHEN hash(i, 3) % 1000 < 720 THEN 'add_to_cart'
        WHEN hash(i, 3) % 1000 < 880 THEN 'email_send'
        WHEN hash(i, 3) % 1000 < 960 THEN 'email_open'
        WHEN hash(i, 3) % 1000 < 995 THEN 'email_click'
        ELSE 'unsubscribe'
    END AS event_type,
    'web' AS channel, NULL::VARCHAR AS product_id, NULL::VARCHAR AS campaign_id,
    'bench.parquet' AS source_file, i AS source_row
FROM range(1, $events + 1) AS t(i)

CREATE OR REPLACE TABLE raw.transactions AS
SELECT 'c' || (hash(i, 4) % $customers)::VARCHAR AS customer_id,
    'O' || i::VARCHAR AS order_id,
    TIMESTAMP '2022-01-01' + to_microseconds((hash(i, 5) % 63072000000000)::BIGINT) AS order_ts,
    1.0::DOUBLE AS quantity, 20.0::DOUBLE AS unit_price, 20.0::DOUBLE AS amount,
    NULL::VARCHAR AS product_id, 'online' AS channel, NULL::VARCHAR AS country,
    hash(i, 6) % 20 = 0 AS is_return, 'bench.parquet' AS source_file, i AS source_row
FROM range(1, $events // 20 + 1) AS t(i)

CREATE OR REPLACE TABLE raw.feedback AS
SELECT 'c' || (hash(i, 7) % $customers)::VARCHAR AS customer_id,
    TIMESTAMP '2022-01-01' + to_microseconds((hash(i, 8) % 63072000000000)::BIGINT)
        AS feedback_ts,
    ['nps', 'csat', 'complaint', 'review'][(hash(i, 9) % 4)::INTEGER + 1] AS kind,
    (hash(i, 10) % 5 + 1)::DOUBLE AS score,
    NULL::VARCHAR AS topic, 'bench.csv' AS source_file, i AS source_row
FROM range(1, $events // 50 + 1) AS t(i)

CREATE OR REPLACE TABLE features.customer_behaviour AS
SELECT s.snapshot_date, 'c' || c.i::VARCHAR AS customer_id
FROM (SELECT unnest($snapshots::DATE[]) AS snapshot_date) AS s
CROSS JOIN range(0, $customers) AS c(i)
ORDER BY s.snapshot_date, customer_id
"""


def month_ends() -> list[date]:
    """The 24 month ends of 2022 and 2023."""
    ends = []
    for year in (2022, 2023):
        for month in range(1, 13):
            first_of_next = date(year + month // 12, month % 12 + 1, 1)
            ends.append(date.fromordinal(first_of_next.toordinal() - 1))
    return ends


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", choices=SIZES, default="10M")
    parser.add_argument("--out", type=Path, help="write the stages as JSON here")
    args = parser.parse_args()
    rows = SIZES[args.events]
    customers = rows // EVENTS_PER_CUSTOMER
    snapshots = month_ends()
    recorder = Recorder()
    with tempfile.TemporaryDirectory(prefix="engagement-bench-") as folder:
        path = Path(folder) / "warehouse.duckdb"
        with duckdb.connect(str(path), config={"memory_limit": DUCKDB_MEMORY_LIMIT}) as con:
            with recorder.stage(f"generate {args.events} events") as info:
                values = {"customers": customers, "events": rows, "snapshots": snapshots}
                for statement in _GENERATE.strip().split("\n\n"):
                    used = {k: v for k, v in values.items() if f"${k}" in statement}
                    con.execute(statement, used)
                info["customers"] = customers
            with recorder.stage(f"engagement, {len(snapshots)} snapshots") as info:
                months = engagement_by_snapshot(
                    con,
                    snapshots,
                    BEHAVIOUR_TABLE,
                    EngagementSettings(),
                    FeedbackSettings(),
                    events_configured=True,
                    feedback_configured=True,
                )
                written = 0
                with closing(months):
                    for month in months:
                        written += month.height
                info["rows"] = written
    if args.out is not None:
        args.out.write_text(json.dumps(recorder.as_json(), indent=2) + "\n")


if __name__ == "__main__":
    main()
