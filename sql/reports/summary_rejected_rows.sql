-- Run summary: the quarantined rows per source and reason, most frequent reason first
-- (ties by name, so that every engine prints the same order).
SELECT source, reason, count(*)
FROM quality.rejected_rows
GROUP BY ALL
ORDER BY 1, 3 DESC, 2;
