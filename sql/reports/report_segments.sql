-- The customers of snapshot $snapshot_date (DATE) with what the report's charts and headline
-- need: segment sizes, the RFM grid, the CLV distribution.
SELECT rfm_segment, lifecycle_stage, r_score, f_score, m_score, clv_12m
FROM marts.customer_segments
WHERE snapshot_date = $snapshot_date::DATE;
