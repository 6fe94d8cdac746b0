-- An empty stage for the catalogue, for a config without a products source:
-- publish_products.sql then writes raw.products with its columns and no rows, so downstream SQL
-- still runs.
CREATE OR REPLACE TEMP VIEW landing_stage AS
SELECT
    NULL::VARCHAR AS product_id,
    NULL::VARCHAR AS category,
    NULL::VARCHAR AS subcategory,
    NULL::VARCHAR AS price_level,
    NULL::VARCHAR AS need_level,
    NULL::VARCHAR AS risk_level,
    0 AS file_seq,
    NULL::BIGINT AS source_row,
    NULL::UBIGINT AS row_hash,
    NULL::VARCHAR AS reason
LIMIT 0;
CREATE OR REPLACE TEMP TABLE landing_files (file_seq INTEGER, source_file VARCHAR);
