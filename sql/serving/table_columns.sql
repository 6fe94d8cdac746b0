-- The columns of $schema.$table in the connection's own database, in table order.
SELECT column_name
FROM duckdb_columns()
WHERE database_name = current_database() AND schema_name = $schema AND table_name = $table
ORDER BY column_index;
