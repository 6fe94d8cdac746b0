-- The row count of a table. Placeholder: table, quoted (and qualified with its database or
-- schema where needed).
SELECT count(*) FROM {table};
