-- Add to landing_raw_needed the good rows whose key (placeholder key: the key columns, e.g. an
-- attribute history's customer_id and valid_from, a catalogue's product_id) repeats: they may be
-- quarantined as conflicting or duplicate rows (flag_rows_repeating_a_key.sql) and so need
-- their original text. Runs after find_rows_needing_raw_values.sql, before any row is flagged.
INSERT INTO landing_raw_needed
SELECT file_seq, source_row
FROM (
    SELECT file_seq, source_row, count(*) OVER (PARTITION BY {key}) AS sharing
    FROM landing_stage
    WHERE reason IS NULL
)
WHERE sharing > 1
EXCEPT
SELECT file_seq, source_row
FROM landing_raw_needed;
