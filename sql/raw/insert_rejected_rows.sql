-- Quarantine the rows the current landing rejected ($source, $rejected_at).
INSERT INTO quality.rejected_rows BY NAME
SELECT
    $source AS source,
    source_file,
    source_row,
    reason,
    "check",
    raw_values,
    $rejected_at AS rejected_at
FROM landing_result
WHERE reason IS NOT NULL
ORDER BY file_seq, source_row;
