-- The staged Parquet files of the landing ($files, a list of paths), kept in a variable of this
-- connection that create_landing_parsed.sql reads: a view cannot take parameters.
SET VARIABLE landing_staged_files = $files::VARCHAR[];
