-- An empty stage for events, for a config without an events source: publish_events.sql then
-- writes raw.events with its columns and no rows, so downstream SQL still runs.
CREATE OR REPLACE TEMP VIEW landing_stage AS
SELECT
    NULL::VARCHAR AS customer_id,
    NULL::TIMESTAMP AS event_ts,
    NULL::VARCHAR AS event_type,
    NULL::VARCHAR AS channel,
    NULL::VARCHAR AS product_id,
    NULL::VARCHAR AS campaign_id,
    0 AS file_seq,
    NULL::BIGINT AS source_row,
    NULL::UBIGINT AS row_hash,
    NULL::VARCHAR AS reason
LIMIT 0;
CREATE OR REPLACE TEMP TABLE landing_files (file_seq INTEGER, source_file VARCHAR);
