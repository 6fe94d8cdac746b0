-- Each customer's feedback in the period after each snapshot: (snapshot_date, next_snapshot_date]
-- for consecutive snapshots of marts.customer_segments, as next_period_activity.sql measures
-- purchases. nps_class is the class of the customer's latest NPS answer in the period (ties in
-- time: the later source file and row, as the features layer picks the latest answer), by
-- $nps_promoter_min and $nps_passive_min (INTEGER); null without an NPS answer in the period.
-- complaints counts the period's complaints. A customer without feedback in a period has no row.
WITH snapshots AS (
    SELECT DISTINCT snapshot_date FROM marts.customer_segments
),
periods AS (
    SELECT
        snapshot_date,
        lead(snapshot_date) OVER (ORDER BY snapshot_date) AS next_snapshot_date
    FROM snapshots
),
answers AS (
    SELECT
        p.snapshot_date,
        f.customer_id,
        arg_max(f.score, (f.feedback_ts, f.source_file, f.source_row))
            FILTER (WHERE f.kind = 'nps' AND f.score IS NOT NULL) AS latest_nps,
        count(*) FILTER (WHERE f.kind = 'complaint') AS complaints
    FROM periods AS p
    JOIN raw.feedback AS f
        ON f.feedback_ts >= (p.snapshot_date + INTERVAL 1 DAY)
        AND f.feedback_ts < (p.next_snapshot_date + INTERVAL 1 DAY)
    WHERE p.next_snapshot_date IS NOT NULL
    GROUP BY p.snapshot_date, f.customer_id
)
SELECT
    snapshot_date,
    customer_id,
    CASE
        WHEN latest_nps >= $nps_promoter_min::INTEGER THEN 'promoter'
        WHEN latest_nps >= $nps_passive_min::INTEGER THEN 'passive'
        WHEN latest_nps IS NOT NULL THEN 'detractor'
    END AS nps_class,
    complaints::BIGINT AS complaints
FROM answers
ORDER BY snapshot_date, customer_id;
