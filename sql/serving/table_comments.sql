-- The tables of the attached database $database with their comments.
SELECT schema_name, table_name, comment
FROM duckdb_tables()
WHERE database_name = $database;
