-- A customer id may appear once: the first good row (file order, then row order) lands and every
-- later good row with the same id is flagged, so no attribute silently overwrites another.
INSERT INTO landing_flagged
SELECT file_seq, source_row, 'duplicate_customer_id' AS reason
FROM landing_stage
WHERE reason IS NULL
QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY file_seq, source_row) > 1;
