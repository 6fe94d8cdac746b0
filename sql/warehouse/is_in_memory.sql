-- Whether the connection's own database lives in memory (it has no file).
SELECT path IS NULL
FROM duckdb_databases()
WHERE database_name = current_database();
