-- The rows of file $file_seq that need their original text, in file order.
SELECT source_row
FROM landing_raw_needed
WHERE file_seq = $file_seq
ORDER BY 1;
