-- Where this connection's scratch files go: whether the database is in memory (then the
-- system's temporary directory) and the configured temp_directory otherwise.
SELECT path IS NULL AS in_memory, current_setting('temp_directory') AS temp_directory
FROM duckdb_databases()
WHERE database_name = current_database();
