-- Every row of a table, in the order a plain scan returns them. Placeholders: table, the quoted
-- schema.table; columns, the quoted columns to read, comma-separated (or *).
SELECT {columns} FROM {table};
