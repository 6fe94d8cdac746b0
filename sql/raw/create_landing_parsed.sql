-- The parsed rows of the landing, read from the staged Parquet files named by set_staged_files.sql,
-- and the (still empty) list of rows that later checks reject: create_landing_stage.sql joins
-- the two.
CREATE TEMP VIEW landing_parsed AS
SELECT * FROM read_parquet(getvariable('landing_staged_files'));
CREATE TEMP TABLE landing_flagged (file_seq INTEGER, source_row BIGINT, reason VARCHAR);
