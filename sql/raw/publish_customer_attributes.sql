-- Swap in the landed attribute history (run inside the landing transaction): customer_id,
-- valid_from, the attributes the source maps (typed and checked by the contract while staging),
-- source_file and source_row. The stage keeps the file's number where its name goes. Written in
-- no particular order, like the other event-like tables: query it with ORDER BY.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE OR REPLACE TABLE raw.customer_attributes AS
SELECT * RENAME (file_seq AS source_file)
FROM (
    SELECT s.* EXCLUDE (reason, row_hash) REPLACE (f.source_file AS file_seq)
    FROM landing_stage AS s
    JOIN landing_files AS f USING (file_seq)
    WHERE s.reason IS NULL
);
