-- Per-customer activity as of $as_of (inclusive) from raw.transactions on or before it, for every
-- known customer: anyone with a transaction by then, or a customer record signed up by then.
-- Purchase = a row that is not a return; a purchase day = a calendar day with a purchase.
-- Parameters: $as_of (TIMESTAMP), $snapshot_date (DATE), $lost_recency_days (INTEGER).
-- Money is summed as DECIMAL and spreads from integer sums: exact, so a backfill reproduces a
-- live run bit for bit whatever order parallel aggregation takes.
WITH tx AS (
    SELECT
        customer_id,
        coalesce(order_id, customer_id || '@' || strftime(order_ts, '%Y-%m-%dT%H:%M:%S')) AS order_key,
        order_ts::DATE AS day,
        amount::DECIMAL(38, 10) AS amount,
        is_return,
        channel,
        product_id
    FROM raw.transactions
    WHERE order_ts <= $as_of
),
purchase_days AS (
    SELECT customer_id, day, sum(amount) AS day_spend
    FROM tx
    WHERE NOT is_return
    GROUP BY customer_id, day
),
day_sequence AS (
    SELECT
        customer_id,
        day,
        day_spend,
        lag(day) OVER by_day AS previous_day,
        row_number() OVER by_day AS day_number
    FROM purchase_days
    WINDOW by_day AS (PARTITION BY customer_id ORDER BY day)
),
day_stats AS (
    SELECT
        customer_id,
        min(day) AS first_purchase_date,
        max(day) AS last_purchase_date,
        count(*) AS purchase_days,
        count(previous_day) AS gaps,
        sum(datediff('day', previous_day, day)) AS gap_sum,
        sum(datediff('day', previous_day, day) * datediff('day', previous_day, day))
            AS gap_square_sum,
        sum(day_spend) FILTER (WHERE day_number > 1) AS repeat_spend_sum,
        -- a return after being lost: at the last month end before this purchase, the previous
        -- purchase was more than the lost threshold ago
        max(day) FILTER (
            WHERE previous_day IS NOT NULL
            AND datediff('day', previous_day, last_day(day - INTERVAL 1 MONTH)) > $lost_recency_days
        ) AS last_return_after_lost
    FROM day_sequence
    GROUP BY customer_id
),
order_stats AS (
    SELECT
        customer_id,
        count(DISTINCT order_key) FILTER (WHERE NOT is_return) AS orders,
        count(DISTINCT order_key) FILTER (WHERE is_return) AS return_orders,
        coalesce(sum(amount) FILTER (WHERE NOT is_return), 0) AS gross_revenue,
        coalesce(sum(amount), 0) AS net_revenue,
        greatest(coalesce(-sum(amount) FILTER (WHERE is_return), 0), 0) AS returned_amount,
        count(DISTINCT order_key) FILTER (WHERE NOT is_return AND day > $snapshot_date - 30) AS orders_30d,
        count(DISTINCT order_key) FILTER (WHERE NOT is_return AND day > $snapshot_date - 90) AS orders_90d,
        count(DISTINCT order_key) FILTER (WHERE NOT is_return AND day > $snapshot_date - 365) AS orders_365d,
        coalesce(sum(amount) FILTER (WHERE day > $snapshot_date - 30), 0) AS revenue_30d,
        coalesce(sum(amount) FILTER (WHERE day > $snapshot_date - 90), 0) AS revenue_90d,
        coalesce(sum(amount) FILTER (WHERE day > $snapshot_date - 365), 0) AS revenue_365d,
        coalesce(
            sum(amount) FILTER (WHERE day > $snapshot_date - 180 AND day <= $snapshot_date - 90), 0
        ) AS revenue_prev_90d,
        count(DISTINCT order_key) FILTER (WHERE NOT is_return AND channel = 'online') AS orders_online,
        count(DISTINCT order_key) FILTER (WHERE NOT is_return AND channel = 'store') AS orders_store,
        count(DISTINCT order_key) FILTER (WHERE NOT is_return AND channel = 'agent') AS orders_agent,
        count(*) FILTER (WHERE channel IS NOT NULL) AS rows_with_channel,
        count(DISTINCT product_id) FILTER (WHERE NOT is_return) AS product_breadth,
        count(DISTINCT date_trunc('month', day)) FILTER (WHERE NOT is_return) AS active_months
    FROM tx
    GROUP BY customer_id
),
known AS (
    SELECT customer_id FROM order_stats
    UNION
    SELECT customer_id FROM raw.customers
    WHERE signup_date IS NULL OR signup_date <= $snapshot_date
)
SELECT
    $snapshot_date::DATE AS snapshot_date,
    known.customer_id,
    -- attributes, custom ones included; personal data stays in the raw layer
    c.* EXCLUDE (customer_id, email, phone, name, source_file, source_row),
    d.first_purchase_date,
    d.last_purchase_date,
    coalesce(d.purchase_days, 0) AS purchase_days,
    d.gap_sum / nullif(d.gaps, 0) AS mean_days_between,
    sqrt(
        greatest(d.gaps * d.gap_square_sum - d.gap_sum * d.gap_sum, 0)
        / nullif(d.gaps * (d.gaps - 1), 0)
    ) AS std_days_between,
    (d.repeat_spend_sum / nullif(d.gaps, 0))::DOUBLE AS repeat_spend_mean,
    d.last_return_after_lost,
    coalesce(o.orders, 0) AS orders,
    coalesce(o.return_orders, 0) AS return_orders,
    coalesce(o.gross_revenue, 0)::DOUBLE AS gross_revenue,
    coalesce(o.net_revenue, 0)::DOUBLE AS net_revenue,
    coalesce(o.returned_amount, 0)::DOUBLE AS returned_amount,
    coalesce(o.orders_30d, 0) AS orders_30d,
    coalesce(o.orders_90d, 0) AS orders_90d,
    coalesce(o.orders_365d, 0) AS orders_365d,
    coalesce(o.revenue_30d, 0)::DOUBLE AS revenue_30d,
    coalesce(o.revenue_90d, 0)::DOUBLE AS revenue_90d,
    coalesce(o.revenue_365d, 0)::DOUBLE AS revenue_365d,
    coalesce(o.revenue_prev_90d, 0)::DOUBLE AS revenue_prev_90d,
    coalesce(o.orders_online, 0) AS orders_online,
    coalesce(o.orders_store, 0) AS orders_store,
    coalesce(o.orders_agent, 0) AS orders_agent,
    coalesce(o.rows_with_channel, 0) AS rows_with_channel,
    coalesce(o.product_breadth, 0) AS product_breadth,
    coalesce(o.active_months, 0) AS active_months
FROM known
LEFT JOIN day_stats AS d USING (customer_id)
LEFT JOIN order_stats AS o USING (customer_id)
LEFT JOIN raw.customers AS c USING (customer_id)
ORDER BY known.customer_id;
