-- Per snapshot and scored customer: the predicted purchase days in the next 90 days and the
-- purchase days that happened, for every snapshot whose 90 days end by $last_day (the last day
-- the landed transactions cover, evaluation/coverage_last_day.sql). Customers who had bought by
-- the snapshot (clv_method <> 'none') are scored; purchase days count once per day, as in the
-- model. Each row depends on its customer's rows alone, so any split of the customers gives the
-- same rows; the coverage day is the one input from every customer, hence a parameter.
WITH scored AS (
    SELECT c.snapshot_date, c.customer_id, c.expected_purchases_90d AS predicted, c.clv_method
    FROM features.customer_clv AS c
    WHERE c.clv_method <> 'none'
      AND c.snapshot_date + INTERVAL 90 DAY <= $last_day
),
actual AS (
    SELECT s.snapshot_date, s.customer_id, count(DISTINCT t.order_ts::DATE) AS purchases
    FROM scored AS s
    JOIN raw.transactions AS t
        ON t.customer_id = s.customer_id
        AND NOT t.is_return
        AND t.order_ts >= s.snapshot_date + INTERVAL 1 DAY
        AND t.order_ts < s.snapshot_date + INTERVAL 91 DAY
    GROUP BY ALL
)
SELECT
    s.snapshot_date,
    s.customer_id,
    s.clv_method,
    s.predicted,
    coalesce(a.purchases, 0) AS purchases
FROM scored AS s
LEFT JOIN actual AS a USING (snapshot_date, customer_id)
