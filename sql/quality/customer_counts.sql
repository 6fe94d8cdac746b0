-- Customers per snapshot of features.customer_features, for the snapshots $latest and $previous.
SELECT snapshot_date, count(*) AS customers
FROM features.customer_features
WHERE snapshot_date IN ($latest, $previous)
GROUP BY ALL;
