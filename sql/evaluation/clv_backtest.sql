-- Each snapshot's predicted purchase days in the next 90 days against what happened, for every
-- snapshot whose 90 days the landed transactions fully cover. Customers who had bought by the
-- snapshot (clv_method <> 'none') are scored; purchase days count once per day, as in the model.
-- The float aggregates take their rows in customer order: DuckDB's parallel aggregation otherwise
-- adds the rows of a snapshot in whatever order the threads hand them over, and the sums, MAE and
-- correlation then differ in their last digits from one run to the next. Counts are exact anyway.
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
    min(s.clv_method) AS clv_method,  -- one method per snapshot; min() is also stable if not
    count(*) AS customers,
    sum(s.predicted ORDER BY s.customer_id) AS predicted_purchases,
    sum(coalesce(a.purchases, 0))::DOUBLE AS actual_purchases,
    avg(abs(s.predicted - coalesce(a.purchases, 0)) ORDER BY s.customer_id) AS mae,
    corr(s.predicted, coalesce(a.purchases, 0) ORDER BY s.customer_id) AS correlation,
    (sum(s.predicted ORDER BY s.customer_id) - sum(coalesce(a.purchases, 0)))
        / nullif(sum(coalesce(a.purchases, 0)), 0) AS aggregate_error
FROM scored AS s
LEFT JOIN actual AS a USING (snapshot_date, customer_id)
GROUP BY s.snapshot_date
ORDER BY s.snapshot_date;
