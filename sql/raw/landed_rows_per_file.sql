-- Rows per source file that earlier landings left in the landed table <landed> (raw.<source>
-- of any source): with rejected_rows_per_file.sql, every source row each file had.
SELECT source_file, count(*) AS rows
FROM {landed}
GROUP BY ALL;
