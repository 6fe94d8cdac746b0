-- Rows that passed every other check but repeat an earlier source row exactly (all columns,
-- earlier = earlier file in sorted order, then earlier row) are quarantined as duplicates.
-- Only rows with a repeated hash have their text in landing_raw; the text decides.
UPDATE landing_stage
SET reason = 'duplicate_row'
FROM (
    SELECT r.file_seq, r.source_row
    FROM landing_raw AS r
    JOIN landing_stage AS s USING (file_seq, source_row)
    WHERE s.reason IS NULL
    QUALIFY row_number() OVER (
        PARTITION BY r.raw_values ORDER BY r.file_seq, r.source_row
    ) > 1
) AS later
WHERE landing_stage.file_seq = later.file_seq AND landing_stage.source_row = later.source_row;
