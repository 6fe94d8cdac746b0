-- Run summary: the quarantined rows per source and reason, most frequent reason first.
SELECT source, reason, count(*)
FROM quality.rejected_rows
GROUP BY ALL
ORDER BY 1, 3 DESC;
