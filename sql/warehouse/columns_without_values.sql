-- Whether each of some columns holds a value in some partitions of a table: one row, one
-- boolean per column. Placeholders: table, the quoted schema.table; counts, one
-- `count("name") > 0 AS "name"` per column; column, the quoted partition column; markers, one
-- ?::DATE parameter marker per date.
SELECT {counts} FROM {table}
WHERE {column} IN ({markers});
