-- One month of features.customer_behaviour with each customer's features.customer_clv columns
-- beside it (null where a customer has no CLV row), sorted by customer id: the input of
-- features.customer_features, joined here so that the month is held in memory once.
-- Parameters: $snapshot_date (DATE).
SELECT b.*, c.* EXCLUDE (snapshot_date, customer_id)
FROM features.customer_behaviour AS b
LEFT JOIN features.customer_clv AS c
    ON c.snapshot_date = b.snapshot_date AND c.customer_id = b.customer_id
WHERE b.snapshot_date = $snapshot_date::DATE
ORDER BY b.customer_id
