-- The original text of the staged rows that may be quarantined (see
-- find_rows_needing_raw_values.sql): the row as JSON, and the same with personal values masked
-- where the source has them. Filled by insert_raw_values.sql and insert_structural_raw_values.sql.
CREATE TEMP TABLE landing_raw (
    file_seq      INTEGER,
    source_row    BIGINT,
    raw_values    VARCHAR,
    masked_values VARCHAR
);
