-- Rows that passed every other check but repeat an earlier source row exactly (all columns,
-- earlier = earlier file in sorted order, then earlier row) are flagged as duplicates.
-- Only rows with a repeated hash have their text in landing_raw; the text decides.
INSERT INTO landing_flagged
SELECT r.file_seq, r.source_row, 'duplicate_row' AS reason
FROM landing_raw AS r
JOIN landing_stage AS s USING (file_seq, source_row)
WHERE s.reason IS NULL
QUALIFY row_number() OVER (PARTITION BY r.raw_values ORDER BY r.file_seq, r.source_row) > 1;
