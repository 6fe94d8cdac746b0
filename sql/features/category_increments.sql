-- What each customer's transactions add to and take off their category window at each snapshot
-- j, from _category_sums (category_sums.sql) and _category_orders (category_orders.sql), as the
-- temp table _category_increments: a group of days is added at its first snapshot and taken
-- off at the snapshot it leaves the window at; running totals over j (category_totals.sql)
-- give every snapshot's window, so raw.transactions is read once however many snapshots a run
-- computes.
CREATE OR REPLACE TEMP TABLE _category_increments AS
SELECT customer_id, category, at_j AS j, spend, core_spend, basic_spend, lines
FROM _category_sums
UNION ALL BY NAME
SELECT customer_id, category, j_window AS j, -spend AS spend, -core_spend AS core_spend,
    -basic_spend AS basic_spend, -lines AS lines
FROM _category_sums
WHERE j_window IS NOT NULL
UNION ALL BY NAME
SELECT customer_id, category, at_j AS j, orders
FROM _category_orders
UNION ALL BY NAME
SELECT customer_id, category, j_window AS j, -orders AS orders
FROM _category_orders
WHERE j_window IS NOT NULL
-- each snapshot's totals step reads one j: sorted, its scan skips the other row groups
ORDER BY j;
