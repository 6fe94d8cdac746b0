-- Advance every customer's running category totals (_category_totals) to snapshot $j (INTEGER,
-- 1-based): the totals as of snapshot j - 1 plus what category_increments.sql adds and takes
-- off at j. A category without a transaction left in the window is dropped.
CREATE OR REPLACE TEMP TABLE _category_totals AS
SELECT customer_id, category,
    coalesce(t.spend, 0) + coalesce(i.spend, 0) AS spend,
    coalesce(t.core_spend, 0) + coalesce(i.core_spend, 0) AS core_spend,
    coalesce(t.basic_spend, 0) + coalesce(i.basic_spend, 0) AS basic_spend,
    coalesce(t.orders, 0) + coalesce(i.orders, 0) AS orders,
    coalesce(t.lines, 0) + coalesce(i.lines, 0) AS lines
FROM _category_totals AS t
FULL JOIN (
    SELECT customer_id, category,
        sum(spend) AS spend,
        sum(core_spend) AS core_spend,
        sum(basic_spend) AS basic_spend,
        sum(orders) AS orders,
        sum(lines) AS lines
    FROM _category_increments
    WHERE j = $j
    GROUP BY customer_id, category
) AS i USING (customer_id, category)
WHERE coalesce(t.lines, 0) + coalesce(i.lines, 0) > 0;
