-- Swap in the landed customers (run inside the landing transaction): the canonical columns,
-- typed and checked by the contract while staging, then any custom attributes of the config.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE OR REPLACE TABLE raw.customers AS
SELECT * EXCLUDE (file_seq, reason, "check", raw_values)
FROM landing_result
WHERE reason IS NULL
ORDER BY customer_id;
