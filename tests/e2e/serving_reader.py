"""A BI-like reader of the serving file, run as a separate process by the serving tests.

``python -m tests.e2e.serving_reader PATH STOP_FILE OUT_JSON (fresh|held)`` queries the file
read-only through SQLAlchemy and duckdb-engine until ``STOP_FILE`` exists, a time limit or a query
limit, then writes what every query saw to ``OUT_JSON``. ``fresh`` opens a new connection per
query; ``held`` opens one connection as soon as the file exists and keeps it across publishes.
(Within one process DuckDB shares an open database between connections to the same path, so the
two modes need separate processes.)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

MAX_SECONDS = 120.0
MAX_QUERIES = 20_000
PAUSE_SECONDS = 0.01

# Per snapshot: rows of the segments, of the assignments, and the customers the summary counts
# over one dimension; a complete publish has all three equal.
STATE_SQL = """
WITH segments AS (
    SELECT snapshot_date, count(*) AS n FROM marts.customer_segments GROUP BY ALL
), assignments AS (
    SELECT snapshot_date, count(*) AS n FROM marts.strategy_assignments GROUP BY ALL
), summary AS (
    SELECT snapshot_date, sum(customers) AS n FROM marts.segment_summary
    WHERE dimension = 'value_tier' GROUP BY ALL
)
SELECT snapshot_date::VARCHAR, segments.n, assignments.n, summary.n::BIGINT,
       (SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'marts')
FROM segments
FULL JOIN assignments USING (snapshot_date)
FULL JOIN summary USING (snapshot_date)
ORDER BY 1
"""


def _state(connection: Connection) -> list[list]:
    return [list(row) for row in connection.execute(text(STATE_SQL)).fetchall()]


def read_until_stopped(path: Path, stop: Path, mode: str) -> list[dict]:
    """Query ``path`` in a loop; every entry is a state or an error."""
    engine = create_engine(
        f"duckdb:///{path}", connect_args={"read_only": True}, poolclass=NullPool
    )
    held: Connection | None = None
    seen: list[dict] = []
    deadline = time.monotonic() + MAX_SECONDS
    try:
        while time.monotonic() < deadline and len(seen) < MAX_QUERIES and not stop.exists():
            if not path.exists():
                time.sleep(PAUSE_SECONDS)
                continue
            try:
                if mode == "held":
                    held = held or engine.connect()
                    seen.append({"state": _state(held)})
                else:
                    with engine.connect() as connection:
                        seen.append({"state": _state(connection)})
            except Exception as error:  # recorded: the test fails on any error
                seen.append({"error": repr(error)})
            time.sleep(PAUSE_SECONDS)
    finally:
        if held is not None:
            held.close()
        engine.dispose()
    return seen


if __name__ == "__main__":
    target, stop_file, out, reader_mode = sys.argv[1:5]
    results = read_until_stopped(Path(target), Path(stop_file), reader_mode)
    Path(out).write_text(json.dumps(results))
