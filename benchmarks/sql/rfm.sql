-- The SQL RFM model a team would write instead of the pipeline, for RFM alone: one group-by per
-- customer up to the snapshot, NTILE(5) scores, a CASE for the segment names (those of the
-- pandas peer). Ties are ordered by customer id, so the scores are deterministic.
-- $path: the transaction Parquet glob; $as_of: the snapshot date (its whole day counts).
WITH customers AS (
    SELECT
        customer_id,
        date_diff('day', CAST(max(order_ts) AS DATE), $as_of::DATE) AS recency,
        count(DISTINCT order_id) AS frequency,
        round(sum(amount), 2) AS monetary
    FROM read_parquet($path)
    WHERE order_ts < $as_of::DATE + INTERVAL 1 DAY
    GROUP BY customer_id
),
scored AS (
    SELECT
        *,
        ntile(5) OVER (ORDER BY recency DESC, customer_id) AS r,
        ntile(5) OVER (ORDER BY frequency, customer_id) AS f,
        ntile(5) OVER (ORDER BY monetary, customer_id) AS m
    FROM customers
)
SELECT
    customer_id,
    recency,
    frequency,
    monetary,
    r,
    f,
    m,
    CASE
        WHEN r <= 2 AND f <= 2 THEN 'hibernating'
        WHEN r <= 2 AND f <= 4 THEN 'at_risk'
        WHEN r <= 2 THEN 'cant_lose'
        WHEN r = 3 AND f <= 2 THEN 'about_to_sleep'
        WHEN r = 3 AND f = 3 THEN 'need_attention'
        WHEN r <= 4 AND f >= 4 THEN 'loyal_customers'
        WHEN r = 4 AND f = 1 THEN 'promising'
        WHEN r = 5 AND f = 1 THEN 'new_customers'
        WHEN f <= 3 THEN 'potential_loyalists'
        ELSE 'champions'
    END AS segment
FROM scored
ORDER BY customer_id
