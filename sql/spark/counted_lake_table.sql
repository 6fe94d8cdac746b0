-- A table of the lake the run summary only counts, read through Spark: its number of rows
-- ($rows, counted by Spark) and no values. Placeholder: table, the quoted table.
CREATE TABLE {table} AS
SELECT NULL AS counted_rows_only
FROM range($rows);
