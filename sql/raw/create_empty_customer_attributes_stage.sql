-- An empty stage for the attribute history, for a config without a customer_attributes source:
-- publish_customer_attributes.sql then writes raw.customer_attributes with its key columns, no
-- attribute columns and no rows, so downstream SQL still runs.
CREATE OR REPLACE TEMP VIEW landing_stage AS
SELECT
    NULL::VARCHAR AS customer_id,
    NULL::TIMESTAMP AS valid_from,
    0 AS file_seq,
    NULL::BIGINT AS source_row,
    NULL::UBIGINT AS row_hash,
    NULL::VARCHAR AS reason
LIMIT 0;
CREATE OR REPLACE TEMP TABLE landing_files (file_seq INTEGER, source_file VARCHAR);
