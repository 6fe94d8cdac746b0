-- The RFM segment migration into the latest snapshot of marts.segment_migration: the report's
-- migration matrix.
SELECT *
FROM marts.segment_migration
WHERE dimension = 'rfm_segment'
    AND to_snapshot = (SELECT max(to_snapshot) FROM marts.segment_migration);
