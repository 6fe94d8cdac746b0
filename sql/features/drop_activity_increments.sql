-- Drop what customer_activity_increments.sql stored once the last snapshot's totals
-- (customer_activity_totals.sql) have read it.
DROP TABLE IF EXISTS temp._activity_increments;
