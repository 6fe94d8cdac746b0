-- The body of the macro $schema.$name of the connection's own database: read as text, never run.
SELECT macro_definition
FROM duckdb_functions()
WHERE database_name = current_database()
    AND schema_name = $schema
    AND function_name = $name
    AND function_type = 'macro';
