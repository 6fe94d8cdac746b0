-- Rows per source file that earlier landings of $source left in the landed table and in the
-- quarantine: landed + rejected is every source row each file had. The caller puts the landed
-- table and the quarantine (or an empty relation where a table does not exist yet) in place of
-- the two names in braces.
SELECT source_file, sum(rows)::BIGINT AS rows
FROM (
    SELECT source_file, count(*) AS rows FROM {landed} GROUP BY ALL
    UNION ALL
    SELECT source_file, count(*) AS rows FROM {rejected} WHERE source = $source GROUP BY ALL
)
GROUP BY ALL
ORDER BY source_file;
