-- Run summary: customers per intent class and engagement level at the latest snapshot, largest
-- first; no rows when no events source was configured (every customer's intent is unknown).
SELECT intent_class, engagement_level, count(*)
FROM marts.customer_segments
WHERE snapshot_date = (SELECT max(snapshot_date) FROM marts.customer_segments)
    AND intent_class <> 'unknown'
GROUP BY ALL
ORDER BY 3 DESC, 1, 2;
