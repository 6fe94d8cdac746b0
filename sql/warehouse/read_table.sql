-- Every row of a table, in the order a plain scan returns them. Placeholder: table, the quoted
-- schema.table.
SELECT * FROM {table};
