-- An empty stage for feedback, for a config without a feedback source: publish_feedback.sql then
-- writes raw.feedback with its columns and no rows, so downstream SQL still runs.
CREATE OR REPLACE TEMP VIEW landing_stage AS
SELECT
    NULL::VARCHAR AS customer_id,
    NULL::TIMESTAMP AS feedback_ts,
    NULL::VARCHAR AS kind,
    NULL::DOUBLE AS score,
    NULL::VARCHAR AS topic,
    0 AS file_seq,
    NULL::BIGINT AS source_row,
    NULL::UBIGINT AS row_hash,
    NULL::VARCHAR AS reason
LIMIT 0;
CREATE OR REPLACE TEMP TABLE landing_files (file_seq INTEGER, source_file VARCHAR);
