-- Advance every customer's running activity totals to snapshot $j (INTEGER, 1-based): the
-- totals as of snapshot j - 1 plus what customer_activity_increments.sql adds at j. A customer
-- has a row from their first transaction on. Start with j = 1 after the increments.
CREATE TEMP TABLE IF NOT EXISTS _activity_totals AS
SELECT * EXCLUDE (j) FROM _activity_increments LIMIT 0;
CREATE OR REPLACE TEMP TABLE _activity_totals AS
SELECT customer_id,
    coalesce(t.net, 0) + coalesce(i.net, 0) AS net,
    coalesce(t.gross, 0) + coalesce(i.gross, 0) AS gross,
    coalesce(t.returned, 0) + coalesce(i.returned, 0) AS returned,
    coalesce(t.channel_rows, 0) + coalesce(i.channel_rows, 0) AS channel_rows,
    coalesce(t.purchase_days, 0) + coalesce(i.purchase_days, 0) AS purchase_days,
    coalesce(t.gap_square_sum, 0) + coalesce(i.gap_square_sum, 0) AS gap_square_sum,
    coalesce(t.first_purchase, i.first_purchase) AS first_purchase,
    CASE WHEN t.first_purchase IS NULL THEN i.first_spend ELSE t.first_spend END AS first_spend,
    greatest(t.last_purchase, i.last_purchase) AS last_purchase,
    greatest(t.won_back, i.won_back) AS won_back,
    coalesce(t.months, 0) + coalesce(i.months, 0) AS months,
    coalesce(t.orders, 0) + coalesce(i.orders, 0) AS orders,
    coalesce(t.return_orders, 0) + coalesce(i.return_orders, 0) AS return_orders,
    coalesce(t.orders_online, 0) + coalesce(i.orders_online, 0) AS orders_online,
    coalesce(t.orders_store, 0) + coalesce(i.orders_store, 0) AS orders_store,
    coalesce(t.orders_agent, 0) + coalesce(i.orders_agent, 0) AS orders_agent,
    coalesce(t.products, 0) + coalesce(i.products, 0) AS products,
    coalesce(t.net_before_30, 0) + coalesce(i.net_before_30, 0) AS net_before_30,
    coalesce(t.net_before_90, 0) + coalesce(i.net_before_90, 0) AS net_before_90,
    coalesce(t.net_before_180, 0) + coalesce(i.net_before_180, 0) AS net_before_180,
    coalesce(t.net_before_365, 0) + coalesce(i.net_before_365, 0) AS net_before_365,
    coalesce(t.orders_before_30, 0) + coalesce(i.orders_before_30, 0) AS orders_before_30,
    coalesce(t.orders_before_90, 0) + coalesce(i.orders_before_90, 0) AS orders_before_90,
    coalesce(t.orders_before_365, 0) + coalesce(i.orders_before_365, 0) AS orders_before_365
FROM _activity_totals AS t
FULL JOIN (SELECT * FROM _activity_increments WHERE j = $j) AS i USING (customer_id);
