-- The transactions of the category windows of $snapshot_dates (DATE[]; $window_days, INTEGER)
-- per day: whether raw.products lists their product (or they have no product id), the
-- product id of those it does not list, their rows and their purchase amount as an exact
-- decimal (returns left out). Rows of disjoint sets of transactions can be put side by side:
-- uncatalogued_transactions.sql sums them. Parameters: $snapshot_dates, $window_days.
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
