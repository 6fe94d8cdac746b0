-- Quarantine the rows the current landing rejected ($source, $rejected_at), with the check in
-- words and the original row (with personal values masked where the source has them). Outer
-- joins: a row missing either breaks a NOT NULL constraint and fails the landing instead of
-- vanishing.
INSERT INTO quality.rejected_rows BY NAME
SELECT
    $source AS source,
    f.source_file,
    s.source_row,
    s.reason,
    c."check",
    coalesce(r.masked_values, r.raw_values) AS raw_values,
    $rejected_at AS rejected_at
FROM landing_stage AS s
JOIN landing_files AS f USING (file_seq)
LEFT JOIN landing_reasons AS c USING (reason)
LEFT JOIN landing_raw AS r USING (file_seq, source_row)
WHERE s.reason IS NOT NULL
ORDER BY s.file_seq, s.source_row;
