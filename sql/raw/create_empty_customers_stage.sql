-- An empty stage for customers, for a config without a customers source: publish_customers.sql
-- then writes raw.customers with its columns and no rows, so downstream SQL still runs.
CREATE OR REPLACE TEMP VIEW landing_stage AS
SELECT
    NULL::VARCHAR AS customer_id,
    NULL::DATE AS signup_date,
    NULL::DATE AS birth_date,
    NULL::DOUBLE AS income,
    NULL::VARCHAR AS gender,
    NULL::VARCHAR AS region,
    NULL::VARCHAR AS country,
    NULL::VARCHAR AS industry,
    NULL::VARCHAR AS acquisition_channel,
    NULL::VARCHAR AS email,
    NULL::VARCHAR AS phone,
    NULL::VARCHAR AS name,
    0 AS file_seq,
    NULL::BIGINT AS source_row,
    NULL::UBIGINT AS row_hash,
    NULL::VARCHAR AS reason
LIMIT 0;
CREATE OR REPLACE TEMP TABLE landing_files (file_seq INTEGER, source_file VARCHAR);
