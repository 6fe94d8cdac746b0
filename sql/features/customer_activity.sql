-- Per-customer activity at every snapshot date of $snapshot_dates (DATE[]), each computed only
-- from raw.transactions on or before that day's last instant, for every known customer: anyone
-- with a transaction by then, or a customer record signed up by then (or with no signup date).
-- Purchase = a row that is not a return; a purchase day = a calendar day with a purchase.
--
-- One scan serves every snapshot of a run: the transactions become per-customer daily
-- increments, cumulated over time; a snapshot's value is the cumulative value on its day (an
-- ASOF lookup), a trailing window the difference of two lookups. Distinct counts (orders,
-- products, months) count each item on the first day it appears. Money is DECIMAL and spreads
-- come from integer sums: exact, so a backfill reproduces a live run bit for bit.
-- Parameters: $snapshot_dates (DATE[]), $lost_recency_days (INTEGER).
WITH snapshots AS (
    SELECT DISTINCT unnest($snapshot_dates::DATE[]) AS snapshot_date
),
tx AS (
    SELECT
        customer_id,
        coalesce(order_id, customer_id || '@' || strftime(order_ts, '%Y-%m-%dT%H:%M:%S')) AS order_key,
        order_ts::DATE AS day,
        amount::DECIMAL(38, 10) AS amount,
        is_return,
        channel,
        product_id
    FROM raw.transactions
    WHERE order_ts::DATE <= (SELECT max(snapshot_date) FROM snapshots)
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
        datediff('day', lag(day) OVER by_day, day) AS gap,
        -- a return after being lost: at the last month end before this purchase, the previous
        -- purchase was more than the lost threshold ago
        datediff('day', lag(day) OVER by_day, last_day(day - INTERVAL 1 MONTH))
            > $lost_recency_days AS after_lost
    FROM purchase_days
    WINDOW by_day AS (PARTITION BY customer_id ORDER BY day)
),
-- each row: what one customer adds on one day
increments AS (
    SELECT customer_id, day,
        sum(amount) AS net,
        coalesce(sum(amount) FILTER (WHERE NOT is_return), 0) AS gross,
        coalesce(sum(amount) FILTER (WHERE is_return), 0) AS returned,
        count(*) FILTER (WHERE channel IS NOT NULL) AS channel_rows,
        0 AS purchase_days, 0 AS gaps, 0 AS gap_sum, 0 AS gap_square_sum,
        0::DECIMAL(38, 10) AS repeat_spend, NULL::DATE AS purchase_day, NULL::DATE AS won_back_day,
        0 AS orders, 0 AS return_orders, 0 AS orders_online, 0 AS orders_store,
        0 AS orders_agent, 0 AS products, 0 AS months
    FROM tx
    GROUP BY customer_id, day
    UNION ALL
    SELECT customer_id, day, 0, 0, 0, 0,
        1, (gap IS NOT NULL)::INTEGER, coalesce(gap, 0), coalesce(gap * gap, 0),
        CASE WHEN gap IS NOT NULL THEN day_spend ELSE 0 END, day,
        CASE WHEN after_lost THEN day END,
        0, 0, 0, 0, 0, 0, 0
    FROM day_sequence
    UNION ALL
    SELECT customer_id, first_day, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL,
        (NOT is_return)::INTEGER, is_return::INTEGER, 0, 0, 0, 0, 0
    FROM (
        SELECT customer_id, is_return, min(day) AS first_day
        FROM tx GROUP BY customer_id, order_key, is_return
    )
    UNION ALL
    SELECT customer_id, first_day, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, 0, 0,
        (channel = 'online')::INTEGER, (channel = 'store')::INTEGER,
        (channel = 'agent')::INTEGER, 0, 0
    FROM (
        SELECT customer_id, channel, min(day) AS first_day
        FROM tx
        WHERE NOT is_return AND channel IN ('online', 'store', 'agent')
        GROUP BY customer_id, order_key, channel
    )
    UNION ALL
    SELECT customer_id, min(day), 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, 0, 0, 0, 0, 0, 1, 0
    FROM tx
    WHERE NOT is_return AND product_id IS NOT NULL
    GROUP BY customer_id, product_id
    UNION ALL
    SELECT customer_id, min(day), 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, 0, 0, 0, 0, 0, 0, 1
    FROM purchase_days
    GROUP BY customer_id, date_trunc('month', day)
),
daily AS (
    SELECT customer_id, day,
        sum(net) AS net, sum(gross) AS gross, sum(returned) AS returned,
        sum(channel_rows) AS channel_rows, sum(purchase_days) AS purchase_days,
        sum(gaps) AS gaps, sum(gap_sum) AS gap_sum, sum(gap_square_sum) AS gap_square_sum,
        sum(repeat_spend) AS repeat_spend, max(purchase_day) AS purchase_day,
        max(won_back_day) AS won_back_day, sum(orders) AS orders,
        sum(return_orders) AS return_orders, sum(orders_online) AS orders_online,
        sum(orders_store) AS orders_store, sum(orders_agent) AS orders_agent,
        sum(products) AS products, sum(months) AS months
    FROM increments
    GROUP BY customer_id, day
),
cumulative AS (
    SELECT customer_id, day,
        sum(net) OVER upto AS net, sum(gross) OVER upto AS gross,
        sum(returned) OVER upto AS returned, sum(channel_rows) OVER upto AS channel_rows,
        sum(purchase_days) OVER upto AS purchase_days, sum(gaps) OVER upto AS gaps,
        sum(gap_sum) OVER upto AS gap_sum, sum(gap_square_sum) OVER upto AS gap_square_sum,
        sum(repeat_spend) OVER upto AS repeat_spend,
        min(purchase_day) OVER upto AS first_purchase_date,
        max(purchase_day) OVER upto AS last_purchase_date,
        max(won_back_day) OVER upto AS last_return_after_lost,
        sum(orders) OVER upto AS orders, sum(return_orders) OVER upto AS return_orders,
        sum(orders_online) OVER upto AS orders_online,
        sum(orders_store) OVER upto AS orders_store,
        sum(orders_agent) OVER upto AS orders_agent,
        sum(products) OVER upto AS product_breadth, sum(months) OVER upto AS active_months
    FROM daily
    WINDOW upto AS (PARTITION BY customer_id ORDER BY day ROWS UNBOUNDED PRECEDING)
),
first_seen AS (
    SELECT customer_id, min(day) AS first_day FROM daily GROUP BY customer_id
),
known AS (
    SELECT s.snapshot_date, f.customer_id
    FROM snapshots AS s JOIN first_seen AS f ON f.first_day <= s.snapshot_date
    UNION
    SELECT s.snapshot_date, c.customer_id
    FROM snapshots AS s JOIN raw.customers AS c
        ON c.signup_date IS NULL OR c.signup_date <= s.snapshot_date
),
at_snapshot AS (
    SELECT k.snapshot_date, k.customer_id, c.*  EXCLUDE (customer_id, day)
    FROM known AS k ASOF LEFT JOIN cumulative AS c
        ON k.customer_id = c.customer_id AND k.snapshot_date >= c.day
),
-- cumulative net revenue and orders at the end of the day before each trailing window
before AS (
    SELECT k.snapshot_date, k.customer_id, w.days,
        coalesce(c.net, 0) AS net, coalesce(c.orders, 0) AS orders
    FROM known AS k
    CROSS JOIN (VALUES (30), (90), (180), (365)) AS w(days)
    ASOF LEFT JOIN cumulative AS c
        ON k.customer_id = c.customer_id AND k.snapshot_date - w.days >= c.day
),
windows AS (
    SELECT snapshot_date, customer_id,
        max(net) FILTER (WHERE days = 30) AS net_30, max(net) FILTER (WHERE days = 90) AS net_90,
        max(net) FILTER (WHERE days = 180) AS net_180,
        max(net) FILTER (WHERE days = 365) AS net_365,
        max(orders) FILTER (WHERE days = 30) AS orders_30,
        max(orders) FILTER (WHERE days = 90) AS orders_90,
        max(orders) FILTER (WHERE days = 365) AS orders_365
    FROM before
    GROUP BY snapshot_date, customer_id
)
SELECT
    a.snapshot_date,
    a.customer_id,
    -- attributes, custom ones included; personal data stays in the raw layer
    c.* EXCLUDE (customer_id, email, phone, name, source_file, source_row),
    a.first_purchase_date,
    a.last_purchase_date,
    coalesce(a.purchase_days, 0)::BIGINT AS purchase_days,
    (a.gap_sum / nullif(a.gaps, 0))::DOUBLE AS mean_days_between,
    sqrt(
        greatest(a.gaps * a.gap_square_sum - a.gap_sum * a.gap_sum, 0)::DOUBLE
        / nullif(a.gaps * (a.gaps - 1), 0)
    ) AS std_days_between,
    (a.repeat_spend / nullif(a.gaps, 0))::DOUBLE AS repeat_spend_mean,
    a.last_return_after_lost,
    coalesce(a.orders, 0)::BIGINT AS orders,
    coalesce(a.return_orders, 0)::BIGINT AS return_orders,
    coalesce(a.gross, 0)::DOUBLE AS gross_revenue,
    coalesce(a.net, 0)::DOUBLE AS net_revenue,
    greatest(-coalesce(a.returned, 0), 0)::DOUBLE AS returned_amount,
    (coalesce(a.orders, 0) - w.orders_30)::BIGINT AS orders_30d,
    (coalesce(a.orders, 0) - w.orders_90)::BIGINT AS orders_90d,
    (coalesce(a.orders, 0) - w.orders_365)::BIGINT AS orders_365d,
    (coalesce(a.net, 0) - w.net_30)::DOUBLE AS revenue_30d,
    (coalesce(a.net, 0) - w.net_90)::DOUBLE AS revenue_90d,
    (coalesce(a.net, 0) - w.net_365)::DOUBLE AS revenue_365d,
    (w.net_90 - w.net_180)::DOUBLE AS revenue_prev_90d,
    coalesce(a.orders_online, 0)::BIGINT AS orders_online,
    coalesce(a.orders_store, 0)::BIGINT AS orders_store,
    coalesce(a.orders_agent, 0)::BIGINT AS orders_agent,
    coalesce(a.channel_rows, 0)::BIGINT AS rows_with_channel,
    coalesce(a.product_breadth, 0)::BIGINT AS product_breadth,
    coalesce(a.active_months, 0)::BIGINT AS active_months
FROM at_snapshot AS a
JOIN windows AS w USING (snapshot_date, customer_id)
LEFT JOIN raw.customers AS c ON c.customer_id = a.customer_id
ORDER BY a.snapshot_date, a.customer_id;
