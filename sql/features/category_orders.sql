-- The orders of each customer and category per first snapshot and leaving snapshot, as the
-- temp table _category_orders (see category_sums.sql for the transactions read, their category
-- and the calendar). An order is in the window while one of its purchase lines (not returns) of
-- the category is: from the first snapshot of its first day to the snapshot its last day leaves
-- the window at (both grow with the day; a null j_window, never leaving, is the largest). Its
-- days outside the calendar change neither, so a month is the same whichever months a run
-- computes.
-- Parameters: $level_column (VARCHAR), $core_levels, $basic_levels (VARCHAR[]): as
-- category_sums.sql takes them (the same lines are read).
CREATE OR REPLACE TEMP TABLE _category_orders AS
WITH bounds AS (
    SELECT min(day) AS first_day, max(day) AS last_day FROM _category_calendar
),
catalogue AS (
    SELECT product_id, category,
        CASE
            WHEN list_contains($core_levels::VARCHAR[], lower(trim(level))) THEN 'core'
            WHEN list_contains($basic_levels::VARCHAR[], lower(trim(level))) THEN 'basic'
        END AS need
    FROM (
        SELECT product_id, category,
            CASE WHEN $level_column::VARCHAR = 'price_level' THEN price_level ELSE need_level END
                AS level
        FROM raw.products
    )
),
lines AS (
    SELECT t.customer_id, t.is_return, t.amount::DECIMAL(38, 10) AS amount,
        coalesce(p.category, 'unknown') AS category, p.need, c.at_j, c.j_window,
        coalesce(
            t.order_id, t.customer_id || '@' || strftime(t.order_ts, '%Y-%m-%dT%H:%M:%S')
        ) AS order_key
    FROM raw.transactions AS t
    JOIN _category_calendar AS c ON c.day = t.order_ts::DATE
    LEFT JOIN catalogue AS p ON p.product_id = t.product_id
    WHERE t.order_ts >= (SELECT first_day FROM bounds)::TIMESTAMP
        AND t.order_ts < ((SELECT last_day FROM bounds) + 1)::TIMESTAMP
        -- a day older than its own first snapshot's window never counts
        AND (c.j_window IS NULL OR c.j_window > c.at_j)
)
SELECT customer_id, category, at_j, j_window, count(*) AS orders
FROM (
    SELECT customer_id, category, min(at_j) AS at_j,
        CASE WHEN bool_or(j_window IS NULL) THEN NULL ELSE max(j_window) END AS j_window
    FROM lines
    WHERE NOT is_return
    GROUP BY customer_id, category, order_key
)
GROUP BY customer_id, category, at_j, j_window;
