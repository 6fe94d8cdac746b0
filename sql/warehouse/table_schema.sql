-- No rows of a table: its columns and their types, in table order. Placeholder: table, the
-- quoted schema.table.
SELECT * FROM {table} LIMIT 0;
