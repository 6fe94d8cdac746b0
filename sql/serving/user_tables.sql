-- The tables of the attached database $database as (schema, table), sorted.
SELECT schema_name, table_name
FROM duckdb_tables()
WHERE database_name = $database
ORDER BY ALL;
