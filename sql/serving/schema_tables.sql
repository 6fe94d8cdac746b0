-- The tables of schema $schema in the connection's own database (not in attached ones), sorted.
SELECT table_name
FROM duckdb_tables()
WHERE database_name = current_database() AND schema_name = $schema
ORDER BY 1;
