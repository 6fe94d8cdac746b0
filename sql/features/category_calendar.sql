-- The calendar of the category increments (category_increments.sql) as the temp table
-- _category_calendar: for each day of the category window ($window_days, INTEGER) before the
-- first snapshot of $snapshot_dates (DATE[]) up to the last snapshot, the first snapshot j
-- (1-based, ascending) it counts for (at_j: the first snapshot on or after it) and the first
-- snapshot whose window it has left (j_window: the first with snapshot_date - N >= day; null
-- past the last snapshot). A window of N days holds the snapshot date and the N - 1 days before
-- it, as the behaviour windows do; earlier days are in no snapshot's window and not listed.
-- Parameters: $snapshot_dates (DATE[]), $window_days (INTEGER).
CREATE OR REPLACE TEMP TABLE _category_calendar AS
WITH snapshots AS (
    SELECT snapshot_date, row_number() OVER (ORDER BY snapshot_date) AS j
    FROM (SELECT DISTINCT unnest($snapshot_dates::DATE[]) AS snapshot_date)
)
SELECT day,
    (SELECT min(j) FROM snapshots WHERE snapshot_date >= day) AS at_j,
    (SELECT min(j) FROM snapshots WHERE snapshot_date - $window_days::INTEGER >= day) AS j_window
FROM (
    SELECT unnest(generate_series(
        list_min($snapshot_dates::DATE[]) - $window_days::INTEGER + 1,
        list_max($snapshot_dates::DATE[]),
        INTERVAL 1 DAY
    ))::DATE AS day
)
ORDER BY day;
