-- Drop the working tables of customer_activity_increments.sql and
-- customer_activity_totals.sql.
DROP TABLE IF EXISTS temp._activity_totals;
DROP TABLE IF EXISTS temp._activity_increments;
