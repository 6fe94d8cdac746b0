-- A customer id may appear once: the first good row (file order, then row order) lands and every
-- later good row with the same id is quarantined, so no attribute silently overwrites another.
UPDATE landing_stage
SET reason = 'duplicate_customer_id'
FROM (
    SELECT file_seq, source_row
    FROM landing_stage
    WHERE reason IS NULL
    QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY file_seq, source_row) > 1
) AS later
WHERE landing_stage.file_seq = later.file_seq AND landing_stage.source_row = later.source_row;
