-- The Parquet files of one customer bucket (customer_bucket_files.sql), by name, as the
-- variable customer_bucket_files that customer_bucket_view.sql reads: bound here, since a view
-- cannot take parameters. Parameters: $files (VARCHAR[]).
SET VARIABLE customer_bucket_files = $files::VARCHAR[];
