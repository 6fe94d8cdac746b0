-- The segment summaries of snapshot $snapshot_date (DATE) for the dimensions the report shows,
-- $dimensions (VARCHAR[]); the report orders each dimension's rows by its own label order.
SELECT dimension, segment, customers, share, revenue_share, avg_clv
FROM marts.segment_summary
WHERE snapshot_date = $snapshot_date::DATE AND list_contains($dimensions::VARCHAR[], dimension);
