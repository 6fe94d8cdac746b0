-- Add the increments of a later customer bucket to the temp table _activity_increments. The
-- placeholder increments is the text of customer_activity_increments.sql, with its parameters.
INSERT INTO _activity_increments BY NAME
{increments}
