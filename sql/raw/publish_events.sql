-- Swap in the landed events (run inside the landing transaction). Written in parallel, in no
-- particular order: no sort, which at 100M rows would cost more than the whole write.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE OR REPLACE TABLE raw.events AS
SELECT
    customer_id::VARCHAR AS customer_id,
    event_ts::TIMESTAMP AS event_ts,
    event_type::VARCHAR AS event_type,
    channel::VARCHAR AS channel,
    product_id::VARCHAR AS product_id,
    campaign_id::VARCHAR AS campaign_id,
    f.source_file::VARCHAR AS source_file,
    source_row::BIGINT AS source_row
FROM landing_stage
JOIN landing_files AS f USING (file_seq)
WHERE reason IS NULL;
