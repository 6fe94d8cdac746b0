-- Whether the table $schema.$table exists (a count, 0 or 1).
SELECT count(*)
FROM information_schema.tables
WHERE table_schema = $schema AND table_name = $table;
