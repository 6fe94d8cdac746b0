-- A table of the lake copied from the Arrow rows Spark read (registered as lake_rows), as the
-- serving publish and the summary read it. Placeholders: table, the quoted table; columns,
-- each column of the table's schema file cast to its type, in its order (* for a table
-- without a schema file).
CREATE TABLE {table} AS
SELECT {columns}
FROM lake_rows;
