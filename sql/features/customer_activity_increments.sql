-- What each customer's transactions add to their activity measures at each snapshot of
-- $snapshot_dates (DATE[]), for all snapshots at once: raw.transactions is read the same way
-- whatever their number. Snapshot j (1-based, ascending) gets what happened after snapshot
-- j - 1 up to the end of its own day; running totals over j (customer_activity_totals.sql)
-- give every measure as of each snapshot.
--
-- A trailing window of N days is (total at the snapshot) - (total N days before it), so net
-- revenue and orders are also summed "before window N": a day counts there from the first
-- snapshot j with snapshot_j - N >= day on, which may be a later snapshot than its own.
-- Distinct counts (orders, products, months) count an item on the first day it appears. Money
-- is an exact DECIMAL and the spread of the gaps comes from integer sums, so each total is the
-- same whichever other snapshots a run computes: a backfilled month equals the live one bit
-- for bit.
--
-- Every measure is per customer, so the customers can be split into parts by hash and the parts
-- computed one after another (a bounded working set on large data): $transactions names the
-- table or view read, raw.transactions or one customer bucket of it (customer_bucket_view.sql);
-- the rows of all parts are stored in the temp table _activity_increments
-- (create_activity_increments.sql, then append_activity_increments.sql).
-- Parameters: $transactions (VARCHAR, a table or view name), $snapshot_dates (DATE[]),
-- $lost_recency_days (INTEGER).
WITH snapshots AS (
    SELECT snapshot_date, row_number() OVER (ORDER BY snapshot_date) AS j
    FROM (SELECT DISTINCT unnest($snapshot_dates::DATE[]) AS snapshot_date)
),
-- per day, the first snapshot it counts for (at_j) and the first it counts before window N for
-- (j_N; null past the last snapshot); at_j <= j_30 <= j_90 <= j_180 <= j_365. Days before the
-- first row are joined to it: snapshot 1 for all.
calendar AS (
    SELECT day,
        (SELECT min(j) FROM snapshots WHERE snapshot_date >= day) AS at_j,
        (SELECT min(j) FROM snapshots WHERE snapshot_date - 30 >= day) AS j_30,
        (SELECT min(j) FROM snapshots WHERE snapshot_date - 90 >= day) AS j_90,
        (SELECT min(j) FROM snapshots WHERE snapshot_date - 180 >= day) AS j_180,
        (SELECT min(j) FROM snapshots WHERE snapshot_date - 365 >= day) AS j_365
    FROM (
        SELECT unnest(generate_series(
            list_min($snapshot_dates::DATE[]) - 365,
            list_max($snapshot_dates::DATE[]),
            INTERVAL 1 DAY
        ))::DATE AS day
    )
),
-- read by the days, orders and products below, each scan only for its own columns: cheaper
-- than materializing the rows once
transactions AS NOT MATERIALIZED (
    SELECT *, order_ts::DATE AS day
    FROM query_table($transactions::VARCHAR)
    WHERE order_ts < (list_max($snapshot_dates::DATE[]) + 1)::TIMESTAMP
),
customer_days AS MATERIALIZED (
    SELECT customer_id, day,
        sum(amount::DECIMAL(38, 10)) AS net,
        sum(CASE WHEN NOT is_return THEN amount::DECIMAL(38, 10) END) AS spend,
        sum(CASE WHEN is_return THEN amount::DECIMAL(38, 10) END) AS returned,
        count(channel) AS channel_rows,
        -- a purchase day: a day with a row that is not a return
        bool_or(NOT is_return) AS purchased
    FROM transactions
    GROUP BY customer_id, day
),
days AS MATERIALIZED (
    SELECT d.*, d.day - day(d.day)::INTEGER AS previous_month_end,
        c.at_j, c.j_30, c.j_90, c.j_180, c.j_365
    FROM (
        SELECT *, lag(day) OVER (PARTITION BY customer_id ORDER BY day) AS previous
        FROM customer_days
        WHERE purchased
        UNION ALL
        SELECT *, NULL
        FROM customer_days
        WHERE purchased IS NOT TRUE
    ) AS d
    JOIN calendar AS c ON c.day = greatest(d.day, list_min($snapshot_dates::DATE[]) - 365)
),
day_increments AS (
    SELECT customer_id, at_j AS j,
        sum(net) AS net,
        coalesce(sum(spend), 0) AS gross,
        coalesce(sum(returned), 0) AS returned,
        sum(channel_rows) AS channel_rows,
        count(purchase_day) AS purchase_days,
        sum((day - previous) * (day - previous)) AS gap_square_sum,
        min(CASE WHEN purchased AND previous IS NULL THEN day END) AS first_purchase,
        min(CASE WHEN purchased AND previous IS NULL THEN spend END) AS first_spend,
        max(purchase_day) AS last_purchase,
        -- a return after being lost: at the last month end before this purchase, the previous
        -- purchase was more than the lost threshold ago
        max(CASE WHEN previous_month_end - previous > $lost_recency_days THEN day END)
            AS won_back,
        -- a month with a purchase counts on its first purchase day
        count(CASE WHEN previous IS NULL OR previous <= previous_month_end THEN purchase_day END)
            AS months,
        sum(CASE WHEN j_30 = at_j THEN net END) AS net_before_30,
        sum(CASE WHEN j_90 = at_j THEN net END) AS net_before_90,
        sum(CASE WHEN j_180 = at_j THEN net END) AS net_before_180,
        sum(CASE WHEN j_365 = at_j THEN net END) AS net_before_365
    FROM (SELECT *, CASE WHEN purchased THEN day END AS purchase_day FROM days)
    GROUP BY customer_id, at_j
),
orders AS MATERIALIZED (
    SELECT o.*, c.at_j, c.j_30, c.j_90, c.j_365
    FROM (
        SELECT customer_id, is_return,
            min(day) AS day,
            min(CASE WHEN channel = 'online' THEN day END) AS online,
            min(CASE WHEN channel = 'store' THEN day END) AS store,
            min(CASE WHEN channel = 'agent' THEN day END) AS agent
        FROM (
            SELECT customer_id, day, is_return, channel,
                coalesce(
                    order_id, customer_id || '@' || strftime(order_ts, '%Y-%m-%dT%H:%M:%S')
                ) AS order_key
            FROM transactions
        )
        GROUP BY customer_id, order_key, is_return
    ) AS o
    JOIN calendar AS c ON c.day = greatest(o.day, list_min($snapshot_dates::DATE[]) - 365)
),
order_increments AS (
    SELECT customer_id, j,
        count(orders) AS orders,
        count(return_orders) AS return_orders,
        count(orders_online) AS orders_online,
        count(orders_store) AS orders_store,
        count(orders_agent) AS orders_agent,
        count(orders_before_30) AS orders_before_30,
        count(orders_before_90) AS orders_before_90,
        count(orders_before_365) AS orders_before_365
    FROM (
        SELECT customer_id, at_j AS j,
            CASE WHEN NOT is_return THEN 1 END AS orders,
            CASE WHEN is_return THEN 1 END AS return_orders,
            CASE WHEN NOT is_return AND online = day THEN 1 END AS orders_online,
            CASE WHEN NOT is_return AND store = day THEN 1 END AS orders_store,
            CASE WHEN NOT is_return AND agent = day THEN 1 END AS orders_agent,
            CASE WHEN NOT is_return AND j_30 = at_j THEN 1 END AS orders_before_30,
            CASE WHEN NOT is_return AND j_90 = at_j THEN 1 END AS orders_before_90,
            CASE WHEN NOT is_return AND j_365 = at_j THEN 1 END AS orders_before_365
        FROM orders
        UNION ALL
        -- a channel first seen on a later day of the order counts from that day on
        SELECT x.customer_id, c.at_j, NULL, NULL,
            CASE WHEN x.channel = 'online' THEN 1 END,
            CASE WHEN x.channel = 'store' THEN 1 END,
            CASE WHEN x.channel = 'agent' THEN 1 END,
            NULL, NULL, NULL
        FROM (
            SELECT customer_id, day AS order_day,
                unnest([online, store, agent]) AS day,
                unnest(['online', 'store', 'agent']) AS channel
            FROM orders
            WHERE NOT is_return AND (online <> day OR store <> day OR agent <> day)
        ) AS x
        JOIN calendar AS c ON c.day = greatest(x.day, list_min($snapshot_dates::DATE[]) - 365)
        WHERE x.day <> x.order_day
    )
    GROUP BY customer_id, j
),
-- net revenue and orders before window N due at a later snapshot than the day's own: one row
-- per distinct later snapshot, carrying every window that is due there
later_before_windows AS (
    SELECT customer_id, j,
        sum(net_30) AS later_net_before_30,
        sum(net_90) AS later_net_before_90,
        sum(net_180) AS later_net_before_180,
        sum(net_365) AS later_net_before_365,
        count(orders_30) AS later_orders_before_30,
        count(orders_90) AS later_orders_before_90,
        count(orders_365) AS later_orders_before_365
    FROM (
        SELECT customer_id, j_30 AS j,
            net AS net_30,
            CASE WHEN j_90 = j_30 THEN net END AS net_90,
            CASE WHEN j_180 = j_30 THEN net END AS net_180,
            CASE WHEN j_365 = j_30 THEN net END AS net_365,
            NULL AS orders_30, NULL AS orders_90, NULL AS orders_365
        FROM days
        WHERE j_30 > at_j
        UNION ALL
        SELECT customer_id, j_90, NULL, net, CASE WHEN j_180 = j_90 THEN net END,
            CASE WHEN j_365 = j_90 THEN net END, NULL, NULL, NULL
        FROM days
        WHERE j_90 > j_30
        UNION ALL
        SELECT customer_id, j_180, NULL, NULL, net, CASE WHEN j_365 = j_180 THEN net END,
            NULL, NULL, NULL
        FROM days
        WHERE j_180 > j_90
        UNION ALL
        SELECT customer_id, j_365, NULL, NULL, NULL, net, NULL, NULL, NULL
        FROM days
        WHERE j_365 > j_180
        UNION ALL
        SELECT customer_id, j_30, NULL, NULL, NULL, NULL, 1, CASE WHEN j_90 = j_30 THEN 1 END,
            CASE WHEN j_365 = j_30 THEN 1 END
        FROM orders
        WHERE NOT is_return AND j_30 > at_j
        UNION ALL
        SELECT customer_id, j_90, NULL, NULL, NULL, NULL, NULL, 1,
            CASE WHEN j_365 = j_90 THEN 1 END
        FROM orders
        WHERE NOT is_return AND j_90 > j_30
        UNION ALL
        SELECT customer_id, j_365, NULL, NULL, NULL, NULL, NULL, NULL, 1
        FROM orders
        WHERE NOT is_return AND j_365 > j_90
    )
    GROUP BY customer_id, j
),
product_increments AS (
    SELECT p.customer_id, c.at_j AS j, count(*) AS products
    FROM (
        SELECT customer_id, min(day) AS day
        FROM transactions
        WHERE NOT is_return AND product_id IS NOT NULL
        GROUP BY customer_id, product_id
    ) AS p
    JOIN calendar AS c ON c.day = greatest(p.day, list_min($snapshot_dates::DATE[]) - 365)
    GROUP BY p.customer_id, c.at_j
)
SELECT
    * EXCLUDE (
        net_before_30, net_before_90, net_before_180, net_before_365,
        orders_before_30, orders_before_90, orders_before_365,
        later_net_before_30, later_net_before_90, later_net_before_180, later_net_before_365,
        later_orders_before_30, later_orders_before_90, later_orders_before_365
    ),
    coalesce(net_before_30, 0) + coalesce(later_net_before_30, 0) AS net_before_30,
    coalesce(net_before_90, 0) + coalesce(later_net_before_90, 0) AS net_before_90,
    coalesce(net_before_180, 0) + coalesce(later_net_before_180, 0) AS net_before_180,
    coalesce(net_before_365, 0) + coalesce(later_net_before_365, 0) AS net_before_365,
    coalesce(orders_before_30, 0) + coalesce(later_orders_before_30, 0) AS orders_before_30,
    coalesce(orders_before_90, 0) + coalesce(later_orders_before_90, 0) AS orders_before_90,
    coalesce(orders_before_365, 0) + coalesce(later_orders_before_365, 0) AS orders_before_365
FROM day_increments
FULL JOIN order_increments USING (customer_id, j)
FULL JOIN product_increments USING (customer_id, j)
FULL JOIN later_before_windows USING (customer_id, j)
-- each snapshot's totals step reads one j: sorted, its scan skips the other row groups
ORDER BY j
