-- Good rows (exact duplicates already flagged) sharing a key (placeholder key: the key columns)
-- with another: when their landed values (placeholder values: the other columns) differ, none
-- can be told right, so all of them are flagged $conflict (VARCHAR, the source's reason);
-- when the values are equal (the same values written differently, or rows differing only in
-- columns that are not landed), the first row (file order, then row order) lands and the
-- others are flagged duplicate_row.
INSERT INTO landing_flagged
SELECT file_seq, source_row,
    CASE WHEN variants > 1 THEN $conflict ELSE 'duplicate_row' END AS reason
FROM (
    SELECT file_seq, source_row,
        count(DISTINCT row({values})) OVER (PARTITION BY {key}) AS variants,
        row_number() OVER (PARTITION BY {key} ORDER BY file_seq, source_row) AS position
    FROM landing_stage
    WHERE reason IS NULL
)
WHERE variants > 1 OR position > 1;
