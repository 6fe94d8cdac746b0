-- Swap in the landed product catalogue (run inside the landing transaction), one row per
-- product id, sorted by it.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE OR REPLACE TABLE raw.products AS
SELECT
    product_id::VARCHAR AS product_id,
    category::VARCHAR AS category,
    subcategory::VARCHAR AS subcategory,
    price_level::VARCHAR AS price_level,
    need_level::VARCHAR AS need_level,
    risk_level::VARCHAR AS risk_level,
    f.source_file::VARCHAR AS source_file,
    source_row::BIGINT AS source_row
FROM landing_stage
JOIN landing_files AS f USING (file_seq)
WHERE reason IS NULL
ORDER BY product_id;
