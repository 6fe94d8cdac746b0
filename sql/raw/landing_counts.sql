-- Rows per file and reason (reason NULL: landed), for the reject-rate gate and the metadata.
SELECT source_file, reason, count(*) AS rows
FROM landing_result
GROUP BY ALL
ORDER BY source_file, reason NULLS FIRST;
