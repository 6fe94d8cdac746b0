-- The temp tables of the category step (category_calendar.sql, category_sums.sql,
-- category_orders.sql, category_increments.sql, category_totals.sql), before it starts and once
-- it ends.
DROP TABLE IF EXISTS _category_calendar;
DROP TABLE IF EXISTS _category_sums;
DROP TABLE IF EXISTS _category_orders;
DROP TABLE IF EXISTS _category_increments;
DROP TABLE IF EXISTS _category_totals;
