-- Store the increments of the first (or only) customer bucket in the temp table
-- _activity_increments. The placeholder increments is the text of
-- customer_activity_increments.sql, with its parameters.
CREATE OR REPLACE TEMP TABLE _activity_increments AS
{increments}
