-- Swap in the landed customers (run inside the landing transaction).
CREATE SCHEMA IF NOT EXISTS raw;
CREATE OR REPLACE TABLE raw.customers AS
SELECT
    customer_id::VARCHAR AS customer_id,
    signup_date::DATE AS signup_date,
    birth_date::DATE AS birth_date,
    gender::VARCHAR AS gender,
    income::DOUBLE AS income,
    region::VARCHAR AS region,
    country::VARCHAR AS country,
    industry::VARCHAR AS industry,
    acquisition_channel::VARCHAR AS acquisition_channel,
    email::VARCHAR AS email,
    phone::VARCHAR AS phone,
    name::VARCHAR AS name,
    source_file::VARCHAR AS source_file,
    source_row::BIGINT AS source_row
FROM landing_result
WHERE reason IS NULL
ORDER BY customer_id;
