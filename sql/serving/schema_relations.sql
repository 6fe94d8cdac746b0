-- The tables and views of schema $schema in the connection's own database, sorted: what a
-- publish may copy (a view presents tables kept outside the database, such as the lake's).
SELECT table_name
FROM duckdb_tables()
WHERE database_name = current_database() AND schema_name = $schema
UNION
SELECT view_name
FROM duckdb_views()
WHERE database_name = current_database() AND schema_name = $schema AND NOT internal
ORDER BY 1;
