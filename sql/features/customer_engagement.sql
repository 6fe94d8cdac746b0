-- One snapshot of features.customer_engagement: every customer the relation $customers
-- (VARCHAR, a table or view with snapshot_date and customer_id: features.customer_behaviour)
-- holds at $snapshot_date (DATE), with their running totals as of that snapshot
-- (event_totals.sql, feedback_totals.sql), sorted by customer id. $events and $feedback
-- (BOOLEAN) say whether those sources are configured: if not, their columns are null; if so, a
-- customer without events or feedback has counts of 0 and nulls where there is nothing to
-- measure. Rates are capped at 1: an e-mail opened twice, or opens of e-mails whose sends the
-- source does not hold. NPS classes by $nps_promoter_min and $nps_passive_min (INTEGER).
-- Parameters: $customers, $snapshot_date, $events, $feedback, $nps_promoter_min,
-- $nps_passive_min.
SELECT
    c.snapshot_date,
    c.customer_id,
    CASE WHEN $events::BOOLEAN THEN coalesce(e.visits, 0) END::BIGINT AS visits_90d,
    CASE WHEN $events::BOOLEAN THEN coalesce(e.product_views, 0) END::BIGINT
        AS product_views_90d,
    CASE WHEN $events::BOOLEAN THEN coalesce(e.cart_adds, 0) END::BIGINT AS cart_adds_90d,
    CASE WHEN $events::BOOLEAN THEN coalesce(e.email_sends, 0) END::BIGINT AS email_sends_90d,
    CASE WHEN $events::BOOLEAN THEN coalesce(e.email_opens, 0) END::BIGINT AS email_opens_90d,
    CASE WHEN $events::BOOLEAN THEN coalesce(e.email_clicks, 0) END::BIGINT AS email_clicks_90d,
    -- least() would ignore a null
    CASE WHEN e.email_sends > 0 THEN least(e.email_opens::DOUBLE / e.email_sends::DOUBLE, 1.0) END
        AS email_open_rate_90d,
    CASE WHEN e.email_opens > 0 THEN least(e.email_clicks::DOUBLE / e.email_opens::DOUBLE, 1.0) END
        AS email_click_rate_90d,
    datediff('day', e.last_engaged, c.snapshot_date)::BIGINT AS days_since_last_engagement,
    CASE WHEN $events::BOOLEAN THEN coalesce(e.abandoned_carts, 0) END::BIGINT
        AS abandoned_carts_90d,
    CASE WHEN $events::BOOLEAN THEN coalesce(e.unsubscribed, false) END AS is_unsubscribed,
    f.latest_nps::DOUBLE AS latest_nps,
    CASE
        WHEN f.latest_nps >= $nps_promoter_min::INTEGER THEN 'promoter'
        WHEN f.latest_nps >= $nps_passive_min::INTEGER THEN 'passive'
        WHEN f.latest_nps IS NOT NULL THEN 'detractor'
    END AS nps_class,
    (f.csat_sum::DOUBLE / nullif(f.csat_answers, 0)::DOUBLE) AS avg_csat_180d,
    CASE WHEN $feedback::BOOLEAN THEN coalesce(f.complaints, 0) END::BIGINT AS complaints_90d,
    datediff('day', f.last_feedback, c.snapshot_date)::BIGINT AS days_since_last_feedback
FROM (
    SELECT snapshot_date, customer_id
    FROM query_table($customers::VARCHAR)
    WHERE snapshot_date = $snapshot_date::DATE
) AS c
LEFT JOIN _event_totals AS e ON e.customer_id = c.customer_id
LEFT JOIN _feedback_totals AS f ON f.customer_id = c.customer_id
ORDER BY c.customer_id;
