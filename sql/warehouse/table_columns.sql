-- The columns of $schema.$table, in table order.
SELECT column_name
FROM information_schema.columns
WHERE table_schema = $schema AND table_name = $table
ORDER BY ordinal_position;
