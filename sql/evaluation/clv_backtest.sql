-- Each snapshot's predicted purchase days in the next 90 days against what happened, for every
-- snapshot whose 90 days the landed transactions fully cover. Customers who had bought by the
-- snapshot (clv_method <> 'none') are scored; purchase days count once per day, as in the model.
WITH coverage AS (
    SELECT max(order_ts)::DATE AS last_day FROM raw.transactions
),
scored AS (
    SELECT c.snapshot_date, c.customer_id, c.expected_purchases_90d AS predicted, c.clv_method
    FROM features.customer_clv AS c, coverage
    WHERE c.clv_method <> 'none'
      AND c.snapshot_date + INTERVAL 90 DAY <= coverage.last_day
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
    any_value(s.clv_method) AS clv_method,
    count(*) AS customers,
    sum(s.predicted) AS predicted_purchases,
    sum(coalesce(a.purchases, 0))::DOUBLE AS actual_purchases,
    avg(abs(s.predicted - coalesce(a.purchases, 0))) AS mae,
    corr(s.predicted, coalesce(a.purchases, 0)) AS correlation,
    (sum(s.predicted) - sum(coalesce(a.purchases, 0)))
        / nullif(sum(coalesce(a.purchases, 0)), 0) AS aggregate_error
FROM scored AS s
LEFT JOIN actual AS a USING (snapshot_date, customer_id)
GROUP BY s.snapshot_date
ORDER BY s.snapshot_date;
