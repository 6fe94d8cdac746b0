-- Delete the rows of some partitions of a table: those whose partition column holds one of
-- $values, a list. Placeholders: table, the quoted schema.table; column, the quoted partition
-- column; sql_type, its type (the list is cast to it).
DELETE FROM {table}
WHERE {column} IN (SELECT UNNEST($values::{sql_type}[]));
