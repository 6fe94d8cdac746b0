-- A query, not a statement: the ids of one table, a branch of the UNION that
-- serving/create_pseudonyms.sql reads. Placeholders: id, the id column; table, schema.table.
SELECT {id} FROM {table}
