-- The rows of some partitions of a table. A list of constants keeps the scan's order (IN over a
-- subquery is a join, which does not) and skips other partitions' row groups. Placeholders:
-- table, the quoted schema.table; columns, the quoted columns to read (or *); column, the quoted
-- partition column; markers, one ?::DATE parameter marker per date bound (NULL for none).
SELECT {columns} FROM {table}
WHERE {column} IN ({markers});
