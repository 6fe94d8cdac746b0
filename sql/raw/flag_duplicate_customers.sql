-- A customer id may appear once: the first good row (file order, then row order) lands and every
-- later good row with the same id is quarantined, so no attribute silently overwrites another.
CREATE OR REPLACE TEMP TABLE landing_result AS
SELECT
    * EXCLUDE (reason, "check"),
    CASE
        WHEN reason IS NOT NULL THEN reason
        WHEN row_number() OVER (
            PARTITION BY reason IS NULL, customer_id ORDER BY file_seq, source_row
        ) > 1 THEN 'duplicate_customer_id'
    END AS reason,
    CASE
        WHEN reason IS NOT NULL THEN "check"
        WHEN row_number() OVER (
            PARTITION BY reason IS NULL, customer_id ORDER BY file_seq, source_row
        ) > 1 THEN 'customer_id appears once (the first row is kept)'
    END AS "check"
FROM landing_result;
