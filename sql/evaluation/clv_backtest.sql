-- Each snapshot's predicted purchase days in the next 90 days against what happened, from the
-- per-customer rows of evaluation/backtest_customers.sql (or rows read back from them).
-- The float aggregates take their rows in customer order: DuckDB's parallel aggregation otherwise
-- adds the rows of a snapshot in whatever order the threads hand them over, and the sums, MAE and
-- correlation then differ in their last digits from one run to the next. Counts are exact anyway.
-- The same rows therefore give the same bits wherever they were computed.
WITH customers AS (
{customers}
)
SELECT
    s.snapshot_date,
    min(s.clv_method) AS clv_method,  -- one method per snapshot; min() is also stable if not
    count(*) AS customers,
    sum(s.predicted ORDER BY s.customer_id) AS predicted_purchases,
    sum(s.purchases)::DOUBLE AS actual_purchases,
    avg(abs(s.predicted - s.purchases) ORDER BY s.customer_id) AS mae,
    corr(s.predicted, s.purchases ORDER BY s.customer_id) AS correlation,
    (sum(s.predicted ORDER BY s.customer_id) - sum(s.purchases))
        / nullif(sum(s.purchases), 0) AS aggregate_error
FROM customers AS s
GROUP BY s.snapshot_date
ORDER BY s.snapshot_date;
