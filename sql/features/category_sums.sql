-- What each customer's transactions add to their spend per catalogue category at each snapshot
-- of the calendar (category_calendar.sql, which must exist), for all snapshots at once: the
-- temp tables _category_sums (this file) and _category_orders (category_orders.sql) group the
-- window's transactions, category_increments.sql turns them into _category_increments.
--
-- A transaction's category is its product's in raw.products (unique product ids), 'unknown'
-- for a product the catalogue does not list and for a row without a product id. Its need is
-- 'core' or 'basic' by the product's level ($level_column: 'need_level' or 'price_level')
-- trimmed and in lower case, when listed in $core_levels or $basic_levels (VARCHAR[], lower
-- case); null otherwise. Money is an exact DECIMAL, so a backfilled month equals the live one
-- bit for bit. Days that share their first snapshot (at_j) and the snapshot they leave the
-- window at (j_window) are summed together: a customer has a few rows per category.
--
-- Each step is a table of its own (they spill to disk beyond DuckDB's memory_limit; one
-- query with materialized CTEs ran out of a 4GB limit at 10M transactions).
-- Parameters: $level_column (VARCHAR), $core_levels, $basic_levels (VARCHAR[]).
CREATE OR REPLACE TEMP TABLE _category_sums AS
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
SELECT customer_id, category, at_j, j_window,
    sum(amount) AS spend,
    coalesce(sum(amount) FILTER (WHERE need = 'core'), 0) AS core_spend,
    coalesce(sum(amount) FILTER (WHERE need = 'basic'), 0) AS basic_spend,
    count(*) AS lines
FROM lines
GROUP BY customer_id, category, at_j, j_window;
