-- What each customer's feedback adds to their feedback measures at each snapshot of
-- $snapshot_dates (DATE[]), for all snapshots at once from one read of raw.feedback, stored as
-- the temp table _feedback_increments (running totals: feedback_totals.sql), on the calendar
-- of engagement_calendar.sql. CSAT scores and complaints are added at the snapshot their day
-- first counts for and taken off at the first snapshot whose window (CSAT, complaint) the day
-- has left. CSAT scores are summed as an exact DECIMAL, so each total is the same whichever
-- other snapshots a run computes. A snapshot j's increment holds only days after snapshot
-- j - 1, so its latest NPS answer is later than any before: the latest is the one of the
-- latest increment that has one (ties in time: the later source file and row).
-- Parameters: $snapshot_dates (DATE[]).
CREATE OR REPLACE TEMP TABLE _feedback_increments AS
WITH dated AS MATERIALIZED (
    SELECT f.customer_id, f.kind, f.score, f.feedback_ts, f.source_file, f.source_row, f.day,
        c.at_j, c.j_csat, c.j_complaint,
        f.kind = 'csat' AND f.score IS NOT NULL AND (c.j_csat IS NULL OR c.j_csat > c.at_j)
            AS csat_counted,
        f.kind = 'complaint' AND (c.j_complaint IS NULL OR c.j_complaint > c.at_j)
            AS complaint_counted
    FROM (
        SELECT *,
            -- days before the calendar's first are looked up as the first (a column, so that
            -- the lookup is an equi-join)
            greatest(day, (SELECT min(day) FROM _engagement_calendar)) AS calendar_day
        FROM (
            SELECT *, feedback_ts::DATE AS day
            FROM raw.feedback
            WHERE feedback_ts < (list_max($snapshot_dates::DATE[]) + 1)::TIMESTAMP
        )
    ) AS f
    JOIN _engagement_calendar AS c ON c.day = f.calendar_day
)
SELECT customer_id, j,
    sum(csat_sum) AS csat_sum,
    sum(csat_answers) AS csat_answers,
    sum(complaints) AS complaints,
    max(last_feedback) AS last_feedback,
    arg_max(nps, nps_order) AS latest_nps
FROM (
    SELECT customer_id, at_j AS j,
        CASE WHEN csat_counted THEN score::DECIMAL(38, 10) END AS csat_sum,
        csat_counted::INTEGER AS csat_answers,
        complaint_counted::INTEGER AS complaints,
        day AS last_feedback,
        CASE WHEN kind = 'nps' THEN score END AS nps,
        CASE WHEN kind = 'nps' THEN (feedback_ts, source_file, source_row) END AS nps_order
    FROM dated
    UNION ALL
    SELECT customer_id, j_csat, -score::DECIMAL(38, 10), -1, 0, NULL, NULL, NULL
    FROM dated
    WHERE csat_counted AND j_csat IS NOT NULL
    UNION ALL
    SELECT customer_id, j_complaint, NULL, 0, -1, NULL, NULL, NULL
    FROM dated
    WHERE complaint_counted AND j_complaint IS NOT NULL
)
GROUP BY customer_id, j
ORDER BY j;
