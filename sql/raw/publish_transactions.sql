-- Swap in the landed transactions (run inside the landing transaction). Written in parallel, in
-- no particular order: no sort, which at 100M rows would cost more than the whole write.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE OR REPLACE TABLE raw.transactions AS
SELECT
    customer_id::VARCHAR AS customer_id,
    order_id::VARCHAR AS order_id,
    order_ts::TIMESTAMP AS order_ts,
    quantity::DOUBLE AS quantity,
    unit_price::DOUBLE AS unit_price,
    amount::DOUBLE AS amount,
    product_id::VARCHAR AS product_id,
    channel::VARCHAR AS channel,
    country::VARCHAR AS country,
    is_return::BOOLEAN AS is_return,
    f.source_file::VARCHAR AS source_file,
    source_row::BIGINT AS source_row
FROM landing_stage
JOIN landing_files AS f USING (file_seq)
WHERE reason IS NULL;
