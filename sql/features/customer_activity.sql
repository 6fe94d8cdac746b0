-- Per-customer activity at snapshot $snapshot_date (DATE) from the running totals as of that
-- snapshot (_activity_totals, customer_activity_totals.sql), for every known customer: anyone
-- with a transaction by the end of that day, a customer record signed up by then (or with
-- no signup date), or an attribute-history row by then. The attributes are those of
-- _customers_as_of: raw.customers (customers_without_history.sql), or its values as of the
-- snapshot with the attribute history's (customers_as_of.sql). Purchase = a row that is not a
-- return; a purchase day = a calendar day with a purchase.
-- Parameters: $snapshot_date (DATE).
SELECT
    $snapshot_date::DATE AS snapshot_date,
    coalesce(a.customer_id, c.customer_id) AS customer_id,
    -- attributes, custom ones included; personal data stays in the raw layer
    c.* EXCLUDE (customer_id, email, phone, name, source_file, source_row, known_by_attributes),
    a.first_purchase AS first_purchase_date,
    a.last_purchase AS last_purchase_date,
    coalesce(a.purchase_days, 0)::BIGINT AS purchase_days,
    (a.gap_sum / nullif(a.gaps, 0))::DOUBLE AS mean_days_between,
    sqrt(
        greatest(a.gaps * a.gap_square_sum - a.gap_sum * a.gap_sum, 0)::DOUBLE
        / nullif(a.gaps * (a.gaps - 1), 0)
    ) AS std_days_between,
    -- spend of every purchase day but the first
    ((a.gross - a.first_spend) / nullif(a.gaps, 0))::DOUBLE AS repeat_spend_mean,
    a.won_back AS last_return_after_lost,
    coalesce(a.orders, 0)::BIGINT AS orders,
    coalesce(a.return_orders, 0)::BIGINT AS return_orders,
    coalesce(a.gross, 0)::DOUBLE AS gross_revenue,
    coalesce(a.net, 0)::DOUBLE AS net_revenue,
    greatest(-coalesce(a.returned, 0), 0)::DOUBLE AS returned_amount,
    coalesce(a.orders - a.orders_before_30, 0)::BIGINT AS orders_30d,
    coalesce(a.orders - a.orders_before_90, 0)::BIGINT AS orders_90d,
    coalesce(a.orders - a.orders_before_365, 0)::BIGINT AS orders_365d,
    coalesce(a.net - a.net_before_30, 0)::DOUBLE AS revenue_30d,
    coalesce(a.net - a.net_before_90, 0)::DOUBLE AS revenue_90d,
    coalesce(a.net - a.net_before_365, 0)::DOUBLE AS revenue_365d,
    coalesce(a.net_before_90 - a.net_before_180, 0)::DOUBLE AS revenue_prev_90d,
    coalesce(a.orders_online, 0)::BIGINT AS orders_online,
    coalesce(a.orders_store, 0)::BIGINT AS orders_store,
    coalesce(a.orders_agent, 0)::BIGINT AS orders_agent,
    coalesce(a.channel_rows, 0)::BIGINT AS rows_with_channel,
    coalesce(a.products, 0)::BIGINT AS product_breadth,
    coalesce(a.months, 0)::BIGINT AS active_months
FROM (
    SELECT *,
        -- the gaps between consecutive purchase days: one fewer than the days, adding up to
        -- last - first
        greatest(purchase_days - 1, 0)::HUGEINT AS gaps,
        datediff('day', first_purchase, last_purchase)::HUGEINT AS gap_sum
    FROM _activity_totals
) AS a
FULL JOIN _customers_as_of AS c ON c.customer_id = a.customer_id
WHERE a.customer_id IS NOT NULL
    OR c.known_by_attributes
    OR c.signup_date IS NULL
    OR c.signup_date <= $snapshot_date::DATE
ORDER BY customer_id;
