-- Rows that passed every other check but repeat an earlier source row exactly (all columns,
-- earlier = earlier file in sorted order, then earlier row) are quarantined as duplicates.
CREATE OR REPLACE TEMP TABLE landing_result AS
SELECT
    * EXCLUDE (reason, "check"),
    CASE
        WHEN reason IS NOT NULL THEN reason
        WHEN row_number() OVER (
            PARTITION BY reason IS NULL, raw_values ORDER BY file_seq, source_row
        ) > 1 THEN 'duplicate_row'
    END AS reason,
    CASE
        WHEN reason IS NOT NULL THEN "check"
        WHEN row_number() OVER (
            PARTITION BY reason IS NULL, raw_values ORDER BY file_seq, source_row
        ) > 1 THEN 'row is not an exact duplicate of an earlier source row'
    END AS "check"
FROM landing_stage;
