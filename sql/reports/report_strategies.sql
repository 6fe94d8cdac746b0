-- Customers, control-group customers and budget per strategy and channel at snapshot
-- $snapshot_date (DATE), the largest strategies first: the report's strategies table.
SELECT strategy, channel, count(*) AS customers,
    count(*) FILTER (WHERE is_control) AS control, sum(budget) AS budget
FROM marts.strategy_assignments
WHERE snapshot_date = $snapshot_date::DATE
GROUP BY ALL
ORDER BY customers DESC, strategy;
