-- Every user object of the attached database $database, one text per object with its comment:
-- schemas, tables, columns (position, type, nullability, default), views, macros and functions,
-- types, sequences, indexes and constraints. The caller sorts them and skips the marker macro.
SELECT 'schema ' || schema_name, comment
FROM duckdb_schemas()
WHERE database_name = $database AND NOT internal
UNION ALL
SELECT 'table ' || schema_name || '.' || table_name, comment
FROM duckdb_tables()
WHERE database_name = $database
UNION ALL
SELECT
    'column ' || schema_name || '.' || table_name || '.' || column_name || ' #' || column_index
    || ' ' || data_type || CASE WHEN is_nullable THEN '' ELSE ' NOT NULL' END
    || coalesce(' DEFAULT ' || column_default, ''),
    comment
FROM duckdb_columns()
WHERE database_name = $database
UNION ALL
SELECT 'view ' || schema_name || '.' || view_name || ' ' || sql, comment
FROM duckdb_views()
WHERE database_name = $database AND NOT internal
UNION ALL
SELECT
    'function ' || schema_name || '.' || function_name || ' ' || function_type
    || coalesce(' ' || macro_definition, ''),
    comment
FROM duckdb_functions()
WHERE database_name = $database AND NOT internal
UNION ALL
SELECT 'type ' || schema_name || '.' || type_name, comment
FROM duckdb_types()
WHERE database_name = $database AND NOT internal
UNION ALL
SELECT 'sequence ' || schema_name || '.' || sequence_name, comment
FROM duckdb_sequences()
WHERE database_name = $database
UNION ALL
SELECT 'index ' || schema_name || '.' || index_name || ' ' || coalesce(sql, ''), comment
FROM duckdb_indexes()
WHERE database_name = $database
UNION ALL
SELECT 'constraint ' || schema_name || '.' || table_name || ' ' || constraint_text, NULL
FROM duckdb_constraints()
WHERE database_name = $database;
