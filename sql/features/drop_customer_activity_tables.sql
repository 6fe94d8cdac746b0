-- Drop the working tables of customer_activity_increments.sql, customer_bucket_transactions.sql
-- and customer_activity_totals.sql.
DROP TABLE IF EXISTS temp._activity_totals;
DROP TABLE IF EXISTS temp._activity_increments;
DROP TABLE IF EXISTS temp._customer_bucket_transactions;
