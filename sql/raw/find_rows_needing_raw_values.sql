-- The staged rows that may end in the quarantine and so need their original text: rows already
-- rejected and good rows whose 64-bit row hash repeats (duplicate candidates, compared exactly
-- afterwards). Rows whose key repeats (customers: the customer id) are added by
-- find_rows_repeating_a_key.sql. The repeated hashes come in landing_repeated_hashes (found by
-- sorting them in polars, see segmentation/raw/staging.py::repeated_hashes: a GROUP BY over
-- every row's hash here was ~10x slower).
-- Runs before any row is flagged: landing_stage holds the parse's reasons only. Records that
-- were never rows ($structural reasons: malformed CSV) bring their text from the file split.
CREATE OR REPLACE TEMP TABLE landing_raw_needed AS
SELECT file_seq, source_row
FROM landing_stage
WHERE reason IS NOT NULL AND NOT list_contains($structural, reason)
UNION
SELECT file_seq, source_row
FROM landing_stage SEMI JOIN landing_repeated_hashes USING (row_hash)
WHERE reason IS NULL;
