-- The snapshot dates of marts.customer_segments, oldest first: segment evaluation reads them
-- one pair of consecutive snapshots at a time.
SELECT DISTINCT snapshot_date
FROM marts.customer_segments
ORDER BY snapshot_date;
