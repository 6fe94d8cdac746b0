-- Run summary: customers per RFM segment at the latest snapshot, largest segment first.
SELECT rfm_segment, count(*)
FROM marts.customer_segments
WHERE snapshot_date = (SELECT max(snapshot_date) FROM marts.customer_segments)
GROUP BY ALL
ORDER BY 2 DESC;
