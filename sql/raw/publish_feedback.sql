-- Swap in the landed feedback (run inside the landing transaction), in no particular order like
-- the other event-like tables: query it with ORDER BY.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE OR REPLACE TABLE raw.feedback AS
SELECT
    customer_id::VARCHAR AS customer_id,
    feedback_ts::TIMESTAMP AS feedback_ts,
    kind::VARCHAR AS kind,
    score::DOUBLE AS score,
    topic::VARCHAR AS topic,
    f.source_file::VARCHAR AS source_file,
    source_row::BIGINT AS source_row
FROM landing_stage
JOIN landing_files AS f USING (file_seq)
WHERE reason IS NULL;
