-- The calendar of the engagement and feedback increments (event_increments.sql,
-- feedback_increments.sql) as the temp table _engagement_calendar: for each day from the longest
-- window before the first snapshot of $snapshot_dates (DATE[]) to the last snapshot, the first
-- snapshot j (1-based, ascending) it counts for (at_j: the first snapshot on or after it) and
-- the first snapshot whose trailing window of N days it has left (j_N: the first snapshot with
-- snapshot_date - N >= day; null past the last snapshot) for the engagement window
-- ($window_days), the CSAT window ($csat_window_days) and the complaint window
-- ($complaint_window_days). A window of N days holds the snapshot date and the N - 1 days
-- before it, as the behaviour windows do. Earlier days are looked up as the first day here:
-- snapshot 1 for all, in no window.
-- Parameters: $snapshot_dates (DATE[]), $window_days, $csat_window_days,
-- $complaint_window_days (INTEGER).
CREATE OR REPLACE TEMP TABLE _engagement_calendar AS
WITH snapshots AS (
    SELECT snapshot_date, row_number() OVER (ORDER BY snapshot_date) AS j
    FROM (SELECT DISTINCT unnest($snapshot_dates::DATE[]) AS snapshot_date)
)
SELECT day,
    (SELECT min(j) FROM snapshots WHERE snapshot_date >= day) AS at_j,
    (SELECT min(j) FROM snapshots WHERE snapshot_date - $window_days::INTEGER >= day)
        AS j_window,
    (SELECT min(j) FROM snapshots WHERE snapshot_date - $csat_window_days::INTEGER >= day)
        AS j_csat,
    (SELECT min(j) FROM snapshots WHERE snapshot_date - $complaint_window_days::INTEGER >= day)
        AS j_complaint
FROM (
    SELECT unnest(generate_series(
        list_min($snapshot_dates::DATE[]) - greatest(
            $window_days::INTEGER, $csat_window_days::INTEGER, $complaint_window_days::INTEGER
        ),
        list_max($snapshot_dates::DATE[]),
        INTERVAL 1 DAY
    ))::DATE AS day
)
ORDER BY day;
