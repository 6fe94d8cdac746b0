-- Every landed row of <table> in the order the sources hold them: by file, then by row in its
-- file (landing writes in no particular order). Placeholder: table, the quoted schema.table.
SELECT *
FROM {table}
ORDER BY source_file, source_row;
