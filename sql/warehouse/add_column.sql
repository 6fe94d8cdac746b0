-- Add a column to a table: the warehouse adds the columns new code writes, and never drops one.
-- Placeholders: table and column, quoted; column_type, the type as DESCRIBE reports it.
ALTER TABLE {table} ADD COLUMN {column} {column_type};
