-- Per snapshot of $snapshot_dates (DATE[]), the transactions of its category window
-- ($window_days, INTEGER) whose product raw.products does not list (or that have no product
-- id): their rows, distinct product ids, and their share of the window's purchase amount
-- (returns left out; null without purchases). They are not rejected: their spend counts as
-- category 'unknown'. One scan of the transactions, grouped per day first.
-- Parameters: $snapshot_dates, $window_days.
WITH snapshots AS (
    SELECT DISTINCT unnest($snapshot_dates::DATE[]) AS snapshot_date
),
per_day AS (
    SELECT t.order_ts::DATE AS day,
        p.product_id IS NULL AS uncatalogued,
        CASE WHEN p.product_id IS NULL THEN t.product_id END AS product_id,
        count(*) AS rows,
        sum(CASE WHEN NOT t.is_return THEN t.amount::DECIMAL(38, 10) END) AS purchases
    FROM raw.transactions AS t
    LEFT JOIN raw.products AS p ON p.product_id = t.product_id
    WHERE t.order_ts >= (list_min($snapshot_dates::DATE[]) - $window_days::INTEGER + 1)::TIMESTAMP
        AND t.order_ts < (list_max($snapshot_dates::DATE[]) + 1)::TIMESTAMP
    GROUP BY ALL
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
