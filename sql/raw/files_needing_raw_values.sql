-- The files (by number) that hold rows needing their original text: only these are read again.
SELECT DISTINCT file_seq
FROM landing_raw_needed
ORDER BY 1;
