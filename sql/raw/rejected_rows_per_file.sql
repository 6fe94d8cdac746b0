-- Rows per source file that earlier landings of $source left in the quarantine: with
-- landed_rows_per_file.sql, every source row each file had.
SELECT source_file, count(*) AS rows
FROM quality.rejected_rows
WHERE source = $source
GROUP BY ALL;
