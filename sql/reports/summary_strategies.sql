-- Run summary: customers per strategy at the latest snapshot and how many of them are the
-- control group, largest strategy first.
SELECT strategy, count(*), count(*) FILTER (WHERE is_control)
FROM marts.strategy_assignments
WHERE snapshot_date = (SELECT max(snapshot_date) FROM marts.strategy_assignments)
GROUP BY ALL
ORDER BY 2 DESC;
