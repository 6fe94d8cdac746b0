-- Rows per file and reason (reason NULL: landed), for the reject-rate gate and the metadata.
SELECT file_seq, reason, count(*) AS rows
FROM landing_stage
GROUP BY ALL
ORDER BY file_seq, reason NULLS FIRST;
