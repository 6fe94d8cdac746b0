-- Each customer's purchase orders and net revenue in the period after each snapshot:
-- (snapshot_date, next_snapshot_date], for consecutive snapshots of marts.customer_segments.
-- The period ends at the next snapshot's last instant, so it is complete once that exists.
WITH snapshots AS (
    SELECT DISTINCT snapshot_date FROM marts.customer_segments
),
periods AS (
    SELECT
        snapshot_date,
        lead(snapshot_date) OVER (ORDER BY snapshot_date) AS next_snapshot_date
    FROM snapshots
)
SELECT
    p.snapshot_date,
    t.customer_id,
    count(DISTINCT coalesce(t.order_id, t.customer_id || '@' || t.order_ts::VARCHAR))
        FILTER (WHERE NOT t.is_return) AS orders,
    coalesce(sum(t.amount::DECIMAL(38, 10)), 0)::DOUBLE AS revenue
FROM periods AS p
JOIN raw.transactions AS t
    ON t.order_ts >= p.snapshot_date + INTERVAL 1 DAY
    AND t.order_ts < p.next_snapshot_date + INTERVAL 1 DAY
WHERE p.next_snapshot_date IS NOT NULL
GROUP BY p.snapshot_date, t.customer_id
ORDER BY p.snapshot_date, t.customer_id;
