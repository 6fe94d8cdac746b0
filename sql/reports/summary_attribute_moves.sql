-- Run summary: customers per (from, to) value of one attribute dimension ($dimension, an
-- attr_<dimension> column) from the previous snapshot to the latest one of
-- marts.customer_segments, as marts.segment_migration holds them (customers present at both
-- snapshots; those who kept their value included); no rows when the migration does not reach the
-- latest snapshot (one snapshot only, or the evaluation has not run since).
SELECT from_snapshot, to_snapshot, from_segment, to_segment, customers
FROM marts.segment_migration
WHERE dimension = $dimension
    AND to_snapshot = (SELECT max(snapshot_date) FROM marts.customer_segments)
ORDER BY customers DESC, from_segment, to_segment;
