-- Per snapshot of $snapshot_dates (DATE[]), the transactions of its category window
-- ($window_days, INTEGER) whose product raw.products does not list (or that have no product
-- id): their rows, distinct product ids, and their share of the window's purchase amount
-- (returns left out; null without purchases). They are not rejected: their spend counts as
-- category 'unknown'. The transactions are grouped per day first (per_day: the query of
-- uncatalogued_per_day.sql, or its rows computed elsewhere and put side by side).
-- Parameters: $snapshot_dates, $window_days. Placeholder: per_day.
WITH snapshots AS (
    SELECT DISTINCT unnest($snapshot_dates::DATE[]) AS snapshot_date
),
per_day AS (
{per_day}
)
SELECT s.snapshot_date,
    coalesce(sum(d.rows) FILTER (WHERE d.uncatalogued), 0)::BIGINT AS rows,
    count(DISTINCT d.product_id)::BIGINT AS product_ids,
    coalesce(sum(d.purchases) FILTER (WHERE d.uncatalogued), 0)::DOUBLE
        / nullif(sum(d.purchases), 0)::DOUBLE AS amount_share
FROM snapshots AS s
LEFT JOIN per_day AS d
    ON d.day > s.snapshot_date - $window_days::INTEGER AND d.day <= s.snapshot_date
GROUP BY s.snapshot_date
ORDER BY s.snapshot_date;
