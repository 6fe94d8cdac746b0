-- Run summary: customers per lifecycle stage at the latest snapshot, largest stage first.
SELECT snapshot_date, lifecycle_stage, count(*)
FROM features.customer_features
WHERE snapshot_date = (SELECT max(snapshot_date) FROM features.customer_features)
GROUP BY ALL
ORDER BY 3 DESC;
