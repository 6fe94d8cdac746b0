-- The text of the records of file $file_seq that were never rows (malformed CSV), from the
-- Parquet files the record split wrote ($files, a list of paths).
INSERT INTO landing_raw
SELECT $file_seq, source_row, raw_values, masked_values
FROM read_parquet($files::VARCHAR[]);
