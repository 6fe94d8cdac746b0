-- Swap in the landed customers (run inside the landing transaction): the canonical columns,
-- typed and checked by the contract while staging, then any custom attributes of the config.
-- The stage keeps the file's number where its name goes.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE OR REPLACE TABLE raw.customers AS
SELECT * RENAME (file_seq AS source_file)
FROM (
    SELECT s.* EXCLUDE (reason, row_hash) REPLACE (f.source_file AS file_seq)
    FROM landing_stage AS s
    JOIN landing_files AS f USING (file_seq)
    WHERE s.reason IS NULL
)
ORDER BY customer_id;
