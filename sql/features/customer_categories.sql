-- One snapshot of features.customer_categories: the running category totals (category_totals.sql)
-- as of $snapshot_date (DATE), one row per customer and category with a transaction in the
-- window, sorted by customer and category. spend_share: the category's positive spend over the
-- customer's positive spend in all categories (a category with net returns counts 0); null
-- when that is 0. The exact DECIMAL sums are turned into doubles only here.
-- Parameters: $snapshot_date.
SELECT
    $snapshot_date::DATE AS snapshot_date,
    customer_id,
    category,
    spend::DOUBLE AS spend,
    orders::BIGINT AS orders,
    greatest(spend, 0)::DOUBLE
        / nullif(sum(greatest(spend, 0)) OVER (PARTITION BY customer_id), 0)::DOUBLE
        AS spend_share,
    core_spend::DOUBLE AS core_spend,
    basic_spend::DOUBLE AS basic_spend
FROM _category_totals
ORDER BY customer_id, category;
