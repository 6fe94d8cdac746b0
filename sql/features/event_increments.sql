-- What each customer's events add to their engagement measures at each snapshot of
-- $snapshot_dates (DATE[]), for all snapshots at once, stored as the temp table
-- _event_increments; running totals over j (event_totals.sql) give every measure as of each
-- snapshot, as the behaviour increments do for the transactions. Snapshot j gets what happened
-- after snapshot j - 1 up to the end of its own day (the calendar: engagement_calendar.sql,
-- which must exist). A count in the trailing window is added at the snapshot its day first
-- counts for and taken off again at the first snapshot whose window the day has left.
--
-- An abandoned cart is a cart add with no purchase (a transaction that is not a return, at or
-- after the add) by the end of the $cart_followup_days-th day after the add's day: once that
-- day is over, the add is abandoned or not for good, so it is added at the first snapshot on or
-- after that day and taken off when its day leaves the window. Nothing after the last
-- snapshot's end is read, and a snapshot sees only adds settled by its own end.
--
-- The additions and the removals are grouped apart, so a customer may have several rows per j
-- (the totals step sums them): at 10M sparse events, merging them here cost twice the time of
-- the two groupings together. Events are not grouped by day first either: a log holding about
-- one event per customer and day gains nothing from it.
-- Parameters: $snapshot_dates (DATE[]), $cart_followup_days (INTEGER).
CREATE OR REPLACE TEMP TABLE _event_increments AS
WITH first_day AS (
    SELECT min(day) AS day FROM _engagement_calendar
),
-- each event with its snapshots: counted, whether its day is in the window of any snapshot;
-- read by the two groupings and the carts below, each scan only for its own columns
events AS NOT MATERIALIZED (
    SELECT e.customer_id, e.event_type, e.event_ts, e.day, c.at_j, c.j_window,
        c.j_window IS NULL OR c.j_window > c.at_j AS counted
    FROM (
        SELECT customer_id, event_type, event_ts, event_ts::DATE AS day,
            -- days before the calendar's first are looked up as the first (a column, so that
            -- the lookup is an equi-join)
            greatest(event_ts::DATE, (SELECT day FROM first_day)) AS calendar_day
        FROM raw.events
        WHERE event_ts < (list_max($snapshot_dates::DATE[]) + 1)::TIMESTAMP
    ) AS e
    JOIN _engagement_calendar AS c ON c.day = e.calendar_day
),
carts AS (
    SELECT a.customer_id,
        greatest(a.day, (SELECT day FROM first_day)) AS calendar_day,
        greatest(a.day + $cart_followup_days::INTEGER, (SELECT day FROM first_day))
            AS settled_day,
        p.order_ts IS NULL
            OR p.order_ts >= (a.day + $cart_followup_days::INTEGER + 1)::TIMESTAMP AS abandoned
    FROM (
        SELECT customer_id, event_ts, day FROM events WHERE event_type = 'add_to_cart'
    ) AS a
    -- the customer's first purchase at or after the add
    ASOF LEFT JOIN (
        SELECT customer_id, order_ts FROM raw.transactions WHERE NOT is_return
    ) AS p
        ON p.customer_id = a.customer_id AND a.event_ts <= p.order_ts
),
-- enter_j: the first snapshot the add is settled by (none: not by the last one); leave_j: the
-- first whose window its day has left
abandoned AS MATERIALIZED (
    SELECT a.customer_id, settled.at_j AS enter_j, c.j_window AS leave_j
    FROM carts AS a
    JOIN _engagement_calendar AS settled ON settled.day = a.settled_day
    JOIN _engagement_calendar AS c ON c.day = a.calendar_day
    WHERE a.abandoned AND (c.j_window IS NULL OR c.j_window > settled.at_j)
)
SELECT customer_id, at_j AS j,
    count(*) FILTER (WHERE counted AND event_type = 'visit') AS visits,
    count(*) FILTER (WHERE counted AND event_type = 'product_view') AS product_views,
    count(*) FILTER (WHERE counted AND event_type = 'add_to_cart') AS cart_adds,
    count(*) FILTER (WHERE counted AND event_type = 'email_send') AS email_sends,
    count(*) FILTER (WHERE counted AND event_type = 'email_open') AS email_opens,
    count(*) FILTER (WHERE counted AND event_type = 'email_click') AS email_clicks,
    -- engagement: anything the customer did; a send is the company's, an unsubscribe is leaving
    max(day) FILTER (WHERE event_type NOT IN ('unsubscribe', 'email_send')) AS last_engaged,
    bool_or(event_type = 'unsubscribe') AS unsubscribed
FROM events
GROUP BY customer_id, at_j
UNION ALL BY NAME
SELECT customer_id, j_window AS j,
    -count(*) FILTER (WHERE event_type = 'visit') AS visits,
    -count(*) FILTER (WHERE event_type = 'product_view') AS product_views,
    -count(*) FILTER (WHERE event_type = 'add_to_cart') AS cart_adds,
    -count(*) FILTER (WHERE event_type = 'email_send') AS email_sends,
    -count(*) FILTER (WHERE event_type = 'email_open') AS email_opens,
    -count(*) FILTER (WHERE event_type = 'email_click') AS email_clicks
FROM events
WHERE counted AND j_window IS NOT NULL
GROUP BY customer_id, j_window
UNION ALL BY NAME
SELECT customer_id, enter_j AS j, count(*) AS abandoned_carts
FROM abandoned
GROUP BY customer_id, enter_j
UNION ALL BY NAME
SELECT customer_id, leave_j AS j, -count(*) AS abandoned_carts
FROM abandoned
WHERE leave_j IS NOT NULL
GROUP BY customer_id, leave_j
-- each snapshot's totals step reads one j: sorted, its scan skips the other row groups
ORDER BY j;
