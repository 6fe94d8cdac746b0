-- Advance every customer's running engagement totals (_event_totals) to snapshot $j (INTEGER,
-- 1-based): the totals as of snapshot j - 1 plus what event_increments.sql adds at j (summed
-- over the customer's rows of j: additions, removals and abandoned carts are rows of their
-- own). Start with j = 1 on the empty table of create_engagement_totals.sql.
CREATE OR REPLACE TEMP TABLE _event_totals AS
SELECT customer_id,
    coalesce(t.visits, 0) + coalesce(i.visits, 0) AS visits,
    coalesce(t.product_views, 0) + coalesce(i.product_views, 0) AS product_views,
    coalesce(t.cart_adds, 0) + coalesce(i.cart_adds, 0) AS cart_adds,
    coalesce(t.email_sends, 0) + coalesce(i.email_sends, 0) AS email_sends,
    coalesce(t.email_opens, 0) + coalesce(i.email_opens, 0) AS email_opens,
    coalesce(t.email_clicks, 0) + coalesce(i.email_clicks, 0) AS email_clicks,
    coalesce(t.abandoned_carts, 0) + coalesce(i.abandoned_carts, 0) AS abandoned_carts,
    greatest(t.last_engaged, i.last_engaged) AS last_engaged,
    coalesce(t.unsubscribed, false) OR coalesce(i.unsubscribed, false) AS unsubscribed
FROM _event_totals AS t
FULL JOIN (
    SELECT customer_id,
        sum(visits) AS visits,
        sum(product_views) AS product_views,
        sum(cart_adds) AS cart_adds,
        sum(email_sends) AS email_sends,
        sum(email_opens) AS email_opens,
        sum(email_clicks) AS email_clicks,
        sum(abandoned_carts) AS abandoned_carts,
        max(last_engaged) AS last_engaged,
        bool_or(unsubscribed) AS unsubscribed
    FROM _event_increments
    WHERE j = $j
    GROUP BY customer_id
) AS i USING (customer_id);
