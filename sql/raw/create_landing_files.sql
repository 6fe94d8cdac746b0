-- The files of the landing being staged, by number: the stage carries a file's number where its
-- name goes, and the publish joins the name back. Filled by insert_landing_file.sql.
CREATE TEMP TABLE landing_files (file_seq INTEGER, source_file VARCHAR);
