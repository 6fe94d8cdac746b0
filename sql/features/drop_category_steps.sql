-- The grouped transactions of the category step, once _category_increments holds them.
DROP TABLE IF EXISTS _category_sums;
DROP TABLE IF EXISTS _category_orders;
