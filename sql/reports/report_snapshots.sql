-- The newest $count (INTEGER) snapshot dates of marts.customer_segments, newest first: the
-- snapshot the segment report shows and the one before it.
SELECT DISTINCT snapshot_date
FROM marts.customer_segments
ORDER BY snapshot_date DESC
LIMIT $count;
