-- The original text of rows of file $file_seq, read again from the file into the registered
-- frame _raw (source_row, raw_values, masked_values).
INSERT INTO landing_raw
SELECT $file_seq, source_row, raw_values, masked_values
FROM _raw;
